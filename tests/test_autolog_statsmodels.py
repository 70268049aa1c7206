"""statsmodels autologging (mlnb.autologging.statsmodels): the names MLflow 3.17's autolog logs on the same
fits, the model, and the scikit-learn integration's lifecycle."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

import mlnb
from mlnb.autologging import AutologWarning
import statsmodels.api as sm

from tests._autolog import run_autolog_cell


def _undated(summary: str) -> str:
    """statsmodels' summary prints the date and time it was drawn: compare the rest."""
    return re.sub(r"\d{2}:\d{2}:\d{2}", "hh:mm:ss", re.sub(r"\w{3}, \d{2} \w{3} \d{4}", "date", summary))


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = sm.add_constant(rng.normal(size=(120, 3)))
    return X, X @ [1.0, 2.0, -1.0, 0.5] + rng.normal(scale=0.5, size=120)


@pytest.fixture
def autolog():
    yield mlnb.statsmodels.autolog
    mlnb.statsmodels.autolog(disable=True)


FITS = {
    "ols": lambda X, y: sm.OLS(y, X).fit(),
    "logit": lambda X, y: sm.Logit((y > y.mean()).astype(float), X).fit(disp=0, maxiter=20),
    "glm": lambda X, y: sm.GLM(y, X, family=sm.families.Gaussian()).fit(),
}


def _logged(client, run_id):
    run = client.get_run(run_id)
    return run.data.params, run.data.metrics, {a.path for a in client.list_artifacts(run_id)}


@pytest.mark.parametrize("fit", sorted(FITS))
def test_the_same_fit_logs_the_params_metrics_and_summary_mlflow_logs(fit, data, autolog):
    import mlflow

    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.statsmodels.autolog(log_models=False)   # MLflow infers the model's requirements in a subprocess: slow
        try:
            with mlflow.start_run() as theirs:
                FITS[fit](X, y)
        finally:
            mlflow.statsmodels.autolog(disable=True)
    autolog()
    with mlnb.start_run() as ours:
        results = FITS[fit](X, y)

    their_params, their_metrics, their_files = _logged(mlflow.MlflowClient(), theirs.info.run_id)
    our_params, our_metrics, our_files = _logged(mlnb.MlflowClient(), ours.info.run_id)
    # MLflow also logs a fit(**kwargs) catch-all as the param "kwargs" = "<class 'inspect._empty'>"; mlnb does not
    assert their_params.pop("kwargs") == "<class 'inspect._empty'>"
    assert our_params == their_params
    assert our_metrics == pytest.approx(their_metrics)
    assert our_files == their_files | {"model"}
    summary = mlnb.MlflowClient().download_artifacts(ours.info.run_id, "model_summary.txt")
    assert _undated(open(summary).read()) == _undated(results.summary().as_text())
    loaded = mlnb.pyfunc.load_model(f"runs:/{ours.info.run_id}/model", allow_pickle=True)
    np.testing.assert_allclose(loaded.predict(X), results.predict(X))


def test_a_fit_outside_a_run_gets_its_own_run_and_only_the_outermost_fit_logs(data, autolog):
    X, y = data
    autolog(log_models=False)
    FITS["logit"](X, y)       # Logit.fit calls its base class's fit: one run, Logit.fit's params
    run = mlnb.last_active_run()
    assert run.info.status == "FINISHED" and run.data.tags["mlflow.autologging"] == "statsmodels"
    assert run.data.params["method"] == "newton" and run.data.params["maxiter"] == "20"
    assert len(mlnb.search_runs(output_format="list")) == 1
    assert mlnb.active_run() is None


def test_an_active_run_is_reused_and_a_second_fit_is_kept_apart(data, autolog):
    X, y = data
    autolog(log_models=False)
    with mlnb.start_run() as run:
        FITS["ols"](X, y)
        FITS["ols"](X[:, :2], y)
    logged = mlnb.get_run(run.info.run_id)
    assert "mlflow.autologging" not in logged.data.tags
    assert logged.data.metrics["OLS-2.df_model"] == 1 and logged.data.metrics["df_model"] == 3
    assert [f.estimator_name for f in mlnb.autologging.logged_fits(run.info.run_id)] == ["OLS", "OLS"]


def test_a_failed_fit_ends_its_run_failed_and_disable_restores_fit(data, autolog):
    from statsmodels.regression.linear_model import RegressionModel

    original = RegressionModel.__dict__["fit"]
    X, y = data
    autolog(log_models=False)
    assert RegressionModel.__dict__["fit"] is not original
    with pytest.raises(ValueError):
        sm.OLS(y, X).fit(method="no-such-method")
    run = mlnb.last_active_run()
    assert run.info.status == "FAILED" and run.data.params["method"] == "no-such-method"
    mlnb.statsmodels.autolog(disable=True)
    assert RegressionModel.__dict__["fit"] is original
    assert mlnb.autologging.get_autologging_config("statsmodels") is None


def test_a_statsmodels_outside_the_tested_versions_warns_once_and_fits(data, autolog, monkeypatch):
    from mlnb.autologging import statsmodels as integration

    X, y = data
    monkeypatch.setattr(integration, "TESTED", ("0.1.0", "0.2.0"))
    with pytest.warns(AutologWarning, match="outside the versions autolog is tested with") as caught:
        autolog(log_models=False)
    assert len(caught) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", AutologWarning)
        results = FITS["ols"](X, y)
    assert results.df_model == 3 and "rsquared" in mlnb.last_active_run().data.metrics


def test_the_config_read_back_turns_the_same_settings_on_again(autolog):
    from mlnb.autologging import get_autologging_config

    autolog(log_models=False, extra_tags={"team": "a"})
    config = get_autologging_config("statsmodels")
    assert config["log_models"] is False and config["extra_tags"] == {"team": "a"}
    mlnb.statsmodels.autolog(disable=True)
    assert get_autologging_config("statsmodels") is None
    mlnb.statsmodels.autolog(**config)
    assert get_autologging_config("statsmodels") == config


def test_mlnb_autolog_imports_no_library_and_patches_statsmodels_when_it_is_imported():
    code = """
import sys, mlnb
enabled = mlnb.autolog(log_models=False)
assert {"statsmodels", "pytorch"} <= set(enabled), enabled
heavy = [m for m in ("statsmodels", "torch", "pytorch_lightning", "lightning") if m in sys.modules]
assert not heavy, heavy
import numpy as np, statsmodels.api as sm
X = sm.add_constant(np.arange(10.0))
sm.OLS(np.arange(10.0) * 2, X).fit()
run = mlnb.last_active_run()
print(run.data.tags["mlflow.autologging"], sorted(run.data.params))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == "statsmodels ['cov_kwds', 'cov_type', 'method', 'use_t']"


def test_an_autolog_cell_logs_a_statsmodels_fit_and_turns_autolog_off_after(data):
    from mlnb.autologging import get_autologging_config

    result = run_autolog_cell("%%autolog --run-name ols\nresults = sm.OLS(y, X).fit()", sm=sm, X=data[0], y=data[1])
    assert result.success
    run = mlnb.last_active_run()
    assert run.info.run_name == "ols" and run.info.status == "FINISHED"
    assert "rsquared" in run.data.metrics and run.data.params["method"] == "pinv"
    assert {"model", "model_summary.txt"} <= {a.path for a in mlnb.MlflowClient().list_artifacts(run.info.run_id)}
    assert get_autologging_config("statsmodels") is None
