"""The first two steps of every load: parse (find the directory, read MLmodel) and audit
(validate it, refuse symlinks leaving the directory, warn about library versions). Only then does a
flavor check the caller's consent (``mlnb.models.trust``), import its library and deserialize."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from mlnb.errors import ModelFormatError
from mlnb.models.mlmodel import MLMODEL_FILE, Model


class VersionMismatchWarning(UserWarning):
    """A model was saved with library versions that differ from the installed ones."""


def read_model(uri: str | os.PathLike, dst: str | None = None, *, warn_versions: bool = True) -> tuple[Path, Model]:
    """Resolve ``uri`` to a local model directory and read its (validated) MLmodel."""
    from mlnb.models.uri import local_path

    path = local_path(uri, dst)
    if path.is_file() and path.name == MLMODEL_FILE:
        path = path.parent
    if not (path / MLMODEL_FILE).is_file():
        raise ModelFormatError(
            f"'{uri}' is not a model: '{path}' has no MLmodel file. Point to the directory that "
            f"save_model wrote (or runs:/<run_id>/<name> for a logged model)."
        )
    from mlnb.models.trust import check_links

    check_links(path)  # before reading anything: MLmodel itself may be the link
    mlmodel = Model.load(path)
    if warn_versions:
        from mlnb.models.environment import check_versions

        notes = check_versions(path, mlmodel.flavors)
        if notes:
            warnings.warn(
                f"Model '{uri}' was saved with other library versions: {'; '.join(notes)}. "
                f"It may load or predict differently; install the saved versions to be sure.",
                VersionMismatchWarning,
                stacklevel=3,
            )
    return path, mlmodel
