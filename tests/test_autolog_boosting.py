"""XGBoost and LightGBM autologging (mlnb.autologging.boosting): the same logged names as MLflow 3.17's
autolog on the same fits, metric histories with steps, and the scikit-learn integration's lifecycle."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pytest

import mlnb
from mlnb.autologging import AutologWarning


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    return X, X[:, 0] * 2 + rng.normal(scale=0.1, size=200)


def _xgb_train(X, y):
    import xgboost

    train, valid = xgboost.DMatrix(X[:150], y[:150]), xgboost.DMatrix(X[150:], y[150:])
    return xgboost.train({"max_depth": 2, "eta": 0.3, "nthread": 1}, train, 5,
                         evals=[(train, "train"), (valid, "validation")], early_stopping_rounds=2, verbose_eval=False)


def _xgb_fit(X, y):
    import xgboost

    return xgboost.XGBRegressor(n_estimators=5, n_jobs=1).fit(X[:150], y[:150], eval_set=[(X[150:], y[150:])],
                                                              verbose=False)


def _lgb_train(X, y):
    import lightgbm

    train = lightgbm.Dataset(X[:150], y[:150])
    valid = lightgbm.Dataset(X[150:], y[150:], reference=train)
    return lightgbm.train({"objective": "regression", "num_leaves": 7, "verbose": -1, "num_threads": 1}, train, 5,
                          valid_sets=[train, valid], valid_names=["train", "validation"],
                          callbacks=[lightgbm.early_stopping(2, verbose=False)])


def _lgb_fit(X, y):
    import lightgbm

    return lightgbm.LGBMRegressor(n_estimators=5, n_jobs=1, verbose=-1).fit(X[:150], y[:150],
                                                                           eval_X=(X[150:],), eval_y=(y[150:],))


FITS = {"xgboost-train": ("xgboost", _xgb_train), "xgboost-sklearn": ("xgboost", _xgb_fit),
        "lightgbm-train": ("lightgbm", _lgb_train), "lightgbm-sklearn": ("lightgbm", _lgb_fit)}


def _logged(client, run_id):
    """What a run holds: params, metric keys with their steps, and its artifact files."""
    run = client.get_run(run_id)
    steps = {k: [m.step for m in client.get_metric_history(run_id, k)] for k in run.data.metrics}
    return set(run.data.params), steps, {a.path for a in client.list_artifacts(run_id)}


@pytest.mark.parametrize("fit", sorted(FITS))
def test_the_same_fit_logs_the_names_and_steps_mlflow_logs(fit, data):
    import mlflow

    library, train = FITS[fit]
    X, y = data
    mlflow_autolog = getattr(mlflow, library).autolog
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow_autolog(log_models=False)   # MLflow's model logging infers requirements in a subprocess: slow
        try:
            with mlflow.start_run() as theirs:
                train(X, y)
        finally:
            mlflow_autolog(disable=True)
    getattr(mlnb, library).autolog()
    try:
        with mlnb.start_run() as ours:
            model = train(X, y)
    finally:
        getattr(mlnb, library).autolog(disable=True)

    their_params, their_steps, their_files = _logged(mlflow.MlflowClient(), theirs.info.run_id)
    our_params, our_steps, our_files = _logged(mlnb.MlflowClient(), ours.info.run_id)
    assert our_params == their_params
    assert our_steps == their_steps
    assert our_files == their_files | {"model"}    # mlnb keeps a run's logged model among its artifacts
    loaded = mlnb.pyfunc.load_model(f"runs:/{ours.info.run_id}/model")
    expected = model.predict(__import__("xgboost").DMatrix(X)) if fit == "xgboost-train" else model.predict(X)
    np.testing.assert_allclose(loaded.predict(X), expected, rtol=1e-6)


def test_evaluation_history_and_feature_importance_are_lightgbm_own(data):
    X, y = data
    mlnb.lightgbm.autolog()
    try:
        with mlnb.start_run() as run:
            booster = _lgb_train(X, y)
    finally:
        mlnb.lightgbm.autolog(disable=True)
    client = mlnb.MlflowClient()
    history = [m.value for m in client.get_metric_history(run.info.run_id, "validation-l2")]
    assert len(history) == booster.current_iteration() + 1      # each iteration, then the best one a step on
    assert history[-1] == history[booster.best_iteration - 1] == pytest.approx(booster.best_score["validation"]["l2"])
    assert client.get_run(run.info.run_id).data.metrics["best_iteration"] == booster.best_iteration
    path = client.download_artifacts(run.info.run_id, "feature_importance_gain.json")
    gain = json.loads(open(path).read())
    assert gain == pytest.approx(dict(zip(booster.feature_name(), booster.feature_importance("gain").tolist())))


def test_a_failed_training_ends_its_run_failed_and_disable_restores_train(data):
    import xgboost

    original = xgboost.train
    X, y = data
    mlnb.xgboost.autolog()
    assert xgboost.train is not original and xgboost.sklearn.train is xgboost.train
    try:
        with pytest.raises(xgboost.core.XGBoostError):
            xgboost.train({"objective": "no-such-objective"}, xgboost.DMatrix(X, y), 2)
        run = mlnb.last_active_run()
        assert run.info.status == "FAILED" and run.data.tags["mlflow.autologging"] == "xgboost"
    finally:
        mlnb.xgboost.autolog(disable=True)
    assert xgboost.train is original and xgboost.sklearn.train is original
    assert mlnb.autologging.get_autologging_config("xgboost") is None


def test_an_active_run_is_reused_and_only_the_outermost_fit_logs(data):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = data
    mlnb.autolog()                  # scikit-learn's integration logs the pipeline; its LightGBM step adds nothing
    try:
        with mlnb.start_run() as run:
            _lgb_fit(X, y)          # LightGBM's own integration logs the estimator into the active run
        assert "valid_0-l2" in mlnb.get_run(run.info.run_id).data.metrics
        make_pipeline(StandardScaler(), __import__("lightgbm").LGBMRegressor(n_estimators=3, verbose=-1)).fit(X, y)
        piped = mlnb.last_active_run()
        assert piped.info.run_id != run.info.run_id
        assert "valid_0-l2" not in piped.data.metrics and "training_r2_score" in piped.data.metrics
    finally:
        mlnb.autolog(disable=True)


def test_a_library_outside_the_tested_versions_warns_once_and_trains(data):
    from mlnb.autologging import boosting, lightgbm as integration

    X, y = data
    untested = dataclasses.replace(integration.LIBRARY, tested=("0.1.0", "0.2.0"))
    with pytest.warns(AutologWarning, match="outside the versions autolog is tested with") as caught:
        boosting.enable(untested, {})
    try:
        assert len(caught) == 1
        with warnings.catch_warnings():
            warnings.simplefilter("error", AutologWarning)
            model = _lgb_fit(X, y)
        assert model.booster_.num_trees() == 5
    finally:
        boosting.enable(untested, {"disable": True})


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_the_config_read_back_turns_the_same_settings_on_again(library):
    from mlnb.autologging import get_autologging_config

    integration = getattr(mlnb, library)
    integration.autolog(log_models=False, extra_tags={"team": "a"})
    try:
        config = get_autologging_config(library)
        assert config["log_models"] is False and config["extra_tags"] == {"team": "a"}
        integration.autolog(disable=True)
        assert get_autologging_config(library) is None
        integration.autolog(**config)
        assert get_autologging_config(library) == config
    finally:
        integration.autolog(disable=True)


@pytest.mark.parametrize("library, fit", [("xgboost", _xgb_fit), ("lightgbm", _lgb_fit)])
def test_log_datasets_logs_a_scikit_learn_api_fit_training_data(library, fit, data):
    X, y = data
    getattr(mlnb, library).autolog(log_models=False)
    try:
        fit(X, y)
        run = mlnb.last_active_run()
    finally:
        getattr(mlnb, library).autolog(disable=True)
    (logged,) = run.inputs.dataset_inputs
    assert [(t.key, t.value) for t in logged.tags] == [("mlflow.data.context", "train")]
    assert json.loads(logged.dataset.profile)["features_shape"] == [150, 4]


def test_log_datasets_true_says_train_data_is_not_logged(data):
    with pytest.warns(AutologWarning, match=r"xgboost.train\(\) takes its data already wrapped"):
        mlnb.xgboost.autolog(log_datasets=True, log_models=False)
    mlnb.xgboost.autolog(disable=True)
