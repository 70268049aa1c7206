"""What evaluate() is given, checked and put in one shape: the data and the model.

``EvalData`` holds the feature frame, the targets and optional sample weights; ``ModelAdapter`` gives
any model (URI, PyFuncModel, fitted estimator, callable, or none with precomputed predictions) the
same ``predict`` / ``predict_proba`` surface. Bad input is refused here with a clear message, before
any metric or plot code runs.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from mlnb.errors import InvalidParameterError

MODEL_TYPES = ("regressor", "classifier")


@dataclass
class EvalData:
    """Features, targets, optional weights and precomputed predictions of one evaluation."""

    X: pd.DataFrame
    y: np.ndarray
    sample_weights: np.ndarray | None = None
    predictions: np.ndarray | None = None

    @property
    def feature_names(self) -> list[str]:
        """The feature columns' names, as text."""
        return [str(c) for c in self.X.columns]


def check_model_type(model_type: str | None) -> str:
    """``model_type`` when it is one evaluate supports; InvalidParameterError naming them otherwise."""
    if model_type not in MODEL_TYPES:
        raise InvalidParameterError(
            f"model_type={model_type!r} is not supported; use one of {', '.join(map(repr, MODEL_TYPES))}."
        )
    return model_type


def _as_1d(values: Any, what: str) -> np.ndarray:
    if isinstance(values, (pd.DataFrame,)):
        if values.shape[1] != 1:
            raise InvalidParameterError(f"{what} must be one column, got {values.shape[1]} columns.")
        values = values.iloc[:, 0]
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InvalidParameterError(f"{what} must be one-dimensional, got shape {arr.shape}.")
    return arr


def _has_missing(arr: np.ndarray) -> int:
    return int(pd.isna(pd.Series(arr)).sum())


def build_data(data: Any, *, targets: Any, model_type: str, predictions: Any = None,
               feature_names: Sequence[str] | None = None, sample_weights: Any = None) -> EvalData:
    """Split ``data`` into features and targets, refusing missing columns and missing targets."""
    preds = None
    if isinstance(data, pd.DataFrame):
        if not isinstance(targets, str):
            raise InvalidParameterError("With a DataFrame, targets= must name the target column.")
        if targets not in data.columns:
            raise InvalidParameterError(
                f"Target column {targets!r} is not in data; its columns are: {', '.join(map(str, data.columns))}."
            )
        y = data[targets].to_numpy()
        drop = [targets]
        if isinstance(predictions, str):
            if predictions not in data.columns:
                raise InvalidParameterError(
                    f"Predictions column {predictions!r} is not in data; its columns are: "
                    f"{', '.join(map(str, data.columns))}."
                )
            preds = data[predictions].to_numpy()
            drop.append(predictions)
        elif predictions is not None:
            preds = _as_1d(predictions, "predictions")
        X = data.drop(columns=drop)
        if feature_names is not None:
            missing = [f for f in feature_names if f not in X.columns]
            if missing:
                raise InvalidParameterError(f"feature_names {missing} are not columns of data.")
            X = X[list(feature_names)]
    else:
        if data is None:
            raise InvalidParameterError("data= is required: a DataFrame, or an array with a targets array.")
        if targets is None or isinstance(targets, str):
            raise InvalidParameterError(
                "With array data, targets= must be the array of true values (a column name needs a DataFrame)."
            )
        arr = np.asarray(data)
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2:
            raise InvalidParameterError(f"data must be two-dimensional (rows x features), got shape {arr.shape}.")
        names = list(feature_names) if feature_names is not None else [f"feature_{i + 1}" for i in range(arr.shape[1])]
        if len(names) != arr.shape[1]:
            raise InvalidParameterError(f"feature_names has {len(names)} names for {arr.shape[1]} columns.")
        X = pd.DataFrame(arr, columns=names)
        y = _as_1d(targets, "targets")
        if predictions is not None:
            if isinstance(predictions, str):
                raise InvalidParameterError("With array data, predictions= must be an array, not a column name.")
            preds = _as_1d(predictions, "predictions")
    y = _as_1d(y, "targets")
    n = len(X)
    if len(y) != n:
        raise InvalidParameterError(f"targets has {len(y)} values for {n} rows of data.")
    if n == 0:
        raise InvalidParameterError("data has no rows to evaluate.")
    if preds is not None and len(preds) != n:
        raise InvalidParameterError(f"predictions has {len(preds)} values for {n} rows of data.")
    missing = _has_missing(y)
    if missing:
        raise InvalidParameterError(
            f"targets hold {missing} missing value(s) (NaN/None); drop those rows before evaluating."
        )
    if model_type == "regressor":
        try:
            y = y.astype(float)
        except (TypeError, ValueError):
            raise InvalidParameterError(
                "A regressor's targets must be numbers; these are not (did you mean model_type='classifier'?)."
            ) from None
    weights = None
    if sample_weights is not None:
        if isinstance(sample_weights, str) and isinstance(data, pd.DataFrame):
            weights = data[sample_weights].to_numpy(dtype=float)
            X = X.drop(columns=[sample_weights], errors="ignore")
        else:
            weights = _as_1d(sample_weights, "sample_weights").astype(float)
        if len(weights) != n:
            raise InvalidParameterError(f"sample_weights has {len(weights)} values for {n} rows of data.")
    return EvalData(X=X, y=y, sample_weights=weights, predictions=preds)


def columns_with_missing(X: pd.DataFrame) -> list[str]:
    """The names of the columns holding missing values."""
    return [str(c) for c, k in X.isna().sum().items() if k]


# -- the model -------------------------------------------------------------------------------
class ModelAdapter:
    """One surface over every kind of model evaluate() accepts."""

    def __init__(self, model: Any, params: Mapping[str, Any] | None = None) -> None:
        """``params`` go to every ``predict(..., params=)`` call (PyFuncModels and models that take them)."""
        self.source = model
        self.raw: Any = None            # the native model when there is one (an estimator, a booster)
        self.pyfunc: Any = None
        self._predict: Callable[[pd.DataFrame], Any] | None = None
        if model is None:
            return
        if isinstance(model, (str, os.PathLike)):
            from mlnb.pyfunc import load_model

            model = load_model(model)
        from mlnb.pyfunc import PyFuncModel

        if isinstance(model, PyFuncModel):
            self.pyfunc = model
            self.raw = model.get_raw_model()
            self._predict = model.predict if params is None else functools.partial(model.predict, params=params)
        elif callable(getattr(model, "predict", None)):
            self.raw = model
            self._predict = model.predict
        elif callable(model):
            self._predict = model
        else:
            raise InvalidParameterError(
                f"model must be a model URI, a PyFuncModel, a fitted estimator or a function; got {type(model).__name__}."
            )
        if params is not None and self.pyfunc is None:
            raise InvalidParameterError(
                f"inference_params go to a saved model's predict(..., params=); a {type(model).__name__} does "
                f"not take them. Evaluate the model's URI or its PyFuncModel instead.")

    @property
    def is_none(self) -> bool:
        """True when no model was given (predictions come from the data)."""
        return self._predict is None

    @property
    def name(self) -> str:
        """The model's class or function name, for titles and notes."""
        if self.raw is not None:
            return type(self.raw).__name__
        return getattr(self.source, "__name__", "function")

    @property
    def classes(self) -> np.ndarray | None:
        """The column order of ``predict_proba`` (the estimator's ``classes_``) when known."""
        classes = getattr(self.raw, "classes_", None)
        return None if classes is None else np.asarray(classes)

    @property
    def has_proba(self) -> bool:
        """True when the model can give class probabilities."""
        return self.raw is not None and callable(getattr(self.raw, "predict_proba", None))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """One prediction per row; errors name the model's columns and what to do."""
        try:
            out = self._predict(X)
        except Exception as exc:
            raise _predict_error(X, exc, "predict", self.pyfunc or self.raw) from exc
        if isinstance(out, pd.DataFrame):
            if out.shape[1] != 1:
                col = "predictions" if "predictions" in out.columns else None
                if col is None:
                    raise InvalidParameterError(
                        f"The model returned {out.shape[1]} columns ({', '.join(map(str, out.columns))}); "
                        "evaluate() needs one prediction per row (or a 'predictions' column)."
                    )
                out = out[col]
        return _as_1d(out, "the model's predictions")

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray | None:
        """Class probabilities in the order of :attr:`classes`, or None when the model has none."""
        if not self.has_proba:
            return None
        try:
            proba = self.raw.predict_proba(X)
        except Exception as exc:
            raise _predict_error(X, exc, "predict_proba", self.raw) from exc
        proba = np.asarray(proba, dtype=float)
        return proba if proba.ndim == 2 else None


def _expected_columns(model: Any) -> list[str]:
    """The feature columns a model was fitted or saved with, when it says (else empty)."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    meta = getattr(model, "metadata", None)
    try:
        schema = meta.get_signature().inputs if meta is not None else None
        return list(schema.input_names()) if schema is not None and schema.has_input_names() else []
    except Exception:  # no usable signature: nothing to compare with
        return []


def _predict_error(X: pd.DataFrame, exc: Exception, what: str, model: Any = None) -> InvalidParameterError:
    expected = _expected_columns(model)
    missing = [c for c in expected if c not in set(map(str, X.columns))]
    if missing:
        shown = ", ".join(repr(c) for c in missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        return InvalidParameterError(
            f"The evaluation data lacks {len(missing)} column(s) the model needs: {shown}. Pass data with "
            f"every feature column the model was trained on (plus the targets column).")
    hint = ""
    nan_cols = columns_with_missing(X)
    if nan_cols:
        hint = f" The features hold missing values in {', '.join(nan_cols[:10])}: impute or drop them first."
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return InvalidParameterError(
        f"The model's {what} failed on the evaluation data ({type(exc).__name__}: {detail}).{hint}")
