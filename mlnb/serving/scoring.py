"""One scoring request, start to end: body -> model input -> predict -> response bytes.

Shared by the HTTP server and ``mlnb models predict`` so both answer exactly alike. Nothing
here knows about HTTP framing or event loops; it runs in a worker thread.
"""

from __future__ import annotations

import logging
import os
import traceback
from typing import Any

from mlnb.errors import MlnbError, ServingError
from mlnb.serving.parsing import FloatRows, InputPlan, parse_request
from mlnb.serving.responses import error_body, predictions_body

JSON_TYPE = b"application/json"
log = logging.getLogger("mlnb.serving")


def load(model_or_uri: Any):
    """A PyFuncModel from a URI or path; a model object (anything with ``predict``) as it is."""
    if isinstance(model_or_uri, (str, os.PathLike)):
        from mlnb.pyfunc import load_model

        return load_model(model_or_uri)
    if not callable(getattr(model_or_uri, "predict", None)):
        raise ServingError(
            f"Cannot serve a {type(model_or_uri).__name__}: pass a model URI or path, a PyFuncModel, "
            f"or an object with a predict() method.")
    return model_or_uri


_PER_REQUEST_WARNINGS = ("X does not have valid feature names", "Dropping columns", "Ignoring params",
                         "The model's signature declares no params")
_SKLEARN_LOADERS = ("mlflow.sklearn", "mlnb.flavors.sklearn")


def _array_predictor(model: Any, plan: InputPlan):
    """The estimator's own predict function, for float blocks the signature already accepts.

    Only for scikit-learn models whose signature is all double columns in the order the estimator
    was fitted on, and without inference params. Calling it skips building a DataFrame that
    scikit-learn would only convert back to the same array.
    """
    from mlnb.pyfunc import PyFuncModel

    if not plan.float_columns or not isinstance(model, PyFuncModel) or model.loader_module not in _SKLEARN_LOADERS:
        return None
    sig = model.metadata.get_signature()
    if sig is None or sig.params is not None:
        return None
    raw = model.get_raw_model()
    fitted_on = getattr(raw, "feature_names_in_", None)
    if fitted_on is not None and tuple(map(str, fitted_on)) != plan.float_columns:
        return None
    return getattr(raw, (model.metadata.pyfunc_conf or {}).get("predict_fn", "predict"), None)


class Scorer:
    """Turns request bodies into response bodies for one loaded model.

    ``own_process=True`` is for a process that does nothing but serve (a server worker). It changes
    process-wide warning filters: float blocks go straight to a scikit-learn estimator without its
    "X does not have valid feature names" warning (the names were checked against the signature),
    and the signature's per-request warnings about extra columns or params are silenced, since
    each distinct text would otherwise stay in Python's warning registry for the life of the server.

    When the model itself fails, the server log (logger ``mlnb.serving``) gets the stack trace;
    the client gets it only with ``debug=True``, since it shows the server's paths and libraries.
    """

    def __init__(self, model: Any, own_process: bool = False, debug: bool = False) -> None:
        import numpy as np

        from mlnb.pyfunc import PyFuncModel

        self.model = model
        self.debug = debug
        self.plan = InputPlan.for_model(model)
        self._takes_params = isinstance(model, PyFuncModel)
        self._ndarray = np.ndarray
        self._array_fn = _array_predictor(model, self.plan) if own_process else None
        if own_process:
            import warnings

            for text in _PER_REQUEST_WARNINGS:
                warnings.filterwarnings("ignore", message=text, category=UserWarning)

    def predict(self, body: bytes, mime: str) -> Any:
        """Raw predictions for a request body; raises ServingError for anything the client got wrong."""
        data, params = parse_request(body, mime, self.plan)
        if type(data) is FloatRows:
            data = data.view(self._ndarray)
            if self._array_fn is not None and params is None:
                return self._array_fn(data)
        try:
            if self._takes_params:
                return self.model.predict(data, params=params)
            return self.model.predict(data)
        except ServingError:
            raise
        except MlnbError as exc:  # the signature refused the input: the client's to fix
            raise ServingError(f"Failed to predict: {exc}", 400, "INVALID_PARAMETER_VALUE") from None

    def score(self, body: bytes, mime: str) -> tuple[int, bytes]:
        """``(status, JSON body)`` for one request; never raises."""
        try:
            raw = self.predict(body, mime)
        except ServingError as exc:
            return exc.status, error_body(exc.error_code, str(exc))
        except Exception as exc:  # the model itself failed: MLflow answers 400 (always with the stack trace)
            trace = traceback.format_exc()
            log.error("The model failed to predict: %s: %s\n%s", type(exc).__name__, exc, trace)
            return 400, error_body(
                "BAD_REQUEST",
                "Encountered an unexpected error while evaluating the model. Verify that the input is "
                f"compatible with the model for inference. Error: {type(exc).__name__}: {exc}",
                trace if self.debug else None)
        try:
            return 200, predictions_body(raw)
        except TypeError as exc:
            return 500, error_body(
                "INTERNAL_ERROR", f"The model returned predictions that cannot be written as JSON: {exc}")


__all__ = ["Scorer", "load"]
