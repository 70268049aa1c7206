"""R functions as models: MLflow's R ``crate`` flavor, ``mlnb.crate.save_model / log_model / load_model``.

The files are those MLflow's R package writes (``mlflow_save_model.crate``): ``crate.bin``, the RDS
file of ``serialize(<function>)``, and a ``crate`` section ``{version: 0.1.0, model: crate.bin}``
in MLmodel. The function has class ``c("crate", "function")``, as ``carrier::crate`` makes it, so
MLflow's R ``mlflow_predict`` dispatches to ``do.call(model, list(data))``. mlnb adds a
``python_function`` section (``loader_module: mlnb.crate``): mlnb (and MLflow's Python, where mlnb
is installed) loads the model and predicts through a persistent ``Rscript`` worker.

Loading runs code: ``crate.bin`` is an R closure, and predicting runs it. mlnb treats it as it treats
a pickle (``mlnb.models.trust``): allowed by default as in MLflow, refused with ``allow_pickle=False``
or ``MLNB_ALLOW_PICKLE`` / ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false``, before R starts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mlnb.errors import InvalidParameterError, ModelFormatError, PredictionError
from mlnb.flavors.protocol import Closable, make_log_model
from mlnb.models.layout import CondaEnv, Requirements, SignatureArg, write_model
from mlnb.models.mlmodel import PYFUNC, Model

FLAVOR_NAME = "crate"
LOADER_MODULE = "mlnb.crate"
CRATE_FILE = "crate.bin"
CRATE_VERSION = "0.1.0"  # the version MLflow's R package writes

# Evaluate R source (every expression, in a fresh environment whose parent is the global one, so
# helpers defined beside the function travel with it) or read an .rds; the result must be a function.
_SAVE = r"""
args <- commandArgs(trailingOnly = TRUE)
value <- if (args[1] == "source") {
  env <- new.env(parent = globalenv())
  result <- NULL
  for (e in parse(file = args[2], keep.source = FALSE)) result <- eval(e, env)
  result
} else readRDS(args[2])
if (!is.function(value))
  stop("the R code must end with a function (the model), but it gives a ", class(value)[1], call. = FALSE)
if (!inherits(value, "crate")) class(value) <- c("crate", class(value))
saveRDS(serialize(value, NULL), args[3])
"""


def _r_input(r_function: Any) -> tuple[str, str | None]:
    """``("source", text)`` or ``("rds", path)`` for what the caller gave."""
    if isinstance(r_function, os.PathLike) or (isinstance(r_function, str) and "\n" not in r_function
                                                and r_function.lower().endswith((".rds", ".r"))):
        path = Path(r_function)
        if not path.is_file():
            raise InvalidParameterError(f"No R file at '{path}'. Pass R source text, or the path of an .R or .rds file.")
        if path.suffix.lower() == ".rds":
            return "rds", str(path.absolute())
        return "source", path.read_text()
    if isinstance(r_function, str) and r_function.strip():
        return "source", r_function
    raise InvalidParameterError(
        "r_function must be R source text ending with a function, e.g. 'function(df) df$x * 2', or the path "
        f"of an .R or .rds file; got {type(r_function).__name__}.")


def save_model(
    r_function: Any,
    path: str | os.PathLike,
    signature: SignatureArg = None,
    input_example: Any = None,
    pip_requirements: Requirements = None,
    extra_pip_requirements: Requirements = None,
    metadata: dict | None = None,
    conda_env: CondaEnv = None,
    mlmodel: Model | None = None,
) -> Model:
    """Save an R function as a crate model at ``path``.

    ``r_function``: R source text whose last expression is the function (it takes a data.frame and
    returns a vector, matrix or data.frame), or the path of an ``.R`` file or of an ``.rds`` file
    holding a function (``saveRDS(f, "f.rds")``, a ``carrier::crate`` too). Needs ``Rscript``.
    """
    from mlnb.flavors import rscript

    kind, value = _r_input(r_function)
    rscript.rscript()  # a missing R is reported before anything is written

    with tempfile.TemporaryDirectory(prefix="mlnb-crate-") as scratch:
        source = value
        if kind == "source":
            source = os.path.join(scratch, "model.R")
            Path(source).write_text(value)
        built = os.path.join(scratch, CRATE_FILE)
        try:
            rscript.run(_SAVE, kind, source, built, what="Building the crate")
        except PredictionError as exc:
            raise InvalidParameterError(str(exc)) from None

        def write_payload(model_dir: Path, code: str | None):
            shutil.copyfile(built, model_dir / CRATE_FILE)
            flavors = {PYFUNC: {"loader_module": LOADER_MODULE},
                       FLAVOR_NAME: {"version": CRATE_VERSION, "model": CRATE_FILE}}
            return flavors, {"mlnb", "pandas"}

        def predict(example):
            with _CratePredictor(built) as model:
                return model.predict(example)

        return write_model(
            path, write_payload, mlmodel=mlmodel, signature=signature, input_example=input_example,
            predict=predict if input_example is not None and signature is None else None,
            pip_requirements=pip_requirements, extra_pip_requirements=extra_pip_requirements,
            metadata=metadata, conda_env=conda_env,
        )


log_model = make_log_model(save_model, "R function")


class _CratePredictor(Closable):
    """The pyfunc face of a crate: a persistent R worker; ``predict`` sends it the DataFrame.

    ``close()`` (or leaving a ``with`` block, or garbage collection) stops the worker."""

    def __init__(self, crate_file: str | os.PathLike) -> None:
        from mlnb.flavors.rscript import Worker

        self.crate_file = str(crate_file)
        self._worker = Worker(self.crate_file)

    def predict(self, data: Any, params: dict | None = None) -> Any:
        import pandas as pd

        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
        return self._worker.predict(frame)

    def close(self) -> None:
        self._worker.close()


def _open(model_dir: Path, conf: dict, consent) -> _CratePredictor:
    from mlnb.models import trust

    file = trust.inside(model_dir, conf.get("model") or CRATE_FILE, "the crate flavor's model")
    trust.require_pickle(consent, f"'{file}', an R crate (a serialized R function that runs when it predicts)")
    if not file.is_file():
        raise ModelFormatError(f"The crate flavor names '{file.name}', which is missing from '{model_dir}'.")
    return _CratePredictor(file)


def load_model(model_uri: str | os.PathLike, dst_path: str | None = None, *,
               allow_pickle: bool | None = None) -> _CratePredictor:
    """Load a crate model (mlnb's or one MLflow's R package wrote) as a predictor backed by an R worker.

    Its R function runs: refused unless code-running formats are allowed (``allow_pickle``, default
    as MLflow's ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION``). Call ``close()`` to stop the worker."""
    from mlnb.models.reading import read_model
    from mlnb.models.trust import resolve

    path, mlmodel = read_model(model_uri, dst_path)
    return _open(path, mlmodel.flavor(FLAVOR_NAME), resolve(allow_pickle=allow_pickle))


def load_pyfunc(path: str, model_config: dict | None = None) -> _CratePredictor:
    """The crate as a pyfunc predictor (the loaded model's R worker), under the current trust policy."""
    from mlnb.models.trust import current

    p = Path(path)
    return _open(p, Model.load(p).flavor(FLAVOR_NAME), current())


_load_pyfunc = load_pyfunc   # MLflow's loader-module entry point (the name MLflow calls)


__all__ = ["save_model", "log_model", "load_model", "load_pyfunc"]
