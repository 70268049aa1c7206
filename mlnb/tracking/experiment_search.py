"""MLflow's experiment filter and order: ``name LIKE 'churn%' AND tags.team = 'ml'``.

Experiments are few, so a store lists them and these functions filter and sort the list.
Keys: ``name``, ``creation_time``, ``last_update_time`` (``attribute.`` prefix optional) and
``tags.<key>``; operators ``= != LIKE ILIKE`` for strings, ``= != < <= > >=`` for times.
"""

from __future__ import annotations

import operator
import re
from typing import Any, Sequence

from mlnb.errors import InvalidParameterError
from mlnb.tracking.entities import Experiment
from mlnb.tracking.search import like_to_regex

_CLAUSE = re.compile(
    r"""\s*(?:(?:attributes?|attr)\.)?(?P<key>tags?\.(?:`[^`]+`|"[^"]+"|[\w.\-/:]+)|name|creation_time|last_update_time|experiment_id)
        \s*(?P<op>!=|<=|>=|=|<|>|\bILIKE\b|\bLIKE\b)\s*
        (?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[+-]?\d+)\s*$""", re.X | re.I)
_TIMES = ("creation_time", "last_update_time")
_OPS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
        ">=": operator.ge}


def _field(exp: Experiment, key: str) -> Any:
    if key.lower().startswith("tag"):
        return exp.tags.get(key.split(".", 1)[1].strip("`\""))
    return getattr(exp, key.lower())


def _clauses(filter_string: str) -> list[tuple[str, str, Any]]:
    out = []
    for part in re.split(r"\s+AND\s+", filter_string.strip(), flags=re.I):
        m = _CLAUSE.match(part)
        if not m:
            raise InvalidParameterError(
                f"Cannot parse the experiment filter {part!r}. Write clauses like \"name LIKE 'churn%'\" "
                f"or \"tags.team = 'ml'\", joined with AND.")
        key, op, raw = m.group("key"), m.group("op").upper(), m.group("value")
        value: Any = raw[1:-1] if raw[0] in "'\"" else int(raw)
        if key.lower() in _TIMES:
            if op in ("LIKE", "ILIKE") or isinstance(value, str):
                raise InvalidParameterError(f"{key} compares with a number (epoch milliseconds), like {key} > 0.")
        elif op not in ("=", "!=", "LIKE", "ILIKE"):
            raise InvalidParameterError(f"{key} compares with =, !=, LIKE or ILIKE, not {op}.")
        out.append((key, op, value))
    return out


def filter_experiments(experiments: list[Experiment], filter_string: str | None) -> list[Experiment]:
    """The experiments that match every clause of ``filter_string``."""
    if not filter_string or not filter_string.strip():
        return list(experiments)
    clauses = _clauses(filter_string)

    def match(exp: Experiment) -> bool:
        for key, op, value in clauses:
            have = _field(exp, key)
            if have is None:
                return False
            if op in ("LIKE", "ILIKE"):
                if not like_to_regex(value, case_sensitive=op == "LIKE").fullmatch(str(have)):
                    return False
            elif not _OPS[op](have if key.lower() in _TIMES else str(have), value):
                return False
        return True

    return [e for e in experiments if match(e)]


def order_experiments(experiments: list[Experiment], order_by: Sequence[str] | None) -> list[Experiment]:
    """Sort by ``order_by`` (``"name"``, ``"creation_time DESC"``...); default newest first, then by id (MLflow's order)."""
    out = sorted(experiments, key=lambda e: int(e.experiment_id) if str(e.experiment_id).isdigit() else 0)
    out.sort(key=lambda e: -(e.creation_time or 0))
    for entry in reversed(list(order_by or [])):
        parts = entry.split()
        key = re.sub(r"^(?:attributes?|attr)\.", "", parts[0])
        if key not in ("name", "experiment_id", *_TIMES) or len(parts) > 2 or \
                (len(parts) == 2 and parts[1].upper() not in ("ASC", "DESC")):
            raise InvalidParameterError(
                f"Cannot order experiments by {entry!r}; use name, experiment_id, creation_time or "
                f"last_update_time, optionally followed by ASC or DESC.")
        out.sort(key=lambda e, k=key: (getattr(e, k) is None, getattr(e, k) or 0 if k in _TIMES else
                                       int(e.experiment_id) if k == "experiment_id" else getattr(e, k)),
                 reverse=len(parts) == 2 and parts[1].upper() == "DESC")
    return out


__all__ = ["filter_experiments", "order_experiments"]
