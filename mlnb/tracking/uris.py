"""Where runs and registered models go: the tracking URI and the registry URI, as MLflow chooses them.

Tracking URIs, as MLflow's: ``sqlite:///path`` or a path (an MLflow SQLite store, created on first
use; new experiments keep artifacts in ``./mlruns/``), or ``http(s)://host:port`` (an MLflow
Tracking Server). The URI is ``set_tracking_uri(...)``, else ``$MLFLOW_TRACKING_URI``, else
``$MLNB_TRACKING_URI`` (mlnb's older name), else ``sqlite:///mlflow.db`` in the working directory.

The registry URI is ``set_registry_uri(...)``, else ``$MLNB_REGISTRY_URI``, else the tracking URI:
MLflow's default, one file or server for both.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlnb.errors import InvalidParameterError

DEFAULT_DB = "mlflow.db"
ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
ENV_LEGACY_TRACKING_URI = "MLNB_TRACKING_URI"
ENV_REGISTRY_URI = "MLNB_REGISTRY_URI"

_tracking_override: str | None = None
_registry_override: str | None = None


def set_tracking_uri(uri: str | os.PathLike | None) -> None:
    """Send runs to ``uri`` (None: back to the environment or the default)."""
    global _tracking_override
    _tracking_override = os.fspath(uri) if uri is not None else None


def is_tracking_uri_set() -> bool:
    """True when the tracking URI was chosen (``set_tracking_uri`` or an environment variable)
    rather than left at the default."""
    return bool(_tracking_override or os.environ.get(ENV_TRACKING_URI) or os.environ.get(ENV_LEGACY_TRACKING_URI))


def get_tracking_uri() -> str:
    """Where runs go: set_tracking_uri, else $MLFLOW_TRACKING_URI, else $MLNB_TRACKING_URI, else
    ``sqlite:///<working directory>/mlflow.db``."""
    return (_tracking_override or os.environ.get(ENV_TRACKING_URI) or os.environ.get(ENV_LEGACY_TRACKING_URI)
            or resolve_uri(f"sqlite:///{DEFAULT_DB}"))


def resolve_uri(uri: str) -> str:
    """Canonical form used as the cache key: ``sqlite:///abs/path`` or the server's base URL."""
    if uri.startswith(("http://", "https://")):
        return uri.rstrip("/")
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///"):]  # sqlite:///rel.db is relative, sqlite:////abs.db absolute
        return "sqlite:///" + str(Path(path).expanduser().absolute())
    if uri.startswith("file://"):
        raise InvalidParameterError(
            f"Tracking URI '{uri}': mlnb keeps runs in SQLite. Use a path to a .db file, sqlite:///path, "
            f"or http(s)://host:port for an MLflow Tracking Server.")
    if "://" in uri or uri.startswith(("databricks", "postgresql", "mysql")):
        raise InvalidParameterError(
            f"Unsupported tracking URI '{uri}'. Use a path or sqlite:///path for the embedded store, or "
            f"http(s)://host:port for an MLflow Tracking Server.")
    p = Path(uri).expanduser()
    if p.is_dir():
        p = p / DEFAULT_DB
    return "sqlite:///" + str(p.absolute())


def set_registry_uri(uri: str | os.PathLike | None) -> None:
    """Keep the registry at ``uri`` (None: follow the tracking URI again)."""
    global _registry_override
    _registry_override = resolve_uri(os.fspath(uri)) if uri is not None else None


def get_registry_uri() -> str:
    """The registry URI in force: set_registry_uri, else $MLNB_REGISTRY_URI, else the tracking URI."""
    return registry_uri_for(None)


def registry_uri_for(tracking_uri: str | None) -> str:
    """The registry for a client of ``tracking_uri`` (None: the current one), as MLflow chooses it."""
    return _registry_override or os.environ.get(ENV_REGISTRY_URI) or tracking_uri or get_tracking_uri()
