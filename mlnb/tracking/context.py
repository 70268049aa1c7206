"""Where a run comes from: the user, and the script or notebook that started it (MLflow's tags)."""

from __future__ import annotations

import getpass
import sys

from mlnb.tracking.entities import TAG_SOURCE_NAME, TAG_SOURCE_TYPE, TAG_USER


def user() -> str:
    """The login name, or ``unknown`` where there is none (some containers)."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


def source_tags() -> dict[str, str]:
    """MLflow's ``mlflow.user``, ``mlflow.source.name`` and ``mlflow.source.type`` for this process."""
    notebook = "ipykernel" in sys.modules
    name = sys.argv[0] if sys.argv and sys.argv[0] else "<console>"
    return {TAG_USER: user(), TAG_SOURCE_NAME: name, TAG_SOURCE_TYPE: "NOTEBOOK" if notebook else "LOCAL"}


__all__ = ["user", "source_tags"]
