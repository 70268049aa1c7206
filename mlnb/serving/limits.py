"""The scoring server's limits: what one client may cost the server, with defaults that hold under abuse.

One frozen value, built once from the CLI options or ``mlnb.serve(...)`` keywords and shared by
the app (body size, body timeout, in-flight requests, prediction timeout), the HTTP protocol
(header size, header count, header timeout) and uvicorn (idle keep-alive, open connections).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from mlnb.errors import InvalidParameterError

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Per-worker limits of the scoring server. Each has a CLI flag (see ``docs/serving.md``)."""

    timeout: float = 60.0  # s a prediction may take -> 504
    max_body: int = 100 * MiB  # bytes of request body -> 413
    body_timeout: float = 60.0  # s the whole body may take to arrive, once the headers are in -> 408
    max_header_bytes: int = 64 * 1024  # bytes of request line and headers -> 431
    max_headers: int = 100  # header lines per request -> 431
    header_timeout: float = 10.0  # s from connection (or the end of the last request) to the end of the headers -> 408
    max_concurrency: int = 64  # POST /invocations in flight at once -> 503
    max_connections: int = 1000  # open connections; uvicorn answers more with a plain 503
    keep_alive: float = 15.0  # s an idle keep-alive connection stays open
    debug: bool = False  # model errors carry their stack trace in the answer

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "debug":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise InvalidParameterError(f"Serving limit {f.name} must be a positive number, got {value!r}.")
            if f.type == "int" and int(value) != value:
                raise InvalidParameterError(f"Serving limit {f.name} must be a whole number, got {value!r}.")

    def to_args(self) -> list[str]:
        """These limits as ``mlnb models serve`` options."""
        args = []
        for name, flag in CLI_FLAGS.items():
            value = getattr(self, name)
            if name == "debug":
                args += [flag] if value else []
            else:
                args += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
        return args

    def to_dict(self) -> dict:
        """The limits as JSON-ready data (handed to worker processes)."""
        return asdict(self)


CLI_FLAGS = {
    "timeout": "--timeout", "max_body": "--max-body-size", "body_timeout": "--body-timeout",
    "max_header_bytes": "--max-header-size", "max_headers": "--max-headers", "header_timeout": "--header-timeout",
    "max_concurrency": "--max-concurrency", "max_connections": "--max-connections",
    "keep_alive": "--keep-alive-timeout", "debug": "--debug",
}  # each Limits field's ``mlnb models serve`` option


def limits_from(values: dict) -> Limits:
    """A Limits from keyword values, with a clear error naming the valid names for a wrong one."""
    unknown = set(values) - {f.name for f in fields(Limits)}
    if unknown:
        raise InvalidParameterError(
            f"Unknown serving limit(s) {sorted(unknown)}; the limits are {[f.name for f in fields(Limits)]}.")
    return Limits(**values)


__all__ = ["Limits", "MiB", "CLI_FLAGS", "limits_from"]
