from recfreq.quickstart import main


def test_quickstart_prints_rmse_and_fit_time(capsys):
    assert main(["--model", "baseline"]) == 0
    out = capsys.readouterr().out
    assert "held-out RMSE:" in out and "fit time:" in out
    rmse = float(out.split("held-out RMSE:")[1].split()[0])
    assert 0.85 < rmse < 1.0
