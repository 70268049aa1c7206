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
#: methods of the native model besides predict that ``POST /invocations?method=`` may call
METHODS = ("predict_proba",)
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


# Warnings that would repeat on every request: scikit-learn's about bare arrays (the server checked
# the column names against the signature before passing one) and the signature's about extra
# columns and params, whose every distinct text would stay in Python's warning registry.
_PER_REQUEST_WARNINGS = ("X does not have valid feature names", "Dropping columns", "Ignoring params",
                         "The model's signature declares no params")


def _rows_predictor(model: Any, plan: InputPlan):
    """The model's direct predict for float blocks in the signature's order, when its flavor offers one."""
    offer = getattr(model, "validated_rows_predictor", None)
    if not plan.float_columns or not callable(offer):
        return None
    return offer(plan.float_columns)


class Scorer:
    """Turns request bodies into response bodies for one loaded model.

    ``own_process=True`` is for a process that does nothing but serve (a server worker). There,
    float blocks go straight to the flavor's own predict when it offers one
    (``PyFuncModel.validated_rows_predictor``), and process-wide warning filters silence the
    warnings that would repeat on every request (``_PER_REQUEST_WARNINGS``).

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
        self._array_fn = _rows_predictor(model, self.plan) if own_process else None
        if own_process:
            import warnings

            for text in _PER_REQUEST_WARNINGS:
                warnings.filterwarnings("ignore", message=text, category=UserWarning)

    def predict(self, body: bytes, mime: str) -> Any:
        """Raw predictions for a request body; raises ServingError for anything the client got wrong."""
        return self.predict_taking([body], mime)

    def description(self) -> dict:
        """What the model offers beyond ``predict`` (``GET /model``): the methods a request may name
        (``POST /invocations?method=predict_proba``) and, when known, the classes that order the
        columns of ``predict_proba``."""
        raw = self._raw()
        methods = ["predict"] + [m for m in METHODS if callable(getattr(raw, m, None))]
        classes = getattr(raw, "classes_", None) if len(methods) > 1 else None
        return {"methods": methods, "classes": None if classes is None else _plain(classes)}

    def _raw(self) -> Any:
        from mlnb.pyfunc import PyFuncModel

        return self.model.get_raw_model() if isinstance(self.model, PyFuncModel) else self.model

    def predict_taking(self, box: list, mime: str, method: str = "predict") -> Any:
        """``predict`` for a body handed over in a one-item list, which is emptied: nothing else holds
        the body, so its memory goes as soon as it is parsed, before the model runs. ``method`` names
        another method of the native model (one of :data:`METHODS`), called on the parsed input as
        ``mlnb.evaluate`` calls it in the model's own process."""
        data, params = parse_request(box.pop(), mime, self.plan)
        if method != "predict":
            return self._call(method, data)
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

    def _call(self, method: str, data: Any) -> Any:
        fn = getattr(self._raw(), method, None) if method in METHODS else None
        if not callable(fn):
            offered = ", ".join(self.description()["methods"])
            raise ServingError(f"This model has no method {method!r}; it offers: {offered}. Leave out ?method= "
                               f"to predict.", 400, "INVALID_PARAMETER_VALUE")
        if type(data) is FloatRows:  # a frame of the signature's columns, laid out as pandas lays out its own
            import pandas as pd      # (a view of the rows would give BLAS another summation order)

            data = pd.DataFrame(data.view(self._ndarray), columns=list(self.plan.float_columns))
        return fn(data)

    def score(self, body: bytes, mime: str) -> tuple[int, bytes]:
        """``(status, JSON body)`` for one request; never raises."""
        return self.score_taking([body], mime)

    def score_taking(self, box: list, mime: str, method: str = "predict") -> tuple[int, bytes]:
        """``score`` for a body handed over in a one-item list (see ``predict_taking``)."""
        try:
            raw = self.predict_taking(box, mime, method)
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


def _plain(values: Any) -> list:
    """Class labels as JSON values (numpy scalars become Python ones)."""
    import numpy as np

    return np.asarray(values).tolist()


__all__ = ["Scorer", "load", "METHODS"]
