"""MLeap bundles without a JVM: ``mlnb.mleap.save_model / log_model / load_model``, ``load_bundle``.

The layout is MLflow 2.x's ``mleap`` flavor: the bundle is a directory at ``mleap/model`` (``bundle.json``
plus ``root/``) and MLmodel has ``mleap: {mleap_version, model_data: mleap/model}``. mlnb writes the
bundle itself from a fitted Spark pipeline (:mod:`mlnb.flavors.mleap_spark`) and scores it in NumPy
(:mod:`mlnb.flavors.mleap_ops`), so loading and predicting need neither Spark, Java nor MLeap's jars.
mlnb adds a ``python_function`` section (``loader_module: mlnb.mleap``), so ``mlnb.pyfunc.load_model``,
``mlnb models serve`` and MLflow's pyfunc loader (where mlnb is installed) score the model. A bundle is
data: loading it runs no code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlnb.errors import ModelFormatError
from mlnb.flavors.mleap_spark import FLAVOR_NAME, MODEL_DATA
from mlnb.flavors.protocol import make_log_model, model_dir
from mlnb.models.layout import CondaEnv, Requirements, SignatureArg, write_model
from mlnb.models.mlmodel import PYFUNC, Model

LOADER_MODULE = "mlnb.mleap"


class MLeapModel:
    """A loaded MLeap bundle: ``transform`` adds its columns to a DataFrame, ``predict`` returns the
    answer column (the last op's prediction, or its output) as a NumPy array."""

    def __init__(self, location: str | os.PathLike) -> None:
        from mlnb.flavors import mleap_bundle as fmt
        from mlnb.flavors import mleap_ops as ops

        source = fmt.BundleSource(location)
        try:
            self.info = fmt.read_info(source)
            root = fmt.read_node(source, fmt.ROOT)
            self.root = ops.build(root)
        finally:
            source.close()
        self.location = Path(location)
        self.output_column = self.root.result

    @property
    def name(self) -> str:
        return str(self.info.get("name", ""))

    @property
    def ops(self) -> list[str]:
        """The ops of the bundle, in scoring order."""
        stages = self.root.walk() if hasattr(self.root, "walk") else [self.root]
        return [stage.node.op for stage in stages]

    def _run(self, data: Any):
        import pandas as pd

        from mlnb.flavors.mleap_ops import Frame

        frame = Frame(data if isinstance(data, pd.DataFrame) else pd.DataFrame(data))
        self.root.transform(frame)
        return frame

    def transform(self, data: Any):
        """``data`` (a pandas DataFrame) with every column the bundle adds; vectors as arrays in cells.
        Rows a ``handleInvalid="skip"`` string indexer drops are left out, as Spark leaves them out."""
        frame = self._run(data)
        out = (frame.data if frame.rows is None else frame.data.iloc[frame.rows]).copy()
        for name, values in frame.columns.items():
            if name not in frame.data.columns:
                out[name] = list(values) if values.ndim > 1 else values
        return out

    def predict(self, data: Any, params: dict | None = None):
        frame = self._run(data)
        if self.output_column is None or self.output_column not in frame.columns:
            raise ModelFormatError(f"The MLeap bundle '{self.location}' produces no output column.")
        return frame.columns[self.output_column]

    def __repr__(self) -> str:
        return f"MLeapModel({self.name!r}, ops={self.ops})"


def load_bundle(path: str | os.PathLike) -> MLeapModel:
    """Load a bare MLeap bundle (a ``.zip`` or a directory holding ``bundle.json``) for scoring."""
    return MLeapModel(path)


def save_bundle(spark_model: Any, path: str | os.PathLike, sample_input: Any = None) -> Path:
    """Write a fitted Spark pipeline as a bare MLeap bundle: a zip when ``path`` ends with ``.zip``,
    else a directory. An existing ``path`` is refused; a failed write leaves nothing behind."""
    import tempfile

    from mlnb.errors import ModelExistsError
    from mlnb.flavors import mleap_bundle as fmt
    from mlnb.flavors.mleap_spark import bundle_files
    from mlnb.models.layout import staged_dir

    target = Path(path).expanduser().absolute()
    files = bundle_files(spark_model, sample_input)
    if target.suffix != ".zip":
        with staged_dir(target) as tmp:
            fmt.write_files(files, tmp)
        return target
    if target.exists():
        raise ModelExistsError(f"'{target}' already exists. Choose a new path; mlnb never overwrites a bundle.")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        os.unlink(tmp)
        fmt.write_files(files, Path(tmp), zipped=True)
        os.link(tmp, target)   # fails, rather than replaces, if the target appeared meanwhile
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def save_model(
    spark_model: Any,
    path: str | os.PathLike,
    *,
    sample_input: Any = None,
    signature: SignatureArg = None,
    input_example: Any = None,
    pip_requirements: Requirements = None,
    extra_pip_requirements: Requirements = None,
    metadata: dict | None = None,
    conda_env: CondaEnv = None,
    mlmodel: Model | None = None,
) -> Model:
    """Save a fitted Spark pipeline (a ``PipelineModel`` or one Transformer) as an MLeap bundle model.

    ``sample_input``: a Spark or pandas DataFrame the pipeline takes, as MLflow asked for; mlnb reads
    only the sizes of its vector columns from it (it may be omitted when the input is all scalars).
    Needs the Spark session the model was fitted in; loading the model needs neither Spark nor Java.
    """
    from mlnb.flavors.mleap_spark import write_flavor

    written: list[Path] = []

    def write_payload(target: Path, code: str | None):
        flavor = write_flavor(target, spark_model, sample_input)
        written.append(target / MODEL_DATA)
        return {PYFUNC: {"loader_module": LOADER_MODULE}, FLAVOR_NAME: flavor}, {"mlnb", "numpy", "pandas"}

    def predict(example: Any):   # scores the bundle just written, as a loaded model will
        import pandas as pd

        out = MLeapModel(written[-1]).predict(example)
        return pd.Series(out) if out.ndim == 1 else out

    return write_model(
        path, write_payload, mlmodel=mlmodel, signature=signature, input_example=input_example,
        predict=predict if input_example is not None and signature is None else None,
        pip_requirements=pip_requirements, extra_pip_requirements=extra_pip_requirements,
        metadata=metadata, conda_env=conda_env,
    )


log_model = make_log_model(save_model, "Spark pipeline as an MLeap bundle")


def _read(path: Path, mlmodel: Model) -> MLeapModel:
    from mlnb.models import trust

    if FLAVOR_NAME not in mlmodel.flavors:
        raise ModelFormatError(f"'{path}' has no '{FLAVOR_NAME}' flavor; its flavors are: "
                               f"{', '.join(mlmodel.flavors)}. Load it with its own flavor.")
    conf = mlmodel.flavor(FLAVOR_NAME)
    data = trust.inside(path, conf.get("model_data") or MODEL_DATA, "the mleap flavor's model_data")
    if not data.exists():
        raise ModelFormatError(f"The mleap flavor names '{conf.get('model_data') or MODEL_DATA}', which is missing "
                               f"from '{path}'. The model directory is incomplete: save the model again.")
    return MLeapModel(data)


def load_model(model_uri: str | os.PathLike, dst_path: str | None = None) -> MLeapModel:
    """Load the MLeap bundle of a model (path, ``runs:/``, ``models:/``, ...) for scoring in NumPy.
    Reads the layout MLflow 2.x wrote (``mlflow.mleap`` and ``mlflow.spark`` with ``sample_input``)."""
    from mlnb.models.reading import read_model

    path, mlmodel = read_model(model_uri, dst_path)
    return _read(path, mlmodel)


class _MLeapPyfunc:
    """The pyfunc face: a pandas DataFrame in, the bundle's answer column out."""

    def __init__(self, model: MLeapModel) -> None:
        self.model = model

    def predict(self, data: Any, params: dict | None = None) -> Any:
        return self.model.predict(data)

    def get_raw_model(self) -> MLeapModel:
        return self.model


def load_pyfunc(path: str, model_config: dict | None = None) -> _MLeapPyfunc:
    directory = model_dir(path)
    return _MLeapPyfunc(_read(directory, Model.load(directory)))


_load_pyfunc = load_pyfunc   # MLflow's loader-module entry point (the name MLflow calls)


__all__ = ["save_model", "log_model", "load_model", "load_pyfunc", "load_bundle", "save_bundle", "MLeapModel"]
