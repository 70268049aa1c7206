"""A flavor is one module and one registry entry: ``mlnb.<name>`` exists because the registry says so.

mlnb's own flavors (those implemented in ``mlnb.flavors``) also get a real module ``mlnb/<name>.py``,
generated from the registry, so ``import mlnb.sklearn`` works without an import hook and IDEs and
type checkers resolve it. After adding a flavor to the registry, write its module with

    python tests/test_flavor_modules.py

Every registered flavor also has a conformance case (tests/conformance.py).
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: this checkout's mlnb

from mlnb.flavors import Flavor, get_flavor, register_flavor, registered  # noqa: E402

TEMPLATE = '''"""``mlnb.{name}``: the {name} flavor under MLflow's name. It *is* :mod:`{module}` (one module,
two names); this file exists so ``import mlnb.{name}`` works and IDEs and type checkers resolve it.

Generated from the registry in mlnb/flavors/__init__.py by ``python tests/test_flavor_modules.py``.
"""

import sys

from {package} import {short} as _flavor
from {module} import *  # noqa: F401,F403  (the names IDEs and type checkers see)

sys.modules[__name__] = _flavor
'''


def own_flavors() -> dict[str, str]:
    """Registry name -> the text of ``mlnb/<name>.py``, for every flavor implemented in mlnb.flavors."""
    texts = {}
    for name in registered():
        module = get_flavor(name).module
        package, _, short = module.rpartition(".")
        if package == "mlnb.flavors":
            texts[name] = TEMPLATE.format(name=name, module=module, package=package, short=short)
    return texts


def write_modules() -> None:
    for name, text in own_flavors().items():
        (REPO / "mlnb" / f"{name}.py").write_text(text)
        print(f"wrote mlnb/{name}.py")


def test_every_own_flavor_has_its_generated_module():
    assert set(own_flavors()) >= {"sklearn", "xgboost", "onnx", "h2o", "pytorch", "keras", "spark"}
    for name, text in own_flavors().items():
        path = REPO / "mlnb" / f"{name}.py"
        assert path.exists() and path.read_text() == text, \
            f"mlnb/{name}.py is missing or stale: run `python tests/test_flavor_modules.py`"


def test_no_module_of_mlnb_pretends_to_be_a_flavor_that_is_not_registered():
    for path in (REPO / "mlnb").glob("*.py"):
        if "sys.modules[__name__] = _flavor" in path.read_text():
            assert path.stem in own_flavors(), f"{path.name} re-exports a flavor the registry does not list"


def test_no_import_hook():
    code = "import sys, mlnb, mlnb.sklearn; print(len(sys.meta_path))"
    bare = subprocess.run([sys.executable, "-c", "import sys; print(len(sys.meta_path))"],
                          capture_output=True, text=True, check=True).stdout
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=REPO).stdout == bare


@pytest.mark.parametrize("name", sorted(own_flavors()))
def test_the_short_name_is_the_flavor_module_itself(name):
    """``mlnb.<name>``, ``import mlnb.<name>`` and the registry's module are one object graph."""
    flavor_module = importlib.import_module(get_flavor(name).module)
    assert importlib.import_module(f"mlnb.{name}") is flavor_module
    import mlnb

    assert getattr(mlnb, name) is flavor_module
    assert flavor_module.FLAVOR_NAME == name and callable(flavor_module.save_model)
    assert sys.modules[f"mlnb.{name}"] is flavor_module


@pytest.mark.parametrize("name", sorted(own_flavors()))
def test_every_own_flavor_follows_the_public_protocol(name):
    """save_model, load_model, a public load_pyfunc (``_load_pyfunc`` is the same function, under the
    name MLflow calls), and a log_model built from save_model that takes every keyword it takes."""
    import inspect

    from mlnb.flavors.protocol import LOG_KEYWORDS, FlavorModule

    module = importlib.import_module(get_flavor(name).module)
    assert isinstance(module, FlavorModule)
    assert module._load_pyfunc is module.load_pyfunc is get_flavor(name).pyfunc_loader()
    assert "load_pyfunc" in module.__all__
    logged = inspect.signature(module.log_model).parameters
    saved = inspect.signature(module.save_model).parameters
    assert list(logged)[:2] == [next(iter(saved)), "name"]
    assert set(saved) - {"path", "mlmodel"} <= set(logged)
    assert {p.name for p in LOG_KEYWORDS} <= set(logged)
    assert module.log_model.__module__ == module.__name__ and module.log_model.__doc__
    unannotated = [p.name for p in saved.values() if p.annotation is inspect.Parameter.empty]
    assert unannotated == [], f"{name}.save_model leaves {unannotated} unannotated (see mlnb.models.layout)"


def test_pyfunc_keeps_mlflow_meaning_of_its_names():
    """``mlnb.pyfunc`` is the python_function flavor, but ``mlflow.pyfunc.load_pyfunc`` is MLflow's old
    name of load_model: mlnb.pyfunc defines no load_pyfunc and loads through ``_load_pyfunc``."""
    import mlnb.pyfunc

    assert not hasattr(mlnb.pyfunc, "load_pyfunc")
    assert get_flavor("python_function").pyfunc_loader() is mlnb.pyfunc._load_pyfunc


def test_a_registered_flavor_is_reachable_as_mlnb_name(tmp_path, monkeypatch):
    """A plug-in registered at run time is ``mlnb.<name>`` (without a module file of its own)."""
    (tmp_path / "acme_flavor.py").write_text("FLAVOR_NAME = 'acme'\ndef save_model(*a, **k): pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import mlnb
    import mlnb.flavors as flavors

    monkeypatch.setattr(flavors, "_FLAVORS", dict(flavors._FLAVORS))
    monkeypatch.setattr(flavors, "_BY_LOADER", dict(flavors._BY_LOADER))
    with pytest.raises(AttributeError, match="no attribute 'acme'"):
        mlnb.acme
    register_flavor(Flavor("acme", "acme_flavor", "acme_flavor"))
    assert mlnb.acme is importlib.import_module("acme_flavor")
    assert "acme" in dir(mlnb)
    monkeypatch.delattr(mlnb, "acme", raising=False)   # __getattr__ caches what it found


def test_star_import_does_not_import_model_libraries():
    libraries = {'torch', 'h2o', 'pyspark', 'keras', 'tensorflow', 'xgboost', 'lightgbm', 'statsmodels', 'catboost'}
    code = f"from mlnb import *; import mlnb, sys; dir(mlnb); print(sorted({libraries!r} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


# -- conformance -------------------------------------------------------------------------------
def _conformance_case_flavors() -> dict[str, list[str]]:
    """Flavor name -> test modules that build a conformance case for it and run ``CHECKS`` on it
    (read statically, so no model library is imported). A case's name starts with its flavor's
    registry name: ``FlavorCase("sklearn-random_forest", ...)``, ``library_case("xgboost-booster", ...)``.
    Helper modules count too: tests/_gluon_side.py runs the checks in the MXNet environment."""
    found: dict[str, list[str]] = {}
    tests = REPO / "tests"
    for path in [tests / "conformance.py", *sorted(tests.glob("test_*.py")), *sorted(tests.glob("_*.py"))]:
        tree = ast.parse(path.read_text())
        runs_checks = path.name == "conformance.py" or any(
            isinstance(n, ast.Name) and n.id == "CHECKS" for n in ast.walk(tree))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("FlavorCase", "library_case")
                    and node.args and runs_checks):
                first = node.args[0]
                if isinstance(first, ast.JoinedStr):
                    first = first.values[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.setdefault(first.value.split("-")[0], []).append(path.name)
    return found


def test_every_registered_flavor_has_a_conformance_case():
    cases = _conformance_case_flavors()
    missing = [name for name in registered() if name not in cases]
    assert missing == [], (f"flavors without a conformance case: {missing}. Add a FlavorCase named "
                           "'<flavor>-<kind>' (tests/conformance.py) and run CHECKS on it.")
    assert set(cases) <= set(registered()), f"cases named after no registered flavor: {set(cases) - set(registered())}"


if __name__ == "__main__":
    write_modules()
