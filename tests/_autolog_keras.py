"""Keras autolog against MLflow's on the same fit, for whichever backend this process runs Keras on
(tests/test_autolog_keras.py on PyTorch, tests/_tensorflow_backend.py on TensorFlow)."""

from __future__ import annotations

import os
import tempfile
import warnings

import numpy as np


def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)).astype("float32")
    return X, (X[:, 0] * 2 + X[:, 1]).astype("float32")


def build():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    return model


def fit(model, X, y, **kw):
    import keras

    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    return model.fit(X, y, batch_size=16, epochs=3, validation_split=0.25, verbose=0, callbacks=[stop], **kw)


def logged(client, run_id):
    """What a run holds: params, metric keys with their steps, and its artifact files."""
    run = client.get_run(run_id)
    steps = {k: [m.step for m in client.get_metric_history(run_id, k)] for k in run.data.metrics}
    return set(run.data.params), steps, {a.path for a in client.list_artifacts(run_id)}


def inputs(client, run_id):
    """A run's dataset inputs: (context, name, digest, source type, schema, profile), sorted."""
    found = []
    for given in client.get_run(run_id).inputs.dataset_inputs:
        d = given.dataset
        context = {t.key: t.value for t in given.tags}.get("mlflow.data.context")
        found.append((context, d.name, d.digest, d.source_type, d.schema, d.profile))
    return sorted(found)


def _walk(client, run_id, path):
    for a in client.list_artifacts(run_id, path):
        yield from _walk(client, run_id, a.path) if a.is_dir else [a.path]


def compare_with_mlflow(integration: str, validation_data: bool = False, **options) -> None:
    """``mlnb.<integration>.autolog()`` logs the params, metric keys and steps, files and the training
    dataset that ``mlflow.<integration>.autolog()`` logs on the same fit (its TensorBoard logs aside), with
    tensorflow's checkpoints, and the logged model predicts as the fitted one. ``options`` go to both
    autologs; with ``validation_data`` the fits validate on given arrays (logged as the eval input)."""
    import mlflow

    import mlnb
    import mlnb.pyfunc

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])   # MLflow's checkpoint callback pins the URI
        X, y = data()
        extra = {"validation_data": (X[:16], y[:16])} if validation_data else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            getattr(mlflow, integration).autolog(log_models=False, **options)
            try:
                with mlflow.start_run() as theirs:
                    fit(build(), X, y, **extra)
            finally:
                getattr(mlflow, integration).autolog(disable=True)
                mlflow.flush_async_logging()   # MLflow logs per-step metrics in the background
        getattr(mlnb, integration).autolog(**options)
        try:
            with mlnb.start_run() as ours:
                model = build()
                fit(model, X, y, **extra)
        finally:
            getattr(mlnb, integration).autolog(disable=True)
        their_params, their_steps, their_files = logged(mlflow.MlflowClient(), theirs.info.run_id)
        our_params, our_steps, our_files = logged(mlnb.MlflowClient(), ours.info.run_id)
        assert our_params == their_params, (our_params ^ their_params)
        assert our_steps == their_steps, (our_steps, their_steps)
        assert our_files == (their_files - {"tensorboard_logs"}) | {"model"}, (our_files, their_files)
        ours_in, theirs_in = inputs(mlnb.MlflowClient(), ours.info.run_id), inputs(mlflow.MlflowClient(), theirs.info.run_id)
        contexts = ["eval", "train"] if validation_data else ["train"]
        assert [i[0] for i in ours_in] == contexts and ours_in == theirs_in, (ours_in, theirs_in)
        if integration == "tensorflow":   # the best checkpoint so far, its metrics, and the tag naming it
            tag = "mlflow.latest_checkpoint_artifact"
            ours_ck, theirs_ck = (sorted(_walk(client, run.info.run_id, "checkpoints"))
                                  for client, run in ((mlnb.MlflowClient(), ours), (mlflow.MlflowClient(), theirs)))
            assert ours_ck == theirs_ck, (ours_ck, theirs_ck)
            if not options:
                assert ours_ck == ["checkpoints/latest_checkpoint.h5", "checkpoints/latest_checkpoint_metrics.json"]
            assert mlnb.get_run(ours.info.run_id).data.tags[tag] == mlflow.get_run(theirs.info.run_id).data.tags[tag]
        loaded = mlnb.pyfunc.load_model(f"runs:/{ours.info.run_id}/model")
        np.testing.assert_allclose(loaded.predict(X), model.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
        flavors = mlnb.models.Model.load(mlnb.download_artifacts(run_id=ours.info.run_id, artifact_path="model")).flavors
        assert integration in flavors
