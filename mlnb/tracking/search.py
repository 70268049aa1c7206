"""MLflow's run filter language, parsed into plain clauses any store can translate.

    metrics.rmse < 0.5 AND params.model = 'forest' AND tags.team LIKE 'ml-%'
    attributes.status IN ('FINISHED', 'FAILED') AND metrics.`val loss` >= 1e-3

Entities: ``metrics.`` (``metric.``), ``params.`` (``param.``, ``parameters.``), ``tags.`` (``tag.``)
and ``attributes.`` (``attribute.``, ``attr.``, ``run.``). Keys may be quoted with backticks or
double quotes. Metrics compare with ``= != < <= > >=``; params, tags and string attributes with
``= != LIKE ILIKE IN NOT IN`` (LIKE is case-sensitive, ILIKE is not). Clauses join with ``AND``.
``order_by`` entries are ``"<entity>.<key> [ASC|DESC]"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from mlnb.errors import InvalidParameterError

METRIC, PARAM, TAG, ATTRIBUTE = "metric", "param", "tag", "attribute"
_ENTITIES = {
    "metric": METRIC, "metrics": METRIC,
    "param": PARAM, "params": PARAM, "parameter": PARAM, "parameters": PARAM,
    "tag": TAG, "tags": TAG,
    "attribute": ATTRIBUTE, "attributes": ATTRIBUTE, "attr": ATTRIBUTE, "run": ATTRIBUTE,
}
#: searchable run attributes -> canonical name
ATTRIBUTES = {
    "run_id": "run_id", "run_name": "run_name", "status": "status", "artifact_uri": "artifact_uri",
    "user_id": "user_id", "start_time": "start_time", "end_time": "end_time",
    "created": "start_time", "Created": "start_time", "run name": "run_name", "Run name": "run_name",
    "Run Name": "run_name", "lifecycle_stage": "lifecycle_stage",
}
NUMERIC_ATTRIBUTES = {"start_time", "end_time"}
NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<op><=|>=|!=|<>|==|=|<|>)
      | (?P<punct>[(),])
      | (?P<ident>[A-Za-z_]\w*\.(?:`[^`]+`|"[^"]+"|[\w./:\-]+)|`[^`]+`|[A-Za-z_]\w*)
      | (?P<num>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    )""",
    re.X,
)


@dataclass(frozen=True)
class Clause:
    entity: str   # metric | param | tag | attribute
    key: str
    op: str       # one of NUMERIC_OPS or STRING_OPS
    value: Any    # float for metrics and time attributes, str, or tuple[str, ...] for IN


@dataclass(frozen=True)
class OrderBy:
    entity: str
    key: str
    ascending: bool = True


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise InvalidParameterError(
                f"Cannot parse the filter string at position {pos}: {text[pos:pos + 30]!r}. "
                f"Write clauses like \"metrics.rmse < 0.5 AND params.model = 'forest'\".")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _unquote(s: str) -> str:
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "`\"'":
        return re.sub(r"\\(.)", r"\1", s[1:-1])
    return s


def parse_identifier(ident: str, *, context: str = "filter") -> tuple[str, str]:
    """``"metrics.`a b`"`` -> ``("metric", "a b")``; bare attribute names are allowed."""
    if "." in ident and not ident.startswith("`"):
        prefix, key = ident.split(".", 1)
        entity = _ENTITIES.get(prefix)
        if entity is None:
            raise InvalidParameterError(
                f"Invalid {context} identifier '{ident}': it must start with metrics., params., tags. or attributes.")
        key = _unquote(key)
    else:
        entity, key = ATTRIBUTE, _unquote(ident)
    if entity == ATTRIBUTE:
        if key not in ATTRIBUTES:
            raise InvalidParameterError(
                f"Invalid attribute '{key}' in {context}; searchable attributes are: "
                f"{', '.join(sorted(set(ATTRIBUTES.values())))}.")
        key = ATTRIBUTES[key]
    return entity, key


def _literal(kind: str, text: str, clause: str) -> Any:
    if kind == "str":
        return _unquote(text)
    if kind == "num":
        return float(text)
    raise InvalidParameterError(f"Expected a value in '{clause}', found {text!r}.")


def parse_filter(filter_string: str | None) -> list[Clause]:
    """Parse a filter string into clauses; raise InvalidParameterError naming the bad part."""
    return parse_clauses(filter_string, parse_identifier, _checked)


def parse_clauses(filter_string: str | None, identify: Callable[[str], tuple[str, str]],
                  check: Callable[[Clause], Clause], example: str = "metrics.x") -> list[Clause]:
    """The grammar every MLflow filter shares (``<identifier> <op> <value>`` joined by AND);
    ``identify`` maps an identifier to (entity, key), ``check`` validates each clause."""
    if not filter_string or not filter_string.strip():
        return []
    toks = _tokens(filter_string)
    clauses: list[Clause] = []
    i = 0
    while i < len(toks):
        if toks[i][0] != "ident":
            raise InvalidParameterError(f"Expected an identifier like {example} in the filter, found {toks[i][1]!r}.")
        entity, key = identify(toks[i][1])
        i += 1
        if i >= len(toks):
            raise InvalidParameterError(f"The filter ends after '{key}': add a comparison like \"= 'value'\".")
        kind, text = toks[i]
        if kind == "op":
            op = {"<>": "!=", "==": "="}.get(text, text)
        elif kind == "ident" and text.upper() in ("LIKE", "ILIKE", "IN"):
            op = text.upper()
        elif kind == "ident" and text.upper() == "NOT" and i + 1 < len(toks) and toks[i + 1][1].upper() == "IN":
            op, i = "NOT IN", i + 1
        else:
            raise InvalidParameterError(f"Expected a comparison after '{key}' in the filter, found {text!r}.")
        i += 1
        if op in ("IN", "NOT IN"):
            values, i = _parse_list(toks, i, key)
            value: Any = values
        else:
            if i >= len(toks):
                raise InvalidParameterError(f"The filter ends after '{key} {op}': add a value.")
            value = _literal(*toks[i], clause=f"{key} {op}")
            i += 1
        clauses.append(check(Clause(entity, key, op, value)))
        if i < len(toks):
            if toks[i][0] != "ident" or toks[i][1].upper() != "AND":
                raise InvalidParameterError(
                    f"Expected AND between filter clauses, found {toks[i][1]!r} (OR is not supported, as in MLflow).")
            i += 1
            if i >= len(toks):
                raise InvalidParameterError("The filter ends with AND: add another clause.")
    return clauses


def _parse_list(toks, i, key) -> tuple[tuple, int]:
    if i >= len(toks) or toks[i][1] != "(":
        raise InvalidParameterError(f"IN needs a parenthesised list after '{key}', like ('a', 'b').")
    i += 1
    values = []
    while True:
        if i >= len(toks):
            raise InvalidParameterError(f"Unclosed list after '{key} IN'.")
        kind, text = toks[i]
        if kind != "str":
            raise InvalidParameterError(f"Values in an IN list must be quoted strings, found {text!r}.")
        values.append(_unquote(text))
        i += 1
        if i < len(toks) and toks[i][1] == ",":
            i += 1
            continue
        if i < len(toks) and toks[i][1] == ")":
            return tuple(values), i + 1
        raise InvalidParameterError(f"Expected ',' or ')' in the IN list after '{key}'.")


def _checked(c: Clause) -> Clause:
    numeric = c.entity == METRIC or (c.entity == ATTRIBUTE and c.key in NUMERIC_ATTRIBUTES)
    if numeric:
        if c.op not in NUMERIC_OPS:
            raise InvalidParameterError(
                f"'{c.key}' is numeric: compare it with one of {', '.join(NUMERIC_OPS)}, not {c.op}.")
        if not isinstance(c.value, float):
            try:
                return Clause(c.entity, c.key, c.op, float(c.value))
            except ValueError:
                raise InvalidParameterError(f"'{c.key}' is numeric, but {c.value!r} is not a number.") from None
        return c
    if c.op not in STRING_OPS:
        raise InvalidParameterError(
            f"{c.entity}s like '{c.key}' are strings: compare with one of {', '.join(STRING_OPS)}, not {c.op}.")
    if isinstance(c.value, float):
        raise InvalidParameterError(
            f"{c.entity} '{c.key}' is a string: quote the value, e.g. {c.key} {c.op} '{c.value:g}'.")
    return c


def order_terms(order_by: Sequence[str] | str | None, form: str) -> list[tuple[str, bool]]:
    """``order_by`` entries (``"<identifier> [ASC|DESC]"``) as (identifier, ascending); an entry
    that is not of that ``form`` (e.g. ``<entity>.<key>``) is an error saying so."""
    if not order_by:
        return []
    if isinstance(order_by, str):
        order_by = [order_by]
    out = []
    for item in order_by:
        toks = _tokens(item)
        if not toks or toks[0][0] != "ident" or len(toks) > 2:
            raise InvalidParameterError(f"Invalid order_by '{item}': use '{form} [ASC|DESC]'.")
        direction = toks[1][1].upper() if len(toks) == 2 else "ASC"
        if direction not in ("ASC", "DESC"):
            raise InvalidParameterError(f"Invalid order_by '{item}': the direction must be ASC or DESC.")
        out.append((toks[0][1], direction == "ASC"))
    return out


def parse_order_by(order_by: Sequence[str] | str | None) -> list[OrderBy]:
    """Runs' ``order_by`` entries (``metrics.loss DESC``, ``start_time``...) as OrderBy entries."""
    return [OrderBy(*parse_identifier(ident, context="order_by"), ascending)
            for ident, ascending in order_terms(order_by, "<entity>.<key>")]


def like_to_regex(pattern: str, case_sensitive: bool = True) -> re.Pattern:
    """SQL LIKE pattern (``%`` any run, ``_`` one character) as a compiled regex."""
    parts = ["^"]
    for ch in pattern:
        parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    parts.append("$")
    return re.compile("".join(parts), 0 if case_sensitive else re.IGNORECASE | re.DOTALL)
