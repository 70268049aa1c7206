"""SHAP: the explainer that fits each model kind, values that add up, and visible skip reasons."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.ensemble import (GradientBoostingClassifier, GradientBoostingRegressor, RandomForestClassifier,
                              RandomForestRegressor)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

import mlnb
from mlnb.evaluation.explain import explain
from mlnb.evaluation.inputs import ModelAdapter
from mlnb.evaluation.metrics import resolve_labels
from tests._evaluation import binary_frame, features, fitted, is_png, multiclass_frame, regression_frame

SHAP_PLOTS = {"shap_beeswarm_plot", "shap_summary_plot", "shap_feature_importance_plot"}


def _explain(model, df, kind, **config):
    X = features(df)
    labels = None
    if kind == "classifier":
        labels = resolve_labels(df["y"].to_numpy(), model.predict(X), classes=getattr(model, "classes_", None))
    return explain(ModelAdapter(model), X, model_type=kind, labels=labels, config=config)


@pytest.mark.parametrize("model, frame, kind", [
    (RandomForestClassifier(n_estimators=10, random_state=0), binary_frame, "classifier"),
    (GradientBoostingClassifier(n_estimators=20, random_state=0), binary_frame, "classifier"),
    (RandomForestRegressor(n_estimators=10, random_state=0), regression_frame, "regressor"),
    (GradientBoostingRegressor(n_estimators=20, random_state=0), regression_frame, "regressor"),
])
def test_scikit_learn_tree_ensembles_get_exact_tree_shap_equal_to_shaps(model, frame, kind):
    import shap

    df = frame()
    model = fitted(model, df)
    exp = _explain(model, df, kind)
    assert exp.explainer == "TreeSHAP", exp.reason
    assert exp.values.shape == (len(df), 6)
    assert exp.rows == len(df)
    theirs = np.asarray(shap.TreeExplainer(model).shap_values(features(df), check_additivity=False))
    if theirs.ndim == 3:     # classifier forests: probability of the positive class
        theirs = theirs[:, :, 1]
    np.testing.assert_allclose(exp.values, theirs, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("model", [
    RandomForestClassifier(n_estimators=8, random_state=0),
    GradientBoostingClassifier(n_estimators=10, random_state=0),
])
def test_multiclass_tree_shap_adds_up_to_each_class_output(model):
    from mlnb.evaluation.treeshap import tree_shap

    df = multiclass_frame()
    X = features(df)
    model = fitted(model, df)
    values = tree_shap(model, X.to_numpy())
    out = model.predict_proba(X) if isinstance(model, RandomForestClassifier) else model.decision_function(X)
    assert values.shape == (len(df), X.shape[1], 3)
    totals = values.sum(axis=1)
    np.testing.assert_allclose(totals - totals.mean(axis=0), out - out.mean(axis=0), atol=1e-9)


def test_tree_shap_splits_rows_across_threads_with_the_same_values(monkeypatch):
    from mlnb.evaluation import treeshap

    df = binary_frame()
    model = fitted(RandomForestClassifier(n_estimators=10, random_state=0), df)
    X = features(df).to_numpy()
    one = treeshap.tree_shap(model, X)
    monkeypatch.setattr(treeshap, "PARALLEL_WORK", 0)
    done = []
    many = treeshap.tree_shap(model, X, progress=done.append)
    np.testing.assert_array_equal(one, many)
    assert sum(done) == len(X)


def test_tree_shap_leaves_missing_values_and_other_models_to_shap():
    from sklearn.ensemble import HistGradientBoostingClassifier

    from mlnb.evaluation.treeshap import tree_shap

    df = binary_frame()
    X = features(df).to_numpy().copy()
    forest = fitted(RandomForestClassifier(n_estimators=3, random_state=0), df)
    X[0, 0] = np.nan
    assert tree_shap(forest, X) is None
    hist = fitted(HistGradientBoostingClassifier(max_iter=5), df)
    assert tree_shap(hist, features(df).to_numpy()) is None
    assert _explain(hist, df, "classifier").explainer == "TreeExplainer"


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_xgboost_is_explained_by_its_own_pred_contribs(kind):
    import shap
    import xgboost

    df = binary_frame() if kind == "classifier" else regression_frame()
    cls = xgboost.XGBClassifier if kind == "classifier" else xgboost.XGBRegressor
    model = fitted(cls(n_estimators=20, max_depth=3), df)
    exp = _explain(model, df, kind)
    assert exp.explainer == "XGBoost pred_contribs", exp.reason
    assert exp.values.shape == (len(df), 6)
    theirs = shap.TreeExplainer(model).shap_values(features(df))
    np.testing.assert_allclose(exp.values, theirs, rtol=1e-5, atol=1e-5)


def test_multiclass_xgboost_keeps_one_slice_per_class():
    import xgboost

    df = multiclass_frame()
    exp = _explain(fitted(xgboost.XGBClassifier(n_estimators=5, max_depth=3), df), df, "classifier")
    assert exp.explainer == "XGBoost pred_contribs"
    assert exp.values.shape == (len(df), 8, 3)


@pytest.mark.parametrize("kind", ["classifier", "regressor", "multiclass"])
def test_lightgbm_is_explained_by_its_own_pred_contrib_equal_to_shaps(kind):
    """LightGBM's compiled tree SHAP gives shap's TreeExplainer values on the same rows, and they add
    up to the model's raw output (log-odds for classifiers)."""
    import lightgbm
    import shap

    df = {"classifier": binary_frame, "regressor": regression_frame, "multiclass": multiclass_frame}[kind]()
    cls = lightgbm.LGBMRegressor if kind == "regressor" else lightgbm.LGBMClassifier
    model = fitted(cls(n_estimators=30, num_leaves=8, random_state=0, n_jobs=1, verbose=-1), df)
    exp = _explain(model, df, "regressor" if kind == "regressor" else "classifier")
    assert exp.explainer == "LightGBM pred_contrib", exp.reason
    n_features = features(df).shape[1]
    theirs = np.asarray(shap.TreeExplainer(model).shap_values(features(df)))
    raw = model.predict(features(df), raw_score=True)
    if kind == "multiclass":
        assert exp.values.shape == (len(df), n_features, 3)
        theirs = theirs if theirs.shape == exp.values.shape else np.moveaxis(theirs, 0, -1)
        base = raw - exp.values.sum(axis=1)
    else:
        assert exp.values.shape == (len(df), n_features)
        base = raw - exp.values.sum(axis=1)
    np.testing.assert_allclose(exp.values, theirs, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(base, np.broadcast_to(base[0], base.shape), atol=1e-9)   # one expected value


def test_tree_shap_values_add_up_to_the_prediction():
    df = regression_frame()
    model = fitted(GradientBoostingRegressor(n_estimators=30, random_state=0), df)
    exp = _explain(model, df, "regressor")
    pred = model.predict(features(df))
    totals = exp.values.sum(axis=1)
    # SHAP values are the prediction minus the mean prediction: their differences match exactly
    np.testing.assert_allclose(totals - totals.mean(), pred - pred.mean(), atol=1e-6)


def test_linear_models_use_linear_explainer():
    df = binary_frame()
    exp = _explain(fitted(LogisticRegression(), df), df, "classifier")
    assert exp.explainer == "LinearExplainer"
    assert "log-odds" in exp.output
    exp = _explain(fitted(Ridge(), regression_frame()), regression_frame(), "regressor")
    assert exp.explainer == "LinearExplainer"


def test_pipeline_is_explained_through_its_final_step_on_transformed_features():
    df = binary_frame()
    pipe = fitted(make_pipeline(StandardScaler(), LogisticRegression()), df)
    exp = _explain(pipe, df, "classifier")
    assert exp.explainer == "LinearExplainer"
    assert exp.feature_names == [f"f{i}" for i in range(6)]      # StandardScaler keeps the names
    np.testing.assert_allclose(exp.data, pipe[:-1].transform(features(df)))
    tree_pipe = fitted(make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5, random_state=0)), df)
    assert _explain(tree_pipe, df, "classifier").explainer == "TreeSHAP"


def test_other_models_and_functions_get_the_bounded_model_agnostic_explainer():
    df = binary_frame()
    exp = _explain(fitted(KNeighborsClassifier(), df), df, "classifier", explainability_nsamples=30)
    assert exp.explainer == "PermutationSHAP"
    assert exp.rows == 30 and exp.values.shape == (30, 6)
    reg = regression_frame()
    svr = fitted(make_pipeline(StandardScaler(), SVR()), reg)
    exp = _explain(svr, reg, "regressor", explainability_nsamples=40)
    assert exp.explainer == "PermutationSHAP" and exp.rows == 40
    # exactly additive: each row's values sum to f(row) - mean f(background)
    pred = svr.predict(features(reg).iloc[exp.index])
    totals = exp.values.sum(axis=1)
    np.testing.assert_allclose(totals - totals.mean(), pred - pred.mean(), atol=1e-8)
    fn = _explain(lambda X: X["f0"].to_numpy() * 2.0, reg, "regressor")
    assert fn.explainer == "PermutationSHAP" and fn.rows == len(reg)     # all rows: fewer than 2,000
    assert np.abs(fn.values[:, 1:]).max() == 0 and np.abs(fn.values[:, 0]).max() > 0


def test_multiclass_values_keep_one_slice_per_class():
    df = multiclass_frame()
    exp = _explain(fitted(RandomForestClassifier(n_estimators=10, random_state=0), df), df, "classifier")
    assert exp.explainer == "TreeSHAP"
    assert exp.values.shape == (len(df), 8, 3)
    assert exp.class_names == [0, 1, 2]


def test_mlflows_default_sample_of_2000_rows_is_explained_unless_told_otherwise():
    from sklearn.datasets import make_classification
    import pandas as pd

    X, y = make_classification(n_samples=2500, n_features=10, n_informative=8, flip_y=0.2, random_state=0)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(10)])
    df["y"] = y
    model = fitted(RandomForestClassifier(n_estimators=30, random_state=0), df)
    exp = _explain(model, df, "classifier")
    assert exp.rows == 2000 and len(set(exp.index)) == 2000
    import shap   # the very rows MLflow's default evaluator samples, so both explain the same rows

    assert exp.index.tolist() == sorted(shap.sample(features(df), 2000, random_state=0).index)
    assert _explain(model, df.iloc[:300], "classifier", explainability_nsamples=250).rows == 250


def test_evaluate_draws_the_three_shap_plots_and_reports_the_explainer():
    df = binary_frame()
    res = mlnb.evaluate(fitted(GradientBoostingClassifier(n_estimators=20, random_state=0), df), df,
                        targets="y", model_type="classifier")
    assert SHAP_PLOTS <= set(res.artifacts)
    assert all(is_png(res.artifacts[n].content) for n in SHAP_PLOTS)
    assert res.explanation.explainer == "TreeSHAP"
    assert "SHAP by TreeSHAP" in repr(res)


def test_skipped_shap_says_why_in_result_and_html():
    df = binary_frame().copy()
    model = fitted(LogisticRegression(), df)
    df["pred"] = model.predict(features(df))
    res = mlnb.evaluate(None, df, targets="y", predictions="pred", model_type="classifier")
    assert not SHAP_PLOTS & set(res.artifacts)
    assert "no model was given" in res.explanation.reason
    assert "SHAP skipped: no model was given" in repr(res)
    assert "SHAP skipped: no model was given" in res._repr_html_()
    off = mlnb.evaluate(model, binary_frame(), targets="y", model_type="classifier",
                        evaluator_config={"log_model_explainability": False})
    assert "log_model_explainability" in off.explanation.reason


def test_failing_shap_warns_and_the_evaluation_goes_on():
    df = binary_frame()
    model = fitted(LogisticRegression(), df)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = mlnb.evaluate(model, df, targets="y", model_type="classifier",
                            evaluator_config={"explainability_algorithm": "tree"})
    assert "does not fit a LogisticRegression" in res.explanation.reason
    assert any("SHAP explanations skipped" in str(w.message) for w in caught)
    assert "accuracy_score" in res.metrics and "confusion_matrix" in res.artifacts
    with pytest.raises(ValueError, match="does not fit"):
        mlnb.evaluate(model, df, targets="y", model_type="classifier",
                      evaluator_config={"explainability_algorithm": "tree", "ignore_exceptions": False})


def test_unknown_algorithm_is_refused():
    df = binary_frame()
    with pytest.raises(mlnb.errors.InvalidParameterError, match="explainability_algorithm='magic'"):
        mlnb.evaluate(fitted(LogisticRegression(), df), df, targets="y", model_type="classifier",
                      evaluator_config={"explainability_algorithm": "magic"})
