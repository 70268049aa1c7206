"""Plots, per_class_metrics.csv and custom artifacts: written, valid, and logged to the run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression, Ridge

import mlnb
from mlnb.errors import InvalidParameterError
from mlnb.tracking.client import MlnbClient
from tests._evaluation import (binary_frame, features, fitted, is_png, multiclass_frame, no_shap, png_size,
                               regression_frame)

BINARY_PLOTS = {"confusion_matrix", "roc_curve_plot", "precision_recall_curve_plot", "lift_curve_plot",
                "calibration_curve_plot"}


def _logged(run_id: str) -> set[str]:
    return {f.path for f in MlnbClient().list_artifacts(run_id)}


def test_binary_classifier_plots_are_valid_pngs_logged_to_a_new_finished_run():
    df = binary_frame()
    res = mlnb.evaluate(fitted(LogisticRegression(), df), df, targets="y", model_type="classifier",
                        evaluator_config=no_shap())
    assert set(res.artifacts) == BINARY_PLOTS
    for name, art in res.artifacts.items():
        assert art.kind == "image" and is_png(art.content)
        width, height = png_size(art.content)
        assert 300 <= width <= 2000 and 250 <= height <= 2000, (name, width, height)
        assert art.path is not None and art.path.read_bytes() == art.content
    assert _logged(res.run_id) == {f"{n}.png" for n in BINARY_PLOTS}
    run = mlnb.get_run(res.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics == pytest.approx(res.metrics)
    assert mlnb.active_run() is None


def test_the_active_run_is_used_and_left_open():
    df = regression_frame()
    with mlnb.start_run() as run:
        res = mlnb.evaluate(fitted(Ridge(), df), df, targets="y", model_type="regressor", evaluator_config=no_shap())
        assert res.run_id == run.info.run_id
        assert mlnb.active_run().info.run_id == run.info.run_id
    assert mlnb.get_run(run.info.run_id).data.metrics["r2_score"] == pytest.approx(res.metrics["r2_score"])


def test_regressor_gets_residual_and_predicted_vs_actual_plots():
    df = regression_frame()
    res = mlnb.evaluate(fitted(Ridge(), df), df, targets="y", model_type="regressor", evaluator_config=no_shap())
    assert set(res.artifacts) == {"residuals_plot", "predicted_vs_actual_plot"}
    assert all(is_png(a.content) for a in res.artifacts.values())
    table = res.tables["eval_results_table"]
    assert list(table.columns) == ["target", "prediction"] and len(table) == len(df)


def test_multiclass_per_class_metrics_csv_equals_sklearn_per_class_scores():
    df = multiclass_frame()
    model = fitted(LogisticRegression(max_iter=500), df)
    res = mlnb.evaluate(model, df, targets="y", model_type="classifier", evaluator_config=no_shap())
    assert "per_class_metrics.csv" in _logged(res.run_id)
    table = res.artifacts["per_class_metrics"].content
    assert list(table["positive_class"]) == [0, 1, 2]
    y, p = df["y"].to_numpy(), model.predict(features(df))
    proba = model.predict_proba(features(df))
    np.testing.assert_allclose(table["precision_score"], skm.precision_score(y, p, average=None))
    np.testing.assert_allclose(table["recall_score"], skm.recall_score(y, p, average=None))
    np.testing.assert_allclose(table["f1_score"], skm.f1_score(y, p, average=None))
    np.testing.assert_allclose(table["roc_auc"], [skm.roc_auc_score(y == c, proba[:, c]) for c in range(3)])
    csv = pd.read_csv(res.artifacts["per_class_metrics"].path)
    pd.testing.assert_frame_equal(csv, table, check_dtype=False)
    assert {"roc_curve_plot", "precision_recall_curve_plot", "calibration_curve_plot", "confusion_matrix"} <= set(res.artifacts)
    assert "lift_curve_plot" not in res.artifacts


def test_weighted_per_class_metrics_equal_sklearn():
    df = multiclass_frame()
    model = fitted(LogisticRegression(max_iter=500), df)
    w = np.random.default_rng(1).uniform(0.2, 2.0, len(df))
    res = mlnb.evaluate(model, df, targets="y", model_type="classifier", evaluator_config=no_shap(sample_weights=w))
    table = res.tables["per_class_metrics"]
    y, p = df["y"].to_numpy(), model.predict(features(df))
    np.testing.assert_allclose(table["precision_score"], skm.precision_score(y, p, average=None, sample_weight=w))
    np.testing.assert_allclose(table["accuracy_score"],
                               [skm.accuracy_score(y == c, p == c, sample_weight=w) for c in range(3)])


def test_many_classes_give_a_readable_confusion_matrix_and_say_what_was_skipped():
    X, y = make_classification(n_samples=1200, n_features=12, n_informative=10, n_classes=25,
                               n_clusters_per_class=1, random_state=0)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(12)])
    df["y"] = y
    res = mlnb.evaluate(fitted(LogisticRegression(max_iter=300), df), df, targets="y", model_type="classifier",
                        evaluator_config=no_shap())
    width, height = png_size(res.artifacts["confusion_matrix"].content)
    assert width >= 900 and height >= 900          # grows with the classes instead of cramming them
    assert "roc_curve_plot" not in res.artifacts
    assert any("max_classes_for_multiclass_roc_pr=10" in n for n in res.notes)
    assert len(res.tables["per_class_metrics"]) == 25


def test_string_labels_are_plotted_and_prefixed_files_logged():
    df = multiclass_frame().copy()
    df["y"] = df["y"].map({0: "cat", 1: "dog", 2: "bird"})
    res = mlnb.evaluate(fitted(LogisticRegression(max_iter=500), df), df, targets="y", model_type="classifier",
                        evaluator_config=no_shap(metric_prefix="test_"))
    assert list(res.tables["per_class_metrics"]["positive_class"]) == ["bird", "cat", "dog"]
    logged = _logged(res.run_id)
    assert "test_confusion_matrix.png" in logged and "test_per_class_metrics.csv" in logged


def test_custom_artifacts_are_written_by_type_and_logged(tmp_path):
    from matplotlib.figure import Figure

    note = tmp_path / "note.txt"
    note.write_text("hello")

    def extras(eval_df, builtin_metrics, artifacts_dir):
        fig = Figure()
        fig.add_subplot().plot(eval_df["prediction"], eval_df["target"], ".")
        return {"scatter": fig, "errors": eval_df.assign(error=eval_df["prediction"] - eval_df["target"]),
                "summary": {"r2": builtin_metrics["r2_score"]}, "array": np.arange(3), "note": str(note)}

    df = regression_frame()
    res = mlnb.evaluate(fitted(Ridge(), df), df, targets="y", model_type="regressor",
                        evaluator_config=no_shap(), custom_artifacts=[extras])
    assert {"scatter.png", "errors.csv", "summary.json", "array.npy", "note.txt"} <= _logged(res.run_id)
    assert is_png(res.artifacts["scatter"].content)
    assert res.artifacts["summary"].content == {"r2": res.metrics["r2_score"]}
    assert list(res.artifacts["array"].content) == [0, 1, 2]
    assert "scatter" in res.images


def test_custom_artifact_of_unknown_type_is_refused_clearly():
    df = regression_frame()
    with pytest.raises(InvalidParameterError, match="'thing' is a object"):
        mlnb.evaluate(fitted(Ridge(), df), df, targets="y", model_type="regressor", evaluator_config=no_shap(),
                      custom_artifacts=[lambda d, m, p: {"thing": object()}])


def test_a_failing_evaluation_marks_the_new_run_failed():
    df = regression_frame()
    with pytest.raises(InvalidParameterError):
        mlnb.evaluate(fitted(Ridge(), df), df, targets="y", model_type="regressor", evaluator_config=no_shap(),
                      custom_artifacts=[lambda d, m, p: {"thing": object()}])
    runs = mlnb.search_runs()
    assert list(runs["status"]) == ["FAILED"]
