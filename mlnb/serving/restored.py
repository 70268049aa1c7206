"""A saved model that runs in its restored environment, called from this process.

``evaluate(env_manager="uv")`` and ``spark_udf(env_manager="uv")`` cannot import a model built
against other library versions into their own process, so, as MLflow does, they start the model's
scoring server in its restored environment (:mod:`mlnb.environments`) and send it each batch over
HTTP on 127.0.0.1. :class:`RestoredModel` is that server seen as a model: ``predict(data, params)``
answers as ``PyFuncModel.predict`` does, with the server's JSON decoded back to arrays or frames.
When the native model has ``predict_proba`` (the server's ``GET /model`` says so), so does the
restored model, with ``classes_``, through ``POST /invocations?method=predict_proba``: a classifier
evaluated in its restored environment gets its probability metrics and plots.
The server ends with :meth:`RestoredModel.close`, and on Linux with the process that started it.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any, Mapping

from mlnb.errors import PredictionError
from mlnb.flavors.protocol import Closable

#: the server's limits: a batch is whatever the caller sends (evaluation samples, Arrow batches)
_LIMITS = {"timeout": 3600.0, "max_body": 1 << 31, "body_timeout": 3600.0}


class RestoredModel(Closable):
    """The model at ``model_path`` served from its restored environment (built now unless cached, or
    the given :class:`~mlnb.environments.Environment`). ``params`` go with every ``predict`` that
    passes none. Use it as a context manager, or call :meth:`close`."""

    def __init__(self, model_path: str | os.PathLike, env_manager: str, *, environment: Any = None,
                 params: Mapping[str, Any] | None = None, extra_env: Mapping[str, str] | None = None) -> None:
        from mlnb.models.reading import read_model
        from mlnb.serving.background import _serve_restored
        from mlnb.serving.limits import limits_from

        path, self.metadata = read_model(os.fspath(model_path), warn_versions=False)
        self.path = str(path)
        self.params = dict(params) if params is not None else None
        self.environment = environment
        self._handle = _serve_restored(str(path), None, "127.0.0.1", 1, limits_from(_LIMITS), env_manager, False,
                                       env=environment, extra_env=dict(extra_env or {}), die_with_parent=True)
        try:
            self._description = self._get("model")
        except BaseException:
            self.close()
            raise

    @property
    def url(self) -> str:
        return self._handle.url

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        """Predictions for ``data`` (a DataFrame, an array, a dict of arrays...) from the restored
        environment: a numpy array, or a DataFrame when the model answers with records."""
        from mlnb.models.examples import encode
        from mlnb.serving.offline import _json_default

        payload = dict(encode(data)[2])
        chosen = params if params is not None else self.params
        if chosen:
            payload["params"] = dict(chosen)
        return _decoded(self._post("invocations", json.dumps(payload, default=_json_default).encode("utf-8")))

    @property
    def predict_proba(self):
        """The native model's ``predict_proba``, run in the restored environment (an AttributeError
        when the model has none, so ``getattr(model, "predict_proba", None)`` tells)."""
        if "predict_proba" not in self._description.get("methods", ()):
            raise AttributeError(f"The model at '{self.path}' has no predict_proba.")
        return self._predict_proba

    @property
    def classes_(self):
        """The classes ordering ``predict_proba``'s columns, as the native model reports them."""
        import numpy as np

        classes = self._description.get("classes")
        if classes is None:
            raise AttributeError("The model reports no classes_.")
        return np.asarray(classes)

    def _predict_proba(self, data: Any) -> Any:
        from mlnb.models.examples import encode
        from mlnb.serving.offline import _json_default

        body = json.dumps(dict(encode(data)[2]), default=_json_default).encode("utf-8")
        return _decoded(self._post("invocations?method=predict_proba", body))

    def _get(self, route: str) -> Any:
        try:
            with urllib.request.urlopen(f"{self._handle.url}/{route}", timeout=_LIMITS["timeout"]) as response:
                return json.loads(response.read())
        except OSError as exc:
            raise _no_answer(exc) from None

    def _post(self, route: str, body: bytes) -> Any:
        """The predictions a POST to ``route`` answers with."""
        request = urllib.request.Request(f"{self._handle.url}/{route}", data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=_LIMITS["timeout"]) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("message", "")
            except ValueError:
                message = ""
            raise PredictionError(f"The model failed to predict in its restored environment ({exc.code}): "
                                  f"{message or exc.reason}") from None
        except OSError as exc:
            raise _no_answer(exc) from None
        return answer.get("predictions", answer)

    def close(self) -> None:
        """Stop the model's server (idempotent)."""
        self._handle.stop()


def _no_answer(exc: OSError) -> PredictionError:
    return PredictionError(f"The model's scoring server in its restored environment did not answer: {exc}. "
                           f"Run it with env_manager='local' to see the failure here.")


def _decoded(predictions: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(predictions, list) and predictions and all(isinstance(p, dict) for p in predictions):
        return pd.DataFrame(predictions)
    if isinstance(predictions, dict):
        return {k: np.asarray(v) for k, v in predictions.items()}
    return np.asarray(predictions)


__all__ = ["RestoredModel"]
