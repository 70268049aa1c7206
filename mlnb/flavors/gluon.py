"""The MXNet Gluon flavor: ``mlnb.gluon.save_model / log_model / load_model``, in MLflow 2.x's layout.

MXNet is retired (an Apache Attic project since 2023; 1.9.1 is its last release) and MLflow dropped
``mlflow.gluon`` after 2.19. mlnb keeps reading and writing that flavor's files, frozen as MLflow
2.19 left them: the block exported by ``HybridBlock.export`` as ``data/net-symbol.json`` (the graph)
and ``data/net-0000.params`` (the weights), a ``gluon`` section ``{mxnet_version, code}`` and a
``python_function`` section with ``loader_module: mlflow.gluon``, so MLflow 2.x loads these models
and mlnb loads MLflow 2.x's.

MXNet 1.9.1 needs NumPy < 1.24, so it runs only in an environment of its own (see docs/models.md,
"MXNet Gluon"). This module imports without MXNet; saving or loading where MXNet cannot be
imported raises a ``MissingDependencyError`` that says which environment is needed.

Trust policy: both files are data (a JSON graph of MXNet's built-in operators and NDArray
weights, no pickle), so they load without consent; ``trust_code=True`` is needed only to honour a
``code/`` directory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from mlnb.errors import InvalidParameterError, MissingDependencyError, ModelFormatError
from mlnb.flavors.protocol import make_log_model
from mlnb.models.layout import CondaEnv, ExtraFiles, Requirements, SignatureArg, pick_mlmodel, write_model
from mlnb.models.mlmodel import PYFUNC, Model

FLAVOR_NAME = "gluon"
LOADER_MODULE = "mlflow.gluon"
DATA_DIR = "data"
NET_NAME = "net"   # export's prefix: data/net-symbol.json, data/net-0000.params
SYMBOL_FILE = f"{NET_NAME}-symbol.json"
PARAMS_FILE = f"{NET_NAME}-0000.params"
INPUT_NAME = "data"   # the input variable of an exported single-input block
#: what the isolated environment pins (MXNet's last release and the NumPy it was built for)
ENVIRONMENT = ("mxnet==1.9.1", "numpy<1.24")
_NEEDS = (f"The gluon flavor needs MXNet in an environment of its own: MXNet 1.9.1 (its last release) "
          f"imports only with NumPy < 1.24. Create one with Python 3.11 or older: `python3.11 -m venv gluon-env "
          f"&& gluon-env/bin/pip install {' '.join(repr(p) for p in ENVIRONMENT)} 'pandas<2.3' pyyaml cloudpickle "
          f"click tqdm`, install mlnb into it with --no-deps, and save, load and serve gluon models with "
          f"gluon-env/bin/python (docs/models.md, 'MXNet Gluon').")


def _mxnet() -> Any:
    """``import mxnet``, or a MissingDependencyError naming the environment it needs."""
    try:
        import mxnet
    except ImportError:
        raise MissingDependencyError(f"MXNet is not installed here. {_NEEDS}") from None
    except AttributeError as exc:  # NumPy >= 1.24 removed the aliases (np.bool, ...) MXNet uses
        import numpy

        raise MissingDependencyError(
            f"MXNet cannot be imported with NumPy {numpy.__version__} ({str(exc).splitlines()[0]}). {_NEEDS}") from None
    except OSError as exc:   # libmxnet.so or a library it links could not be loaded
        raise MissingDependencyError(f"MXNet's native library failed to load ({exc}). {_NEEDS}") from None
    return mxnet


# -- saving ----------------------------------------------------------------------------------
def save_model(
    gluon_model: Any,
    path: str | os.PathLike,
    mlflow_model: Model | None = None,
    conda_env: CondaEnv = None,
    code_paths: Sequence[str] | None = None,
    signature: SignatureArg = None,
    input_example: Any = None,
    pip_requirements: Requirements = None,
    extra_pip_requirements: Requirements = None,
    metadata: dict | None = None,
    extra_files: ExtraFiles = None,
    mlmodel: Model | None = None,
) -> Model:
    """Save a Gluon ``HybridBlock`` at ``path``, exported as MLflow 2.x's gluon flavor wrote it.

    The block must be hybridized and have run forward once (``net.hybridize(); net(x)``), as
    ``HybridBlock.export`` requires; its single input is named ``data``. Returns the written Model.
    """
    mx = _mxnet()
    if not isinstance(gluon_model, mx.gluon.HybridBlock):
        raise InvalidParameterError(
            f"gluon_model must be a Gluon HybridBlock (HybridSequential, a HybridBlock subclass, a "
            f"SymbolBlock), got {type(gluon_model).__name__}. A plain Block cannot be exported; build the "
            f"network from HybridBlocks.")

    def predict(example):
        return _GluonPyfunc(gluon_model).predict(example)

    def write_payload(model_dir: Path, code: str | None):
        data = model_dir / DATA_DIR
        data.mkdir()
        try:
            gluon_model.export(str(data / NET_NAME))
        except (RuntimeError, AssertionError, mx.base.MXNetError) as exc:
            raise InvalidParameterError(
                f"MXNet could not export this block ({exc}). Call net.hybridize() and run it forward once "
                f"(net(x)) before saving.") from None
        flavor = {"mxnet_version": mx.__version__, "code": code}
        pyfunc = {"loader_module": LOADER_MODULE}
        if code:
            pyfunc["code"] = code
        return {PYFUNC: pyfunc, FLAVOR_NAME: flavor}, {"mxnet", "numpy", "pandas"}

    return write_model(
        path, write_payload, mlmodel=pick_mlmodel(mlmodel, mlflow_model), signature=signature,
        input_example=input_example, predict=predict, pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements, metadata=metadata, code_paths=code_paths,
        conda_env=conda_env, extra_files=extra_files,
    )


log_model = make_log_model(save_model, "Gluon block")


# -- loading ---------------------------------------------------------------------------------
def _audit_symbol(file: Path) -> None:
    """The graph must be MXNet's JSON with an input named ``data``: checked before MXNet parses it,
    so a damaged or foreign file is a ModelFormatError, not an error from MXNet's C++ core."""
    try:
        graph = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"'{file}' is not an MXNet graph (invalid JSON: {exc}). Save the model again.") from None
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    if not isinstance(nodes, list) or not all(isinstance(n, dict) and isinstance(n.get("op"), str) for n in nodes):
        raise ModelFormatError(f"'{file}' is not an MXNet graph: it has no list of operator nodes. Save the model again.")
    if not any(n["op"] == "null" and n.get("name") == INPUT_NAME for n in nodes):
        raise ModelFormatError(
            f"'{file}' has no input named '{INPUT_NAME}': the gluon flavor loads blocks with one input, as "
            f"HybridBlock.export names it. Load a block with other inputs with mxnet.gluon.SymbolBlock.imports.")


def _read_block(model_dir: Path, conf: dict, ctx: Any = None, consent: Any = None) -> Any:
    from mlnb.models import trust

    consent = consent or trust.current()
    trust.add_code(model_dir, conf.get("code"), consent)
    data = trust.inside(model_dir, DATA_DIR, "the gluon flavor's data")
    symbol, params = data / SYMBOL_FILE, data / PARAMS_FILE
    for file in (symbol, params):
        if not file.is_file():
            raise ModelFormatError(f"The gluon flavor's '{DATA_DIR}/{file.name}' is missing from '{model_dir}'. "
                                   f"The model directory is incomplete; save the model again.")
    _audit_symbol(symbol)
    mx = _mxnet()
    try:   # SymbolBlock.imports, with the input typed so MXNet need not guess its dtype
        block = mx.gluon.SymbolBlock(mx.sym.load(str(symbol)), mx.sym.var(INPUT_NAME, dtype="float32"))
        block.collect_params().load(str(params), ctx=ctx if ctx is not None else mx.current_context(),
                                    cast_dtype=True, dtype_source="saved")
        return block
    except (mx.base.MXNetError, AssertionError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFormatError(
            f"MXNet {mx.__version__} cannot load the block in '{data}': {first}. The files are damaged or "
            f"were written by another MXNet (see the model's requirements.txt).") from None


def load_model(model_uri: str | os.PathLike, ctx: Any = None, dst_path: str | None = None, *,
               trust_code: bool | None = None) -> Any:
    """Load the Gluon block of a model (path, ``runs:/``, ``s3://``, ...) as a ``SymbolBlock`` on
    ``ctx`` (MXNet's current context, the CPU by default). Arguments in MLflow 2.x's order."""
    from mlnb.models.reading import read_model
    from mlnb.models.trust import resolve

    path, mlmodel = read_model(model_uri, dst_path)
    return _read_block(path, mlmodel.flavor(FLAVOR_NAME), ctx, resolve(trust_code))


class _GluonPyfunc:
    """The pyfunc face of a block, as MLflow 2.x's: a DataFrame goes in as one float32 array and the
    output comes back as a DataFrame (with the input's index); a numpy array gives a numpy array."""

    def __init__(self, block: Any) -> None:
        self.gluon_model = block

    def predict(self, data: Any, params: dict | None = None) -> Any:
        import numpy as np
        import pandas as pd

        mx = _mxnet()
        if not isinstance(data, (pd.DataFrame, np.ndarray)):
            raise InvalidParameterError(
                f"A Gluon model predicts on a pandas DataFrame or a numpy array, not a {type(data).__name__}.")
        values = data.to_numpy(dtype=np.float32) if isinstance(data, pd.DataFrame) else data
        out = self.gluon_model(mx.nd.array(values))   # float32, MXNet's default, as MLflow 2.x fed it
        if not isinstance(out, mx.nd.NDArray):
            raise InvalidParameterError(
                f"The block returned a {type(out).__name__}; the gluon flavor's pyfunc needs a single output array.")
        out = out.asnumpy()
        return pd.DataFrame(out, index=data.index) if isinstance(data, pd.DataFrame) else out

    def get_raw_model(self) -> Any:
        return self.gluon_model


def load_pyfunc(path: str, model_config: dict | None = None) -> _GluonPyfunc:
    """Loader-module entry point: ``path`` is the model directory (MLflow 2.x's pyfunc section names
    no ``data``)."""
    from mlnb.flavors.protocol import model_dir

    directory = model_dir(path)
    return _GluonPyfunc(_read_block(directory, Model.load(directory).flavor(FLAVOR_NAME)))


_load_pyfunc = load_pyfunc   # MLflow's loader-module entry point (the name MLflow calls)


__all__ = ["save_model", "log_model", "load_model", "load_pyfunc", "ENVIRONMENT"]
