"""MLflow's rules for registry names, versions, aliases and tags, checked before a store is touched."""

from __future__ import annotations

import posixpath
import re
from typing import Any

from mlnb.errors import InvalidParameterError
from mlnb.tracking import validation as v

MAX_NAME_LENGTH = 256
MAX_ALIAS_LENGTH = 255
MAX_TAG_VALUE_LENGTH = 100_000
_ALIAS_RE = re.compile(r"^[\w\-]+$")
_VERSION_ALIAS_RE = re.compile(r"^[vV]\d+$")


def check_model_name(name: Any, what: str = "Registered model name") -> str:
    """A registered model name: non-empty, no ``/`` or ``:``, not a path that resolves elsewhere."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError(f"{what} must be a non-empty string, got {name!r}.")
    if "/" in name or ":" in name:
        raise InvalidParameterError(
            f"Invalid model name {name!r}: names cannot contain '/' or ':' (they separate the parts of "
            f"models:/<name>/<version>). Try {name.replace('/', '-').replace(':', '-')!r}.")
    if posixpath.normpath(name) != name or name.startswith(".."):
        raise InvalidParameterError(f"Invalid model name {name!r}: it must not look like a relative path.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidParameterError(f"{what} is {len(name)} characters; the limit is {MAX_NAME_LENGTH}.")
    return name


def check_version(version: Any) -> int:
    """A model version number (``3`` or ``"3"``) as an int."""
    if isinstance(version, bool):
        raise InvalidParameterError(f"A model version is a whole number like 3, got {version!r}.")
    try:
        number = int(str(version).strip())
    except ValueError:
        raise InvalidParameterError(f"A model version is a whole number like 3, got {version!r}.") from None
    if number < 1:
        raise InvalidParameterError(f"Model versions start at 1, got {version!r}.")
    return number


def check_alias(alias: Any, *, setting: bool = False) -> str:
    """An alias: letters, digits, ``_`` and ``-``. ``latest`` and ``v<N>`` cannot be set (they
    already mean the newest version and version N)."""
    if not isinstance(alias, str) or not alias:
        raise InvalidParameterError(f"An alias must be a non-empty string, got {alias!r}.")
    if not _ALIAS_RE.match(alias):
        raise InvalidParameterError(
            f"Invalid alias {alias!r}: aliases may only contain letters, digits, underscores (_) and dashes (-).")
    if len(alias) > MAX_ALIAS_LENGTH:
        raise InvalidParameterError(f"Alias is {len(alias)} characters; the limit is {MAX_ALIAS_LENGTH}.")
    if setting and alias.lower() == "latest":
        raise InvalidParameterError("The alias 'latest' is reserved (models:/<name>/latest is the newest version).")
    if setting and _VERSION_ALIAS_RE.match(alias):
        raise InvalidParameterError(f"The alias {alias!r} is reserved: it reads as a version number.")
    return alias


def check_tag(key: Any, value: Any) -> tuple[str, str]:
    """A registry tag: MLflow's key rules, a value of at most 100,000 characters (not None)."""
    v.check_key(key, "Tag")
    if value is None:
        raise InvalidParameterError(f"Tag '{key}' has no value; give a string (it may be empty).")
    value = str(value)
    if len(value) > MAX_TAG_VALUE_LENGTH:
        raise InvalidParameterError(
            f"Tag '{key}' value is {len(value)} characters; the limit is {MAX_TAG_VALUE_LENGTH}.")
    return key, value


def check_tags(tags: Any) -> dict[str, str]:
    """A mapping (or MLflow tag entities) as a validated dict."""
    if not tags:
        return {}
    items = tags.items() if hasattr(tags, "items") else ((t.key, t.value) for t in tags)
    return dict(check_tag(k, val) for k, val in items)
