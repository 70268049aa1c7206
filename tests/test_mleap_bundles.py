"""MLeap bundles scored in NumPy, without Spark or a JVM: MLeap's own published example bundles
(tests/fixtures/mleap, Apache 2.0), MLflow 2.x's model layout, and bad bundles.

The tests that write bundles from fitted Spark pipelines are in tests/test_mleap_flavor.py (java tier).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import mlnb.mleap
import mlnb.pyfunc
from mlnb.errors import ModelFormatError, PredictionError, SchemaError

FIXTURES = Path(__file__).parent / "fixtures" / "mleap"
REPO = Path(__file__).resolve().parent.parent


def _airbnb_frame() -> pd.DataFrame:
    frame = json.loads((FIXTURES / "frame.airbnb.json").read_text())
    return pd.DataFrame(frame["rows"], columns=[f["name"] for f in frame["schema"]["fields"]])


def _unzip(name: str, target: Path) -> Path:
    with zipfile.ZipFile(FIXTURES / name) as z:
        z.extractall(target)
    return target


def _json_in_zip(name: str, member: str) -> dict:
    with zipfile.ZipFile(FIXTURES / name) as z:
        return json.loads(z.read(member))


# -- MLeap's published bundles ---------------------------------------------------------------------
def test_mleaps_random_forest_example_scores_what_mleaps_own_test_asserts():
    """MLeap's TransformServiceSpec asserts 218.2767196535019 for this bundle and row."""
    model = mlnb.mleap.load_bundle(FIXTURES / "airbnb.model.rf.zip")
    assert model.output_column == "price_prediction"
    assert model.ops[-1] == "random_forest_regression"
    np.testing.assert_allclose(model.predict(_airbnb_frame()), [218.2767196535019], rtol=1e-14)


def test_mleaps_linear_regression_example_follows_its_ops():
    """The pipeline, recomputed step by step from the bundle's own JSON: scale the continuous
    features (std only), index and one-hot the categories (last category dropped), assemble, dot."""
    zip_name, pipe = "airbnb.model.lr.zip", "root/feature_pipeline.node"
    row = _airbnb_frame().iloc[0]
    continuous = [s["name"] for s in _json_in_zip(zip_name, f"{pipe}/continuous_feature_assembler.node/node.json")
                  ["shape"]["inputs"]]
    std = _json_in_zip(zip_name, f"{pipe}/continuous_feature_scaler.node/model.json")["attributes"]["std"]["double"]
    scaled = np.array([row[c] for c in continuous]) / np.array(std)
    parts = []
    for column in ["room_type", "host_is_superhost", "cancellation_policy", "instant_bookable", "state"]:
        labels = _json_in_zip(zip_name, f"{pipe}/string_indexer_{column}.node/model.json")["attributes"]["labels"]["string"]
        one_hot = np.zeros(len(labels) - 1)
        if labels.index(row[column]) < len(labels) - 1:
            one_hot[labels.index(row[column])] = 1.0
        parts.append(one_hot)
    features = np.concatenate(parts + [scaled])
    lr = _json_in_zip(zip_name, "root/linear_regression.node/model.json")["attributes"]
    expected = features @ np.array(lr["coefficients"]["double"]) + lr["intercept"]["double"]
    np.testing.assert_allclose(mlnb.mleap.load_bundle(FIXTURES / zip_name).predict(_airbnb_frame()), [expected],
                               rtol=1e-12)


def test_min_max_scaler_bundle_without_target_range_scales_to_zero_one():
    model = mlnb.mleap.load_bundle(FIXTURES / "min_max_scaler_tf.zip")
    X = pd.DataFrame({"dti": [-0.01, 100.0, 32256.0], "loan_amount": [500.0, 600000.0, 1200000.0]})
    low, high = np.array([-0.01, 500.0]), np.array([32256.0, 1200000.0])
    np.testing.assert_allclose(model.predict(X), (X.to_numpy() - low) / (high - low), rtol=1e-12)


def test_one_hot_encoder_bundle_from_before_spark_2_3_keeps_unseen_labels():
    """The old one_hot_encoder (a ``size``, drop_last) with a string indexer that keeps unseen labels."""
    out = mlnb.mleap.load_bundle(FIXTURES / "one_hot_encoder_pipeline.zip").transform(
        pd.DataFrame({"col_1": ["A", "C", "B", "never seen"]}))
    assert out["col_1_label_le"].tolist() == [0.0, 2.0, 1.0, 3.0]
    assert [list(v) for v in out["col_1_label_one_hot_encoded"]] == [[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 0]]


def test_a_string_indexer_that_skips_drops_the_rows_as_spark_does(tmp_path):
    folder = _unzip("one_hot_encoder_pipeline.zip", tmp_path / "bundle")
    model_json = next(folder.glob("root/string_indexer_*.node/model.json"))
    spec = json.loads(model_json.read_text())
    spec["attributes"]["handle_invalid"] = {"string": "skip"}
    model_json.write_text(json.dumps(spec))
    X = pd.DataFrame({"col_1": ["A", "never seen", None, "C"], "other": [1, 2, 3, 4]})
    out = mlnb.mleap.load_bundle(folder).transform(X)
    assert out["other"].tolist() == [1, 4] and out["col_1_label_le"].tolist() == [0.0, 2.0]
    assert mlnb.mleap.load_bundle(folder).predict(X).shape == (2, 3)


def test_a_bundle_directory_and_a_zip_of_the_folder_score_like_the_zip(tmp_path):
    expected = mlnb.mleap.load_bundle(FIXTURES / "airbnb.model.rf.zip").predict(_airbnb_frame())
    folder = _unzip("airbnb.model.rf.zip", tmp_path / "bundle")
    np.testing.assert_array_equal(mlnb.mleap.load_bundle(folder).predict(_airbnb_frame()), expected)
    shutil.make_archive(str(tmp_path / "wrapped"), "zip", tmp_path, "bundle")   # bundle/bundle.json, bundle/root/...
    np.testing.assert_array_equal(mlnb.mleap.load_bundle(tmp_path / "wrapped.zip").predict(_airbnb_frame()), expected)


def test_many_rows_score_at_once_and_transform_keeps_the_input(tmp_path):
    frame = pd.concat([_airbnb_frame()] * 50, ignore_index=True)
    frame["bedrooms"] = np.arange(50, dtype=float)
    model = mlnb.mleap.load_bundle(FIXTURES / "airbnb.model.lr.zip")
    predictions = model.predict(frame)
    assert predictions.shape == (50,)
    one_by_one = [model.predict(frame.iloc[[i]])[0] for i in range(0, 50, 7)]
    np.testing.assert_allclose(predictions[::7], one_by_one, rtol=1e-12)
    out = model.transform(frame)
    assert list(out.columns[:frame.shape[1]]) == list(frame.columns) and "features_lr" in out
    assert len(out["features_lr"].iloc[0]) == 27


# -- MLflow 2.x's layout -----------------------------------------------------------------------------
def _mlflow2_mleap_model(tmp_path: Path, with_pyfunc: bool = False) -> Path:
    """A model directory as MLflow 2.x's mlflow.mleap.save_model wrote it: the bundle as a directory at
    mleap/model and an MLmodel with only the mleap flavor."""
    model = tmp_path / "mlflow2-model"
    _unzip("airbnb.model.rf.zip", model / "mleap" / "model")
    flavors = {"mleap": {"mleap_version": "0.23.0", "model_data": "mleap/model"}}
    if with_pyfunc:
        flavors["python_function"] = {"loader_module": "mlnb.mleap", "python_version": "3.11.7"}
    (model / "MLmodel").write_text(yaml.safe_dump({"flavors": flavors, "mlflow_version": "2.17.2",
                                                   "utc_time_created": "2024-10-01 10:00:00.000000"}))
    return model


def test_a_model_in_mlflow_2_mleap_layout_loads(tmp_path):
    model = mlnb.mleap.load_model(_mlflow2_mleap_model(tmp_path))
    np.testing.assert_allclose(model.predict(_airbnb_frame()), [218.2767196535019], rtol=1e-14)


def test_pyfunc_scores_an_mleap_model_without_importing_spark(tmp_path):
    path = _mlflow2_mleap_model(tmp_path, with_pyfunc=True)
    code = ("import sys, json, pandas as pd, mlnb.pyfunc\n"
            f"frame = json.load(open({str(FIXTURES / 'frame.airbnb.json')!r}))\n"
            "X = pd.DataFrame(frame['rows'], columns=[f['name'] for f in frame['schema']['fields']])\n"
            f"print(mlnb.pyfunc.load_model({str(path)!r}).predict(X)[0])\n"
            "print(sorted({'pyspark', 'py4j'} & set(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    value, imported = out.stdout.split("\n")[:2]
    assert float(value) == pytest.approx(218.2767196535019, rel=1e-14)
    assert imported == "[]"


def test_a_model_without_the_mleap_flavor_is_refused_by_name(tmp_path):
    path = _mlflow2_mleap_model(tmp_path)
    (path / "MLmodel").write_text(yaml.safe_dump({"flavors": {"spark": {"model_data": "sparkml"}}}))
    with pytest.raises(ModelFormatError, match="no 'mleap' flavor"):
        mlnb.mleap.load_model(path)


# -- bad bundles and bad input -------------------------------------------------------------------------
def test_a_damaged_zip_is_a_format_error(tmp_path):
    data = (FIXTURES / "airbnb.model.rf.zip").read_bytes()
    (tmp_path / "cut.zip").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError, match="not a readable MLeap bundle zip"):
        mlnb.mleap.load_bundle(tmp_path / "cut.zip")
    (tmp_path / "text.zip").write_text("not a zip")
    with pytest.raises(ModelFormatError, match="not a readable MLeap bundle zip"):
        mlnb.mleap.load_bundle(tmp_path / "text.zip")
    with pytest.raises(ModelFormatError, match="No MLeap bundle"):
        mlnb.mleap.load_bundle(tmp_path / "absent.zip")


def test_an_op_mlnb_cannot_score_is_named(tmp_path):
    folder = _unzip("one_hot_encoder_pipeline.zip", tmp_path / "bundle")
    model_json = next(folder.glob("root/one_hot_encoder_*.node/model.json"))
    spec = json.loads(model_json.read_text())
    spec["op"] = "word_to_vector"
    model_json.write_text(json.dumps(spec))
    with pytest.raises(ModelFormatError, match=r"op 'word_to_vector' \(node 'one_hot_encoder_.*'\).*mlnb scores:"):
        mlnb.mleap.load_bundle(folder)


def test_a_missing_column_names_it():
    model = mlnb.mleap.load_bundle(FIXTURES / "airbnb.model.rf.zip")
    with pytest.raises(SchemaError, match="'state'"):
        model.predict(_airbnb_frame().drop(columns=["state"]))


def test_an_unseen_label_names_it():
    model = mlnb.mleap.load_bundle(FIXTURES / "airbnb.model.rf.zip")
    with pytest.raises(PredictionError, match="'Atlantis' in 'state'.*handleInvalid='error'"):
        model.predict(_airbnb_frame().assign(state="Atlantis"))


def test_protobuf_bundles_and_broken_files_are_format_errors(tmp_path):
    folder = _unzip("min_max_scaler_tf.zip", tmp_path / "proto")
    info = json.loads((folder / "bundle.json").read_text())
    (folder / "bundle.json").write_text(json.dumps({**info, "format": "protobuf"}))
    with pytest.raises(ModelFormatError, match="JSON serialization only"):
        mlnb.mleap.load_bundle(folder)

    folder = _unzip("min_max_scaler_tf.zip", tmp_path / "escape")
    spec = json.loads((folder / "root" / "model.json").read_text())
    spec["attributes"]["nodes"]["string"][0] = "../../elsewhere"
    (folder / "root" / "model.json").write_text(json.dumps(spec))
    with pytest.raises(ModelFormatError, match="not a plain folder name"):
        mlnb.mleap.load_bundle(folder)

    folder = _unzip("airbnb.model.rf.zip", tmp_path / "tree")
    tree = folder / "root" / "rfr_5af14f58ae5f.node" / "tree3" / "tree.json"
    tree.write_text("\n".join(tree.read_text().splitlines()[:5]))
    with pytest.raises(ModelFormatError, match="ends in the middle of a tree"):
        mlnb.mleap.load_bundle(folder)

    folder = _unzip("airbnb.model.rf.zip", tmp_path / "nojson")
    (folder / "root" / "model.json").write_text("{not json")
    with pytest.raises(ModelFormatError, match="is not JSON"):
        mlnb.mleap.load_bundle(folder)
