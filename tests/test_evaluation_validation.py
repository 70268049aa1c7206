"""MetricThreshold checks, baselines and deltas, and agreement with MLflow's validation rules."""

from __future__ import annotations

import itertools

import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

import mlnb
from mlnb.errors import InvalidParameterError, ModelValidationFailedError
from mlnb.evaluation import MetricThreshold, validate_evaluation_results
from mlnb.evaluation.validation import check_thresholds
from tests._evaluation import binary_frame, fitted, no_shap


@pytest.mark.parametrize("kwargs, message", [
    ({"threshold": 0.5}, "greater_is_better"),
    ({"greater_is_better": True}, "at least one"),
    ({"threshold": "high", "greater_is_better": True}, "threshold must be a number"),
    ({"min_absolute_change": -1, "greater_is_better": True}, "positive"),
    ({"min_relative_change": 2.0, "greater_is_better": True}, "between 0 and 1"),
])
def test_bad_thresholds_are_refused(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        MetricThreshold(**kwargs)


def test_every_failed_metric_is_listed_in_one_error():
    thresholds = {
        "accuracy_score": MetricThreshold(threshold=0.99, greater_is_better=True),
        "log_loss": MetricThreshold(threshold=0.01, greater_is_better=False),
        "f1_score": MetricThreshold(threshold=0.1, greater_is_better=True),
        "not_a_metric": MetricThreshold(threshold=1.0, greater_is_better=True),
    }
    metrics = {"accuracy_score": 0.9, "log_loss": 0.3, "f1_score": 0.8}
    failures = check_thresholds(thresholds, metrics)
    assert [(f.metric, f.check) for f in failures] == [
        ("accuracy_score", "threshold"), ("log_loss", "threshold"), ("not_a_metric", "missing")]


def test_changes_over_a_baseline_follow_the_direction_of_the_metric():
    t_up = MetricThreshold(min_absolute_change=0.05, min_relative_change=0.05, greater_is_better=True)
    t_down = MetricThreshold(min_absolute_change=0.05, greater_is_better=False)
    assert check_thresholds({"acc": t_up}, {"acc": 0.90}, {"acc": 0.80}) == []
    failed = check_thresholds({"acc": t_up}, {"acc": 0.82}, {"acc": 0.80})
    assert {f.check for f in failed} == {"min_absolute_change", "min_relative_change"}
    assert check_thresholds({"loss": t_down}, {"loss": 0.2}, {"loss": 0.3}) == []
    assert check_thresholds({"loss": t_down}, {"loss": 0.28}, {"loss": 0.3})[0].check == "min_absolute_change"
    # a negative baseline: relative change is taken on its magnitude
    rel = MetricThreshold(min_relative_change=0.5, greater_is_better=True)
    assert check_thresholds({"r2": rel}, {"r2": -0.4}, {"r2": -1.0}) == []
    assert check_thresholds({"r2": rel}, {"r2": -0.6}, {"r2": -1.0})[0].check == "min_relative_change"
    missing = check_thresholds({"acc": t_up}, {"acc": 0.9})
    assert missing[0].check == "missing_baseline" and "no baseline was given" in missing[0].message


def test_pass_and_fail_agree_with_mlflow():
    from mlflow.exceptions import MlflowException
    from mlflow.models.evaluation.validation import MetricThreshold as MlflowThreshold, _validate

    candidates = [-1.0, 0.0, 0.5, 0.8, 0.84, 0.9, 1.2]
    baselines = [-1.0, 0.0, 0.8]
    specs = [dict(threshold=0.85), dict(min_absolute_change=0.05), dict(min_relative_change=0.05),
             dict(threshold=0.5, min_relative_change=0.1)]
    for value, base, spec, better in itertools.product(candidates, baselines, specs, [True, False]):
        ours = not check_thresholds({"m": MetricThreshold(**spec, greater_is_better=better)}, {"m": value}, {"m": base})
        try:
            _validate({"m": MlflowThreshold(**spec, greater_is_better=better)}, {"m": value}, {"m": base})
            theirs = True
        except MlflowException:
            theirs = False
        assert ours == theirs, (value, base, spec, better)


def test_evaluate_with_a_baseline_model_shows_deltas_and_raises_after_logging():
    df = binary_frame()
    model = fitted(LogisticRegression(), df)
    baseline = fitted(DummyClassifier(strategy="most_frequent"), df)
    thresholds = {"accuracy_score": MetricThreshold(threshold=0.99, min_absolute_change=0.6, greater_is_better=True),
                  "f1_score": MetricThreshold(min_absolute_change=0.05, greater_is_better=True),
                  "log_loss": MetricThreshold(threshold=0.001, greater_is_better=False)}
    with pytest.raises(ModelValidationFailedError) as info:
        mlnb.evaluate(model, df, targets="y", model_type="classifier", evaluator_config=no_shap(),
                      baseline=baseline, validation_thresholds=thresholds)
    err = info.value
    text = str(err)
    assert "2 metric(s) (accuracy_score, log_loss)" in text
    assert "accuracy_score =" in text and "must be >= 0.99" in text and "baseline" in text
    assert {(f.metric, f.check) for f in err.failures} == {
        ("accuracy_score", "threshold"), ("accuracy_score", "min_absolute_change"), ("log_loss", "threshold")}
    result = err.result
    base_acc = result.baseline_metrics["accuracy_score"]
    assert result.baseline_deltas["accuracy_score"] == pytest.approx(result.metrics["accuracy_score"] - base_acc)
    assert mlnb.get_run(result.run_id).data.metrics["accuracy_score"] == pytest.approx(result.metrics["accuracy_score"])
    frame = result.metrics_frame()
    assert list(frame.columns) == ["metric", "value", "baseline", "delta"]


def test_a_baseline_result_and_validate_evaluation_results():
    df = binary_frame()
    good = mlnb.evaluate(fitted(LogisticRegression(), df), df, targets="y", model_type="classifier",
                         evaluator_config=no_shap())
    weak = mlnb.evaluate(fitted(DummyClassifier(), df), df, targets="y", model_type="classifier",
                         evaluator_config=no_shap())
    res = mlnb.evaluate(fitted(LogisticRegression(C=0.01), df), df, targets="y", model_type="classifier",
                        evaluator_config=no_shap(), baseline=weak)
    assert res.baseline_metrics == weak.metrics
    validate_evaluation_results({"accuracy_score": MetricThreshold(min_absolute_change=0.1, greater_is_better=True)},
                                good, weak)
    with pytest.raises(ModelValidationFailedError, match="accuracy_score"):
        validate_evaluation_results({"accuracy_score": MetricThreshold(min_absolute_change=0.1,
                                                                       greater_is_better=True)}, weak, good)


def test_thresholds_must_be_metric_thresholds():
    with pytest.raises(InvalidParameterError, match="MetricThreshold"):
        check_thresholds({"accuracy_score": 0.9}, {"accuracy_score": 0.95})


def test_the_validation_error_carries_mlflows_class_name():
    from mlnb.exceptions import ModelValidationFailedException

    assert ModelValidationFailedError is ModelValidationFailedException
    assert ModelValidationFailedError.__name__ == "ModelValidationFailedException"
