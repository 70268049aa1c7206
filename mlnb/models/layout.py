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
from typing import Iterator, Sequence

from mlnb.errors import InvalidParameterError, ModelExistsError

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
            shutil.copytree(src, dest / src.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / src.name)
    return CODE_DIR


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def write_model(
    path: str | os.PathLike,
    write_payload,
    *,
    mlmodel=None,
    signature=None,
    input_example=None,
    predict=None,
    pip_requirements=None,
    extra_pip_requirements=None,
    metadata=None,
    code_paths=None,
):
    """Save a model directory: the one save skeleton every flavor goes through.

    ``write_payload(model_dir, code)`` writes the flavor's files and returns
    ``(flavors, modules)``: the MLmodel flavor sections (``python_function`` included, without
    ``env`` and ``python_version``, which are added here) and the modules the model imports, from
    which ``requirements.txt`` is pinned. ``predict`` (optional) infers the output schema when only
    an input example is given.
    """
    import platform
    import warnings

    from mlnb.models import environment, examples
    from mlnb.models.mlmodel import PYFUNC, Model
    from mlnb.models.signature import infer_signature

    mlmodel = mlmodel if mlmodel is not None else Model()
    with staged_dir(path) as tmp:
        code = copy_code_paths(code_paths, tmp)
        flavors, modules = write_payload(tmp, code)
        if input_example is not None:
            mlmodel.saved_input_example_info = examples.save(input_example, tmp)
            if signature is None:
                try:
                    output = predict(input_example) if predict is not None else None
                    signature = infer_signature(input_example, output)
                except Exception as exc:  # a signature is a convenience; the save must go on
                    warnings.warn(f"Could not infer a signature from the input example: {exc}", stacklevel=3)
        if signature is not None and signature is not False:
            mlmodel.set_signature(signature)
        reqs = environment.resolve_requirements(
            environment.infer_requirements(modules), pip_requirements, extra_pip_requirements
        )
        env = environment.write(tmp, reqs)
        if PYFUNC in flavors:
            flavors[PYFUNC] = {**flavors[PYFUNC], "env": env, "python_version": platform.python_version()}
        for name, conf in flavors.items():
            mlmodel.add_flavor(name, **conf)
        if metadata:
            mlmodel.metadata = dict(metadata)
        mlmodel.extra["model_size_bytes"] = dir_size(tmp)
        mlmodel.save(tmp)
    return mlmodel
