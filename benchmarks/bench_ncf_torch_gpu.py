"""NeuMF on the GPU: recfreq's CUDA kernels against PyTorch on the same GPU, at equal quality.

He et al.'s protocol on the NCF paper's ml-1m files (each user's latest interaction ranked among
99 unseen items, HR@10): NeuMF with k = 8 and the tower 64-32-16-8, 4 sampled negatives per
positive, logistic loss.

1. recfreq: ``NeuralCF(model="neumf", device="cuda")`` at its defaults (adagrad), ``--epochs``
   epochs, HR@10 after each; its training throughput is timed on whole bound epochs (as
   ``bench_gpu_models.py``: data on the device, negatives drawn in the kernel). Its best HR@10
   sets the quality to reach: ours minus 0.02.
2. PyTorch on the same GPU, mini-batches of 256, with Adam (lr 1e-3) and with Adagrad (lr 0.1 for
   the embeddings, 0.03 for the dense layers, recfreq's defaults): up to ``--torch-epochs``
   epochs, HR@10 after each. Its negatives are drawn on the host each epoch (as the NCF reference
   code does) and uploaded; only the GPU training loop is timed (synchronized), so the host
   sampling, reported apart, is not held against it.
3. The faster of the two optimizers to reach the quality is compared: samples/s and time to
   quality. Target: recfreq at least 10 x PyTorch.

Run on a machine with a CUDA GPU, CuPy and PyTorch, from the repository root::

    RECFREQ_BENCH_ML1M=<folder with ncf/> PYTHONPATH=. python benchmarks/bench_ncf_torch_gpu.py
        # -> results/ncf_torch_gpu.json
    PYTHONPATH=. python benchmarks/bench_ncf_torch_gpu.py --smoke --backend emulated   # checks the script anywhere

``--smoke`` uses tiny synthetic data, the emulated CUDA device for recfreq and PyTorch on the
CPU (skipped, with a note, where PyTorch is not installed); its timings mean nothing and
nothing is saved.
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, save_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NEUMF = dict(model="neumf", n_factors=8, hidden_layers=(64, 32, 16, 8), n_negatives=4)


def smoke_data(n_users=60, n_items=80, per_user=12, seed=0):
    """Implicit rows with a planted preference; the last row of each user is held out with 99 negatives."""
    rng = np.random.default_rng(seed)
    rows, users, cands = [], [], []
    for u in range(n_users):
        liked = rng.choice(np.arange(u % 4, n_items, 4), size=per_user + 1, replace=False)
        rows += [(u, i) for i in liked[:-1]]
        unseen = np.setdiff1d(np.arange(n_items), liked)
        users.append(u)
        cands.append([liked[-1], *rng.choice(unseen, size=min(99, unseen.shape[0]), replace=False)])
    width = min(len(c) for c in cands)
    return np.array(rows, dtype=np.int64), np.array(users), np.array([c[:width] for c in cands])


def hit_rate(scores, k=10):
    """HR@k of column 0 among the candidates (a tie ranks the negative above it)."""
    return float(((scores[:, 1:] >= scores[:, :1]).sum(axis=1) < k).mean())


# ------------------------------------------------------------------ recfreq
def recfreq_run(X, users, cands, args, backend):
    from bench_gpu_models import time_epochs, training_of

    from recfreq import NeuralCF, _engine
    from recfreq._engine.cuda import use_backend

    pairs = np.column_stack([np.repeat(users, cands.shape[1]), cands.ravel()])
    curve = []
    with use_backend(backend):
        model = NeuralCF(**NEUMF, max_iter=1, device="cuda", random_state=0).fit(X)
        curve.append(hit_rate(model.decision_function(pairs).reshape(cands.shape)))
        for _ in range(args.epochs - 1):
            model.partial_fit(X)
            curve.append(hit_rate(model.decision_function(pairs).reshape(cands.shape)))
        training, n = training_of(model, X, None)
        bound = _engine.bind("cuda", training, 1)
        seconds = time_epochs(bound, args.timed_epochs)
        bound.close()
    epoch_s = float(np.median(seconds))
    return {"hr_curve": curve, "best_hr": max(curve), "samples_per_epoch": int(n), "epoch_s": epoch_s,
            "samples_per_s": n / epoch_s, "time_to_best_s": epoch_s * (1 + int(np.argmax(curve)))}


# ------------------------------------------------------------------ PyTorch
def torch_run(X, users, cands, args, target, optimizer, device):
    import torch
    from bench_ncf import _is_positive, _torch_neumf

    torch.manual_seed(0)
    n_users, n_items = int(X[:, 0].max()) + 1, int(max(X[:, 1].max(), cands.max())) + 1
    net = _torch_neumf(n_users, n_items, NEUMF["n_factors"], list(NEUMF["hidden_layers"]), sparse=False).to(device)
    embeddings = [p for name, p in net.named_parameters() if name.split(".")[0] in ("gu", "gi", "mu", "mi")]
    dense = [p for name, p in net.named_parameters() if name.split(".")[0] not in ("gu", "gi", "mu", "mi")]
    if optimizer == "adam":
        opts = [torch.optim.Adam(embeddings + dense, lr=1e-3)]
    else:
        opts = [torch.optim.Adagrad(embeddings, lr=0.1), torch.optim.Adagrad(dense, lr=0.03)]
    loss_fn = torch.nn.BCEWithLogitsLoss()
    pos_keys = np.unique(X[:, 0] * n_items + X[:, 1])
    rng = np.random.default_rng(0)
    U_eval = torch.from_numpy(np.repeat(users, cands.shape[1])).to(device)
    I_eval = torch.from_numpy(cands.ravel()).to(device)
    n_neg = NEUMF["n_negatives"]

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    curve, train_s, sampling_s, reached = [], [], [], None
    for epoch in range(args.torch_epochs):
        start = time.perf_counter()
        order = rng.permutation(X.shape[0])
        u_pos, i_pos = X[order, 0], X[order, 1]
        u_neg = np.repeat(u_pos, n_neg)
        j = rng.integers(0, n_items, u_neg.shape[0])
        bad = _is_positive(u_neg * n_items + j, pos_keys)
        while bad.any():
            j[bad] = rng.integers(0, n_items, int(bad.sum()))
            bad[bad] = _is_positive(u_neg[bad] * n_items + j[bad], pos_keys)
        u_all = np.column_stack([u_pos, u_neg.reshape(-1, n_neg)]).ravel()
        i_all = np.column_stack([i_pos, j.reshape(-1, n_neg)]).ravel()
        y_all = np.column_stack([np.ones(len(order)), np.zeros((len(order), n_neg))]).ravel().astype(np.float32)
        U, I, Y = (torch.from_numpy(a).to(device) for a in (u_all, i_all, y_all))
        sync()
        sampling_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        net.train()
        for s in range(0, U.shape[0], args.batch):
            for opt in opts:
                opt.zero_grad()
            loss_fn(net(U[s:s + args.batch], I[s:s + args.batch]), Y[s:s + args.batch]).backward()
            for opt in opts:
                opt.step()
        sync()
        train_s.append(time.perf_counter() - start)
        net.eval()
        with torch.no_grad():
            scores = net(U_eval, I_eval).reshape(cands.shape).float().cpu().numpy()
        curve.append(hit_rate(scores))
        print(f"    torch {optimizer} epoch {epoch + 1}: HR@10 {curve[-1]:.4f}, {train_s[-1]:.2f} s", flush=True)
        if reached is None and curve[-1] >= target:
            reached = epoch + 1
            if not args.torch_full:
                break
    n = int(X.shape[0] * (1 + n_neg))
    epoch_s = float(np.median(train_s))
    return {"hr_curve": curve, "epochs_to_target": reached, "epoch_s": epoch_s, "samples_per_s": n / epoch_s,
            "sampling_s": float(np.median(sampling_s)),
            "time_to_target_s": float(sum(train_s[:reached])) if reached else None}


def device_description(backend_name):
    if backend_name == "emulated":
        return {"name": "emulated CUDA device (CPU; timings meaningless)"}
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return {"name": name, "compute capability": f"{props['major']}.{props['minor']}", "cupy": cupy.__version__}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["cupy", "emulated"], default="cupy")
    parser.add_argument("--epochs", type=int, default=10, help="recfreq epochs (its best HR@10 sets the quality)")
    parser.add_argument("--timed-epochs", type=int, default=5, help="recfreq epochs timed (median)")
    parser.add_argument("--torch-epochs", type=int, default=30, help="PyTorch epochs at most, per optimizer")
    parser.add_argument("--torch-full", action="store_true", help="train PyTorch every epoch, not only to quality")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--smoke", action="store_true", help="tiny synthetic data: check that the script runs")
    parser.add_argument("--out", default=str(RESULTS / "ncf_torch_gpu.json"))
    args = parser.parse_args(argv)
    if args.smoke:
        args.epochs, args.timed_epochs, args.torch_epochs = 2, 1, 2

    if args.backend == "emulated":
        sys.path.insert(0, str(REPO / "tests"))
        from _emulated_device import EmulatedDevice

        backend = EmulatedDevice()
    else:
        from recfreq._device_backend import CupyBackend

        backend = CupyBackend()
    if args.smoke:
        X, users, cands = smoke_data()
    else:
        from bench_ncf import load_ncf_ml1m

        X, users, cands = load_ncf_ml1m()

    result = {"device": device_description(args.backend), "host": platform.node(), "machine": machine_info(),
              "network": {k: list(v) if isinstance(v, tuple) else v for k, v in NEUMF.items()},
              "command": " ".join(["python", "benchmarks/bench_ncf_torch_gpu.py", *(argv or sys.argv[1:])])}
    ours = result["recfreq"] = recfreq_run(X, users, cands, args, backend)
    target = ours["best_hr"] - 0.02
    print(f"recfreq NeuMF: best HR@10 {ours['best_hr']:.4f}, {ours['samples_per_s'] / 1e6:.2f} M samples/s "
          f"(epoch {ours['epoch_s'] * 1e3:.1f} ms); PyTorch must reach HR@10 {target:.4f}", flush=True)
    try:
        import torch
    except ImportError:
        result["torch"] = "PyTorch is not installed here: its rows stay empty"
        print(result["torch"])
    else:
        device = torch.device("cuda" if torch.cuda.is_available() and args.backend == "cupy" else "cpu")
        result["torch_version"] = torch.__version__
        result["torch_device"] = str(device)
        runs = result["torch"] = {opt: torch_run(X, users, cands, args, target, opt, device)
                                  for opt in ("adam", "adagrad")}
        reached = {opt: run for opt, run in runs.items() if run["epochs_to_target"]}
        if reached:
            best_opt = min(reached, key=lambda opt: reached[opt]["time_to_target_s"])
            best = reached[best_opt]
            result["comparison"] = {
                "torch_optimizer": best_opt, "samples_per_s_ratio": ours["samples_per_s"] / best["samples_per_s"],
                "time_to_quality_ratio": best["time_to_target_s"] / ours["time_to_best_s"]}
            print(f"recfreq / PyTorch ({best_opt}): x {result['comparison']['samples_per_s_ratio']:.1f} samples/s, "
                  f"x {result['comparison']['time_to_quality_ratio']:.1f} time to quality")
        else:
            result["comparison"] = "PyTorch did not reach the quality within --torch-epochs"
            print(result["comparison"])
    if not args.smoke:
        save_json(args.out, result)
        print(f"wrote {args.out}")
    else:
        print(json.dumps({"recfreq_hr": ours["hr_curve"]}, default=float))
    return result


if __name__ == "__main__":
    if "PYTHONPATH" not in os.environ:
        sys.path.insert(0, str(REPO))
    main()
