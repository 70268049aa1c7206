"""MLflow's filter language for the model registry, parsed into plain clauses any store translates.

    name LIKE 'churn-%' AND tags.team = 'ml'                       (search_registered_models)
    name = 'churn' AND version_number > 2 AND run_id IN ('a', 'b') (search_model_versions)

Registered models filter on ``name`` and ``tags.<key>``; model versions on ``name``,
``version_number``, ``run_id``, ``source_path`` and ``tags.<key>``. Strings compare with
``= != LIKE ILIKE`` (``IN``/``NOT IN`` for ``name`` and ``run_id``), ``version_number`` with
``= != < <= > >=``. The tokenizer is the run filter's (mlnb.tracking.search), so quoting rules match.
"""

from __future__ import annotations

from typing import Sequence

from mlnb.errors import InvalidParameterError
from mlnb.tracking.search import ATTRIBUTE, NUMERIC_OPS, TAG, Clause, OrderBy, _unquote, order_terms, parse_clauses

MODELS, VERSIONS = "registered models", "model versions"
_ATTRIBUTES = {MODELS: ("name",), VERSIONS: ("name", "version_number", "run_id", "source_path")}
_LIST_ATTRIBUTES = ("name", "run_id")
_ORDER_KEYS = {
    MODELS: {"name": "name", "creation_timestamp": "creation_timestamp",
             "last_updated_timestamp": "last_updated_timestamp", "timestamp": "last_updated_timestamp"},
    VERSIONS: {"name": "name", "version_number": "version_number", "creation_timestamp": "creation_timestamp",
               "last_updated_timestamp": "last_updated_timestamp", "timestamp": "last_updated_timestamp"},
}
_TAG_PREFIXES = ("tags.", "tag.")
_ATTRIBUTE_PREFIXES = ("attributes.", "attribute.", "attr.")


def _identifier(text: str, kind: str) -> tuple[str, str]:
    for prefix in _TAG_PREFIXES:
        if text.startswith(prefix):
            return TAG, _unquote(text[len(prefix):])
    for prefix in _ATTRIBUTE_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    key = _unquote(text)
    if key not in _ATTRIBUTES[kind]:
        raise InvalidParameterError(
            f"Invalid attribute '{key}' in a search of {kind}: filter on "
            f"{', '.join(_ATTRIBUTES[kind])} or tags.<key>.")
    return ATTRIBUTE, key


def parse_registry_filter(filter_string: str | None, kind: str) -> list[Clause]:
    """Parse a registry filter (``kind`` is MODELS or VERSIONS); clear errors name the bad part."""
    return parse_clauses(filter_string, lambda text: _identifier(text, kind), _checked, example="name or tags.team")


def _checked(c: Clause) -> Clause:
    if c.entity == ATTRIBUTE and c.key == "version_number":
        if c.op not in NUMERIC_OPS:
            raise InvalidParameterError(
                f"version_number is a number: compare it with one of {', '.join(NUMERIC_OPS)}, not {c.op}.")
        raw = c.value
        if isinstance(raw, float) and raw.is_integer():
            return Clause(c.entity, c.key, c.op, int(raw))
        if isinstance(raw, str) and raw.strip().isdigit():  # MLflow takes version_number = '3' too
            return Clause(c.entity, c.key, c.op, int(raw))
        raise InvalidParameterError(f"version_number must be compared with a whole number, not {raw!r}.")
    allowed = ("=", "!=", "LIKE", "ILIKE")
    if c.entity == ATTRIBUTE and c.key in _LIST_ATTRIBUTES:
        allowed += ("IN", "NOT IN")
    if c.op not in allowed:
        raise InvalidParameterError(f"'{c.key}' compares with one of {', '.join(allowed)}, not {c.op}.")
    if not isinstance(c.value, (str, tuple)):
        raise InvalidParameterError(f"'{c.key}' is a string: quote the value, e.g. {c.key} {c.op} '{c.value:g}'.")
    return c


def parse_registry_order_by(order_by: Sequence[str] | str | None, kind: str) -> list[OrderBy]:
    """``["name ASC", "version_number DESC"]`` -> OrderBy entries (attributes only)."""
    out: list[OrderBy] = []
    for ident, ascending in order_terms(order_by, "<attribute>"):
        raw = _unquote(ident.split(".", 1)[1] if ident.startswith(_ATTRIBUTE_PREFIXES) else ident)
        key = _ORDER_KEYS[kind].get(raw)
        if key is None:
            raise InvalidParameterError(
                f"Invalid order_by key '{raw}' for {kind}; order by one of {', '.join(sorted(set(_ORDER_KEYS[kind])))}.")
        if any(o.key == key for o in out):
            raise InvalidParameterError(f"order_by names '{key}' twice: {list(order_by)}.")
        out.append(OrderBy(ATTRIBUTE, key, ascending))
    return out


__all__ = ["MODELS", "VERSIONS", "parse_registry_filter", "parse_registry_order_by"]
