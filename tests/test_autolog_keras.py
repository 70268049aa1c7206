"""Keras autologging (mlnb.autologging.keras) on Keras' PyTorch backend: MLflow's logged names on the
same fit, the per-epoch history with steps, and the scikit-learn integration's lifecycle. The
TensorFlow backend's runs are in tests/_tensorflow_backend.py (reported by test_tensorflow_flavor.py)."""

from __future__ import annotations

import os
import warnings

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

from _autolog import only_run, runs  # noqa: E402
from _autolog_keras import build, compare_with_mlflow, data, fit  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword",
                                        "ignore::DeprecationWarning")


@pytest.fixture(autouse=True)
def _off_after():
    yield
    import mlnb.autologging as autologging
    from mlnb.autologging import session

    autologging.autolog(disable=True)
    session._forget()


def test_the_same_fit_logs_the_names_and_steps_mlflow_keras_logs():
    compare_with_mlflow("keras")


def test_validation_data_is_logged_as_the_eval_input_as_mlflow_logs_it():
    compare_with_mlflow("keras", validation_data=True)


def test_history_per_epoch_params_and_model():
    import mlnb

    X, y = data()
    mlnb.keras.autolog()
    model = build()
    history = fit(model, X, y)
    run = only_run()
    assert run.info.status == "FINISHED" and run.data.tags["mlflow.autologging"] == "keras"
    client = mlnb.MlflowClient()
    losses = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in losses] == history.epoch
    assert [m.value for m in losses] == pytest.approx(history.history["loss"])
    assert run.data.params["epochs"] == "3" and run.data.params["batch_size"] == "16"
    assert run.data.params["optimizer_name"].startswith("adam")   # Keras numbers its optimizers: adam, adam_1, ...


def test_an_active_run_is_reused_and_a_nested_fit_is_not_logged():
    import keras

    import mlnb

    X, y = data()
    inner = build()

    class FitsAnother(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            inner.fit(X, y, epochs=1, verbose=0)

    mlnb.keras.autolog()
    with mlnb.start_run() as run:
        build().fit(X, y, epochs=2, verbose=0, callbacks=[FitsAnother()])
        assert mlnb.active_run().info.run_id == run.info.run_id
    assert len(runs()) == 1
    history = mlnb.MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == [0, 1]   # the inner one-epoch fit added nothing


def test_a_failed_fit_ends_its_run_failed_and_disable_restores_fit():
    import keras

    import mlnb

    original = keras.Model.fit
    X, y = data()
    mlnb.keras.autolog()
    assert keras.Model.fit is not original

    class Boom(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        build().fit(X, y, epochs=2, verbose=0, callbacks=[Boom()])
    run = only_run()
    assert run.info.status == "FAILED"
    assert [m.step for m in mlnb.MlflowClient().get_metric_history(run.info.run_id, "loss")] == [0]
    mlnb.keras.autolog(disable=True)
    assert keras.Model.fit is original and "fit" not in keras.Model.__dict__


def test_mlnb_autolog_turns_keras_on_once_keras_is_imported():
    import keras  # noqa: F401

    import mlnb
    from mlnb.autologging import get_autologging_config

    assert "keras" in mlnb.autolog()
    assert get_autologging_config("keras", "log_models") is True
    X, y = data()
    build().fit(X, y, epochs=1, verbose=0)
    assert only_run().data.tags["mlflow.autologging"] == "keras"


def test_a_keras_outside_the_tested_versions_warns_once_and_trains(monkeypatch):
    import keras

    import mlnb
    from mlnb.autologging import AutologWarning

    monkeypatch.setattr(keras, "__version__", "9.0.0")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mlnb.keras.autolog()
    notes = [w for w in caught if issubclass(w.category, AutologWarning)]
    assert len(notes) == 1 and "9.0.0" in str(notes[0].message)
    X, y = data()
    build().fit(X, y, epochs=1, verbose=0)
    assert only_run().info.status == "FINISHED"
