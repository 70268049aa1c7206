"""mlnb carries MLflow 3.17.2's public names, except those on the documented exclusion list.

For each module below, MLflow's public names are read at test time (``__all__``, or else the
classes and functions the module defines) and looked up on the matching mlnb module; MLflow's
client methods are looked up on mlnb's client class. Every name mlnb lacks must match a group of
tests/compat/api_surface.toml, each with its reason (docs/mlflow-compat.md); names in the "todo"
group must still be lacking, so that list only shrinks.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: pytest depends on tomli there
    import tomli as tomllib

import pytest

EXCLUSIONS = Path(__file__).parent / "compat" / "api_surface.toml"
MODULES = ["mlflow", "mlflow.pyfunc", "mlflow.sklearn", "mlflow.models", "mlflow.types", "mlflow.entities",
           "mlflow.tracking", "mlflow.client", "mlflow.artifacts", "mlflow.data", "mlflow.exceptions"]
CLIENT = "mlflow.client:MlflowClient"


def mlflow_public_names(module_name: str) -> list[str]:
    """A module's public names: its ``__all__``, else the classes and functions defined under it."""
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is not None:
        return sorted(n for n in set(names) if not n.startswith("_"))
    return sorted(
        n for n, obj in vars(module).items()
        if not n.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
        and (getattr(obj, "__module__", "") or "").startswith(module_name)
    )


def mlnb_client_class():
    """mlnb's client: ``MlflowClient`` where it exists, else the class it will be an alias of."""
    from mlnb.tracking import client

    return getattr(client, "MlflowClient", client.MlnbClient)


def lacking() -> list[str]:
    """Every MLflow public name mlnb lacks, as ``module:name`` (client methods as ``CLIENT.method``)."""
    out = []
    for module_name in MODULES:
        ours = "mlnb" + module_name[len("mlflow"):]
        try:
            mlnb_module = importlib.import_module(ours)
        except ImportError:
            mlnb_module = None
        out += [f"{module_name}:{n}" for n in mlflow_public_names(module_name)
                if mlnb_module is None or not hasattr(mlnb_module, n)]
    import mlflow

    ours = mlnb_client_class()
    out += [f"{CLIENT}.{n}" for n in sorted(dir(mlflow.MlflowClient)) if not n.startswith("_") and not hasattr(ours, n)]
    return out


def groups() -> dict[str, dict]:
    with open(EXCLUSIONS, "rb") as f:
        return tomllib.load(f)["groups"]


def covering_group(name: str, table: dict[str, dict]) -> str | None:
    for group, entry in table.items():
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in entry["names"]):
            return group
    return None


@pytest.fixture(scope="module")
def missing() -> list[str]:
    return lacking()


def test_every_name_mlnb_lacks_is_on_the_documented_list(missing):
    table = groups()
    uncovered = [name for name in missing if covering_group(name, table) is None]
    assert not uncovered, ("mlnb lacks these MLflow names, which no group of tests/compat/api_surface.toml "
                           f"covers (add them, or add a group with its reason): {uncovered}")


def test_names_still_to_do_are_still_missing(missing):
    gained = sorted(set(groups()["todo"]["names"]) - set(missing))
    assert not gained, f"mlnb has these now: remove them from the todo group of api_surface.toml: {gained}"


def test_every_group_has_a_reason_and_is_documented():
    doc = (Path(__file__).parents[1] / "docs" / "mlflow-compat.md").read_text()
    for group, entry in groups().items():
        assert len(entry["reason"]) > 20 and (entry["names"] or group == "todo"), group   # todo may empty out
        assert f"`{group}`" in doc, f"docs/mlflow-compat.md does not describe the group {group!r}"


def test_todo_lists_exact_names_only():
    assert not [n for n in groups()["todo"]["names"] if any(c in n for c in "*?[")]


def test_the_core_of_the_surface_is_present():
    """What MLflow's examples use most, and what mlnb has had from the start, stays."""
    import mlnb

    for name in ("start_run", "log_param", "log_metric", "log_artifact", "set_experiment", "search_runs",
                 "autolog", "evaluate", "infer_signature", "set_tracking_uri", "get_tracking_uri"):
        assert callable(getattr(mlnb, name)), name
    for name in ("load_model", "save_model", "log_model", "PythonModel", "PyFuncModel"):
        assert hasattr(mlnb.pyfunc, name), name
