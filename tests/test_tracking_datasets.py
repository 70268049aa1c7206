"""Datasets: mlnb.data computes what MLflow computes, and log_input writes what MLflow reads back."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

import mlnb
import mlnb.data


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=50), "n": np.arange(50), "s": [f"k{i % 3}" for i in range(50)],
                         "when": pd.date_range("2024-01-01", periods=50)})


def test_pandas_and_numpy_datasets_match_mlflows():
    import mlflow.data

    df = _frame()
    ours, theirs = mlnb.data.from_pandas(df, source="data/train.csv", name="train", targets="n"), \
        mlflow.data.from_pandas(df, source="data/train.csv", name="train", targets="n")
    assert ours.digest == theirs.digest
    assert {k: v for k, v in ours.to_dict().items()} == theirs.to_dict()
    X, y = np.arange(24.0).reshape(6, 4), np.arange(6)
    ours, theirs = mlnb.data.from_numpy(X, targets=y, source="s3://b/x.npy"), \
        mlflow.data.from_numpy(X, targets=y, source="s3://b/x.npy")
    assert ours.digest == theirs.digest
    assert ours.profile == json.loads(theirs.to_dict()["profile"])   # a dict, as in MLflow
    assert (ours.source_type, json.loads(ours.source)) == (theirs.to_dict()["source_type"], json.loads(theirs.to_dict()["source"]))
    assert ours.to_dict()["schema"] == theirs.to_dict()["schema"]
    assert ours.schema.to_dict() == theirs.schema.to_dict()


def test_log_input_is_read_back_by_mlflow_and_by_mlnb(tmp_path):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")   # the per-test store, for MLflow too
    df = _frame()
    with mlnb.start_run() as run:
        mlnb.log_input(mlnb.data.from_pandas(df, name="train"), context="training", tags={"split": "a"})
        mlnb.log_input(mlnb.data.from_pandas(df, name="train"), context="training")   # once is enough
    got = mlnb.get_run(run.info.run_id).inputs.dataset_inputs
    assert [(d.dataset.name, d.context) for d in got] == [("train", "training")]
    assert dict(got[0].tags) == {"mlflow.data.context": "training", "split": "a"}
    theirs = mlflow.MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    assert [(d.dataset.name, d.dataset.digest) for d in theirs] == [("train", mlnb.data.pandas_digest(df))]
    assert {t.key: t.value for t in theirs[0].tags} == {"mlflow.data.context": "training", "split": "a"}
    assert json.loads(theirs[0].dataset.profile) == {"num_rows": 50, "num_elements": 200}
    with mlflow.start_run() as other:   # and MLflow's datasets read in mlnb
        mlflow.log_input(mlflow.data.from_numpy(np.ones((3, 2)), name="ones"), context="eval")
    assert [(d.name, d.context) for d in mlnb.get_run(other.info.run_id).inputs.dataset_inputs] == [("ones", "eval")]


def test_input_tags_read_back_with_mlflows_key_and_value_names():
    X = np.arange(12.0).reshape(6, 2)
    with mlnb.start_run() as run:
        mlnb.log_input(mlnb.data.from_numpy(X, name="numbers"), context="evaluation", tags={"split": "test"})
    tags = mlnb.get_run(run.info.run_id).inputs.dataset_inputs[0].tags
    assert sorted((t.key, t.value) for t in tags) == [("mlflow.data.context", "evaluation"), ("split", "test")]


def test_a_dataset_input_holds_mlflows_dataset_entity(tmp_path):
    """A run's dataset input is MLflow's Dataset entity plus the input's tags: the same fields and
    dictionaries as MLflow's own entities read from the same store."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with mlnb.start_run() as run:
        mlnb.log_input(mlnb.data.from_numpy(np.arange(12.0).reshape(6, 2), name="numbers"), context="evaluation")
    (ours,) = mlnb.get_run(run.info.run_id).inputs.dataset_inputs
    (theirs,) = mlflow.MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    assert ours.to_dictionary() == theirs.to_dictionary()
    assert ours.dataset == mlnb.entities.Dataset.from_dictionary(theirs.dataset.to_dictionary())
    assert (ours.name, ours.digest, ours.context) == (theirs.dataset.name, theirs.dataset.digest, "evaluation")


def test_digests_of_data_beyond_the_hashed_rows_match_mlflows():
    """Only the leading rows enter a digest: mlnb reads just those, and still gets MLflow's digest."""
    from mlflow.data.digest_utils import compute_numpy_digest, compute_pandas_digest

    rng = np.random.default_rng(1)
    arrays = [rng.normal(size=(30_000, 7)), np.asfortranarray(rng.normal(size=(4_000, 9))),
              rng.normal(size=(3_000, 4, 5)), rng.normal(size=25_000), rng.normal(size=(6_000, 3))[::2]]
    for X in arrays:
        assert mlnb.data.numpy_digest(X, np.arange(5)) == compute_numpy_digest(X, np.arange(5))
    n = 12_000
    df = pd.DataFrame({"x": rng.normal(size=n), "n": np.arange(n), "flag": rng.normal(size=n) > 0,
                       "mixed": pd.Series(["a" if i % 2 else 1 for i in range(n)], dtype=object),
                       "names": pd.Series([f"k{i}" for i in range(n)], dtype=object),
                       "late_none": pd.Series(["v"] * (n - 1) + [None], dtype=object),
                       "cat": pd.Categorical([f"c{i % 4}" for i in range(n)]),
                       "when": pd.date_range("2024-01-01", periods=n, freq="min")})
    for frame in (df, df.head(0), df.head(3)):
        assert mlnb.data.pandas_digest(frame) == compute_pandas_digest(frame)
