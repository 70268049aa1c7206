"""log_model into runs and loading models back through models:/<model_id> and runs:/ URIs (embedded store)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import mlnb
import mlnb.pyfunc
import mlnb.sklearn
from mlnb.errors import InvalidParameterError, ModelExistsError, ResourceNotFoundError
from mlnb.models.mlmodel import Model


@pytest.fixture
def fitted(classification_data):
    X, y = classification_data
    return LogisticRegression(max_iter=200).fit(X, y), X


def test_logged_sklearn_model_loads_back_through_its_runs_uri(fitted):
    model, X = fitted
    with mlnb.start_run() as run:
        info = mlnb.sklearn.log_model(model, name="clf", input_example=X.iloc[:3])
    assert info.model_uri == f"models:/{info.model_id}"
    assert info.run_id == run.info.run_id and info.artifact_path == "clf"
    assert "sklearn" in info.flavors and info.signature is not None
    # as MLflow infers it: a 1-D prediction from column input is one column, not a tensor
    assert info.signature.outputs.to_dict() == [{"type": "long", "required": True}]
    runs_uri = f"runs:/{run.info.run_id}/clf"   # the run's path to the same model keeps working
    local = mlnb.download_artifacts(runs_uri)
    meta = Model.load(local)
    assert meta.run_id == run.info.run_id and meta.artifact_path == "clf"
    for uri in (info.model_uri, runs_uri):
        np.testing.assert_array_equal(mlnb.pyfunc.load_model(uri).predict(X), model.predict(X))
        np.testing.assert_array_equal(mlnb.sklearn.load_model(uri).predict(X), model.predict(X))


def test_artifact_path_is_accepted_as_mlflows_older_name(fitted):
    model, _ = fitted
    with mlnb.start_run() as run:
        info = mlnb.sklearn.log_model(model, artifact_path="older")
        with pytest.raises(InvalidParameterError, match="same thing"):
            mlnb.sklearn.log_model(model, name="a", artifact_path="b")
    assert info.model_uri == f"models:/{info.model_id}"


def test_log_model_without_a_run_starts_one(fitted):
    model, _ = fitted
    info = mlnb.sklearn.log_model(model, name="model")
    assert mlnb.active_run().info.run_id == info.run_id
    mlnb.end_run()


def test_a_second_model_under_the_same_name_is_refused(fitted):
    model, _ = fitted
    with mlnb.start_run():
        mlnb.sklearn.log_model(model, name="m")
        with pytest.raises(ModelExistsError):
            mlnb.sklearn.log_model(model, name="m")


def test_a_failed_save_leaves_nothing_in_the_run(fitted):
    model, _ = fitted
    with mlnb.start_run() as run:
        with pytest.raises(InvalidParameterError):
            mlnb.sklearn.log_model(model, name="broken", serialization_format="nope")
    assert mlnb.MlnbClient().list_artifacts(run.info.run_id) == []


def test_custom_pyfunc_artifacts_may_be_runs_uris(fitted):
    class Scaler(mlnb.pyfunc.PythonModel):
        def load_context(self, context):
            self.factor = float(open(context.artifacts["factor"]).read())

        def predict(self, context, model_input, params=None):
            return np.asarray(model_input) * self.factor

    with mlnb.start_run() as source:
        mlnb.log_text("3", "factor.txt")
    with mlnb.start_run():
        info = mlnb.pyfunc.log_model(
            name="scaler", python_model=Scaler(),
            artifacts={"factor": f"runs:/{source.info.run_id}/factor.txt"})
    loaded = mlnb.pyfunc.load_model(info.model_uri)
    np.testing.assert_array_equal(loaded.predict(np.array([1.0, 2.0])), [3.0, 6.0])


def test_runs_uri_errors_name_the_problem():
    with pytest.raises(ResourceNotFoundError, match="No run"):
        mlnb.pyfunc.load_model("runs:/0123456789abcdef/model")
    with mlnb.start_run() as run:
        pass
    with pytest.raises(ResourceNotFoundError, match="no artifact 'model'"):
        mlnb.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    with pytest.raises(InvalidParameterError):
        mlnb.pyfunc.load_model(f"runs:/{run.info.run_id}/../../x")


def test_leftovers_of_killed_saves_are_removed_by_the_next_save(fitted):
    import os
    import time
    from pathlib import Path

    model, _ = fitted
    with mlnb.start_run() as run:
        root = Path(run.info.artifact_uri)
        root.mkdir(parents=True, exist_ok=True)
        stale, fresh = root / ".model_1.k1ll3d.tmp", root / ".model_2.busy.tmp"
        for d in (stale, fresh):
            (d / "sub").mkdir(parents=True)
            (d / "sub" / "x.bin").write_bytes(b"x")
        old = time.time() - 3600
        os.utime(stale, (old, old))
        info = mlnb.sklearn.log_model(model, name="model_3")
    assert not stale.exists() and fresh.exists()   # a save still in progress elsewhere is left alone
    assert mlnb.get_logged_model(info.model_id).status == "READY"
    assert mlnb.last_logged_model().model_id == info.model_id


def test_the_seeds_serving_form_runs_uri_with_artifacts_is_accepted(fitted):
    model, X = fitted
    with mlnb.start_run() as run:
        mlnb.sklearn.log_model(model, name="model")
    loaded = mlnb.pyfunc.load_model(f"runs:/{run.info.run_id}/artifacts/model")   # the run's root is implied
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    with pytest.raises(ResourceNotFoundError, match=f"no artifact .artifacts/nothing.*runs:/{run.info.run_id}/nothing was tried"):
        mlnb.pyfunc.load_model(f"runs:/{run.info.run_id}/artifacts/nothing")
