"""EvaluationResult.save / load: MLflow's layout, read by MLflow and reading MLflow's, written atomically."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import mlnb
from mlnb.errors import InvalidParameterError, ResourceNotFoundError
from mlnb.evaluation import EvaluationArtifact, EvaluationResult
from tests._evaluation import binary_frame, evaluate_in_own_store, fitted, is_png, multiclass_frame, no_shap

MLFLOW_ARTIFACTS = "mlflow.models.evaluation.artifacts."


def _custom(eval_df, builtin_metrics, artifacts_dir):
    """Custom artifacts of every type evaluate() writes: JSON, an array, a table and a plain file."""
    note = os.path.join(artifacts_dir, "readme.md")
    with open(note, "w") as f:
        f.write("# notes\n")
    return {"summary": {"rows": len(eval_df), "accuracy": builtin_metrics["accuracy_score"]},
            "errors": (eval_df["prediction"] != eval_df["target"]).to_numpy().astype(np.int64),
            "head": eval_df.head(3), "readme": note}


@pytest.fixture(scope="module")
def multiclass_result(tmp_path_factory):
    """A multiclass evaluation with SHAP, per-class table and custom artifacts (computed once)."""
    df = multiclass_frame()
    model = fitted(RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0), df)
    baseline = fitted(LogisticRegression(max_iter=300), df)
    return evaluate_in_own_store(tmp_path_factory.mktemp("store"), model, df, targets="y", model_type="classifier",
                                 baseline=baseline, custom_artifacts=[_custom],
                                 evaluator_config={"explainability_nsamples": 50})


def _same_value(kind: str, got, want) -> None:
    if kind == "csv":
        pd.testing.assert_frame_equal(got, want)
    elif kind == "npy":
        np.testing.assert_array_equal(got, want)
    else:
        assert got == want


def _same_content(a: EvaluationArtifact, b: EvaluationArtifact) -> None:
    assert (a.uri, a.kind) == (b.uri, b.kind)
    _same_value(a.kind, a.content, b.content)


def test_a_saved_result_loads_back_whole_in_mlnb(multiclass_result, tmp_path):
    res = multiclass_result
    assert res.explanation.ok and res.baseline_metrics and "per_class_metrics" in res.tables
    res.save(tmp_path / "saved")
    back = EvaluationResult.load(tmp_path / "saved")
    assert back.metrics == res.metrics
    assert list(back.artifacts) == list(res.artifacts)  # display order kept
    for name in res.artifacts:
        _same_content(back.artifacts[name], res.artifacts[name])
    assert back.artifacts["readme"].content == b"# notes\n"
    assert list(back.tables) == list(res.tables)
    for name, frame in res.tables.items():
        pd.testing.assert_frame_equal(back.tables[name], frame)
    assert (back.run_id, back.model_type, back.model_name) == (res.run_id, res.model_type, res.model_name)
    assert back.baseline_metrics == res.baseline_metrics and back.baseline_deltas == res.baseline_deltas
    assert back.notes == res.notes and back.greater_is_better == res.greater_is_better
    exp, theirs = back.explanation, res.explanation
    np.testing.assert_array_equal(exp.values, theirs.values)
    np.testing.assert_array_equal(exp.index, theirs.index)
    assert exp.summary() == theirs.summary() and exp.feature_names == theirs.feature_names
    assert repr(back) == repr(res) and back._repr_html_() == res._repr_html_()


def test_mlflow_loads_a_result_mlnb_saved(multiclass_result, tmp_path):
    from mlflow.models.evaluation import EvaluationResult as MlflowResult
    from PIL import Image

    res = multiclass_result
    res.save(tmp_path / "saved")
    theirs = MlflowResult.load(str(tmp_path / "saved"))
    assert theirs.metrics == res.metrics
    assert set(theirs.artifacts) == set(res.artifacts) - {"readme"}  # MLflow has no class for .md files
    for name, art in theirs.artifacts.items():
        ours = res.artifacts[name]
        assert art.uri == ours.uri
        if ours.kind == "image":
            assert isinstance(art.content, Image.Image) and art.content.format == "PNG"
            with Image.open(ours.path) as original:
                assert art.content.size == original.size
        else:
            _same_value(ours.kind, art.content, ours.content)
    meta = json.loads((tmp_path / "saved" / "artifacts_metadata.json").read_text())
    assert meta["confusion_matrix"]["class_name"] == MLFLOW_ARTIFACTS + "ImageEvaluationArtifact"
    assert meta["per_class_metrics"]["class_name"] == MLFLOW_ARTIFACTS + "CsvEvaluationArtifact"


def test_mlnb_loads_a_result_mlflow_saved(tmp_path):
    """MLflow's own evaluate, saved by MLflow, with MLflow's artifact classes (pickles stay bytes)."""
    import mlflow
    from mlflow.models.evaluation.artifacts import PickleEvaluationArtifact, TextEvaluationArtifact

    df = binary_frame()
    path = tmp_path / "model"
    mlflow.sklearn.save_model(fitted(LogisticRegression(), df), str(path), serialization_format="cloudpickle")
    theirs = mlflow.models.evaluate(str(path), df, targets="y", model_type="classifier",
                                    evaluator_config={"log_model_explainability": False})
    theirs.artifacts["notes"] = TextEvaluationArtifact(uri="runs:/x/notes.txt", content="plain text")
    theirs.artifacts["obj"] = PickleEvaluationArtifact(uri="runs:/x/obj.pickle", content={"a": 1})
    theirs.save(str(tmp_path / "theirs"))
    ours = EvaluationResult.load(tmp_path / "theirs")
    assert ours.metrics == pytest.approx(theirs.metrics)
    assert set(ours.artifacts) == set(theirs.artifacts)
    for name, art in theirs.artifacts.items():
        assert ours.artifacts[name].uri == art.uri
    assert ours.artifacts["confusion_matrix"].kind == "image" and is_png(ours.artifacts["confusion_matrix"].content)
    assert ours.images.keys() == {n for n, a in theirs.artifacts.items() if a.uri.endswith(".png")}
    assert ours.artifacts["notes"].content == b"plain text"
    pickled = ours.artifacts["obj"]
    assert pickled.kind == "file" and isinstance(pickled.content, bytes)  # never unpickled
    assert "accuracy_score" in repr(ours) and "<img" in ours._repr_html_()
    # and mlnb saves it again, readable by MLflow
    ours.save(tmp_path / "again")
    assert mlflow.models.EvaluationResult.load(str(tmp_path / "again")).metrics == ours.metrics


def test_saving_again_replaces_the_old_result_and_leaves_no_temporary_files(tmp_path):
    df = binary_frame()
    first = mlnb.evaluate(fitted(LogisticRegression(), df), df, targets="y", model_type="classifier",
                          evaluator_config=no_shap())
    first.save(tmp_path / "r")
    second = EvaluationResult(metrics={"only": 1.0}, model_type="regressor")
    second.save(tmp_path / "r")
    back = EvaluationResult.load(tmp_path / "r")
    assert back.metrics == {"only": 1.0} and back.artifacts == {} and back.explanation is None
    assert os.listdir(tmp_path / "r" / "artifacts") == []  # nothing of the first result is left
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging or old copies


def test_a_failed_save_leaves_the_old_result_untouched(tmp_path):
    EvaluationResult(metrics={"old": 1.0}).save(tmp_path / "r")
    bad = EvaluationResult(metrics={"new": 2.0}, artifacts={
        "a": EvaluationArtifact(uri="runs:/x/plot.png", path=None, kind="image", data=b"\x89PNG"),
        "b": EvaluationArtifact(uri="runs:/y/plot.png", path=None, kind="image", data=b"\x89PNG")})
    with pytest.raises(InvalidParameterError, match="'b' and 'a' would both be saved as 'plot.png'"):
        bad.save(tmp_path / "r")
    assert EvaluationResult.load(tmp_path / "r").metrics == {"old": 1.0}
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_save_refuses_a_directory_that_is_not_a_saved_result(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("mine")
    with pytest.raises(InvalidParameterError, match="not a saved evaluation result"):
        EvaluationResult(metrics={"m": 1.0}).save(tmp_path / "mine")
    assert (tmp_path / "mine" / "keep.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    EvaluationResult(metrics={"m": 1.0}).save(tmp_path / "empty")
    assert EvaluationResult.load(tmp_path / "empty").metrics == {"m": 1.0}


def test_loading_a_missing_or_damaged_result_says_what_is_wrong(tmp_path):
    with pytest.raises(ResourceNotFoundError, match="no metrics.json"):
        EvaluationResult.load(tmp_path / "nothing")
    EvaluationResult(metrics={"m": 1.0}, artifacts={
        "p": EvaluationArtifact(uri="runs:/x/p.png", path=None, kind="image", data=b"\x89PNG")}).save(tmp_path / "r")
    (tmp_path / "r" / "artifacts" / "p.png").unlink()
    with pytest.raises(InvalidParameterError, match="'artifacts/p.png' is missing"):
        EvaluationResult.load(tmp_path / "r")
    (tmp_path / "r" / "metrics.json").write_text("{not json")
    with pytest.raises(InvalidParameterError, match="not valid JSON"):
        EvaluationResult.load(tmp_path / "r")
