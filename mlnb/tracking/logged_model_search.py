"""MLflow's filter and order for ``search_logged_models``, parsed into clauses and SQL.

    name = 'clf' AND metrics.accuracy > 0.9 AND params.alpha = '0.1' AND tags.team LIKE 'ml%'
    creation_timestamp >= 1700000000000 AND status IN ('READY', 'PENDING')

Attributes are ``name``, ``model_id``, ``model_type``, ``status``, ``source_run_id`` (strings:
``= != LIKE ILIKE IN NOT IN``) and ``creation_timestamp`` / ``creation_time`` /
``last_updated_timestamp`` (numbers: ``= != < <= > >=``); ``metrics.<key>`` compares numbers and
matches when any logged value of the metric does; ``params.<key>`` and ``tags.<key>`` compare
strings. ``datasets=[{"dataset_name": ..., "dataset_digest": ...}]`` narrows the metrics compared
(or, with no metric clause, keeps models with a metric on those datasets). ``order_by`` takes
MLflow's dicts (``{"field_name": "metrics.accuracy", "ascending": False}``) or
``"<field> [ASC|DESC]"`` strings. The SQL is for the tables of MLflow's SQLite store, aliased ``m``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from mlnb.errors import InvalidParameterError
from mlnb.tracking.search import (
    ATTRIBUTE, METRIC, NUMERIC_OPS, PARAM, STRING_OPS, TAG, Clause, _tokens, _unquote, parse_clauses,
)

#: MLflow's LoggedModelStatus numbers, as its SQL store writes them
STATUS_CODES = {"UNSPECIFIED": 0, "PENDING": 1, "READY": 2, "FAILED": 3}
_COLUMNS = {"name": "m.name", "model_id": "m.model_id", "model_type": "m.model_type", "status": "m.status",
            "source_run_id": "m.source_run_id", "creation_timestamp": "m.creation_timestamp_ms",
            "last_updated_timestamp": "m.last_updated_timestamp_ms"}
_ALIASES = {"creation_time": "creation_timestamp", "creation_timestamp_ms": "creation_timestamp",
            "last_updated_time": "last_updated_timestamp", "last_updated_timestamp_ms": "last_updated_timestamp"}
_NUMERIC = {"creation_timestamp", "last_updated_timestamp"}
_PREFIXES = {"metrics": METRIC, "metric": METRIC, "params": PARAM, "param": PARAM, "tags": TAG, "tag": TAG,
             "attributes": ATTRIBUTE, "attribute": ATTRIBUTE, "attr": ATTRIBUTE}


@dataclass(frozen=True)
class ModelOrder:
    """One ``order_by`` entry: an attribute or ``metrics.<key>`` (optionally on one dataset)."""

    entity: str
    key: str
    ascending: bool = True
    dataset_name: str | None = None
    dataset_digest: str | None = None


def _attribute(key: str) -> str:
    key = _ALIASES.get(key, key)
    if key not in _COLUMNS:
        raise InvalidParameterError(
            f"Invalid logged-model search key '{key}': filter on {', '.join(sorted(_COLUMNS))}, "
            f"metrics.<key>, params.<key> or tags.<key>.")
    return key


def _identify(text: str) -> tuple[str, str]:
    prefix, dot, rest = text.partition(".")
    if dot and not text.startswith("`") and prefix in _PREFIXES:
        entity, key = _PREFIXES[prefix], _unquote(rest)
        return (entity, _attribute(key)) if entity == ATTRIBUTE else (entity, key)
    if dot and not text.startswith("`"):
        raise InvalidParameterError(
            f"Invalid logged-model search key '{text}': use metrics.<key>, params.<key>, tags.<key> or an attribute.")
    return ATTRIBUTE, _attribute(_unquote(text))


def _checked(c: Clause) -> Clause:
    numeric = c.entity == METRIC or c.key in _NUMERIC and c.entity == ATTRIBUTE
    ops = NUMERIC_OPS if numeric else STRING_OPS
    if c.op not in ops:
        raise InvalidParameterError(f"'{c.key}' compares with one of {', '.join(ops)}, not {c.op}.")
    if numeric and not isinstance(c.value, float):
        try:
            return Clause(c.entity, c.key, c.op, float(c.value))
        except (TypeError, ValueError):
            raise InvalidParameterError(f"'{c.key}' is numeric, but {c.value!r} is not a number.") from None
    if not numeric and isinstance(c.value, float):
        raise InvalidParameterError(f"'{c.key}' is a string: quote the value, e.g. {c.key} {c.op} '{c.value:g}'.")
    if c.entity == ATTRIBUTE and c.key == "status":
        values = c.value if isinstance(c.value, tuple) else (c.value,)
        bad = [v for v in values if str(v).upper() not in STATUS_CODES]
        if bad and c.op not in ("LIKE", "ILIKE"):
            raise InvalidParameterError(f"A logged model's status is one of {', '.join(STATUS_CODES)}, not {bad[0]!r}.")
    return c


def parse_logged_model_filter(filter_string: str | None) -> list[Clause]:
    """Parse a ``search_logged_models`` filter; an InvalidParameterError names the bad part."""
    return parse_clauses(filter_string, _identify, _checked, example="name or metrics.accuracy")


def parse_logged_model_order_by(order_by: Sequence[Any] | None) -> list[ModelOrder]:
    """MLflow's ``[{"field_name": ..., "ascending": ...}]`` (or ``"field DESC"`` strings) as ModelOrder."""
    out: list[ModelOrder] = []
    for item in order_by or ():
        if isinstance(item, Mapping):
            field, ascending = item.get("field_name"), bool(item.get("ascending", True))
            name, digest = item.get("dataset_name"), item.get("dataset_digest")
        elif isinstance(item, str):
            toks = _tokens(item)
            if not toks or len(toks) > 2 or (len(toks) == 2 and toks[1][1].upper() not in ("ASC", "DESC")):
                raise InvalidParameterError(f"Invalid order_by '{item}': use '<field> [ASC|DESC]'.")
            field, name, digest = toks[0][1], None, None
            ascending = not (len(toks) == 2 and toks[1][1].upper() == "DESC")
        else:
            raise InvalidParameterError(
                f"order_by entries are dicts like {{'field_name': 'metrics.accuracy', 'ascending': False}}, "
                f"got {item!r}.")
        if not isinstance(field, str) or not field:
            raise InvalidParameterError("Each order_by entry needs a field_name, like 'creation_timestamp'.")
        entity, key = _identify(field)
        if entity not in (ATTRIBUTE, METRIC):
            raise InvalidParameterError(f"Logged models are ordered by attributes or metrics.<key>, not '{field}'.")
        out.append(ModelOrder(entity, key, ascending, name, digest))
    return out


def _compare(expr: str, op: str, value: Any) -> tuple[str, list]:
    if op == "ILIKE":
        return f"lower({expr}) LIKE lower(?)", [value]
    if op in ("IN", "NOT IN"):
        return f"{expr} {op} ({','.join('?' * len(value))})", list(value)
    return f"{expr} {op} ?", [value]


def _dataset_sql(datasets: Sequence[Mapping[str, Any]] | None) -> tuple[str, list]:
    parts, args = [], []
    for d in datasets or ():
        if not isinstance(d, Mapping) or not d.get("dataset_name"):
            raise InvalidParameterError(
                "Each entry of datasets= names a dataset: {'dataset_name': 'train', 'dataset_digest': '...'}.")
        if d.get("dataset_digest"):
            parts.append("(x.dataset_name = ? AND x.dataset_digest = ?)")
            args += [d["dataset_name"], d["dataset_digest"]]
        else:
            parts.append("x.dataset_name = ?")
            args.append(d["dataset_name"])
    return (f"({' OR '.join(parts)})", args) if parts else ("", [])


def logged_model_where(clauses: Sequence[Clause], datasets: Sequence[Mapping[str, Any]] | None = None
                       ) -> tuple[list[str], list]:
    """SQL conditions (on ``logged_models m``) and their arguments for parsed filter clauses."""
    where, args = [], []
    on_datasets, dataset_args = _dataset_sql(datasets)
    for c in clauses:
        if c.entity == ATTRIBUTE:
            value = c.value
            if c.key == "status" and c.op not in ("LIKE", "ILIKE"):
                value = tuple(STATUS_CODES[v.upper()] for v in value) if isinstance(value, tuple) \
                    else STATUS_CODES[value.upper()]
            sql, a = _compare(_COLUMNS[c.key], c.op, value)
        elif c.entity == METRIC:
            cond, a0 = _compare("x.metric_value", c.op, c.value)
            extra = f" AND {on_datasets}" if on_datasets else ""
            sql = f"EXISTS (SELECT 1 FROM logged_model_metrics x WHERE x.model_id = m.model_id " \
                  f"AND x.metric_name = ? AND {cond}{extra})"
            a = [c.key, *a0, *dataset_args]
        else:
            table, kcol, vcol = ("logged_model_params", "param_key", "param_value") if c.entity == PARAM \
                else ("logged_model_tags", "tag_key", "tag_value")
            cond, a0 = _compare(f"x.{vcol}", c.op, c.value)
            sql = f"EXISTS (SELECT 1 FROM {table} x WHERE x.model_id = m.model_id AND x.{kcol} = ? AND {cond})"
            a = [c.key, *a0]
        where.append(sql)
        args += a
    if on_datasets and not any(c.entity == METRIC for c in clauses):
        where.append(f"EXISTS (SELECT 1 FROM logged_model_metrics x WHERE x.model_id = m.model_id AND {on_datasets})")
        args += dataset_args
    return where, args


def logged_model_order(orders: Sequence[ModelOrder]) -> tuple[str, list]:
    """An ORDER BY clause (nulls last, then newest first as MLflow) and its arguments."""
    parts, args = [], []
    for o in orders:
        direction = "ASC" if o.ascending else "DESC"
        if o.entity == ATTRIBUTE:
            expr = _COLUMNS[o.key]
        else:  # the metric's latest value (on the dataset, when one is named)
            cond = "x.metric_name = ?"
            args_once = [o.key]
            if o.dataset_name:
                cond += " AND x.dataset_name = ?"
                args_once.append(o.dataset_name)
            if o.dataset_digest:
                cond += " AND x.dataset_digest = ?"
                args_once.append(o.dataset_digest)
            expr = (f"(SELECT x.metric_value FROM logged_model_metrics x WHERE x.model_id = m.model_id AND {cond} "
                    f"ORDER BY x.metric_step DESC, x.metric_timestamp_ms DESC LIMIT 1)")
            args += args_once * 2
        parts.append(f"{expr} IS NULL, {expr} {direction}")
    parts.append("m.creation_timestamp_ms DESC, m.model_id")
    return ", ".join(parts), args


__all__ = ["ModelOrder", "STATUS_CODES", "logged_model_order", "logged_model_where", "parse_logged_model_filter",
           "parse_logged_model_order_by"]
