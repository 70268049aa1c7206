"""Patching is exact and reversible, patched things stay picklable, new classes are covered."""

from __future__ import annotations

import pickle

import cloudpickle
import numpy as np
import pytest
import sklearn.base
import sklearn.metrics
import sklearn.model_selection
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.datasets import make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlnb
from mlnb.autologging import patching
from tests._autolog import autolog, only_run, runs  # noqa: F401  (fixture)

X, Y = make_regression(100, 4, random_state=0)


def _snapshot() -> dict:
    """Every attribute autolog may touch, read raw from the owners' own namespaces."""
    owners = [sklearn.metrics, sklearn.model_selection, sklearn.model_selection._validation, BaseEstimator]
    stack, seen = [BaseEstimator], set()
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
                owners.extend(c for c in sub.__mro__ if c is not object)
    return {(owner, name): value for owner in set(owners) for name, value in list(vars(owner).items())}


def test_disable_restores_every_patched_attribute_exactly(autolog):
    before = _snapshot()
    autolog()
    assert patching.is_patched("sklearn")
    patched = patching.patches("sklearn")
    assert any(p.name == "fit" for p in patched) and any(p.owner is sklearn.metrics for p in patched)
    assert sklearn.metrics.accuracy_score is not before[(sklearn.metrics, "accuracy_score")]
    autolog(disable=True)
    after = _snapshot()
    assert after.keys() == before.keys()
    changed = [key for key, value in before.items() if after[key] is not value]
    assert changed == []
    assert not patching.is_patched("sklearn")


def test_enabling_twice_patches_once_and_still_restores(autolog):
    fit = vars(LinearRegression)["fit"]
    autolog()
    autolog(log_models=False)
    LinearRegression().fit(X, Y)
    assert len(runs()) == 1
    autolog(disable=True)
    assert vars(LinearRegression)["fit"] is fit


def test_patched_estimators_and_functions_pickle_by_reference(autolog):
    autolog()
    model = LinearRegression().fit(X, Y)
    for dumps in (pickle.dumps, cloudpickle.dumps):
        np.testing.assert_array_equal(pickle.loads(dumps(model)).predict(X), model.predict(X))
        assert pickle.loads(dumps(sklearn.metrics.accuracy_score)) is sklearn.metrics.accuracy_score
        assert pickle.loads(dumps(LinearRegression.fit)) is LinearRegression.fit
        assert pickle.loads(dumps(sklearn.model_selection.cross_val_score)) is sklearn.model_selection.cross_val_score
        assert len(dumps(sklearn.metrics.r2_score)) < 200  # a reference, not the function's code


def test_availability_of_methods_is_unchanged(autolog):
    autolog()
    pipe = make_pipeline(StandardScaler(), LinearRegression())
    assert not hasattr(pipe, "predict_proba")  # Pipeline.predict_proba is conditional
    assert hasattr(make_pipeline(StandardScaler(), LogisticRegression()), "predict_proba")


def test_patched_functions_keep_their_signatures(autolog):
    import inspect

    before = inspect.signature(sklearn.metrics.accuracy_score)
    autolog()
    assert inspect.signature(sklearn.metrics.accuracy_score) == before
    assert sklearn.metrics.accuracy_score.__name__ == "accuracy_score"


def test_estimators_defined_after_autolog_are_logged(autolog):
    autolog(log_models=False)

    class LateRegressor(RegressorMixin, BaseEstimator):
        def __init__(self, shift=1.0):
            self.shift = shift

        def fit(self, X, y):
            self.mean_ = float(np.mean(y))
            return self

        def predict(self, X):
            return np.full(len(X), self.mean_ + self.shift)

    LateRegressor(shift=0.0).fit(X, Y)
    run = only_run()
    assert run.data.tags["estimator_name"] == "LateRegressor"
    assert run.data.params == {"shift": "0.0"}
    assert "training_r2_score" in run.data.metrics


def test_objects_that_only_look_like_estimators_are_skipped(autolog):
    autolog()

    class DuckModel:  # no BaseEstimator: autolog cannot read its params, so it leaves it alone
        def fit(self, X, y):
            return self

    DuckModel().fit(X, Y)
    assert runs() == []


def test_autolog_through_the_top_level_names(autolog):
    import mlnb.sklearn

    every = ["sklearn", "xgboost", "lightgbm", "statsmodels", "pytorch"]   # every integration whose library is installed
    # Keras and TensorFlow join once imported (an earlier test in this worker may have imported them)
    later = {"keras", "tensorflow"}
    disabled = mlnb.autolog(disable=True)
    assert disabled[:5] == every and set(disabled[5:]) <= later
    assert not patching.is_patched("sklearn")
    enabled = mlnb.autolog(log_models=False)
    assert enabled[:5] == every and set(enabled[5:]) <= later
    import pytorch_lightning
    import statsmodels  # noqa: F401  (these two are patched once imported)

    assert all(patching.is_patched(name) for name in every) and pytorch_lightning.Trainer.fit.__mlnb_original__
    LinearRegression().fit(X, Y)
    assert "model" not in {a.path for a in mlnb.MlnbClient().list_artifacts(only_run().info.run_id)}
    mlnb.sklearn.autolog(disable=True)
    assert not patching.is_patched("sklearn")


def test_bad_options_raise_clear_errors():
    from mlnb.autologging.sklearn import autolog as sk_autolog
    from mlnb.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="extra_tags"):
        sk_autolog(extra_tags=["a"])
    with pytest.raises(InvalidParameterError, match="serialization_format"):
        sk_autolog(serialization_format="json")
    with pytest.raises(InvalidParameterError, match="max_tuning_runs"):
        sk_autolog(max_tuning_runs=-1)
    assert not patching.is_patched("sklearn")


def test_get_autologging_config_reads_back_the_options_autolog_is_on_with(autolog):
    import mlnb.sklearn
    from mlnb.autologging import get_autologging_config
    from mlnb.errors import InvalidParameterError

    assert get_autologging_config("sklearn") is None
    assert get_autologging_config("sklearn", "log_models", "off") == "off"
    autolog(log_models=False, max_tuning_runs=2, extra_tags={"team": "ml"}, silent=True)
    config = get_autologging_config("sklearn")
    assert config == {
        "log_models": False, "log_input_examples": False, "log_model_signatures": True,
        "log_post_training_metrics": True, "max_tuning_runs": 2, "serialization_format": None,
        "extra_tags": {"team": "ml"}, "exclusive": False, "silent": True, "pos_label": None,
        "log_datasets": None, "registered_model_name": None, "disable_for_unsupported_versions": False,
    }
    assert get_autologging_config("sklearn", "max_tuning_runs") == 2
    assert get_autologging_config("sklearn", "no_such_option", 7) == 7
    config["extra_tags"]["team"] = "changed"  # a copy: the live settings are untouched
    assert get_autologging_config("sklearn", "extra_tags") == {"team": "ml"}
    mlnb.sklearn.autolog(disable=True)
    assert get_autologging_config("sklearn") is None
    mlnb.sklearn.autolog(**config)  # the same settings back on
    assert get_autologging_config("sklearn", "extra_tags") == {"team": "changed"}
    assert patching.is_patched("sklearn")
    with pytest.raises(InvalidParameterError, match="No autologging integration named 'sklaern'"):
        get_autologging_config("sklaern")


def test_import_mlnb_does_not_import_the_autolog_machinery():
    import subprocess
    import sys

    import os
    from pathlib import Path

    code = ("import sys, mlnb, mlnb.autologging as a; off = a.get_autologging_config('sklearn') is None; "
            "print('mlnb.autologging.sklearn' in sys.modules, 'sklearn' in sys.modules, off)")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}  # this checkout's mlnb
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.split() == ["False", "False", "True"]
    _ = mlnb
