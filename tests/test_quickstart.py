"""recfreq-quickstart: every estimator behind --model, and bad options answered by argparse."""

import subprocess
import sys

import pytest

from recfreq import quickstart
from recfreq.quickstart import MODELS, main


def _run(capsys, *argv):
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def _number_after(out, label):
    return float(out.split(label)[1].split()[0].rstrip(","))


def test_default_model_is_matrix_factorization(capsys):
    out = _run(capsys, "--max-iter", "5")
    assert "model: MatrixFactorization(max_iter=5, random_state=0)" in out
    assert 0.85 < _number_after(out, "held-out RMSE:") < 1.0
    assert "fit time:" in out


@pytest.mark.parametrize("model, estimator", [("baseline", "BaselinePredictor"), ("mf", "MatrixFactorization"),
                                              ("overparam", "OverparamMF"), ("fm", "FactorizationMachine")])
def test_rating_models_print_rmse_below_the_global_mean(capsys, model, estimator):
    out = _run(capsys, "--model", model, "--max-iter", "2")
    assert f"model: {estimator}(" in out
    assert _number_after(out, "held-out RMSE:") < _number_after(out, "global-mean RMSE for reference:")


def test_fm_classifier_prints_roc_auc(capsys):
    out = _run(capsys, "--model", "fm-classifier", "--max-iter", "2")
    assert "model: FactorizationMachineClassifier(" in out
    assert 0.6 < _number_after(out, "held-out ROC AUC (rating >= 4):") <= 1.0


def test_ncf_prints_ranking_quality_above_chance(capsys):
    out = _run(capsys, "--model", "ncf", "--max-iter", "1", "--solver", "sgd")
    assert "model: NeuralCF(max_iter=1, random_state=0, solver='sgd')" in out
    # ten of 100 candidates: a random ranking hits the held-out item about 10 % of the time
    assert _number_after(out, "held-out HR@10:") > 0.2
    assert 0 < _number_after(out, "NDCG@10:") < 1


def test_popularity_ranks_the_same_candidates_without_training_options(capsys):
    out = _run(capsys, "--model", "popularity")
    assert "model: PopularityRecommender()" in out
    # the baseline of the ncf protocol: far above a random ranking's 0.1, below a trained NeuMF
    assert 0.3 < _number_after(out, "held-out HR@10:") < 0.5
    assert "interactions/s" in out
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", "popularity", "--max-iter", "3"])
    assert exit_info.value.code == 2
    assert "--max-iter does not apply to --model popularity" in capsys.readouterr().err


def test_every_estimator_is_offered():
    import recfreq

    estimators = {name for name in recfreq.__all__ if name[0].isupper()}
    assert {cls.__name__ for cls in quickstart._models().values()} == estimators
    assert set(MODELS) == set(quickstart._models())


@pytest.mark.parametrize("argv, message", [
    (["--model", "svd"], "argument --model: invalid choice: 'svd'"),
    (["--solver", "newton"], "argument --solver: invalid choice: 'newton'"),
    (["--n-jobs", "0"], "argument --n-jobs: 0 threads has no meaning"),
    (["--n-jobs", "all"], "argument --n-jobs: invalid int value: 'all'"),
    (["--max-iter", "0"], "argument --max-iter: must be 1 or more, got 0"),
    (["--seed", "-1"], "argument --seed: must be 0 or more, got -1"),
    (["--frobnicate"], "unrecognized arguments: --frobnicate"),
])
def test_bad_options_get_argparse_message(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: recfreq-quickstart") and message in err
    assert "Traceback" not in err


def test_a_diverging_fit_is_reported_without_a_traceback(capsys, monkeypatch):
    from recfreq import MatrixFactorization

    def diverge(self, X, y):
        raise FloatingPointError("MatrixFactorization diverged in epoch 1; lower learning_rate")

    monkeypatch.setattr(MatrixFactorization, "fit", diverge)
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == ("recfreq-quickstart: error: MatrixFactorization diverged in epoch 1; "
                                       "lower learning_rate\n")


def test_help_lists_every_model():
    out = subprocess.run([sys.executable, "-m", "recfreq.quickstart", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for model in MODELS:
        assert model in out
