"""Scoring without a server: MLflow's ``validate_serving_input``, ``predict`` and
``convert_input_example_to_serving_input``, answering exactly as the scoring server does."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Mapping

from mlnb.errors import InvalidParameterError, ServingError

_CONTENT_TYPES = {"json": "application/json", "csv": "text/csv"}


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if isinstance(obj, bytes):
        import base64

        return base64.b64encode(obj).decode("ascii")
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def convert_input_example_to_serving_input(input_example: Any) -> str | None:
    """The scoring-server request body (JSON text) that sends ``input_example``; None for None."""
    if input_example is None:
        return None
    from mlnb.models.examples import encode

    return json.dumps(encode(input_example)[2], indent=2, default=_json_default)


def _scorer(model_uri: Any):
    from mlnb.serving.scoring import Scorer, load

    return Scorer(load(model_uri))


def validate_serving_input(model_uri: Any, serving_input: str | Mapping[str, Any]) -> Any:
    """Score a request body (JSON text or dict) the way the scoring server would; return the
    predictions, or raise the error the server would answer with."""
    body = serving_input if isinstance(serving_input, str) else json.dumps(serving_input, default=_json_default)
    return _scorer(model_uri).predict(body.encode("utf-8"), _CONTENT_TYPES["json"])


def predict(model_uri: str, input_data: Any = None, input_path: str | os.PathLike | None = None,
            content_type: str = "json", output_path: str | os.PathLike | None = None,
            env_manager: str | None = None, install_mlflow: bool = False,
            pip_requirements_override: list[str] | None = None,
            extra_envs: Mapping[str, str] | None = None) -> None:
    """Predict with a model and print the predictions as the scoring server's JSON (or write them to
    ``output_path``). ``input_data`` is a serving payload (JSON text or dict) or data; ``input_path``
    a JSON or CSV file. ``env_manager="uv"`` or ``"virtualenv"`` predicts in the model's restored
    environment (see :mod:`mlnb.environments`), ``"local"`` in this one. The default restores it
    (uv when installed, else virtualenv) unless this environment already meets the model's
    requirements, as ``mlnb models predict`` does."""
    from mlnb.serving.responses import predictions_body

    if env_manager is None:
        from mlnb.environments import choose
        from mlnb.models.uri import local_path

        env_manager = choose(local_path(model_uri), None, restore_only=bool(install_mlflow or pip_requirements_override),
                             log=lambda line: print(line, file=sys.stderr, flush=True))
    if env_manager != "local":
        return _predict_restored(model_uri, input_data, input_path, content_type, output_path, env_manager,
                                 install_mlflow, pip_requirements_override, extra_envs)
    if install_mlflow or pip_requirements_override:
        raise InvalidParameterError(
            "install_mlflow and pip_requirements_override change a separate environment; with "
            "env_manager='local' there is none. Install packages into this environment instead.")
    if content_type not in _CONTENT_TYPES:
        raise InvalidParameterError(f"content_type must be 'json' or 'csv', got {content_type!r}.")
    if (input_data is None) == (input_path is None):
        raise InvalidParameterError("Pass exactly one of input_data and input_path.")
    saved = {k: os.environ.get(k) for k in (extra_envs or {})}
    os.environ.update({k: str(v) for k, v in (extra_envs or {}).items()})
    try:
        scorer = _scorer(model_uri)
        if input_path is not None:
            raw = scorer.predict(Path(input_path).read_bytes(), _CONTENT_TYPES[content_type])
        elif isinstance(input_data, (str, bytes)) or (isinstance(input_data, Mapping) and _is_payload(input_data)):
            body = input_data if isinstance(input_data, bytes) else (
                input_data if isinstance(input_data, str) else json.dumps(input_data, default=_json_default)
            ).encode("utf-8")
            raw = scorer.predict(body, _CONTENT_TYPES[content_type])
        else:
            raw = scorer.model.predict(input_data)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    out = predictions_body(raw)
    if output_path is not None:
        Path(output_path).write_bytes(out)
    else:
        sys.stdout.write(out.decode("utf-8") + "\n")


def _predict_restored(model_uri, input_data, input_path, content_type, output_path, env_manager, install_mlflow,
                      pip_requirements_override, extra_envs) -> None:
    """``predict`` run by ``mlnb models predict`` in the model's restored environment."""
    import subprocess
    import tempfile

    from mlnb.environments import prepare
    from mlnb.models.uri import local_path

    if content_type not in _CONTENT_TYPES or (input_data is None) == (input_path is None):
        raise InvalidParameterError("Pass exactly one of input_data and input_path, and content_type 'json' or 'csv'.")
    path = local_path(model_uri)
    env = prepare(path, env_manager, extra_requirements=list(pip_requirements_override or []),
                  install_mlflow=install_mlflow)
    with tempfile.TemporaryDirectory(prefix="mlnb-predict-") as tmp:
        if input_path is None:
            input_path = Path(tmp) / f"input.{content_type}"
            if isinstance(input_data, (str, bytes)):
                data = input_data
            elif isinstance(input_data, Mapping) and _is_payload(input_data):
                data = json.dumps(input_data, default=_json_default)
            else:
                data = convert_input_example_to_serving_input(input_data)
            input_path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        out = Path(output_path) if output_path is not None else Path(tmp) / "predictions.json"
        done = subprocess.run(env.mlnb_command("models", "predict", "-m", str(path), "-i", str(input_path),
                                               "-o", str(out), "-t", content_type, "--env-manager", "local"),
                              env=env.environ(extra={k: str(v) for k, v in (extra_envs or {}).items()}),
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise ServingError(done.stderr.strip().splitlines()[-1].removeprefix("Error: ") if done.stderr.strip()
                               else f"mlnb models predict exited with {done.returncode}", 400, "BAD_REQUEST")
        if output_path is None:
            sys.stdout.write(out.read_text(encoding="utf-8") + "\n")


def _is_payload(data: Mapping[str, Any]) -> bool:
    return bool(set(data) & {"dataframe_split", "dataframe_records", "instances", "inputs"})


__all__ = ["convert_input_example_to_serving_input", "validate_serving_input", "predict", "ServingError"]
