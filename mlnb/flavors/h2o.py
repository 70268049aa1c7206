"""The H2O flavor: ``mlnb.h2o.save_model / log_model / load_model``.

Files and MLmodel keys are MLflow's, so MLflow loads these models and mlnb loads MLflow's:
``model.h2o/`` holds the model file H2O's ``download_model`` writes and ``h2o.yaml`` (the
``settings`` given at save, plus ``model_file``, ``full_file`` and ``model_dir``); MLmodel has
``h2o: {h2o_version, data, code}`` and ``loader_module: mlflow.h2o``.

An H2O model lives in a Java cluster, so loading uploads the file to a cluster: the one this
process is connected to, else the one ``settings["init"]`` describes (arguments of ``h2o.init``, as
in MLflow), else a private one mlnb starts on 127.0.0.1 at a free port with 1 GB of memory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from mlnb.errors import InvalidParameterError, ModelFormatError
from mlnb.flavors.protocol import make_log_model
from mlnb.models.layout import CondaEnv, ExtraFiles, Requirements, SignatureArg, write_model
from mlnb.models.mlmodel import PYFUNC, Model

FLAVOR_NAME = "h2o"
LOADER_MODULE = "mlflow.h2o"
DATA = "model.h2o"
SETTINGS_FILE = "h2o.yaml"
#: ``h2o.init`` arguments of the private cluster mlnb starts when none is connected or configured.
LOCAL_CLUSTER = {"ip": "127.0.0.1", "max_mem_size": "1G", "verbose": False}


def _check_settings(settings: Mapping[str, Any] | None) -> dict:
    if settings is None:
        return {}
    if not isinstance(settings, Mapping) or not isinstance(settings.get("init", {}), Mapping):
        raise InvalidParameterError(
            "settings must be a dict, with 'init' (if given) a dict of h2o.init arguments, "
            f"like settings={{'init': {{'url': 'http://127.0.0.1:54321'}}}}; got {settings!r}."
        )
    return dict(settings)


def save_model(
    h2o_model: Any,
    path: str | os.PathLike,
    settings: Mapping[str, Any] | None = None,
    signature: SignatureArg = None,
    input_example: Any = None,
    pip_requirements: Requirements = None,
    extra_pip_requirements: Requirements = None,
    metadata: dict | None = None,
    code_paths: Sequence[str] | None = None,
    conda_env: CondaEnv = None,
    extra_files: ExtraFiles = None,
    mlmodel: Model | None = None,
) -> Model:
    """Save a trained H2O model (any ``H2OEstimator``) at ``path``.

    ``settings`` is stored in ``model.h2o/h2o.yaml``; its ``init`` entry holds the ``h2o.init``
    arguments a loader uses when no cluster is connected. Returns the written Model.
    """
    import h2o
    from h2o.model import ModelBase

    if not isinstance(h2o_model, ModelBase):
        raise InvalidParameterError(
            f"h2o_model must be a trained H2O model (an H2OEstimator), got {type(h2o_model).__name__}. "
            f"Train it with an H2O estimator first, e.g. H2OGradientBoostingEstimator().train(...)."
        )
    settings = _check_settings(settings)
    target = Path(path).expanduser().absolute() / DATA

    def write_payload(model_dir: Path, code: str | None):
        import yaml

        data_dir = model_dir / DATA
        data_dir.mkdir()
        model_file = Path(h2o.download_model(h2o_model, path=str(data_dir))).name
        # MLflow records the final location too; its loader reads only model_file.
        saved = {**settings, "model_file": model_file, "full_file": str(target / model_file),
                 "model_dir": str(target)}
        (data_dir / SETTINGS_FILE).write_text(yaml.safe_dump(saved))
        flavor = {"h2o_version": h2o.__version__, "data": DATA, "code": code}
        pyfunc = {"loader_module": LOADER_MODULE, "data": DATA}
        if code:
            pyfunc["code"] = code
        return {PYFUNC: pyfunc, FLAVOR_NAME: flavor}, {"h2o", "pandas"}

    return write_model(
        path, write_payload, mlmodel=mlmodel, signature=signature, input_example=input_example,
        predict=_H2OPyfunc(h2o_model).predict, pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements, metadata=metadata, code_paths=code_paths,
        conda_env=conda_env, extra_files=extra_files,
    )


log_model = make_log_model(save_model, "model")


def _free_port() -> int:
    """A port H2O can use: H2O listens on it and on the next one, so both must be free."""
    import socket

    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def _connect(init: Mapping[str, Any] | None) -> None:
    """Make sure this process talks to an H2O cluster (see the module docstring for which)."""
    import h2o

    conn = h2o.connection()
    if conn is None or not conn.connected:
        h2o.init(**(init or {**LOCAL_CLUSTER, "port": _free_port()}))
    h2o.no_progress()


#: ``h2o.init`` arguments a model's ``h2o.yaml`` may give by itself: where the cluster is and its
#: size. Others (``extra_classpath``, ``jvm_custom_args``, ``ice_root``, ``log_dir``...) start a JVM
#: with code or files the model chooses, so they need ``trust_code=True``.
SAFE_INIT_KEYS = frozenset({"url", "ip", "port", "name", "https", "insecure", "nthreads", "max_mem_size",
                            "min_mem_size", "strict_version_check", "verbose", "bind_to_localhost"})


def _read_model(data_dir: Path, consent: Any = None) -> Any:
    import h2o

    from mlnb.models import trust
    from mlnb.models.mlmodel import safe_yaml

    consent = consent or trust.current()
    settings_file = data_dir / SETTINGS_FILE
    if not settings_file.is_file():
        raise ModelFormatError(
            f"'{data_dir}' is not an H2O model directory: '{SETTINGS_FILE}' is missing. Point to the "
            f"directory that save_model wrote."
        )
    settings = safe_yaml(settings_file.read_text(encoding="utf-8"), str(settings_file)) or {}
    if not isinstance(settings, dict) or not isinstance(settings.get("init") or {}, dict):
        raise ModelFormatError(f"'{settings_file}' must be a mapping whose 'init' is a mapping.")
    if not settings.get("model_file"):
        raise ModelFormatError(f"'{settings_file}' names no model_file.")
    model_file = trust.inside(data_dir, str(settings["model_file"]), f"the model_file of '{settings_file.name}'")
    if not model_file.is_file():
        raise ModelFormatError(f"'{settings_file}' names model file '{model_file.name}', which is missing.")
    unsafe = sorted(k for k in (settings.get("init") or {}) if k not in SAFE_INIT_KEYS)
    if unsafe:
        trust.require_code(consent, f"start H2O with the model's h2o.init arguments {unsafe}")
    _connect(settings.get("init"))
    return h2o.upload_model(str(model_file))


def load_model(model_uri: str | os.PathLike, dst_path: str | None = None, *, trust_code: bool | None = None) -> Any:
    """Load the H2O model of a model (path, ``runs:/``, ``s3://``, ...) into the H2O cluster.
    ``trust_code=True`` is needed for a ``code/`` directory or ``h2o.init`` arguments beyond
    :data:`SAFE_INIT_KEYS`."""
    from mlnb.models import trust
    from mlnb.models.reading import read_model

    path, mlmodel = read_model(model_uri, dst_path)
    conf = mlmodel.flavor(FLAVOR_NAME)
    consent = trust.resolve(trust_code)
    trust.add_code(path, conf.get("code"), consent)
    data_dir = trust.inside(path, conf.get("data") or DATA, "the h2o flavor's data")
    if not data_dir.is_dir():
        raise ModelFormatError(f"The h2o flavor names '{data_dir.name}', which is missing from '{path}'.")
    return _read_model(data_dir, consent)


class _H2OPyfunc:
    """The pyfunc face of an H2O model: predicts through an H2OFrame, returns a pandas DataFrame."""

    def __init__(self, model: Any) -> None:
        self.h2o_model = model

    def predict(self, data: Any, params: dict | None = None) -> Any:
        import io

        import h2o
        import pandas as pd

        data = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
        frames = [h2o.H2OFrame(data)]
        try:
            frames.append(self.h2o_model.predict(frames[0]))
            # what as_data_frame() does, without its warning about a faster optional path
            predicted = pd.read_csv(io.StringIO(frames[1].get_frame_data()), low_memory=False, skip_blank_lines=False)
        finally:  # the cluster keeps frames until told; a long-lived server would fill up
            h2o.remove(frames)
        predicted.index = data.index
        return predicted

    def get_raw_model(self) -> Any:
        return self.h2o_model


def load_pyfunc(path: str, model_config: dict | None = None) -> _H2OPyfunc:
    from mlnb.models import trust

    data_dir = Path(path)
    if not data_dir.is_dir():
        raise ModelFormatError(f"The h2o model directory '{data_dir}' is missing.")
    if (data_dir.parent / "MLmodel").is_file():
        trust.add_code(data_dir.parent, Model.load(data_dir.parent).flavor(FLAVOR_NAME).get("code"), trust.current())
    return _H2OPyfunc(_read_model(data_dir))


_load_pyfunc = load_pyfunc   # MLflow's loader-module entry point (the name MLflow calls)


__all__ = ["save_model", "log_model", "load_model", "load_pyfunc", "LOCAL_CLUSTER"]
