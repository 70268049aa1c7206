"""MLflow's rules for names and values, checked before anything reaches a store.

Keys (params, metrics, tags) may hold letters, digits, ``_ - . / :`` and spaces, at most 250
characters, and must not resolve to another name as a path (``a/../b``, ``/a``, ``.``).
Param values are kept to 6,000 characters and tag values to 8,000: longer ones are truncated with a
warning, as MLflow does.
"""

from __future__ import annotations

import math
import numbers
import posixpath
import re
import warnings
from typing import Any

from mlnb.errors import InvalidParameterError

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
_KEY_RE = re.compile(r"^[/\w.\- :]*$")
_RUN_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")


_valid_keys: set[str] = set()  # keys already checked: logging the same keys again costs a set lookup


def check_key(key: Any, what: str) -> str:
    """Validate a param, metric or tag key; return it."""
    if key in _valid_keys:
        return key
    if not isinstance(key, str) or not key:
        raise InvalidParameterError(f"{what} key must be a non-empty string, got {key!r}.")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidParameterError(
            f"{what} key '{key[:40]}...' is {len(key)} characters; the limit is {MAX_KEY_LENGTH}.")
    if not _KEY_RE.match(key):
        raise InvalidParameterError(
            f"Invalid {what.lower()} key {key!r}: names may only contain alphanumerics, underscores (_), "
            f"dashes (-), periods (.), spaces ( ), colons (:) and slashes (/).")
    norm = posixpath.normpath(key)
    if norm != key or norm == "." or norm.startswith("..") or norm.startswith("/"):
        raise InvalidParameterError(
            f"Invalid {what.lower()} key {key!r}: names must not resolve to other names when treated as "
            f"paths (this one resolves to {norm!r}).")
    if len(_valid_keys) < 100_000:
        _valid_keys.add(key)
    return key


def _truncate(value: str, limit: int, what: str, key: str) -> str:
    if len(value) <= limit:
        return value
    warnings.warn(f"{what} '{key}' value ({len(value)} characters) is truncated to {limit} characters.",
                  stacklevel=4)
    return value[:limit]


def param_value(key: str, value: Any) -> str:
    return _truncate(str(value), MAX_PARAM_VALUE_LENGTH, "Param", key)


def tag_value(key: str, value: Any) -> str:
    return _truncate(str(value), MAX_TAG_VALUE_LENGTH, "Tag", key)


def metric_value(key: str, value: Any) -> float:
    """A metric must be a real number (NaN and infinities allowed, as in MLflow; bools are not)."""
    if type(value) is float or type(value) is int:
        return float(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        try:
            import numpy as np

            if isinstance(value, np.ndarray) and value.size == 1:
                value = value.item()
        except ImportError:  # pragma: no cover
            pass
    if isinstance(value, bool) or not isinstance(value, numbers.Number) or isinstance(value, complex):
        raise InvalidParameterError(
            f"Metric '{key}' got {value!r} ({type(value).__name__}); a metric value must be a number.")
    return float(value)


def step_value(key: str, step: Any) -> int:
    if type(step) is int:
        return step
    if step is None:
        return 0
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        if isinstance(step, float) and step.is_integer():
            return int(step)
        raise InvalidParameterError(f"Metric '{key}' step must be an integer, got {step!r}.")
    return int(step)


def timestamp_value(key: str, timestamp: Any) -> int:
    if type(timestamp) is int and timestamp >= 0:
        return timestamp
    if isinstance(timestamp, bool) or not isinstance(timestamp, numbers.Number) or timestamp < 0 \
            or (isinstance(timestamp, float) and math.isnan(timestamp)):
        raise InvalidParameterError(
            f"Metric '{key}' timestamp must be a non-negative integer of milliseconds, got {timestamp!r}.")
    return int(timestamp)


def check_run_id(run_id: Any) -> str:
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        raise InvalidParameterError(f"Invalid run id {run_id!r}: run ids are letters, digits, '_' and '-'.")
    return run_id


def check_experiment_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError(f"Experiment name must be a non-empty string, got {name!r}.")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidParameterError(
            f"Experiment name is {len(name)} characters; the limit is {MAX_EXPERIMENT_NAME_LENGTH}.")
    return name
