"""The flavor registry: every model library mlnb supports is a plug-in listed here.

A flavor is a module exposing ``FLAVOR_NAME``, ``save_model``, ``log_model``, ``load_model`` and
``load_pyfunc(path, model_config=None)`` (:class:`mlnb.flavors.protocol.FlavorModule`), with
``_load_pyfunc`` as the same function under MLflow's loader-module name, so a model can name the
module in its MLmodel and MLflow loads it too. ``log_model`` is built from ``save_model`` by
:func:`mlnb.flavors.protocol.make_log_model`. Registering is data: the flavor's MLmodel key, the
mlnb module that implements it, the loader module written into MLmodel for MLflow, the loader modules
of MLflow's own that it reads, and the pip extra it needs. Nothing is imported until used.

The registry is also the trust boundary for ``loader_module``: ``mlnb.pyfunc.load_model`` imports
only the modules registered here (and MLflow's loaders of custom models) unless the caller passes
``trust_code=True``; see ``mlnb.models.trust``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

from mlnb.errors import FlavorNotFoundError


@dataclass(frozen=True)
class Flavor:
    name: str                     # the key under ``flavors:`` in MLmodel
    module: str                   # the mlnb module implementing it
    loader_module: str            # the pyfunc loader_module mlnb writes (importable by MLflow)
    reads: tuple[str, ...] = ()   # further loader modules (MLflow's) this flavor loads
    extra: str | None = None      # pip extra that installs the library
    library: str | None = None    # the library's import name

    def load(self) -> ModuleType:
        if self.library:
            from mlnb.errors import require

            require(self.library, self.extra or self.name, f"The '{self.name}' flavor")
        return importlib.import_module(self.module)

    def pyfunc_loader(self) -> Callable[..., Any]:
        """``load_pyfunc(path, model_config=None)`` of the flavor's module (the protocol in
        :mod:`mlnb.flavors.protocol`); a plug-in written for MLflow offers only ``_load_pyfunc``, and
        so does ``mlnb.pyfunc``, where ``load_pyfunc`` is MLflow's old name of ``load_model``."""
        module = self.load()
        return getattr(module, "load_pyfunc", None) or module._load_pyfunc


_FLAVORS: dict[str, Flavor] = {}
_BY_LOADER: dict[str, Flavor] = {}


def register_flavor(flavor: Flavor) -> Flavor:
    """Add a flavor to the registry (later registrations replace earlier ones of the same name)."""
    _FLAVORS[flavor.name] = flavor
    for mod in (flavor.loader_module, flavor.module, *flavor.reads):
        _BY_LOADER[mod] = flavor
    return flavor


def get_flavor(name: str) -> Flavor:
    try:
        return _FLAVORS[name]
    except KeyError:
        raise FlavorNotFoundError(
            f"Unknown flavor '{name}'. mlnb knows: {', '.join(sorted(_FLAVORS))}."
        ) from None


def flavor_for_loader(loader_module: str) -> Flavor | None:
    """The mlnb flavor that loads models whose pyfunc ``loader_module`` is this one, if any."""
    return _BY_LOADER.get(loader_module)


def registered() -> list[str]:
    return sorted(_FLAVORS)


register_flavor(Flavor("sklearn", "mlnb.flavors.sklearn", "mlflow.sklearn", library="sklearn"))
register_flavor(Flavor("python_function", "mlnb.pyfunc", "mlnb.pyfunc", reads=("mlflow.pyfunc.model",)))
register_flavor(Flavor("xgboost", "mlnb.flavors.xgboost", "mlflow.xgboost", extra="xgboost", library="xgboost"))
register_flavor(Flavor("onnx", "mlnb.flavors.onnx", "mlflow.onnx", extra="onnx", library="onnxruntime"))
register_flavor(Flavor("h2o", "mlnb.flavors.h2o", "mlflow.h2o", extra="h2o", library="h2o"))
register_flavor(Flavor("pytorch", "mlnb.flavors.pytorch", "mlflow.pytorch", extra="pytorch", library="torch"))
# no library=: Keras must see its backend choice before it is imported, so the flavor imports it
register_flavor(Flavor("keras", "mlnb.flavors.keras", "mlflow.keras", extra="keras"))
register_flavor(Flavor("tensorflow", "mlnb.flavors.tensorflow", "mlflow.tensorflow", extra="tensorflow",
                        library="tensorflow"))
register_flavor(Flavor("spark", "mlnb.flavors.spark", "mlflow.spark", extra="spark", library="pyspark"))
register_flavor(Flavor("lightgbm", "mlnb.flavors.lightgbm", "mlflow.lightgbm", extra="lightgbm", library="lightgbm"))
register_flavor(Flavor("statsmodels", "mlnb.flavors.statsmodels", "mlflow.statsmodels", extra="statsmodels",
                        library="statsmodels"))
register_flavor(Flavor("catboost", "mlnb.flavors.catboost", "mlflow.catboost", extra="catboost", library="catboost"))
# R functions (MLflow R's crate); needs Rscript (Debian r-base-core), not a pip extra
register_flavor(Flavor("crate", "mlnb.flavors.crate", "mlnb.crate"))
# MXNet Gluon, frozen in MLflow 2.x's layout; no library=/extra=: MXNet 1.9.1 needs NumPy < 1.24, so it
# lives in an environment of its own, and the flavor's error says which (mlnb.flavors.gluon)
register_flavor(Flavor("gluon", "mlnb.flavors.gluon", "mlflow.gluon"))
# Spark pipelines as MLeap bundles, scored in NumPy (no JVM); writing one needs pyspark
register_flavor(Flavor("mleap", "mlnb.flavors.mleap", "mlnb.mleap"))
