"""evaluate()'s metric values against scikit-learn's own functions, and against MLflow's evaluate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression, Ridge

import mlnb
from mlnb.errors import InvalidParameterError
from mlnb.evaluation import MetricValue, make_metric
from tests._evaluation import (assert_close, binary_frame, features, fitted, multiclass_frame, no_shap,
                               regression_frame)

REGRESSOR_KEYS = ["example_count", "mean_absolute_error", "mean_squared_error", "root_mean_squared_error",
                  "sum_on_target", "mean_on_target", "r2_score", "max_error", "mean_absolute_percentage_error",
                  "score"]
BINARY_KEYS = ["true_negatives", "false_positives", "false_negatives", "true_positives", "example_count",
               "accuracy_score", "recall_score", "precision_score", "f1_score", "log_loss", "roc_auc",
               "precision_recall_auc", "score"]


def test_regressor_metrics_equal_sklearn():
    df = regression_frame()
    model = fitted(Ridge(), df)
    res = mlnb.evaluate(model, df, targets="y", model_type="regressor", evaluator_config=no_shap())
    y, p = df["y"].to_numpy(), model.predict(features(df))
    assert sorted(res.metrics) == sorted(REGRESSOR_KEYS)
    assert res.metrics["example_count"] == len(df)
    assert_close(res.metrics["mean_absolute_error"], skm.mean_absolute_error(y, p))
    assert_close(res.metrics["mean_squared_error"], skm.mean_squared_error(y, p))
    assert_close(res.metrics["root_mean_squared_error"], np.sqrt(skm.mean_squared_error(y, p)))
    assert_close(res.metrics["r2_score"], skm.r2_score(y, p))
    assert_close(res.metrics["max_error"], skm.max_error(y, p))
    assert_close(res.metrics["mean_absolute_percentage_error"], skm.mean_absolute_percentage_error(y, p))
    assert_close(res.metrics["sum_on_target"], y.sum())
    assert_close(res.metrics["mean_on_target"], y.mean())
    assert_close(res.metrics["score"], model.score(features(df), y))


def test_regressor_sample_weights_weight_every_metric():
    df = regression_frame()
    model = fitted(Ridge(), df)
    w = np.random.default_rng(0).uniform(0.1, 3.0, len(df))
    res = mlnb.evaluate(model, df, targets="y", model_type="regressor",
                        evaluator_config=no_shap(sample_weights=w))
    y, p = df["y"].to_numpy(), model.predict(features(df))
    assert_close(res.metrics["mean_absolute_error"], skm.mean_absolute_error(y, p, sample_weight=w))
    assert_close(res.metrics["r2_score"], skm.r2_score(y, p, sample_weight=w))
    assert_close(res.metrics["sum_on_target"], (y * w).sum())
    assert_close(res.metrics["score"], model.score(features(df), y, sample_weight=w))


def test_binary_metrics_equal_sklearn():
    df = binary_frame()
    model = fitted(LogisticRegression(), df)
    res = mlnb.evaluate(model, df, targets="y", model_type="classifier", evaluator_config=no_shap())
    X, y = features(df), df["y"].to_numpy()
    p, proba = model.predict(X), model.predict_proba(X)
    assert sorted(res.metrics) == sorted(BINARY_KEYS)
    tn, fp, fn, tp = skm.confusion_matrix(y, p).ravel()
    assert (res.metrics["true_negatives"], res.metrics["false_positives"],
            res.metrics["false_negatives"], res.metrics["true_positives"]) == (tn, fp, fn, tp)
    assert_close(res.metrics["accuracy_score"], skm.accuracy_score(y, p))
    assert_close(res.metrics["precision_score"], skm.precision_score(y, p))
    assert_close(res.metrics["recall_score"], skm.recall_score(y, p))
    assert_close(res.metrics["f1_score"], skm.f1_score(y, p))
    assert_close(res.metrics["log_loss"], skm.log_loss(y, proba))
    assert_close(res.metrics["roc_auc"], skm.roc_auc_score(y, proba[:, 1]))
    assert_close(res.metrics["precision_recall_auc"], skm.average_precision_score(y, proba[:, 1]))


def test_pos_label_makes_another_class_positive_with_string_labels():
    df = binary_frame().copy()
    df["y"] = np.where(df["y"] == 1, "yes", "no")
    model = fitted(LogisticRegression(), df)
    res = mlnb.evaluate(model, df, targets="y", model_type="classifier",
                        evaluator_config=no_shap(pos_label="no"))
    X, y = features(df), df["y"].to_numpy()
    p, proba = model.predict(X), model.predict_proba(X)
    col = list(model.classes_).index("no")
    assert_close(res.metrics["recall_score"], skm.recall_score(y, p, pos_label="no"))
    assert_close(res.metrics["precision_score"], skm.precision_score(y, p, pos_label="no"))
    assert_close(res.metrics["roc_auc"], skm.roc_auc_score(y == "no", proba[:, col]))
    # "no" is positive: its correct predictions are the true positives
    assert res.metrics["true_positives"] == int(((y == "no") & (p == "no")).sum())


@pytest.mark.parametrize("average", ["weighted", "macro"])
def test_multiclass_metrics_equal_sklearn(average):
    df = multiclass_frame()
    model = fitted(LogisticRegression(max_iter=500), df)
    res = mlnb.evaluate(model, df, targets="y", model_type="classifier",
                        evaluator_config=no_shap(average=average))
    X, y = features(df), df["y"].to_numpy()
    p, proba = model.predict(X), model.predict_proba(X)
    assert_close(res.metrics["accuracy_score"], skm.accuracy_score(y, p))
    assert_close(res.metrics["f1_score"], skm.f1_score(y, p, average=average))
    assert_close(res.metrics["precision_score"], skm.precision_score(y, p, average=average))
    assert_close(res.metrics["recall_score"], skm.recall_score(y, p, average=average))
    assert_close(res.metrics["log_loss"], skm.log_loss(y, proba))
    assert_close(res.metrics["roc_auc"], skm.roc_auc_score(y, proba, multi_class="ovr", average=average))
    assert "true_positives" not in res.metrics


def test_metric_prefix_names_metrics_and_plot_files():
    df = binary_frame()
    model = fitted(LogisticRegression(), df)
    res = mlnb.evaluate(model, df, targets="y", model_type="classifier",
                        evaluator_config=no_shap(metric_prefix="val_"))
    assert res.metrics and all(k.startswith("val_") for k in res.metrics)
    assert "val_accuracy_score" in res.metrics
    assert res.artifacts["roc_curve_plot"].uri.endswith("val_roc_curve_plot.png")


def test_extra_metrics_by_name_return_value_and_mlflow_metric_objects():
    import mlflow

    df = regression_frame()
    model = fitted(Ridge(), df)

    def mean_error(predictions, targets):
        return float((predictions - targets).mean())

    def error_stats(predictions, targets, metrics):
        mse = metrics["mean_squared_error"].aggregate_results["mean_squared_error"]
        return MetricValue(aggregate_results={"mean": float(np.mean(predictions - targets)), "double_mse": 2 * mse})

    mlflow_metric = mlflow.models.make_metric(
        eval_fn=lambda predictions, targets: float(np.abs(predictions - targets).max()),
        greater_is_better=False, name="worst")
    res = mlnb.evaluate(model, df, targets="y", model_type="regressor", evaluator_config=no_shap(),
                        extra_metrics=[make_metric(eval_fn=mean_error, greater_is_better=False),
                                       make_metric(eval_fn=error_stats, greater_is_better=False), mlflow_metric])
    y, p = df["y"].to_numpy(), model.predict(features(df))
    assert_close(res.metrics["mean_error"], (p - y).mean())
    assert_close(res.metrics["error_stats/mean"], (p - y).mean())
    assert_close(res.metrics["error_stats/double_mse"], 2 * skm.mean_squared_error(y, p))
    assert_close(res.metrics["worst"], skm.max_error(y, p))
    assert res.greater_is_better_for("worst") is False


def test_extra_metric_with_unknown_parameter_is_refused_clearly():
    df = regression_frame()
    model = fitted(Ridge(), df)
    bad = make_metric(eval_fn=lambda predictions, nowhere: 0.0, greater_is_better=True, name="bad")
    with pytest.raises(InvalidParameterError, match="nowhere"):
        mlnb.evaluate(model, df, targets="y", model_type="regressor", evaluator_config=no_shap(), extra_metrics=[bad])


def test_predictions_column_without_model_and_array_data():
    df = binary_frame().copy()
    model = fitted(LogisticRegression(), df)
    df["pred"] = model.predict(features(df))
    res = mlnb.evaluate(None, df, targets="y", predictions="pred", model_type="classifier")
    assert_close(res.metrics["accuracy_score"], skm.accuracy_score(df["y"], df["pred"]))
    assert "log_loss" not in res.metrics and "score" not in res.metrics
    X = features(binary_frame())
    res2 = mlnb.evaluate(model.predict, X.to_numpy(), targets=df["y"].to_numpy(), model_type="classifier",
                         feature_names=list(X.columns))
    assert res2.metrics["accuracy_score"] == res.metrics["accuracy_score"]


def test_pyfunc_model_gives_probability_metrics(tmp_path):
    df = binary_frame()
    model = fitted(LogisticRegression(), df)
    mlnb.sklearn.save_model(model, tmp_path / "m")
    res = mlnb.evaluate(str(tmp_path / "m"), df, targets="y", model_type="classifier", evaluator_config=no_shap())
    proba = model.predict_proba(features(df))
    assert_close(res.metrics["log_loss"], skm.log_loss(df["y"], proba))
    assert_close(res.metrics["roc_auc"], skm.roc_auc_score(df["y"], proba[:, 1]))


def test_metrics_equal_mlflow_evaluate(tmp_path):
    """The same model and data through MLflow's own evaluate give the same numbers."""
    import mlflow

    for model, df, kind in [(fitted(LogisticRegression(), binary_frame()), binary_frame(), "classifier"),
                            (fitted(Ridge(), regression_frame()), regression_frame(), "regressor")]:
        path = tmp_path / kind
        mlflow.sklearn.save_model(model, str(path), serialization_format="cloudpickle")
        theirs = mlflow.models.evaluate(str(path), df, targets="y", model_type=kind,
                                        evaluator_config={"log_model_explainability": False})
        ours = mlnb.evaluate(str(path), df, targets="y", model_type=kind, evaluator_config=no_shap())
        assert set(theirs.metrics) <= set(ours.metrics)
        for k, v in theirs.metrics.items():
            assert_close(ours.metrics[k], v, tol=1e-7)


# -- bad input -------------------------------------------------------------------------------
def test_missing_target_column_names_the_columns():
    with pytest.raises(InvalidParameterError, match="'label' is not in data.*f0"):
        mlnb.evaluate(lambda X: X["f0"], regression_frame(), targets="label", model_type="regressor")


def test_unknown_model_type_lists_the_supported_ones():
    with pytest.raises(InvalidParameterError, match="'regressor', 'classifier'"):
        mlnb.evaluate(lambda X: X["f0"], regression_frame(), targets="y", model_type="question-answering")


def test_single_class_is_refused_with_what_to_do():
    df = binary_frame().copy()
    df["y"] = 1
    with pytest.raises(InvalidParameterError, match="at least two classes.*label_list"):
        mlnb.evaluate(lambda X: np.ones(len(X), dtype=int), df, targets="y", model_type="classifier")


def test_single_class_targets_with_two_predicted_classes_skip_auc_visibly():
    df = binary_frame().copy()
    model = fitted(LogisticRegression(), df)
    ones = df[df["y"] == 1]
    res = mlnb.evaluate(model, ones, targets="y", model_type="classifier", evaluator_config=no_shap())
    assert "roc_auc" not in res.metrics
    assert any("one class" in n for n in res.notes)


def test_nan_targets_are_refused():
    df = regression_frame().copy()
    df.loc[3, "y"] = np.nan
    with pytest.raises(InvalidParameterError, match="1 missing value"):
        mlnb.evaluate(lambda X: X["f0"], df, targets="y", model_type="regressor")


def test_nan_features_that_break_the_model_name_the_columns():
    df = binary_frame().copy()
    model = fitted(LogisticRegression(), df)
    df.loc[5, "f2"] = np.nan
    with pytest.raises(InvalidParameterError, match="missing values in f2"):
        mlnb.evaluate(model, df, targets="y", model_type="classifier")


def test_string_targets_for_a_regressor_are_refused():
    df = regression_frame().copy()
    df["y"] = "a"
    with pytest.raises(InvalidParameterError, match="must be numbers"):
        mlnb.evaluate(lambda X: X["f0"], df, targets="y", model_type="regressor")


def test_continuous_targets_for_a_classifier_are_refused():
    df = regression_frame()
    with pytest.raises(InvalidParameterError, match="model_type='regressor'"):
        mlnb.evaluate(lambda X: X["f0"], df, targets="y", model_type="classifier")


def test_no_model_and_no_predictions_is_refused():
    with pytest.raises(InvalidParameterError, match="predictions="):
        mlnb.evaluate(None, regression_frame(), targets="y", model_type="regressor")


def test_unknown_pos_label_is_refused():
    df = binary_frame()
    model = fitted(LogisticRegression(), df)
    with pytest.raises(InvalidParameterError, match="pos_label 7"):
        mlnb.evaluate(model, df, targets="y", model_type="classifier", evaluator_config={"pos_label": 7})


def test_evaluate_is_reached_from_the_package_and_keeps_import_light():
    import subprocess
    import sys

    code = ("import sys, mlnb; mlnb.evaluate; mlnb.EvaluationResult; mlnb.MetricThreshold; "
            "heavy = [m for m in ('matplotlib', 'shap', 'ipywidgets', 'IPython') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert isinstance(pd.DataFrame(), pd.DataFrame)
