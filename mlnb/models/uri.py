"""Model and artifact URIs, resolved to local paths.

Plain and ``file://`` paths are handled here. Other schemes (``runs:/``, ``models:/``, ``s3://``,
``mlflow-artifacts:/``) are plug-ins: a scheme maps to ``"module:function"``, imported only when a
URI of that scheme is opened, so the format core never imports the tracking layer or boto3.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urlparse

from mlnb.errors import InvalidParameterError, ResourceNotFoundError

# scheme -> "module:function(uri: str, dst: str | None) -> local path"
_SCHEMES: dict[str, str | Callable[[str, str | None], str]] = {
    "runs": "mlnb.tracking.run_uris:download_runs_uri",
    "s3": "mlnb.tracking.s3:download_s3_uri",
    "mlflow-artifacts": "mlnb.tracking.run_uris:download_mlflow_artifacts_uri",
    "models": "mlnb.tracking.model_uris:download_models_uri",
}


def register_scheme(scheme: str, resolver: str | Callable[[str, str | None], str]) -> None:
    """Teach mlnb a new URI scheme: ``resolver(uri, dst)`` returns a local path."""
    _SCHEMES[scheme] = resolver


def scheme_of(uri: str) -> str:
    if os.name == "nt" and len(uri) > 1 and uri[1] == ":":
        return ""
    return urlparse(str(uri)).scheme


def local_path(uri: str | os.PathLike, dst: str | None = None) -> Path:
    """Resolve a model or artifact URI to a local path, downloading it if it is remote."""
    uri = os.fspath(uri)
    scheme = scheme_of(uri)
    if scheme in ("", "file"):
        path = Path(unquote(urlparse(uri).path) if scheme == "file" else uri).expanduser()
        if not path.exists():
            raise ResourceNotFoundError(f"No file or directory at '{uri}' (resolved to '{path.absolute()}').")
        return path
    resolver = _SCHEMES.get(scheme)
    if resolver is None:
        known = ", ".join(sorted(["file", *_SCHEMES]))
        raise InvalidParameterError(f"Unsupported URI scheme '{scheme}' in '{uri}'. mlnb reads: {known}, and local paths.")
    if isinstance(resolver, str):
        mod, _, fn = resolver.partition(":")
        resolver = getattr(importlib.import_module(mod), fn)
    return Path(resolver(uri, dst))
