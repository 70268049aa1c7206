"""Restored model environments: a model's Python version and requirements, built once into a
cached virtual environment (with uv or venv + pip), in which mlnb then serves or scores the model.

``prepare(model_path, "uv")`` returns an :class:`Environment` whose ``python`` runs the model with
the libraries it was saved with; ``Environment.environ()`` and ``Environment.mlnb_command()`` start
mlnb there. Any caller that runs a model in its own environment (the scoring server, batch
prediction, a Spark UDF's workers) goes through ``prepare``.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Environment": "cache", "prepare": "cache", "cache_root": "cache", "entry_path": "cache", "entries": "cache",
    "prune": "cache", "size_on_disk": "cache", "MANAGERS": "installers", "default_manager": "installers",
    "EnvironmentSpec": "spec", "spec_of": "spec", "choose": "choice", "unmet_requirements": "choice",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mlnb.environments' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mlnb.environments.{_EXPORTS[name]}"), name)
