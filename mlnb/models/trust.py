"""What a model may run when it loads, and how the caller consents.

Two kinds of consent, each an argument of every ``load_model`` and an environment variable:

* ``trust_code`` (``MLNB_TRUST_MODEL_CODE``), off by default: run code a model ships or names,
  i.e. put its ``code/`` directory on ``sys.path``, import a ``loader_module`` that is not a
  registered flavor, deserialize a Keras model outside safe mode, honour H2O ``init`` settings
  that start a JVM with the model's arguments.
* ``allow_pickle`` (``MLNB_ALLOW_PICKLE``, else MLflow's ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION``),
  on by default as in MLflow 3.17.2: unpickle a model saved in a code-running format (pickle,
  cloudpickle, custom ``python_model.pkl``, a pickled PyTorch module, a model defined in a ``.py``
  file). Such a model may also use its ``code/``: its pickle can run any code anyway.

An explicit argument beats the environment; ``trust_code=True`` implies ``allow_pickle`` unless
that is passed as False. mlnb's loaders run under :func:`granted`, so a flavor's ``_load_pyfunc``
(MLflow's entry point, which takes no consent argument) sees the caller's consent, and the
environment's when MLflow calls it.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Iterator

from mlnb.errors import ModelFormatError, UnsafeModelError

TRUST_CODE_ENV = "MLNB_TRUST_MODEL_CODE"
ALLOW_PICKLE_ENV = "MLNB_ALLOW_PICKLE"
MLFLOW_PICKLE_ENV = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


@dataclass(frozen=True)
class Consent:
    """What the caller allows a model to run: its code, and pickles."""

    code: bool = False
    pickle: bool = True
    #: where the pickle decision came from, for messages ("MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false")
    pickle_source: str = "default"


def _env_flag(name: str) -> bool | None:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    value = value.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UnsafeModelError(f"{name}={os.environ[name]!r} is neither true nor false; set it to 'true' or 'false'.")


def resolve(trust_code: bool | None = None, allow_pickle: bool | None = None) -> Consent:
    """The consent for one load: arguments first, then mlnb's variables, then MLflow's, then defaults."""
    code = trust_code if trust_code is not None else bool(_env_flag(TRUST_CODE_ENV))
    if allow_pickle is not None:
        return Consent(code, bool(allow_pickle), "allow_pickle=" + str(bool(allow_pickle)))
    if trust_code:
        return Consent(code, True, "trust_code=True")
    for name in (ALLOW_PICKLE_ENV, MLFLOW_PICKLE_ENV):
        flag = _env_flag(name)
        if flag is not None:
            return Consent(code, flag, f"{name}={os.environ[name].strip()}")
    return Consent(code, True, "default")


_CURRENT: contextvars.ContextVar[Consent | None] = contextvars.ContextVar("mlnb_load_consent", default=None)


@contextlib.contextmanager
def granted(consent: Consent) -> Iterator[Consent]:
    """Make ``consent`` the one :func:`current` returns inside the block (for ``_load_pyfunc``)."""
    token = _CURRENT.set(consent)
    try:
        yield consent
    finally:
        _CURRENT.reset(token)


def current() -> Consent:
    """The consent of the load in progress, or the environment's (when MLflow calls a loader)."""
    return _CURRENT.get() or resolve()


# -- refusals --------------------------------------------------------------------------------
CONSENT_CODE = f"pass trust_code=True to load_model, or set {TRUST_CODE_ENV}=true"
CONSENT_PICKLE = f"pass allow_pickle=True to load_model, or set {ALLOW_PICKLE_ENV}=true"


def require_pickle(consent: Consent, what: str) -> None:
    """Refuse to unpickle ``what`` unless pickles are allowed."""
    if not consent.pickle:
        raise UnsafeModelError(
            f"Refused to load {what}: loading it runs code from the file, and pickles are disallowed "
            f"({consent.pickle_source}). If you trust this model, {CONSENT_PICKLE}."
        )


def require_code(consent: Consent, what: str) -> None:
    """Refuse to run ``what`` (code shipped in or named by the model) unless the caller trusts code."""
    if not consent.code:
        raise UnsafeModelError(f"Refused to {what}: that runs code from the model. If you trust this model, {CONSENT_CODE}.")


# -- paths -----------------------------------------------------------------------------------
def relative_inside(value: str, what: str, source: str = "MLmodel") -> None:
    """Raise ModelFormatError unless ``value`` is a relative path without ``..`` (a path inside the model)."""
    if not isinstance(value, str) or not value:
        raise ModelFormatError(f"{source}: {what} must be a relative path inside the model, found {value!r}.")
    if PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute() or PureWindowsPath(value).drive \
            or ".." in PurePosixPath(value.replace("\\", "/")).parts:
        raise ModelFormatError(
            f"{source}: {what} is {value!r}, which points outside the model directory. A model's files "
            f"must live inside it; this model cannot be loaded as it is (no consent allows it)."
        )


def inside(model_dir: Path, value: str, what: str) -> Path:
    """``model_dir / value``, refused with ModelFormatError if it leaves the model directory
    (absolute, ``..``, or through a symlink)."""
    relative_inside(value, what, str(model_dir / "MLmodel"))
    path = model_dir / value
    root = os.path.realpath(model_dir)
    real = os.path.realpath(path)
    if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
        raise ModelFormatError(
            f"{what} '{value}' in '{model_dir}' resolves to '{real}', outside the model directory (a symlink). "
            f"A model's files must live inside it; this model cannot be loaded as it is (no consent allows it)."
        )
    return path


def check_links(model_dir: Path) -> None:
    """Refuse a model directory holding a symlink that points outside it."""
    root = os.path.realpath(model_dir)
    prefix = root.rstrip(os.sep) + os.sep
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                real = os.path.realpath(path)
                if real != root and not real.startswith(prefix):
                    raise ModelFormatError(
                        f"'{os.path.relpath(path, root)}' in model '{model_dir}' is a symlink to '{real}', outside the "
                        f"model directory. Copy the file into the model instead; a model that links outside "
                        f"itself is refused (no consent allows it)."
                    )


def add_code(model_dir: Path, code: str | None, consent: Consent, *, pickled: bool = False) -> None:
    """Put the model's code directory on ``sys.path`` (as MLflow does) when the caller consents:
    ``trust_code``, or a model whose format runs code anyway (``pickled``) with pickles allowed."""
    if not code:
        return
    path = inside(model_dir, code, "the code directory")
    if not (consent.code or (pickled and consent.pickle)):
        require_code(consent, f"put the model's code directory '{code}' on sys.path")
    p = str(path)
    if p not in sys.path:
        sys.path.insert(0, p)
