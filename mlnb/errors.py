"""mlnb's exceptions.

Every error mlnb raises on purpose is an :class:`MlnbError`. Most also inherit the builtin that
describes them best, so ``except ValueError`` or ``except FileNotFoundError`` keep working.
Messages say what went wrong and what to do next.
"""

from __future__ import annotations


class MlnbError(Exception):
    """Base class of every error mlnb raises on purpose (``mlnb.exceptions.MlflowException`` too).

    ``error_code`` is MLflow's name for the kind of error (``"INVALID_PARAMETER_VALUE"``...), so
    code that inspects MLflow's exceptions reads mlnb's the same way.
    """

    error_code = "INTERNAL_ERROR"

    def __init__(self, message: object = "", *args: object, error_code: object = None, **kwargs: object) -> None:
        super().__init__(message, *args)
        if error_code is not None:  # MLflow passes a protobuf enum value or its name
            self.error_code = getattr(error_code, "name", None) or _CODE_NAMES.get(error_code, str(error_code))
        self.json_kwargs = kwargs

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def get_http_status_code(self) -> int:
        return HTTP_STATUS.get(self.error_code, 500)

    def serialize_as_json(self) -> str:
        import json

        return json.dumps({"error_code": self.error_code, "message": self.message, **self.json_kwargs})

    @classmethod
    def invalid_parameter_value(cls, message: str, **kwargs: object) -> "MlnbError":
        return cls(message, error_code="INVALID_PARAMETER_VALUE", **kwargs)


#: MLflow's error codes (its protobuf numbers) and the HTTP status each one maps to
_CODE_NAMES = {1: "INTERNAL_ERROR", 1000: "INVALID_PARAMETER_VALUE", 1001: "ENDPOINT_NOT_FOUND",
               1002: "MALFORMED_REQUEST", 1003: "INVALID_STATE", 1004: "PERMISSION_DENIED",
               1005: "FEATURE_DISABLED", 1006: "CUSTOMER_UNAUTHORIZED", 1007: "REQUEST_LIMIT_EXCEEDED",
               3000: "RESOURCE_ALREADY_EXISTS", 3001: "RESOURCE_DOES_NOT_EXIST", 4000: "BAD_REQUEST"}
HTTP_STATUS = {"INTERNAL_ERROR": 500, "INVALID_PARAMETER_VALUE": 400, "ENDPOINT_NOT_FOUND": 404,
               "MALFORMED_REQUEST": 400, "INVALID_STATE": 500, "PERMISSION_DENIED": 403,
               "FEATURE_DISABLED": 501, "CUSTOMER_UNAUTHORIZED": 401, "REQUEST_LIMIT_EXCEEDED": 429,
               "RESOURCE_ALREADY_EXISTS": 400, "RESOURCE_DOES_NOT_EXIST": 404, "BAD_REQUEST": 400,
               "NOT_FOUND": 404}


class ModelFormatError(MlnbError, ValueError):
    """A model directory or its MLmodel file is missing, malformed or inconsistent."""

    error_code = "INVALID_PARAMETER_VALUE"


class ModelExistsError(MlnbError, FileExistsError):
    """A save would overwrite an existing path."""

    error_code = "RESOURCE_ALREADY_EXISTS"


class FlavorNotFoundError(MlnbError, LookupError):
    """A model has no flavor mlnb can load, or the flavor asked for is not in the model."""

    error_code = "RESOURCE_DOES_NOT_EXIST"


class MissingDependencyError(MlnbError, ImportError):
    """An optional library needed for this operation is not installed."""


class SchemaError(MlnbError, ValueError):
    """Input does not match the model's signature, or a schema is malformed."""

    error_code = "INVALID_PARAMETER_VALUE"


class UnsafeModelError(MlnbError, ValueError):
    """Loading a model would run code from it (a pickle, its ``code/``, a loader module mlnb does
    not register, a Keras Lambda layer) without the caller's consent; the message says how to consent."""

    error_code = "PERMISSION_DENIED"


class UntrustedTypesError(UnsafeModelError):
    """A skops file (or a torch.export archive) holds types mlnb's trust policy does not allow
    without consent."""

    error_code = "INVALID_PARAMETER_VALUE"


class ResourceNotFoundError(MlnbError, FileNotFoundError):
    """A model URI, run, experiment or artifact does not exist."""

    error_code = "RESOURCE_DOES_NOT_EXIST"


class TrackingError(MlnbError, RuntimeError):
    """The run store or tracking server refused or failed an operation."""


class InvalidParameterError(MlnbError, ValueError):
    """An argument has an invalid value (a name, key, metric or option)."""

    error_code = "INVALID_PARAMETER_VALUE"


class ModelValidationFailedException(MlnbError):
    """An evaluated model missed its metric thresholds; ``failures`` lists every failed check.

    Named as MLflow names it; ``ModelValidationFailedError`` is the same class."""

    def __init__(self, message: str, failures: list | None = None, result=None) -> None:
        super().__init__(message)
        self.failures = list(failures or [])
        self.result = result


ModelValidationFailedError = ModelValidationFailedException


class PredictionError(MlnbError, RuntimeError):
    """A model failed while predicting (its own code raised); the message carries the model's error."""


class ServingError(MlnbError, ValueError):
    """A scoring request cannot be answered: carries the HTTP status and MLflow's ``error_code``."""

    def __init__(self, message: str, status: int = 400, error_code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


class EnvironmentRestoreError(MlnbError, RuntimeError):
    """A model's Python environment cannot be restored: a requirement does not resolve or install,
    or no interpreter matches the model's Python version."""

    error_code = "INVALID_STATE"


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
