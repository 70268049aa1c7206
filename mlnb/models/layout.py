"""The save skeleton: a model directory appears whole or not at all.

Every save writes into a hidden temporary directory next to the target, then renames it into place.
A save that fails half-way removes its temporary directory; an existing target is never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence, Union

from mlnb.errors import InvalidParameterError, ModelExistsError

if TYPE_CHECKING:
    from mlnb.models.mlmodel import Model
    from mlnb.models.signature import ModelSignature

# The types of the parameters every flavor's save_model shares, named once (MLflow's meanings):
#: a ModelSignature; None infers one from ``input_example``; False saves none
SignatureArg = Union["ModelSignature", bool, None]
#: pip requirement strings, or the path of a requirements file
Requirements = Union[Sequence[str], str, os.PathLike, None]
#: a conda environment as a dict, or the path of its YAML file
CondaEnv = Union[dict, str, os.PathLike, None]
#: local files copied into the model's ``extra_files/``
ExtraFiles = Union[Sequence[Union[str, os.PathLike]], None]

CODE_DIR = "code"


def _check_target(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ModelExistsError(
            f"'{target}' already exists. Choose a new path, or delete the old model first; "
            f"mlnb never overwrites a saved model."
        )


@contextlib.contextmanager
def staged_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``path`` when the block ends without error."""
    target = Path(path).expanduser().absolute()
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        _check_target(target)  # something may have appeared while we wrote
        if target.exists():
            target.rmdir()  # an empty directory: allowed, as in MLflow
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _skip_for(model_dir: Path):
    """copytree's ``ignore``: caches, and the folder the model is being written into (saving with
    ``code_paths=[os.getcwd()]`` puts the model inside the copied tree; copying it would never end)."""
    inside = model_dir.resolve()
    cache = shutil.ignore_patterns("__pycache__", "*.pyc")

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = set(cache(folder, names))
        for name in names:
            p = Path(folder, name).resolve()
            if p == inside or p in inside.parents:
                skipped.add(name)
        return skipped

    return ignore


def copy_code_paths(code_paths: Sequence[str | os.PathLike] | None, model_dir: Path) -> str | None:
    """Copy files or packages into ``<model>/code``; return the flavor's ``code`` value."""
    if not code_paths:
        return None
    dest = model_dir / CODE_DIR
    dest.mkdir()
    for p in code_paths:
        src = Path(p)
        if not src.exists():
            raise InvalidParameterError(f"code_paths: '{src}' does not exist.")
        if src.is_dir():
            shutil.copytree(src, dest / src.absolute().name, ignore=_skip_for(model_dir))
        else:
            shutil.copy2(src, dest / src.name)
    return CODE_DIR


EXTRA_FILES_DIR = "extra_files"


def copy_extra_files(extra_files: Sequence[str | os.PathLike] | None, model_dir: Path) -> list[dict[str, str]]:
    """Copy files (paths or URIs) into ``<model>/extra_files``; return the flavor's ``extra_files``
    entries (MLflow's ``[{"path": "extra_files/<name>"}]``)."""
    if not extra_files:
        return []
    if isinstance(extra_files, (str, os.PathLike)) or not isinstance(extra_files, (list, tuple)):
        raise InvalidParameterError("extra_files must be a list of file paths or URIs.")
    from mlnb.models.uri import local_path

    dest = model_dir / EXTRA_FILES_DIR
    dest.mkdir(exist_ok=True)
    out = []
    for f in extra_files:
        src = local_path(os.fspath(f))
        if not src.is_file():
            raise InvalidParameterError(f"extra_files: '{f}' is not a file.")
        if (dest / src.name).exists():
            raise InvalidParameterError(f"extra_files: two files are named '{src.name}'; rename one.")
        shutil.copy2(src, dest / src.name)
        out.append({"path": f"{EXTRA_FILES_DIR}/{src.name}"})
    return out


def dir_size(path: Path) -> int:
    """Bytes in the files under ``path`` (a symlinked file counts its target; symlinked folders are
    not entered)."""
    total = 0
    folders = [os.fspath(path)]
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
                elif entry.is_file():
                    total += entry.stat().st_size
    return total


def pick_mlmodel(mlmodel: Any, mlflow_model: Any) -> Any:
    """The manifest a save starts from: ``mlmodel=`` (mlnb's name) or ``mlflow_model=`` (MLflow's:
    an mlnb or an MLflow ``Model``, whose fields are copied), never both."""
    if mlflow_model is None:
        return mlmodel
    if mlmodel is not None:
        raise InvalidParameterError("Pass mlflow_model= or mlmodel= (the same thing under two names), not both.")
    from mlnb.models.mlmodel import Model

    if isinstance(mlflow_model, Model):
        return mlflow_model
    if not callable(getattr(mlflow_model, "to_dict", None)) or not hasattr(mlflow_model, "flavors"):
        raise InvalidParameterError(f"mlflow_model= takes a Model, got {type(mlflow_model).__name__}.")
    fields = ("run_id", "artifact_path", "metadata", "model_id", "saved_input_example_info")
    return Model(mlflow_model.flavors or None, signature=getattr(mlflow_model, "signature", None),
                 **{k: getattr(mlflow_model, k, None) for k in fields})


def write_model(
    path: str | os.PathLike,
    write_payload,
    *,
    mlmodel: Model | None = None,
    signature: SignatureArg = None,
    input_example: Any = None,
    predict: Any = None,
    pip_requirements: Requirements = None,
    extra_pip_requirements: Requirements = None,
    metadata: dict | None = None,
    code_paths: Sequence[str] | None = None,
    conda_env: CondaEnv = None,
    extra_files: ExtraFiles = None,
) -> Model:
    """Save a model directory: the one save skeleton every flavor goes through.

    ``write_payload(model_dir, code)`` writes the flavor's files and returns
    ``(flavors, modules)``: the MLmodel flavor sections (``python_function`` included, without
    ``env`` and ``python_version``, which are added here) and the modules the model imports, from
    which ``requirements.txt`` is pinned. ``predict`` (optional) infers the output schema when only
    an input example is given. ``conda_env`` (a dict or YAML path) gives the environment instead of
    the inferred requirements; ``extra_files`` are copied into ``extra_files/`` and listed in every
    flavor section but ``python_function``, as MLflow does.
    """
    import platform
    import warnings

    from mlnb.models import environment, examples
    from mlnb.models.mlmodel import PYFUNC, Model
    from mlnb.models.signature import infer_signature_from_example

    mlmodel = mlmodel if mlmodel is not None else Model()
    with staged_dir(path) as tmp:
        code = copy_code_paths(code_paths, tmp)
        flavors, modules = write_payload(tmp, code)
        extra = copy_extra_files(extra_files, tmp)
        if extra:
            flavors = {name: conf if name == PYFUNC else {**conf, "extra_files": extra}
                       for name, conf in flavors.items()}
        if input_example is not None:
            mlmodel.saved_input_example_info = examples.save(input_example, tmp)
            if signature is None:
                try:
                    output = predict(input_example) if predict is not None else None
                    signature = infer_signature_from_example(input_example, output)
                except Exception as exc:  # a signature is a convenience; the save must go on
                    warnings.warn(f"Could not infer a signature from the input example: {exc}", stacklevel=3)
        if signature is not None and signature is not False:
            mlmodel.set_signature(signature)
        reqs, constraints = environment.resolve_environment(
            environment.infer_requirements(modules), pip_requirements, extra_pip_requirements, conda_env
        )
        env = environment.write(tmp, reqs, constraints, conda_env)
        if PYFUNC in flavors:
            flavors[PYFUNC] = {**flavors[PYFUNC], "env": env, "python_version": platform.python_version()}
        for name, conf in flavors.items():
            mlmodel.add_flavor(name, **conf)
        if metadata:
            mlmodel.metadata = dict(metadata)
        mlmodel.extra["model_size_bytes"] = dir_size(tmp)
        mlmodel.save(tmp)
    return mlmodel
