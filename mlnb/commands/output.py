"""What every command prints: MLflow's plain tables, and errors as one line with exit code 1."""

from __future__ import annotations

import datetime
import functools
import sys
from typing import Callable, Sequence

import click

from mlnb.errors import MlnbError


def table(rows: Sequence[Sequence[str]], headers: Sequence[str], min_width: int = 4) -> str:
    """Left-aligned columns two spaces apart under a dashed rule, as MLflow's CLI prints them."""
    widths = [max([len(header) + 2, min_width, *(len(row[i]) for row in rows)]) for i, header in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths))

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(row) for row in rows)])


def local_time(epoch_ms: int | None) -> str:
    """``2026-12-01 07:02:18 UTC``: a run's time in the local zone, named."""
    if epoch_ms is None:
        return ""
    moment = datetime.datetime.fromtimestamp(epoch_ms / 1000.0).astimezone()
    return f"{moment:%Y-%m-%d %H:%M:%S} {moment.tzname()}"


def fail(message: str) -> None:
    """Print ``Error: message`` on stderr and exit 1."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def one_line_errors(command: Callable) -> Callable:
    """Turn any failure of ``command`` into one line on stderr and exit code 1, never a traceback."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except MlnbError as exc:
            fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        except Exception as exc:  # anything else still gets one line
            fail(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": "))

    return wrapper


def client_call_command(group: click.Group, name: str, id_option: Callable, method: str, done: str,
                        doc: str) -> click.Command:
    """Register ``group name --<id>``: one client call on the id, then ``done`` (``{}`` is the id)."""
    def command(**options: str) -> None:
        (value,) = options.values()
        getattr(client(), method)(value)
        click.echo(done.format(value))

    command.__doc__ = doc
    command.__name__ = f"{group.name}_{name}"
    return group.command(name)(id_option(one_line_errors(command)))


def client():
    """The client of the tracking store in force."""
    from mlnb.tracking.client import MlnbClient

    return MlnbClient()


VIEW_OPTION = click.option(
    "--view", "-v", default="active_only", show_default=True,
    type=click.Choice(["active_only", "deleted_only", "all"], case_sensitive=False),
    help="Which lifecycle stages to list.",
)
