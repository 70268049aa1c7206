"""PyTorch Lightning autologging (mlnb.autologging.lightning, ``mlnb.pytorch.autolog``): the names and steps
MLflow 3.17's ``mlflow.pytorch.autolog`` logs on the same fits, the model, and the autolog lifecycle.
Tiny models, two epochs, no Lightning logger, nothing downloaded."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

import mlnb
from mlnb.autologging import AutologWarning
from tests._autolog import run_autolog_cell


class TinyRegressor(pl.LightningModule):
    """A linear model that logs its training loss on steps and epochs and a validation loss."""

    def __init__(self, fail: bool = False, lr: float = 0.1) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)
        self.fail, self.lr = fail, lr

    def forward(self, x):
        return self.linear(x)

    def training_step(self, batch, batch_idx):
        if self.fail:
            raise RuntimeError("this training step fails")
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self(x), y))

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test_loss", torch.nn.functional.mse_loss(self(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def _loader():
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(64, 4, generator=generator)
    data = torch.utils.data.TensorDataset(X, X.sum(1, keepdim=True))
    return torch.utils.data.DataLoader(data, batch_size=16)


def _trainer(root, early_stopping: bool = False, epochs: int = 2) -> pl.Trainer:
    callbacks = [pl.callbacks.EarlyStopping("val_loss", patience=1)] if early_stopping else []
    return pl.Trainer(max_epochs=epochs, logger=False, enable_progress_bar=False, enable_model_summary=False,
                      default_root_dir=root, callbacks=callbacks, deterministic=True)


def _fit(root, early_stopping: bool = False, model: TinyRegressor | None = None, lr: float = 0.1):
    torch.manual_seed(0)
    model = model or TinyRegressor(lr=lr)
    trainer = _trainer(root, early_stopping, epochs=4 if lr > 0.5 else 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # Lightning's advice on worker counts and the like
        trainer.fit(model, _loader(), _loader())
    return trainer, model


@pytest.fixture
def autolog():
    yield mlnb.pytorch.autolog
    mlnb.pytorch.autolog(disable=True)
    from mlnb.autologging import session

    session._forget()


def _walk(client, run_id, path=None):
    for item in client.list_artifacts(run_id, path):
        yield from _walk(client, run_id, item.path) if item.is_dir else [item.path]


def _logged(client, run_id):
    """params, {metric: [(step, value)]}, artifact files (model files and the checkpoint's own name left out), tags"""
    run = client.get_run(run_id)
    history = {k: [(m.step, m.value) for m in client.get_metric_history(run_id, k)] for k in run.data.metrics}
    files = {p for p in _walk(client, run_id) if not p.startswith(("model/", "restored_model_checkpoint/"))}
    tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.") or "checkpoint" in k}
    return run.data.params, history, files, tags


#: case -> (autolog options, early stopping, learning rate); at lr 1.5 SGD diverges: the validation
#: loss rises and early stopping ends the training
CASES = {"epochs": ({}, False, 0.1), "steps-and-early-stopping": ({"log_every_n_step": 1}, True, 0.1),
         "stopped-early": ({}, True, 1.5)}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_same_fit_logs_the_params_metrics_steps_and_files_mlflow_logs(case, tmp_path, autolog):
    import mlflow

    options, stopping, lr = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.pytorch.autolog(log_models=False, **options)   # MLflow infers the model's requirements: slow
        try:
            with mlflow.start_run() as theirs:
                _fit(tmp_path / "theirs", stopping, lr=lr)
        finally:
            mlflow.pytorch.autolog(disable=True)
    autolog(**options)
    with mlnb.start_run() as ours:
        trainer, model = _fit(tmp_path / "ours", stopping, lr=lr)

    their_params, their_history, their_files, their_tags = _logged(mlflow.MlflowClient(), theirs.info.run_id)
    our_params, our_history, our_files, our_tags = _logged(mlnb.MlflowClient(), ours.info.run_id)
    assert our_params == their_params
    assert {k: [s for s, _ in v] for k, v in our_history.items()} == {k: [s for s, _ in v] for k, v in their_history.items()}
    for key, values in their_history.items():     # the same seeds: the same values
        np.testing.assert_allclose([v for _, v in our_history[key]], [v for _, v in values], rtol=1e-5)
    assert our_files == their_files
    assert our_tags == their_tags
    names = {a.path for a in mlnb.MlflowClient().list_artifacts(ours.info.run_id)}
    assert ("restored_model_checkpoint" in names) == stopping     # the best checkpoint, with early stopping
    assert "optimizer_name" in our_params and our_params["lr"] == str(lr)
    if case == "stopped-early":
        assert {"stopped_epoch", "restored_epoch", "best_score", "wait_count"} <= set(our_history)

    loaded = mlnb.pyfunc.load_model(f"runs:/{ours.info.run_id}/model", allow_pickle=True)
    X = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(np.asarray(loaded.predict(X)).reshape(expected.shape), expected, rtol=1e-6)
    assert loaded.metadata.get_input_schema().inputs[0].shape == (-1, 4)   # from the first batch the model saw


def test_a_test_run_after_the_fit_logs_its_metrics_to_the_fits_run(tmp_path, autolog):
    autolog(log_models=False, checkpoint=False)
    trainer, model = _fit(tmp_path)
    run = mlnb.last_active_run()
    assert run.info.status == "FINISHED" and run.data.tags["mlflow.autologging"] == "pytorch"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.test(model, _loader(), verbose=False)
    tested = mlnb.get_run(run.info.run_id)
    assert tested.data.tags["Mode"] == "testing" and "test_loss" in tested.data.metrics
    assert mlnb.active_run() is None


def test_a_failed_training_ends_its_run_failed_and_disable_restores_fit(tmp_path, autolog):
    original = pl.Trainer.__dict__["fit"]
    autolog(log_models=False)
    assert pl.Trainer.__dict__["fit"] is not original
    with pytest.raises(RuntimeError, match="this training step fails"):
        _fit(tmp_path, model=TinyRegressor(fail=True))
    run = mlnb.last_active_run()
    assert run.info.status == "FAILED" and run.data.params["optimizer_name"] == "SGD"
    mlnb.pytorch.autolog(disable=True)
    assert pl.Trainer.__dict__["fit"] is original
    assert mlnb.autologging.get_autologging_config("pytorch") is None


def test_an_active_run_is_reused_and_its_forward_is_the_models_own_again(tmp_path, autolog):
    autolog(log_models=True, checkpoint=False)
    with mlnb.start_run() as run:
        trainer, model = _fit(tmp_path)
    assert "forward" not in model.__dict__          # the first-batch capture is gone
    logged = mlnb.get_run(run.info.run_id)
    assert "mlflow.autologging" not in logged.data.tags and logged.data.params["epochs"] == "2"
    (fit,) = mlnb.autologging.logged_fits(run.info.run_id)
    assert fit.estimator_name == "TinyRegressor" and fit.model_uri == f"runs:/{run.info.run_id}/model"
    assert set(fit.metrics) == {"train_loss", "train_loss_step", "train_loss_epoch", "val_loss"}


def test_a_lightning_outside_the_tested_versions_warns_once_and_trains(tmp_path, autolog, monkeypatch):
    from mlnb.autologging import lightning as integration

    monkeypatch.setattr(integration, "TESTED", ("0.1.0", "0.2.0"))
    with pytest.warns(AutologWarning, match="outside the versions autolog is tested with") as caught:
        autolog(log_models=False, checkpoint=False)
    assert len(caught) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", AutologWarning)
        trainer, _ = _fit(tmp_path)
    assert trainer.current_epoch == 2 and "val_loss" in mlnb.last_active_run().data.metrics


def test_bad_options_say_what_is_expected(autolog):
    from mlnb.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="log_every_n_epoch must be an int >= 1"):
        autolog(log_every_n_epoch=0)
    with pytest.raises(InvalidParameterError, match="checkpoint_mode must be 'min' or 'max'"):
        autolog(checkpoint_mode="best")
    assert mlnb.autologging.get_autologging_config("pytorch") is None


def test_an_autolog_cell_logs_a_lightning_fit_with_its_epoch_curves(tmp_path):
    from mlnb.autologging import get_autologging_config

    result = run_autolog_cell("%%autolog --run-name lightning --no-models\ntrainer, model = fit(root)", fit=_fit,
                              root=tmp_path)
    assert result.success
    run = mlnb.last_active_run()
    assert run.info.run_name == "lightning" and run.info.status == "FINISHED"
    history = mlnb.MlflowClient().get_metric_history(run.info.run_id, "val_loss")
    assert [m.step for m in history] == [0, 1]
    assert get_autologging_config("pytorch") is None
