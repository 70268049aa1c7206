"""Model and artifact URIs, resolved to local paths.

Plain and ``file://`` paths are handled here. Other schemes (``runs:/``, ``models:/``, ``s3://``,
``mlflow-artifacts:/``) are plug-ins registered in :mod:`mlnb.hooks` by the layer that owns them, so
the format core neither imports nor names the tracking layer or boto3.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from mlnb import hooks
from mlnb.errors import InvalidParameterError, ResourceNotFoundError


def register_scheme(scheme: str, resolver: str | hooks.UriResolver) -> None:
    """Teach mlnb a new URI scheme: ``resolver(uri, dst)`` returns a local path.

    ``resolver`` may be a ``"module:function"`` string, imported the first time it is needed.
    """
    hooks.set_uri_resolver(scheme, resolver)


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
    resolver = hooks.uri_resolver(scheme)
    if resolver is None:
        known = ", ".join(sorted(["file", *hooks.uri_schemes()]))
        raise InvalidParameterError(f"Unsupported URI scheme '{scheme}' in '{uri}'. mlnb reads: {known}, and local paths.")
    return Path(resolver(uri, dst))
