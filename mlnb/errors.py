"""mlnb's exceptions.

Every error mlnb raises on purpose is an :class:`MlnbError`. Most also inherit the builtin that
describes them best, so ``except ValueError`` or ``except FileNotFoundError`` keep working.
Messages say what went wrong and what to do next.
"""

from __future__ import annotations


class MlnbError(Exception):
    """Base class of every error mlnb raises on purpose."""


class ModelFormatError(MlnbError, ValueError):
    """A model directory or its MLmodel file is missing, malformed or inconsistent."""


class ModelExistsError(MlnbError, FileExistsError):
    """A save would overwrite an existing path."""


class FlavorNotFoundError(MlnbError, LookupError):
    """A model has no flavor mlnb can load, or the flavor asked for is not in the model."""


class MissingDependencyError(MlnbError, ImportError):
    """An optional library needed for this operation is not installed."""


class SchemaError(MlnbError, ValueError):
    """Input does not match the model's signature, or a schema is malformed."""


class UnsafeModelError(MlnbError, ValueError):
    """Loading a model would run code from it (a pickle, its ``code/``, a loader module mlnb does
    not register, a Keras Lambda layer) without the caller's consent; the message says how to consent."""


class UntrustedTypesError(UnsafeModelError):
    """A skops file (or a torch.export archive) holds types mlnb's trust policy does not allow
    without consent."""


class ResourceNotFoundError(MlnbError, FileNotFoundError):
    """A model URI, run, experiment or artifact does not exist."""


class TrackingError(MlnbError, RuntimeError):
    """The run store or tracking server refused or failed an operation."""


class InvalidParameterError(MlnbError, ValueError):
    """An argument has an invalid value (a name, key, metric or option)."""


class ModelValidationFailedError(MlnbError):
    """An evaluated model missed its metric thresholds; ``failures`` lists every failed check."""

    def __init__(self, message: str, failures: list | None = None, result=None) -> None:
        super().__init__(message)
        self.failures = list(failures or [])
        self.result = result


class ServingError(MlnbError, ValueError):
    """A scoring request cannot be answered: carries the HTTP status and MLflow's ``error_code``."""

    def __init__(self, message: str, status: int = 400, error_code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


def require(module: str, extra: str, purpose: str):
    """Import an optional library, or raise a MissingDependencyError naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the '{module.split('.')[0]}' package, which is not installed. "
            f"Install it with: pip install 'mlnb[{extra}]'"
        ) from exc
