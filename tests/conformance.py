"""The conformance suite every mlnb flavor passes (issue 2, point 8).

A flavor joins by describing itself as a :class:`FlavorCase`: how to make a small fitted model,
how mlnb saves and natively loads it, how MLflow saves and natively loads it. ``CHECKS`` then
verifies, for every case: save and load, pyfunc predictions equal to the native model's, MLflow
loading mlnb's model and mlnb loading MLflow's, the same MLmodel keys as MLflow writes, signature
enforcement, and bad input (existing target, failed save, missing MLmodel).

    from conformance import CHECKS, check_flavor
    @pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
    def test_my_flavor(check, tmp_path): check(MY_CASE, tmp_path)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest

from _models import assert_same


@dataclass
class Subject:
    """A fitted model ready to save, its input data and its native predictions on that data."""

    model: Any
    X: pd.DataFrame
    expected: Any
    save_kwargs: dict = field(default_factory=dict)   # extra arguments for the save functions


@dataclass
class FlavorCase:
    #: "<flavor>-<kind>", starting with the flavor's registry name (tests/test_flavor_modules.py
    #: checks that every registered flavor has a case)
    name: str
    #: make(directory, library) -> Subject; library is "mlnb" or "mlflow" (whose base classes to use)
    make: Callable[[Path, str], Subject]
    #: mlnb's save: save(subject, path, **kwargs) -> mlnb Model
    save: Callable[..., Any]
    #: mlnb's native load and predict: predict_native(load_native(path), X)
    load_native: Callable[[Path], Any]
    predict_native: Callable[[Any, pd.DataFrame], Any]
    #: MLflow's save of the same kind of model: mlflow_save(subject, path, **kwargs)
    mlflow_save: Callable[..., Any]
    #: MLflow's native load (None when the flavor has only the pyfunc face)
    mlflow_load_native: Callable[[Path], Any] | None = None

    def __str__(self) -> str:
        return self.name


# -- checks ----------------------------------------------------------------------------------
def check_save_then_load_native(case: FlavorCase, tmp: Path) -> None:
    subject = case.make(tmp, "mlnb")
    case.save(subject, tmp / "model")
    native = case.load_native(tmp / "model")
    assert_same(case.predict_native(native, subject.X), subject.expected)


def check_pyfunc_predict_equals_native(case: FlavorCase, tmp: Path) -> None:
    import mlnb.pyfunc

    subject = case.make(tmp, "mlnb")
    case.save(subject, tmp / "model")
    loaded = mlnb.pyfunc.load_model(tmp / "model")
    assert_same(loaded.predict(subject.X), subject.expected)
    assert_same(case.predict_native(case.load_native(tmp / "model"), subject.X), loaded.predict(subject.X))
    assert loaded.model_dir == (tmp / "model").absolute() or loaded.model_dir == tmp / "model"


def check_mlflow_loads_mlnb_model(case: FlavorCase, tmp: Path) -> None:
    import mlflow.pyfunc

    subject = case.make(tmp, "mlnb")
    case.save(subject, tmp / "model")
    assert_same(mlflow.pyfunc.load_model(str(tmp / "model")).predict(subject.X), subject.expected)
    if case.mlflow_load_native is not None:
        native = case.mlflow_load_native(tmp / "model")
        assert_same(case.predict_native(native, subject.X), subject.expected)


def check_mlnb_loads_mlflow_model(case: FlavorCase, tmp: Path) -> None:
    import mlnb.pyfunc

    subject = case.make(tmp, "mlflow")
    case.mlflow_save(subject, tmp / "mlflow-model")
    assert_same(mlnb.pyfunc.load_model(tmp / "mlflow-model").predict(subject.X), subject.expected)
    if case.mlflow_load_native is not None:
        assert_same(case.predict_native(case.load_native(tmp / "mlflow-model"), subject.X), subject.expected)


def check_mlmodel_keys_match_mlflow(case: FlavorCase, tmp: Path) -> None:
    import yaml

    from mlnb.models.signature import infer_signature

    subject = case.make(tmp, "mlnb")
    sig = infer_signature(subject.X, subject.expected)
    case.save(subject, tmp / "ours", signature=sig, input_example=subject.X.iloc[:3])
    theirs_subject = case.make(tmp / "mlflow-side", "mlflow")
    case.mlflow_save(theirs_subject, tmp / "theirs", signature=_mlflow_signature(sig), input_example=subject.X.iloc[:3])
    ours = yaml.safe_load((tmp / "ours" / "MLmodel").read_text())
    theirs = yaml.safe_load((tmp / "theirs" / "MLmodel").read_text())
    assert set(ours) == set(theirs)
    for flavor in theirs["flavors"]:
        assert set(ours["flavors"][flavor]) == set(theirs["flavors"][flavor]), flavor
    assert ours["signature"] == theirs["signature"]
    assert ours["saved_input_example_info"] == theirs["saved_input_example_info"]
    for name in ("input_example.json", "serving_input_example.json"):
        assert (tmp / "ours" / name).read_text() == (tmp / "theirs" / name).read_text(), name
    assert sorted(p.name for p in (tmp / "ours").iterdir()) == sorted(p.name for p in (tmp / "theirs").iterdir())


def _mlflow_signature(sig):
    from mlflow.models.signature import ModelSignature as MlflowSignature

    return MlflowSignature.from_dict(sig.to_dict())


def check_signature_enforcement(case: FlavorCase, tmp: Path) -> None:
    import mlnb.pyfunc
    from mlnb.errors import SchemaError
    from mlnb.models.signature import infer_signature

    subject = case.make(tmp, "mlnb")
    X = subject.X
    case.save(subject, tmp / "model", signature=infer_signature(X, subject.expected))
    model = mlnb.pyfunc.load_model(tmp / "model")
    first, second = X.columns[0], X.columns[1]
    # a safe upcast (float32 -> double) is accepted and gives what the upcast data gives
    assert_same(model.predict(X.astype("float32")), model.predict(X.astype("float32").astype("float64")))
    # a missing column is refused, naming it
    with pytest.raises(SchemaError, match=str(second)):
        model.predict(X.drop(columns=[second]))
    # a lossy cast is refused, naming the column, the expected and the received type
    bad = X.astype({first: str})
    with pytest.raises(SchemaError, match=rf"'{first}'.*double.*string"):
        model.predict(bad)
    # extra columns are dropped with a warning
    with pytest.warns(UserWarning, match="extra_col"):
        out = model.predict(X.assign(extra_col=1.0))
    assert_same(out, subject.expected)


def check_existing_target_refused(case: FlavorCase, tmp: Path) -> None:
    from mlnb.errors import ModelExistsError

    subject = case.make(tmp, "mlnb")
    case.save(subject, tmp / "model")
    before = {p.relative_to(tmp): p.read_bytes() for p in (tmp / "model").rglob("*") if p.is_file()}
    with pytest.raises(ModelExistsError, match="already exists"):
        case.save(subject, tmp / "model")
    after = {p.relative_to(tmp): p.read_bytes() for p in (tmp / "model").rglob("*") if p.is_file()}
    assert after == before


def check_failed_save_leaves_nothing(case: FlavorCase, tmp: Path) -> None:
    from mlnb.errors import InvalidParameterError

    subject = case.make(tmp, "mlnb")
    (tmp / "out").mkdir()
    with pytest.raises(InvalidParameterError):
        case.save(subject, tmp / "out" / "model", pip_requirements=42)  # fails after the payload is written
    assert list((tmp / "out").iterdir()) == []


def check_missing_mlmodel_is_a_format_error(case: FlavorCase, tmp: Path) -> None:
    import mlnb.pyfunc
    from mlnb.errors import ModelFormatError

    subject = case.make(tmp, "mlnb")
    case.save(subject, tmp / "model")
    (tmp / "model" / "MLmodel").unlink()
    with pytest.raises(ModelFormatError, match="no MLmodel"):
        mlnb.pyfunc.load_model(tmp / "model")
    with pytest.raises(ModelFormatError, match="no MLmodel"):
        case.load_native(tmp / "model")


CHECKS = [
    check_save_then_load_native,
    check_pyfunc_predict_equals_native,
    check_mlflow_loads_mlnb_model,
    check_mlnb_loads_mlflow_model,
    check_mlmodel_keys_match_mlflow,
    check_signature_enforcement,
    check_existing_target_refused,
    check_failed_save_leaves_nothing,
    check_missing_mlmodel_is_a_format_error,
]


def check_flavor(case: FlavorCase, tmp: Path) -> None:
    """Run every check on ``case`` (each in its own subdirectory of ``tmp``)."""
    for check in CHECKS:
        sub = tmp / check.__name__
        sub.mkdir()
        with warnings.catch_warnings():
            check(case, sub)


# -- the cases -------------------------------------------------------------------------------
def sklearn_case(kind: str) -> FlavorCase:
    from _models import MLFLOW_PIP, estimator

    def make(directory: Path, library: str) -> Subject:
        model, X = estimator(kind)
        return Subject(model, X, model.predict(X))

    def save(subject, path, **kw):
        import mlnb.sklearn

        return mlnb.sklearn.save_model(subject.model, path, **kw)

    def mlflow_save(subject, path, **kw):
        import mlflow.sklearn
        import skops.io

        trusted = skops.io.get_untrusted_types(data=skops.io.dumps(subject.model)) or None
        mlflow.sklearn.save_model(subject.model, str(path), pip_requirements=MLFLOW_PIP,
                                  skops_trusted_types=trusted, **kw)

    def load_native(path):
        import mlnb.sklearn

        return mlnb.sklearn.load_model(path)

    def mlflow_load_native(path):
        import mlflow.sklearn

        return mlflow.sklearn.load_model(str(path))

    return FlavorCase(f"sklearn-{kind}", make, save, load_native, lambda m, X: m.predict(X),
                      mlflow_save, mlflow_load_native)


def pyfunc_case() -> FlavorCase:
    from _models import MLFLOW_PIP, custom_expected, custom_model

    def make(directory: Path, library: str) -> Subject:
        directory.mkdir(parents=True, exist_ok=True)
        base = "mlnb.pyfunc" if library == "mlnb" else "mlflow.pyfunc"
        instance, module_file, artifacts = custom_model(directory, base)
        X = pd.DataFrame(np.random.default_rng(0).normal(size=(50, 4)), columns=["a", "b", "c", "d"])
        kwargs = {"artifacts": artifacts, "code_paths": [str(module_file)], "model_config": {"offset": 1.0}}
        return Subject(instance, X, custom_expected(X, offset=1.0), kwargs)

    def save(subject, path, **kw):
        import mlnb.pyfunc

        return mlnb.pyfunc.save_model(path, python_model=subject.model, **subject.save_kwargs, **kw)

    def mlflow_save(subject, path, **kw):
        import mlflow.pyfunc

        mlflow.pyfunc.save_model(str(path), python_model=subject.model, pip_requirements=MLFLOW_PIP,
                                 **subject.save_kwargs, **kw)

    def load_native(path):
        import mlnb.pyfunc

        return mlnb.pyfunc.load_model(path)

    return FlavorCase("python_function-custom", make, save, load_native, lambda m, X: m.predict(X), mlflow_save)


def library_case(name: str, fit: Callable[[], tuple[Any, pd.DataFrame]],
                 predict_native: Callable[[Any, pd.DataFrame], Any] = lambda m, X: m.predict(X),
                 **save_kwargs: Any) -> FlavorCase:
    """A case for a flavor that mlnb and MLflow both name after its library (``mlnb.<flavor>``,
    ``mlflow.<flavor>``) and whose model is the library's own object: ``fit()`` returns the fitted
    model and its input, ``save_kwargs`` go to both save functions."""
    import importlib

    from _models import MLFLOW_PIP

    flavor = name.split("-")[0]

    def make(directory: Path, library: str) -> Subject:
        model, X = fit()
        return Subject(model, X, predict_native(model, X))

    def save(subject, path, **kw):
        return importlib.import_module(f"mlnb.{flavor}").save_model(subject.model, path, **save_kwargs, **kw)

    def mlflow_save(subject, path, **kw):
        importlib.import_module(f"mlflow.{flavor}").save_model(subject.model, str(path), pip_requirements=MLFLOW_PIP,
                                                               **save_kwargs, **kw)

    def load_native(path):
        return importlib.import_module(f"mlnb.{flavor}").load_model(path)

    def mlflow_load_native(path):
        return importlib.import_module(f"mlflow.{flavor}").load_model(str(path))

    return FlavorCase(name, make, save, load_native, predict_native, mlflow_save, mlflow_load_native)


def _xgboost_predict(model, X):
    import xgboost

    return model.predict(xgboost.DMatrix(X)) if isinstance(model, xgboost.Booster) else model.predict(X)


def _xgboost_fit(kind: str):
    import xgboost

    from _models import classification

    X, y = classification()
    clf = xgboost.XGBClassifier(n_estimators=5, max_depth=3, random_state=0, n_jobs=1).fit(X, y)
    return (clf if kind == "classifier" else clf.get_booster()), X


def _lightgbm_fit(kind: str):
    import lightgbm

    from _models import classification

    X, y = classification()
    clf = lightgbm.LGBMClassifier(n_estimators=5, num_leaves=7, random_state=0, n_jobs=1, verbose=-1).fit(X, y)
    return (clf if kind == "classifier" else clf.booster_), X


def _statsmodels_fit(kind: str):
    import statsmodels.api as sm

    from _models import regression

    X, y = regression()
    X = sm.add_constant(X)
    if kind == "ols":
        return sm.OLS(y, X).fit(), X
    counts = np.random.default_rng(0).poisson(np.exp(0.3 * X["f0"]))
    return sm.GLM(counts, X, family=sm.families.Poisson()).fit(), X


def _catboost_fit(kind: str):
    import catboost

    from _models import classification, regression

    options = {"iterations": 5, "depth": 3, "random_seed": 0, "thread_count": 1, "verbose": 0,
               "allow_writing_files": False}
    if kind == "classifier":
        X, y = classification()
        return catboost.CatBoostClassifier(**options).fit(X, y), X
    X, y = regression()
    return catboost.CatBoostRegressor(**options).fit(X, y), X


# Forests, gradient boosting and pipelines cross MLflow in every format in test_compat_mlflow.py;
# here one estimator per flavor shape keeps the suite quick.
CASES = [
    sklearn_case("random_forest"),
    pyfunc_case(),
    # XGBoost: a scikit-learn model in UBJSON, a Booster in JSON
    library_case("xgboost-classifier", lambda: _xgboost_fit("classifier"), _xgboost_predict, model_format="ubj"),
    library_case("xgboost-booster", lambda: _xgboost_fit("booster"), _xgboost_predict, model_format="json"),
    # LightGBM: a scikit-learn model (skops), a Booster (LightGBM's text format)
    library_case("lightgbm-classifier", lambda: _lightgbm_fit("classifier")),
    library_case("lightgbm-booster", lambda: _lightgbm_fit("booster")),
    # statsmodels: fitted results (pickled)
    library_case("statsmodels-ols", lambda: _statsmodels_fit("ols")),
    library_case("statsmodels-glm", lambda: _statsmodels_fit("glm")),
    # CatBoost: a classifier in cbm, a regressor in json
    library_case("catboost-classifier", lambda: _catboost_fit("classifier"), format="cbm"),
    library_case("catboost-regressor", lambda: _catboost_fit("regressor"), format="json"),
]
