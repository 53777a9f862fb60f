"""Fit a model on the bundled MovieLens-100K and print its held-out score and fit time.

Run as ``recfreq-quickstart`` or ``python -m recfreq.quickstart``. Uses only the
data shipped inside the package: no network, no writes.

Rating models (``baseline``, ``mf``, ``overparam``, ``fm``) are scored by RMSE on a
random 80/20 split; ``fm`` also reads the users' age, gender and occupation and
the films' genres. ``fm-classifier`` predicts whether a rating is at least 4
(ROC AUC on the same split). ``ncf`` learns from the interactions alone and ranks
each user's latest one among 99 items the user never rated (HR@10, NDCG@10);
``popularity``, the baseline every ranking model must beat, ranks the same
candidates by their number of interactions (it has no solver, epochs or threads).
"""

import argparse
import time

import numpy as np

__all__ = ["main"]

SOLVERS = ("sgd", "fa-sgd", "cf-sgd", "adagrad")


def _models():
    from . import (BaselinePredictor, FactorizationMachine, FactorizationMachineClassifier,
                   MatrixFactorization, NeuralCF, OverparamMF, PopularityRecommender)

    return {"mf": MatrixFactorization, "baseline": BaselinePredictor, "overparam": OverparamMF,
            "fm": FactorizationMachine, "fm-classifier": FactorizationMachineClassifier,
            "ncf": NeuralCF, "popularity": PopularityRecommender}


MODELS = ("mf", "baseline", "overparam", "fm", "fm-classifier", "ncf", "popularity")

#: models ranked on the leave-one-out split, and the method that scores their candidates
RANKING_MODELS = {"ncf": "decision_function", "popularity": "predict"}


def _n_jobs(text):
    value = _int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("0 threads has no meaning; use 1 for one thread, -1 for all")
    return value


def _int(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None


def _non_negative(text):
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _positive(text):
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _parser():
    parser = argparse.ArgumentParser(
        prog="recfreq-quickstart", description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 2)[2].strip(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=MODELS, default="mf",
                        help="the estimator to fit (default: mf, a MatrixFactorization)")
    parser.add_argument("--solver", choices=SOLVERS, default=None, help="default: the model's own")
    parser.add_argument("--n-jobs", type=_n_jobs, default=None, help="OpenMP threads (-1: all; default 1)")
    parser.add_argument("--max-iter", type=_positive, default=None, help="epochs (default: the model's own)")
    parser.add_argument("--seed", type=_non_negative, default=0, help="seed of the split and the model")
    return parser


def _side_features(bunch, X):
    """The FM's table: user and item ids, then age, gender, occupation and the genre list."""
    users = {name: np.asarray(bunch.users[name]) for name in ("user_id", "age", "gender", "occupation")}
    row_of_user = {u: r for r, u in enumerate(users["user_id"])}
    genres_of_item = {i: g.split("|") if g else [] for i, g in zip(bunch.movies.item_id, bunch.movies.genres)}
    rows = np.array([row_of_user[u] for u in X[:, 0]])
    table = np.empty((X.shape[0], 6), dtype=object)
    table[:, 0], table[:, 1] = X[:, 0], X[:, 1]
    table[:, 2] = users["age"][rows]
    table[:, 3] = users["gender"][rows]
    table[:, 4] = users["occupation"][rows]
    table[:, 5] = [genres_of_item[i] for i in X[:, 1]]
    return table


def main(argv=None):
    """Entry point of the ``recfreq-quickstart`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)

    from .datasets import load_movielens
    from .metrics import hit_rate_at_k, ndcg_at_k, rmse
    from .model_selection import leave_one_out_split, sample_negatives, train_test_split

    if args.model == "popularity":
        for option in ("solver", "max_iter", "n_jobs"):
            if getattr(args, option) is not None:
                parser.error(f"--{option.replace('_', '-')} does not apply to --model popularity (a count, not a "
                             "trained model)")
        params = {}
    else:
        params = {"n_jobs": args.n_jobs, "random_state": args.seed}
        for name in ("solver", "max_iter"):
            if getattr(args, name) is not None:
                params[name] = getattr(args, name)
    model = _models()[args.model](**params)

    bunch = load_movielens("100k")
    if args.model in RANKING_MODELS:
        X_train, X_test = leave_one_out_split(bunch.data, timestamps=bunch.timestamps)[:2]
        split = f"{len(X_train):,} training interactions / latest of {len(X_test):,} users held out"
        fit_args = (X_train,)
    else:
        X = _side_features(bunch, bunch.data) if args.model.startswith("fm") else bunch.data
        y = bunch.target >= 4 if args.model == "fm-classifier" else bunch.target
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=args.seed)
        split = f"{len(y_train):,} training / {len(y_test):,} test ratings"
        fit_args = (X_train, y_train)

    start = time.perf_counter()
    try:
        model.fit(*fit_args)
    except (ValueError, FloatingPointError) as exc:  # e.g. a solver diverging at its default step
        parser.exit(1, f"{parser.prog}: error: {exc}\n")
    fit_seconds = time.perf_counter() - start

    print(f"MovieLens-100K (bundled): {split}")
    print(f"model: {model!r}")
    if args.model in RANKING_MODELS:
        negatives = sample_negatives(bunch.data, users=X_test[:, 0], n_negatives=99, random_state=args.seed)
        candidates = np.column_stack([X_test[:, 1], negatives])  # the held-out item first
        score = getattr(model, RANKING_MODELS[args.model])
        scores = score(np.column_stack([np.repeat(X_test[:, 0], 100), candidates.ravel()]))
        scores = scores.reshape(candidates.shape)
        # rank by score; a tie with the held-out item counts against it
        order = np.lexsort((np.arange(100)[None, :].repeat(len(candidates), 0) == 0, -scores), axis=1)
        ranked = np.take_along_axis(candidates, order, axis=1)
        print(f"held-out HR@10: {hit_rate_at_k(X_test[:, 1], ranked, k=10):.4f}, "
              f"NDCG@10: {ndcg_at_k(X_test[:, 1], ranked, k=10):.4f} (99 sampled negatives per user)")
        unit = "samples/s, sampled negatives included" if args.model == "ncf" else "interactions/s"
    elif args.model == "fm-classifier":
        from sklearn.metrics import roc_auc_score

        print(f"held-out ROC AUC (rating >= 4): {roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]):.4f}")
        unit = "samples/s"
    else:
        print(f"held-out RMSE: {rmse(y_test, model.predict(X_test)):.4f}")
        print(f"global-mean RMSE for reference: {float(np.sqrt(np.mean((y_test - y_train.mean()) ** 2))):.4f}")
        unit = "samples/s"
    processed = model.t_ if hasattr(model, "t_") else len(fit_args[0])  # popularity: one pass over the rows
    print(f"fit time: {fit_seconds:.3f} s ({processed / fit_seconds:,.0f} {unit})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
