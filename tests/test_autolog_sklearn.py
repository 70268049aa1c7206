"""What one autologged scikit-learn fit records, and the run lifecycle around it."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.cluster import KMeans
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import cross_val_score, cross_validate
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import mlnb
import mlnb.sklearn
from mlnb.autologging import AutologWarning, logged_fits
from tests._autolog import artifacts, autolog, only_run, runs  # noqa: F401  (fixture)

X, Y = make_classification(200, 6, n_informative=4, random_state=0)
XR, YR = make_regression(200, 6, noise=0.5, random_state=0)


def test_classifier_fit_logs_params_tags_metrics_model_and_plots(autolog):
    autolog()
    model = LogisticRegression(C=0.5, max_iter=200).fit(X, Y)
    run = only_run()
    assert run.info.status == "FINISHED"
    assert run.data.params == {k: str(v) for k, v in model.get_params(deep=True).items()}
    assert run.data.tags["estimator_name"] == "LogisticRegression"
    assert run.data.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert run.data.tags["mlflow.autologging"] == "sklearn"
    pred, proba = model.predict(X), model.predict_proba(X)
    assert run.data.metrics == pytest.approx({
        "training_precision_score": skm.precision_score(Y, pred, average="weighted"),
        "training_recall_score": skm.recall_score(Y, pred, average="weighted"),
        "training_f1_score": skm.f1_score(Y, pred, average="weighted"),
        "training_accuracy_score": skm.accuracy_score(Y, pred),
        "training_log_loss": skm.log_loss(Y, proba),
        "training_roc_auc": skm.roc_auc_score(Y, proba[:, 1]),
        "training_score": model.score(X, Y),
    })
    assert artifacts(run.info.run_id) >= {"model", "training_confusion_matrix.png", "training_roc_curve.png",
                                          "training_precision_recall_curve.png", "estimator.html"}
    html = Path(mlnb.download_artifacts(run_id=run.info.run_id, artifact_path="estimator.html")).read_text()
    assert "LogisticRegression" in html and html.startswith("<!DOCTYPE html>")
    loaded = mlnb.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(loaded.predict(X), pred)
    signature = mlnb.pyfunc.load_model(f"runs:/{run.info.run_id}/model").metadata.get_signature()
    assert signature is not None and signature.inputs is not None


def test_estimator_html_is_scikit_learns_page(autolog):
    """The logged page is the one scikit-learn draws (up to its per-page element ids)."""
    import re

    from sklearn.utils import estimator_html_repr

    def same_ids(text: str) -> str:
        ids: dict[str, str] = {}
        return re.sub(r"[a-z-]*id-\d+", lambda m: ids.setdefault(m.group(0), f"id{len(ids)}"), text)

    autolog()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(X, Y)
    run_id = only_run().info.run_id
    html = Path(mlnb.download_artifacts(run_id=run_id, artifact_path="estimator.html")).read_text()
    mlnb.sklearn.autolog(disable=True)
    assert same_ids(html) == same_ids(f'<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="UTF-8"/></head>\n'
                                      f"<body>\n{estimator_html_repr(model)}\n</body>\n</html>\n")


def test_estimator_html_reads_each_class_docstring_once_and_puts_inspect_back():
    """Drawing the page cleans a class's docstring once (inspect.getdoc is cached only while a page is
    drawn); the page is still scikit-learn's, and inspect.getdoc is the standard one afterwards."""
    import inspect
    import re

    from sklearn.utils import estimator_html_repr

    from mlnb.autologging import estimator_html

    getdoc = inspect.getdoc
    model = LogisticRegression(C=0.5, max_iter=200).fit(X, Y)
    page = estimator_html.render(model).decode("utf-8")
    assert inspect.getdoc is getdoc
    assert estimator_html._cleaned.cache_info().currsize >= 1
    def ids(text: str) -> str:   # scikit-learn numbers the elements of each page it draws
        return re.sub(r"-id-\d+", "-id-N", text)

    assert ids(page) == ids(f'<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="UTF-8"/></head>\n'
                            f"<body>\n{estimator_html_repr(model)}\n</body>\n</html>\n")


@pytest.mark.parametrize("backend", ["pillow", "matplotlib"])
def test_plots_are_pngs_from_either_backend_of_one_api(backend):
    from mlnb.autologging import metrics as M
    from mlnb.evaluation import plots

    labels, matrix = M.confusion(Y, Y[::-1])
    png = plots.confusion_matrix_png(labels, matrix, backend)
    fpr, tpr, auc = M.roc_curve(Y, X[:, 0], 1)
    curve = plots.roc_curve_png(fpr, tpr, auc, backend)
    recall, precision, ap = M.precision_recall_curve(Y, X[:, 0], 1)
    pr = plots.precision_recall_png(recall, precision, ap, backend)
    for data in (png, curve, pr):
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
    with pytest.raises(ValueError, match="Unknown plot backend 'svg'"):
        plots.roc_curve_png(fpr, tpr, auc, "svg")


def test_regressor_fit_logs_mlflows_regression_metrics(autolog):
    autolog()
    model = LinearRegression().fit(XR, YR, sample_weight=np.linspace(0.5, 1.5, 200))
    run = only_run()  # read before the calls below, which autolog records as post-training metrics
    sw = np.linspace(0.5, 1.5, 200)
    pred = model.predict(XR)
    mse = skm.mean_squared_error(YR, pred, sample_weight=sw)
    assert run.data.metrics == pytest.approx({
        "training_mean_squared_error": mse,
        "training_root_mean_squared_error": np.sqrt(mse),
        "training_mean_absolute_error": skm.mean_absolute_error(YR, pred, sample_weight=sw),
        "training_r2_score": skm.r2_score(YR, pred, sample_weight=sw),
        "training_score": model.score(XR, YR, sample_weight=sw),
    })
    assert not any(a.endswith(".png") for a in artifacts(run.info.run_id))


def test_clusterer_fit_logs_cluster_metrics(autolog):
    autolog(log_models=False)
    model = KMeans(3, n_init=2, random_state=0).fit(X)
    metrics = only_run().data.metrics
    assert not any(k.startswith("KMeans_score") for k in metrics)
    assert metrics["training_silhouette_score"] == pytest.approx(skm.silhouette_score(X, model.labels_))
    assert metrics["training_score"] == pytest.approx(model.score(X))
    assert "training_davies_bouldin_score" in metrics


def test_multiclass_classifier_gets_confusion_matrix_only(autolog):
    Xm, ym = make_classification(150, 5, n_informative=3, n_classes=3, random_state=1)
    autolog(log_models=False)
    DecisionTreeClassifier(max_depth=3, random_state=0).fit(Xm, ym)
    run = only_run()
    assert {a for a in artifacts(run.info.run_id) if a.endswith(".png")} == {"training_confusion_matrix.png"}
    assert "training_roc_auc" in run.data.metrics


def test_input_example_when_asked_and_no_signature_when_not(autolog):
    autolog(log_input_examples=True, log_model_signatures=False)
    LinearRegression().fit(XR, YR)
    run = only_run()
    model = mlnb.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert model.metadata.saved_input_example_info["artifact_path"] == "input_example.json"
    assert model.metadata.get_signature() is None


def test_a_fit_prints_and_warns_nothing_by_default(autolog, capsys):
    autolog()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        LogisticRegression(max_iter=5).fit(X, Y)  # would be a ConvergenceWarning from sklearn itself
        make_pipeline(StandardScaler(), LinearRegression()).fit(XR, YR)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert not [w for w in caught if issubclass(w.category, AutologWarning)]


# -- lifecycle -------------------------------------------------------------------------------
def test_run_started_by_autolog_is_finished_and_nothing_stays_active(autolog):
    autolog()
    LinearRegression().fit(XR, YR)
    assert mlnb.active_run() is None
    assert only_run().info.status == "FINISHED"


def test_failed_fit_ends_its_run_failed_and_raises(autolog):
    autolog()
    with pytest.raises(ValueError):
        LogisticRegression().fit(X, np.zeros(len(X)))  # one class only
    run = only_run()
    assert run.info.status == "FAILED"
    assert run.data.params["C"] == "1.0"  # params were gathered before the fit
    assert mlnb.active_run() is None


class Interrupting(LinearRegression):
    def fit(self, X, y, sample_weight=None):
        raise KeyboardInterrupt


def test_interrupted_fit_ends_its_run_killed(autolog):
    autolog()
    with pytest.raises(KeyboardInterrupt):
        Interrupting().fit(XR, YR)
    assert only_run().info.status == "KILLED"
    assert mlnb.active_run() is None


def test_active_run_is_reused_and_left_running(autolog):
    autolog()
    with mlnb.start_run() as run:
        LinearRegression().fit(XR, YR)
        assert mlnb.active_run().info.run_id == run.info.run_id
        assert mlnb.get_run(run.info.run_id).info.status == "RUNNING"
    assert only_run().data.metrics["training_r2_score"] > 0.9


def test_exclusive_leaves_user_runs_alone(autolog):
    autolog(exclusive=True)
    with mlnb.start_run():
        LinearRegression().fit(XR, YR)
    assert only_run().data.metrics == {}
    LinearRegression().fit(XR, YR)  # no user run: autolog starts its own
    assert len(runs()) == 2


def test_extra_tags_go_on_runs_autolog_starts(autolog):
    autolog(extra_tags={"team": "churn"})
    LinearRegression().fit(XR, YR)
    assert only_run().data.tags["team"] == "churn"


def test_pipeline_gives_one_run_with_deep_params(autolog):
    autolog()
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, Y)
    run = only_run()
    assert run.data.tags["estimator_name"] == "Pipeline"
    assert run.data.params["clf__C"] == "1.0" and "scale__with_mean" in run.data.params
    assert run.data.metrics["training_accuracy_score"] == pytest.approx(pipe.score(X, Y))


def test_preprocessing_alone_is_not_logged(autolog):
    autolog()
    StandardScaler().fit_transform(X)
    assert runs() == []


def test_cross_validation_helpers_do_not_log_per_fold(autolog):
    autolog()
    cross_val_score(LogisticRegression(), X, Y, cv=3)
    cross_validate(LinearRegression(), XR, YR, cv=3)
    assert runs() == []
    with mlnb.start_run():
        cross_val_score(LogisticRegression(), X, Y, cv=3)
    assert only_run().data.params == {}


def test_fits_on_other_threads_log_their_own_runs(autolog):
    autolog(log_models=False)
    threads = [threading.Thread(target=LinearRegression().fit, args=(XR, YR)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert mlnb.active_run() is None
    assert len(runs()) >= 1


# -- several fits in one run (the notebook's %%autolog cell) -----------------------------------
def test_several_fits_in_one_run_are_kept_apart(autolog):
    autolog()
    with mlnb.start_run() as run:
        LogisticRegression(C=0.1).fit(X, Y)
        LogisticRegression(C=2.0).fit(X, Y)
        LinearRegression().fit(XR, YR)
        fits = logged_fits()
    rid = run.info.run_id
    data = mlnb.get_run(rid).data
    assert data.params["C"] == "0.1"
    assert data.params["LogisticRegression-2.C"] == "2.0"
    assert data.tags["LinearRegression-3.estimator_name"] == "LinearRegression"
    assert "training_accuracy_score" in data.metrics and "LogisticRegression-2.training_accuracy_score" in data.metrics
    assert "LinearRegression-3.training_r2_score" in data.metrics
    assert [(f.estimator_name, f.model_uri) for f in fits] == [
        ("LogisticRegression", f"runs:/{rid}/model"),
        ("LogisticRegression", f"runs:/{rid}/model-2"),
        ("LinearRegression", f"runs:/{rid}/model-3"),
    ]
    assert {"model", "model-2", "model-3", "training_confusion_matrix.png",
            "training_confusion_matrix-2.png"} <= artifacts(rid)
    assert logged_fits(rid) == fits


# -- failures never break the fit --------------------------------------------------------------
class Locked(LinearRegression):
    def fit(self, X, y, sample_weight=None):
        super().fit(X, y, sample_weight)
        self.lock_ = threading.Lock()  # neither skops nor pickle can save this
        return self


def test_unsavable_estimator_warns_once_and_fit_returns(autolog):
    autolog()
    with pytest.warns(AutologWarning, match="could not log the Locked model .TypeError: cannot pickle") as caught:
        model = Locked().fit(XR, YR)
    assert isinstance(model, Locked) and hasattr(model, "coef_")
    assert len([w for w in caught if issubclass(w.category, AutologWarning)]) == 1
    run = only_run()
    assert run.info.status == "FINISHED" and "training_r2_score" in run.data.metrics


def test_silent_hides_the_warning(autolog, recwarn):
    autolog(silent=True)
    Locked().fit(XR, YR)
    assert not [w for w in recwarn if issubclass(w.category, AutologWarning)]


def test_store_error_warns_and_fit_still_returns(autolog, tmp_path):
    (tmp_path / "broken.db").write_bytes(b"this is not a SQLite database" * 100)
    mlnb.set_tracking_uri(str(tmp_path / "broken.db"))
    autolog()
    with pytest.warns(AutologWarning, match="could not start a run"):
        model = LinearRegression().fit(XR, YR)
    assert hasattr(model, "coef_")
    assert mlnb.active_run() is None


def test_mlflow_loads_the_autologged_model(autolog):
    autolog()
    LogisticRegression().fit(X, Y)
    run = only_run()
    import mlflow.sklearn

    path = mlnb.download_artifacts(run_id=run.info.run_id, artifact_path="model")
    np.testing.assert_array_equal(mlflow.sklearn.load_model(path).predict(X), LogisticRegression().fit(X, Y).predict(X))


def test_third_party_estimators_following_the_api_are_logged(autolog):
    import xgboost
    autolog()
    model = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(X, Y)
    run = only_run()
    assert run.data.tags["estimator_class"] == "xgboost.sklearn.XGBClassifier"
    assert run.data.params["n_estimators"] == "5"
    assert run.data.metrics["training_accuracy_score"] == pytest.approx(skm.accuracy_score(Y, model.predict(X)))
    loaded = mlnb.sklearn.load_model(logged_fits(run.info.run_id)[0].model_uri)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_dataframes_sparse_input_and_models_without_predict(autolog, recwarn):
    import pandas as pd
    import scipy.sparse as sp
    from sklearn.cluster import DBSCAN
    from sklearn.decomposition import PCA

    autolog()
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    labels = np.where(Y == 1, "yes", "no")
    with mlnb.start_run() as run:
        LogisticRegression().fit(frame, labels)                      # named columns, string labels
        LogisticRegression().fit(sp.csr_matrix(X), Y)               # sparse: a tensor signature
        DBSCAN().fit(X)                                             # no predict, no transform
        make_pipeline(StandardScaler(), PCA(2)).fit_transform(X)    # a transformer: pyfunc predict = transform
    fits = logged_fits(run.info.run_id)
    assert [f.model_uri is not None for f in fits] == [True, True, False, True]
    first = mlnb.pyfunc.load_model(fits[0].model_uri)
    assert first.metadata.get_signature().inputs.input_names() == list(frame.columns)
    assert set(first.predict(frame.head(5))) <= {"yes", "no"}
    assert mlnb.pyfunc.load_model(fits[1].model_uri).metadata.get_signature() is not None
    assert mlnb.pyfunc.load_model(fits[3].model_uri).predict(X[:2]).shape == (2, 2)
    assert not [w for w in recwarn if issubclass(w.category, AutologWarning)]
