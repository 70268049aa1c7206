"""The statsmodels flavor: ``mlnb.statsmodels.save_model / log_model / load_model``.

Files and MLmodel keys are MLflow's (``loader_module: mlflow.statsmodels``; the fitted results in
``model.statsmodels``, flavor keys ``statsmodels_version``, ``data``, ``code``), so MLflow loads
these models and mlnb loads MLflow's.

Trust policy: statsmodels saves results with pickle, so loading one runs code from the file. It
follows the pickle policy (``allow_pickle`` / ``MLNB_ALLOW_PICKLE`` / MLflow's
``MLFLOW_ALLOW_PICKLE_DESERIALIZATION``; see ``mlnb.models.trust``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from mlnb.errors import InvalidParameterError, ModelFormatError, SchemaError
from mlnb.flavors.protocol import NativePyfunc, make_autolog, make_log_model, pyfunc_flavor
from mlnb.models.layout import CondaEnv, ExtraFiles, Requirements, SignatureArg, write_model
from mlnb.models.mlmodel import PYFUNC, Model

FLAVOR_NAME = "statsmodels"
LOADER_MODULE = "mlflow.statsmodels"
DATA_FILE = "model.statsmodels"


def _is_results(model: Any) -> bool:
    from statsmodels.base.model import Results
    from statsmodels.base.wrapper import ResultsWrapper

    return isinstance(model, (Results, ResultsWrapper))


def save_model(
    statsmodels_model: Any,
    path: str | os.PathLike,
    remove_data: bool = False,
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
    """Save fitted statsmodels results (what ``model.fit()`` returns) at ``path``.

    ``remove_data=True`` drops the training data from the saved results (statsmodels'
    ``remove_data``), as MLflow's does. Returns the written Model.
    """
    import statsmodels

    if not _is_results(statsmodels_model):
        hint = " Fit it first and save what fit() returns." if hasattr(statsmodels_model, "fit") else ""
        raise InvalidParameterError(
            f"statsmodels_model must be fitted statsmodels results (what model.fit() returns), got "
            f"{type(statsmodels_model).__name__}.{hint}")

    def write_payload(model_dir: Path, code: str | None):
        statsmodels_model.save(str(model_dir / DATA_FILE), remove_data)
        flavor = {"statsmodels_version": statsmodels.__version__, "data": DATA_FILE, "code": code}
        pyfunc = {"loader_module": LOADER_MODULE, "data": DATA_FILE}
        if code:
            pyfunc["code"] = code
        return {PYFUNC: pyfunc, FLAVOR_NAME: flavor}, {"statsmodels", "numpy", "scipy", "pandas"}

    return write_model(
        path, write_payload, mlmodel=mlmodel, signature=signature, input_example=input_example,
        predict=_StatsmodelsPyfunc(statsmodels_model).predict, pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements, metadata=metadata, code_paths=code_paths,
        conda_env=conda_env, extra_files=extra_files,
    )


log_model = make_log_model(save_model, "fitted results")


def _read_model(model_dir: Path, conf: dict, consent: Any = None) -> Any:
    from mlnb.models import trust

    consent = consent or trust.current()
    file = trust.inside(model_dir, conf.get("data") or DATA_FILE, "the statsmodels flavor's data")
    trust.require_pickle(consent, f"'{file}' (statsmodels results are pickled)")
    trust.add_code(model_dir, conf.get("code"), consent, pickled=True)
    if not file.is_file():
        raise ModelFormatError(f"The statsmodels flavor names '{file.name}', which is missing from '{model_dir}'.")
    import pickle

    from statsmodels.iolib.smpickle import load_pickle

    try:
        return load_pickle(str(file))
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise ModelFormatError(
            f"statsmodels cannot read '{file}' ({type(exc).__name__}: {exc}). The file is damaged or was "
            f"written by another statsmodels version; install the version in its requirements.txt.") from None


def load_model(model_uri: str | os.PathLike, dst_path: str | None = None, *, trust_code: bool | None = None,
               allow_pickle: bool | None = None) -> Any:
    """Load the fitted statsmodels results of a model (path, ``runs:/``, ``s3://``, ...). The file is a
    pickle: it loads only when pickles are allowed (``allow_pickle``; see ``mlnb.models.trust``)."""
    from mlnb.models.reading import read_model
    from mlnb.models.trust import resolve

    path, mlmodel = read_model(model_uri, dst_path)
    return _read_model(path, mlmodel.flavor(FLAVOR_NAME), resolve(trust_code, allow_pickle))


class _StatsmodelsPyfunc(NativePyfunc):
    """The pyfunc face of statsmodels results: ``predict`` on the input; a time-series model takes
    one row with ``start`` and ``end`` columns, as MLflow's does."""

    def predict(self, data: Any, params: dict | None = None) -> Any:
        from statsmodels.tsa.base.tsa_model import TimeSeriesModel

        if isinstance(self.model.model, TimeSeriesModel):
            columns = getattr(data, "columns", ())
            if getattr(data, "shape", (0,))[0] != 1 or "start" not in columns or "end" not in columns:
                raise SchemaError("A time-series statsmodels model predicts from one row with columns "
                                  "'start' and 'end'.")
            return self.model.predict(start=data["start"].iloc[0], end=data["end"].iloc[0])
        return self.model.predict(data)


def load_pyfunc(path: str, model_config: dict | None = None) -> _StatsmodelsPyfunc:
    """Loader-module entry point: ``path`` is the model file (MLflow's ``data``) or its directory."""
    return _StatsmodelsPyfunc(_read_model(*pyfunc_flavor(path, FLAVOR_NAME)))


_load_pyfunc = load_pyfunc   # MLflow's loader-module entry point (the name MLflow calls)


#: The autolog integration behind :func:`autolog` (see :func:`mlnb.flavors.protocol.make_autolog`)
AUTOLOG_INTEGRATION = "mlnb.autologging.statsmodels"
autolog = make_autolog(__name__, AUTOLOG_INTEGRATION, """\
    Log every statsmodels ``fit``: its arguments, the results' statistics and summary, and the model,
    under MLflow's names. See ``mlnb.autologging.statsmodels.autolog``.""")


__all__ = ["save_model", "log_model", "load_model", "load_pyfunc", "autolog"]
