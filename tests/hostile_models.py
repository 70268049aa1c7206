"""A generated corpus of hostile model directories, one per trick, for every flavor.

Each :class:`Case` builds a model directory that would write ``marker`` if mlnb ran what the model
asks for: a pickle whose ``__reduce__`` opens the marker, a ``code/`` package shadowing a library,
a skops node calling a re-exported ``Popen`` or ``numpy.memmap``, a Keras ``Lambda``, onnxruntime
told to write its optimized model to the marker, ... Cases whose trick is a read (ONNX external data
outside the model) or a parser attack (YAML) have no marker to write but must still be refused.

``refusal`` is what the error message must name, ``consent`` how it must say to consent (or that no
consent exists), ``env`` the environment the case runs under (pickles are refused only with MLflow's
switch set to false, as in MLflow 3.17.2).
"""

from __future__ import annotations

import io
import json
import pickle
import shutil
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from mlnb.errors import ModelFormatError, UnsafeModelError, UntrustedTypesError

NO_PICKLE = {"MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false"}
CONSENT_CODE = r"trust_code=True to load_model, or set MLNB_TRUST_MODEL_CODE=true"
CONSENT_PICKLE = r"allow_pickle=True to load_model, or set MLNB_ALLOW_PICKLE=true"
CONSENT_TYPES = r"skops_trusted_types=\["
NO_CONSENT = r"no consent allows it"


@dataclass
class Case:
    name: str
    flavor: str                       # the mlnb flavor module whose load_model gets the case
    build: Callable[[Path, Path], Path]
    error: type
    refusal: str                      # regex the message must match: what was refused
    consent: str                      # regex: how to consent, or NO_CONSENT
    env: dict = field(default_factory=dict)
    library: str | None = None        # a library the case needs (all are installed here)
    flavor_reads_it: bool = True      # False: only pyfunc acts on the trick (loader_module, session options)


class _Opens:
    """Unpickling this opens (creates) ``path``: the smallest pickle that runs code."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def hostile_pickle(marker: Path) -> bytes:
    return pickle.dumps(_Opens(marker))


def touch_source(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()\n"


# -- bases: legitimate models to corrupt -----------------------------------------------------
def sklearn_model(path: Path, fmt: str = "skops", **kwargs) -> Path:
    from sklearn.linear_model import LogisticRegression

    import mlnb.sklearn

    X = [[0.0, 1.0], [1.0, 0.0], [0.5, 0.2], [0.1, 0.9]]
    model = LogisticRegression().fit(X, [0, 1, 1, 0])
    mlnb.sklearn.save_model(model, path, serialization_format=fmt, **kwargs)
    return path


def _rewrite_mlmodel(path: Path, change: Callable[[dict], None]) -> None:
    data = yaml.safe_load((path / "MLmodel").read_text())
    change(data)
    (path / "MLmodel").write_text(yaml.safe_dump(data))


def _write_mlmodel(path: Path, flavors: dict) -> Path:
    path.mkdir(parents=True)
    (path / "MLmodel").write_text(yaml.safe_dump({"flavors": flavors, "mlflow_version": "3.17.2"}))
    return path


# -- MLmodel and directory tricks ------------------------------------------------------------
def yaml_python_tag(path: Path, marker: Path) -> Path:
    sklearn_model(path)
    text = (path / "MLmodel").read_text()
    (path / "MLmodel").write_text(
        text + f"metadata: !!python/object/apply:os.system [\"touch {marker}\"]\n")
    return path


def yaml_nested_deep(path: Path, marker: Path) -> Path:
    sklearn_model(path)
    (path / "MLmodel").write_text((path / "MLmodel").read_text() + "metadata: " + "[" * 100_000 + "]" * 100_000 + "\n")
    return path


def yaml_alias_bomb(path: Path, marker: Path) -> Path:
    sklearn_model(path)
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    text = (path / "MLmodel").read_text() + "metadata:\n" + "".join(f"  {line}\n" for line in lines)
    (path / "MLmodel").write_text(text)
    return path


def _code_module(path: Path, relative: str, marker: Path) -> None:
    file = path / relative
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(touch_source(marker))


def code_shadows_skops(path: Path, marker: Path) -> Path:
    sklearn_model(path)
    _code_module(path, "code/skops/__init__.py", marker)
    _code_module(path, "code/skops/io/__init__.py", marker)
    _rewrite_mlmodel(path, lambda d: [d["flavors"][f].update(code="code") for f in ("sklearn", "python_function")])
    return path


def code_absolute(path: Path, marker: Path) -> Path:
    sklearn_model(path, fmt="cloudpickle")
    outside = path.parent / f"{path.name}-outside"
    _code_module(outside, "skops/__init__.py", marker)
    _rewrite_mlmodel(path, lambda d: [d["flavors"][f].update(code=str(outside)) for f in ("sklearn", "python_function")])
    return path


def code_dotdot(path: Path, marker: Path) -> Path:
    sklearn_model(path)
    outside = path.parent / f"{path.name}-outside"
    _code_module(outside, "skops/__init__.py", marker)
    _rewrite_mlmodel(path, lambda d: [d["flavors"][f].update(code=f"../{outside.name}") for f in ("sklearn", "python_function")])
    return path


def symlink_outside(path: Path, marker: Path) -> Path:
    sklearn_model(path, fmt="pickle")
    outside = path.parent / f"{path.name}-outside.pkl"
    outside.write_bytes(hostile_pickle(marker))
    (path / "model.pkl").unlink()
    (path / "model.pkl").symlink_to(outside)
    return path


def loader_module_in_code(path: Path, marker: Path) -> Path:
    sklearn_model(path)
    _code_module(path, "code/evil_loader.py", marker)
    _rewrite_mlmodel(path, lambda d: d["flavors"]["python_function"].update(loader_module="evil_loader", code="code"))
    return path


def loader_module_installed(path: Path, marker: Path) -> Path:
    """A loader module that exists in the environment but is no flavor: importing it is code."""
    sklearn_model(path)
    _rewrite_mlmodel(path, lambda d: d["flavors"]["python_function"].update(loader_module="this"))
    return path


# -- skops -----------------------------------------------------------------------------------
def skops_file(root: dict) -> bytes:
    import skops

    root.update(protocol=2, _skops_version=skops.__version__)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("schema.json", json.dumps(root))
    return buf.getvalue()


def _skops_args(args: tuple) -> dict:
    import skops.io

    return json.loads(zipfile.ZipFile(io.BytesIO(skops.io.dumps(args))).read("schema.json"))


def _skops_case(path: Path, node: dict) -> Path:
    sklearn_model(path)
    (path / "model.skops").write_bytes(skops_file(node))
    name = f"{node['__module__']}.{node['__class__']}"
    # the manifest claims the type is trusted: mlnb must not take its word
    _rewrite_mlmodel(path, lambda d: d["flavors"]["sklearn"].update(skops_trusted_types=[name]))
    return path


def skops_reexported_popen(path: Path, marker: Path) -> Path:
    return _skops_case(path, {
        "__module__": "numpy.distutils.fcompiler.gnu", "__class__": "Popen", "__loader__": "ConstructorFromReduceNode",
        "content": _skops_args((["sh", "-c", f"touch {marker}"],)),
    })


def skops_memmap(path: Path, marker: Path) -> Path:
    return _skops_case(path, {
        "__module__": "numpy", "__class__": "memmap", "__loader__": "ConstructorFromReduceNode",
        "content": _skops_args((str(marker), "uint8", "w+", 0, (1,))),
    })


def skops_not_a_zip(path: Path, marker: Path) -> Path:
    sklearn_model(path)
    (path / "model.skops").write_bytes(b"PK\x03\x04 not really a zip")
    return path


# -- pickles ---------------------------------------------------------------------------------
def sklearn_pickle(fmt: str):
    def build(path: Path, marker: Path) -> Path:
        sklearn_model(path, fmt=fmt)
        (path / "model.pkl").write_bytes(hostile_pickle(marker))
        return path
    build.__name__ = f"sklearn_{fmt}"
    return build


class _Custom:
    def predict(self, context, model_input, params=None):
        return model_input


def pyfunc_pickle(path: Path, marker: Path) -> Path:
    import mlnb.pyfunc

    mlnb.pyfunc.save_model(path, python_model=_Custom())
    (path / "python_model.pkl").write_bytes(hostile_pickle(marker))
    return path


def pytorch_pickle(path: Path, marker: Path) -> Path:
    _write_mlmodel(path, {
        "pytorch": {"model_data": "data", "pytorch_version": "2.13.0"},
        "python_function": {"loader_module": "mlflow.pytorch", "data": "data"},
    })
    (path / "data").mkdir()
    (path / "data" / "model.pth").write_bytes(hostile_pickle(marker))
    (path / "data" / "pickle_module_info.txt").write_text("mlflow.pytorch.pickle_module")
    return path


def _pt2_model(path: Path) -> Path:
    import numpy as np
    import torch

    import mlnb.pytorch

    torch.manual_seed(0)
    mlnb.pytorch.save_model(torch.nn.Linear(3, 1), path, serialization_format="pt2",
                            input_example=np.zeros((2, 3), dtype=np.float32))
    return path / "data" / "model.pt2"


def _rewrite_archive(archive: Path, change: Callable[[str, bytes], bytes]) -> None:
    """Rewrite every record of a zip archive through ``change(name, content)``."""
    with zipfile.ZipFile(archive) as z:
        records = [(name, change(name, z.read(name))) for name in z.namelist()]
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        for name, content in records:
            z.writestr(name, content)


def pytorch_pt2_record(path: Path, marker: Path) -> Path:
    """The archive's sample inputs replaced by a pickle: torch.export.load unpickles them."""
    archive = _pt2_model(path)
    _rewrite_archive(archive, lambda name, content: hostile_pickle(marker)
                     if name.endswith("/data/sample_inputs/model.pt") else content)
    return path


def pytorch_pt2_pickled_weight(path: Path, marker: Path) -> Path:
    """A weight the archive's config declares pickled: torch.export.load unpickles it unrestricted."""
    archive = _pt2_model(path)

    def change(name: str, content: bytes) -> bytes:
        if name.endswith("/data/weights/weight_0"):
            return hostile_pickle(marker)
        if name.endswith("/data/weights/model_weights_config.json"):
            config = json.loads(content)
            for entry in config["config"].values():
                if entry["path_name"] == "weight_0":
                    entry["use_pickle"] = True
            return json.dumps(config).encode()
        return content

    _rewrite_archive(archive, change)
    return path


# -- other flavors ---------------------------------------------------------------------------
def keras_lambda(path: Path, marker: Path) -> Path:
    import keras

    import mlnb.keras

    touch = f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]"
    model = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(eval(touch))])
    mlnb.keras.save_model(model, path)
    marker.unlink(missing_ok=True)  # building the model ran the lambda once, at save
    return path


def _onnx_model(external: str | None = None):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    w = helper.make_tensor("w", TensorProto.FLOAT, [2], [1.0, 2.0])
    if external is not None:
        w.ClearField("float_data")
        w.data_location = TensorProto.EXTERNAL
        w.external_data.add(key="location", value=external)
        w.external_data.add(key="length", value="8")
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], [w])
    return onnx.helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def _onnx_dir(path: Path, model, conf: dict | None = None) -> Path:
    import onnx

    _write_mlmodel(path, {
        "onnx": {"onnx_version": onnx.__version__, "data": "model.onnx", "providers": ["CPUExecutionProvider"],
                 **(conf or {})},
        "python_function": {"loader_module": "mlflow.onnx", "data": "model.onnx"},
    })
    (path / "model.onnx").write_bytes(model.SerializeToString())
    return path


def onnx_external_traversal(path: Path, marker: Path) -> Path:
    secret = path.parent / f"{path.name}-secret.bin"
    secret.write_bytes(b"\x00" * 8)
    return _onnx_dir(path, _onnx_model(external=f"../{secret.name}"))


def onnx_writes_optimized_model(path: Path, marker: Path) -> Path:
    return _onnx_dir(path, _onnx_model(), {"onnx_session_options": {"optimized_model_filepath": str(marker)}})


def xgboost_shadowing_code(path: Path, marker: Path) -> Path:
    import numpy as np
    import xgboost

    import mlnb.xgboost

    booster = xgboost.train({"max_depth": 1}, xgboost.DMatrix(np.eye(4), label=[0, 1, 0, 1]), num_boost_round=1)
    mlnb.xgboost.save_model(booster, path)
    _code_module(path, "code/xgboost/__init__.py", marker)
    _rewrite_mlmodel(path, lambda d: [d["flavors"][f].update(code="code") for f in ("xgboost", "python_function")])
    return path


def h2o_jvm_arguments(path: Path, marker: Path) -> Path:
    _write_mlmodel(path, {
        "h2o": {"h2o_version": "3.46.0", "data": "model.h2o"},
        "python_function": {"loader_module": "mlflow.h2o", "data": "model.h2o"},
    })
    (path / "model.h2o").mkdir()
    (path / "model.h2o" / "model.bin").write_bytes(b"not a model")
    (path / "model.h2o" / "h2o.yaml").write_text(yaml.safe_dump({
        "model_file": "model.bin",
        "init": {"ice_root": str(marker), "jvm_custom_args": [f"-XX:OnOutOfMemoryError=touch {marker}"]},
    }))
    return path


def spark_foreign_stage(path: Path, marker: Path) -> Path:
    _write_mlmodel(path, {
        "spark": {"pyspark_version": "4.0.0", "model_data": "sparkml", "model_class": "pyspark.ml.pipeline.PipelineModel"},
        "python_function": {"loader_module": "mlflow.spark", "data": "sparkml"},
    })
    meta = path / "sparkml" / "metadata"
    meta.mkdir(parents=True)
    (meta / "part-00000").write_text(json.dumps({"class": "evil_stage.Evil", "paramMap": {}}) + "\n")
    return path


CASES = [
    Case("yaml_python_tag", "sklearn", yaml_python_tag, ModelFormatError, r"YAML tag .*python/object", NO_CONSENT),
    Case("yaml_nested_100k", "sklearn", yaml_nested_deep, ModelFormatError, r"nests more than", NO_CONSENT),
    Case("yaml_alias_bomb", "sklearn", yaml_alias_bomb, ModelFormatError, r"alias bomb", NO_CONSENT),
    Case("code_shadows_skops", "sklearn", code_shadows_skops, UnsafeModelError, r"code directory 'code'", CONSENT_CODE),
    Case("code_absolute", "sklearn", code_absolute, ModelFormatError, r"outside the model directory", NO_CONSENT),
    Case("code_dotdot", "sklearn", code_dotdot, ModelFormatError, r"outside the model directory", NO_CONSENT),
    Case("symlink_outside", "sklearn", symlink_outside, ModelFormatError, r"symlink", NO_CONSENT),
    Case("loader_module_in_code", "sklearn", loader_module_in_code, UnsafeModelError, r"loader module 'evil_loader'",
         CONSENT_CODE, flavor_reads_it=False),
    Case("loader_module_installed", "sklearn", loader_module_installed, UnsafeModelError, r"loader module 'this'",
         CONSENT_CODE, flavor_reads_it=False),
    Case("skops_reexported_popen", "sklearn", skops_reexported_popen, UntrustedTypesError,
         r"numpy\.distutils\.fcompiler\.gnu\.Popen", CONSENT_TYPES),
    Case("skops_memmap", "sklearn", skops_memmap, UntrustedTypesError, r"numpy\.memmap", CONSENT_TYPES),
    Case("skops_not_a_zip", "sklearn", skops_not_a_zip, ModelFormatError, r"not a readable skops file",
         r"save the model again"),
    Case("sklearn_pickle", "sklearn", sklearn_pickle("pickle"), UnsafeModelError, r"model\.pkl", CONSENT_PICKLE,
         NO_PICKLE),
    Case("sklearn_cloudpickle", "sklearn", sklearn_pickle("cloudpickle"), UnsafeModelError, r"model\.pkl",
         CONSENT_PICKLE, NO_PICKLE),
    Case("pyfunc_pickle", "pyfunc", pyfunc_pickle, UnsafeModelError, r"python_model\.pkl", CONSENT_PICKLE, NO_PICKLE),
    Case("pytorch_pickle", "pytorch", pytorch_pickle, UnsafeModelError, r"model\.pth", CONSENT_PICKLE, NO_PICKLE,
         library="torch"),
    Case("pytorch_pt2_record", "pytorch", pytorch_pt2_record, UntrustedTypesError, r"sample_inputs/model\.pt",
         CONSENT_CODE, library="torch"),
    Case("pytorch_pt2_pickled_weight", "pytorch", pytorch_pt2_pickled_weight, UntrustedTypesError,
         r"weights/weight_0", CONSENT_CODE, library="torch"),
    Case("keras_lambda", "keras", keras_lambda, UnsafeModelError, r"safe mode", CONSENT_CODE, library="keras"),
    Case("onnx_external_traversal", "onnx", onnx_external_traversal, ModelFormatError, r"external data of tensor 'w'",
         NO_CONSENT, library="onnx"),
    Case("onnx_writes_optimized_model", "onnx", onnx_writes_optimized_model, UnsafeModelError,
         r"optimized_model_filepath", CONSENT_CODE, library="onnx", flavor_reads_it=False),
    Case("xgboost_shadowing_code", "xgboost", xgboost_shadowing_code, UnsafeModelError, r"code directory 'code'",
         CONSENT_CODE, library="xgboost"),
    Case("h2o_jvm_arguments", "h2o", h2o_jvm_arguments, UnsafeModelError, r"h2o\.init arguments", CONSENT_CODE,
         library="h2o"),
    Case("spark_foreign_stage", "spark", spark_foreign_stage, UnsafeModelError, r"evil_stage\.Evil", CONSENT_CODE,
         library="pyspark"),
]


def build(case: Case, root: Path) -> tuple[Path, Path]:
    """Build ``case`` under ``root``: (model directory, marker path). The marker does not exist."""
    root.mkdir(parents=True, exist_ok=True)
    marker = root / "marker"
    path = case.build(root / case.name, marker)
    if marker.exists():
        shutil.rmtree(marker) if marker.is_dir() else marker.unlink()
    return path, marker
