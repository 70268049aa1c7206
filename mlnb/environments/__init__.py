"""Restored model environments: a model's Python version and requirements, built once into a
cached virtual environment (with uv or venv + pip), in which mlnb then serves or scores the model.

``prepare(model_path, "uv")`` returns an :class:`Environment` whose ``python`` runs the model with
the libraries it was saved with; ``Environment.environ()`` and ``Environment.mlnb_command()`` start
mlnb there. Any caller that runs a model in its own environment (the scoring server, batch
prediction, a Spark UDF's workers) goes through ``prepare``.
"""

from __future__ import annotations

from mlnb.environments.cache import Environment, cache_root, entries, entry_path, prepare, prune, size_on_disk
from mlnb.environments.installers import MANAGERS, default_manager
from mlnb.environments.spec import EnvironmentSpec, spec_of

__all__ = ["Environment", "EnvironmentSpec", "prepare", "spec_of", "cache_root", "entry_path", "entries", "prune",
           "size_on_disk", "default_manager", "MANAGERS"]
