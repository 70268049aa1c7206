"""MLflow's exception names, for code written against ``mlflow.exceptions``.

``MlflowException`` *is* :class:`mlnb.errors.MlnbError`: ``except MlflowException`` catches every
error mlnb raises on purpose, and ``error_code`` names the kind of error as MLflow does
(``"RESOURCE_DOES_NOT_EXIST"``, ``"INVALID_PARAMETER_VALUE"``...). The constants below are those
names, accepted by ``MlflowException(message, error_code=...)``.
"""

from __future__ import annotations

from mlnb.errors import (
    HTTP_STATUS, MlnbError, ModelValidationFailedException, ResourceNotFoundError, TrackingError,
)

MlflowException = MlnbError
ResourceDoesNotExistException = ResourceNotFoundError


class RestException(TrackingError):
    """An MLflow Tracking Server answered with an error."""


class ExecutionException(MlnbError):
    """Running a project or a command failed."""


class MissingConfigException(MlnbError):
    """A configuration file or value is missing."""


class MlflowNotImplementedException(MlnbError, NotImplementedError):
    """What was asked is not implemented (by this store, server or version)."""

    error_code = "NOT_IMPLEMENTED"


class InvalidUrlException(MlnbError):
    """A URL is malformed."""

    error_code = "INVALID_PARAMETER_VALUE"


INTERNAL_ERROR = "INTERNAL_ERROR"
INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
MALFORMED_REQUEST = "MALFORMED_REQUEST"
INVALID_STATE = "INVALID_STATE"
PERMISSION_DENIED = "PERMISSION_DENIED"
FEATURE_DISABLED = "FEATURE_DISABLED"
REQUEST_LIMIT_EXCEEDED = "REQUEST_LIMIT_EXCEEDED"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
BAD_REQUEST = "BAD_REQUEST"


def get_error_code(http_status: int) -> str:
    """MLflow's error code for an HTTP status (the first one that maps to it)."""
    for code, status in HTTP_STATUS.items():
        if status == http_status:
            return code
    return INTERNAL_ERROR


__all__ = [
    "MlflowException", "RestException", "ExecutionException", "MissingConfigException",
    "InvalidUrlException", "MlflowNotImplementedException", "ModelValidationFailedException",
    "ResourceDoesNotExistException",
    "get_error_code", "INTERNAL_ERROR", "INVALID_PARAMETER_VALUE", "ENDPOINT_NOT_FOUND",
    "MALFORMED_REQUEST", "INVALID_STATE", "PERMISSION_DENIED", "FEATURE_DISABLED",
    "REQUEST_LIMIT_EXCEEDED", "RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST", "BAD_REQUEST",
]
