"""Cards: compact plain-HTML summaries of a model and of a run, for notebook displays.

Nothing here imports IPython, pandas or the tracking layer at import time: a card is a string,
built from what the model's MLmodel and the run already hold, so saved notebooks show it on
GitHub and in nbconvert as well as in JupyterLab. Every card has a text twin for ``text/plain``.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from mlnb.formatting import format_duration, format_number, format_size, format_time

CARD_STYLE = (
    "font-family:var(--jp-ui-font-family,system-ui,sans-serif);font-size:13px;line-height:1.4;"
    "border:1px solid rgba(128,128,128,.35);border-radius:6px;padding:8px 12px;margin:4px 0;"
    "max-width:820px"
)
TABLE_STYLE = "border-collapse:collapse;margin:2px 0 6px 0"
CELL_STYLE = "padding:1px 10px 1px 0;text-align:left;vertical-align:top"
MUTED = "opacity:.7"
STATUS_COLORS = {"FINISHED": "#2e7d32", "RUNNING": "#1565c0", "FAILED": "#c62828", "KILLED": "#6d4c41",
                 "SCHEDULED": "#6a1b9a"}
MAX_ROWS = 30


def esc(value: Any) -> str:
    """``value`` as text safe inside HTML (quotes escaped too)."""
    return html.escape(str(value), quote=True)


def status_badge(status: str) -> str:
    """A run status as a small coloured HTML label."""
    color = STATUS_COLORS.get(status, "#555")
    return (f'<span style="color:#fff;background:{color};border-radius:3px;padding:0 5px;'
            f'font-size:11px">{esc(status)}</span>')


def kv_table(rows: Iterable[tuple[Any, Any]], limit: int = MAX_ROWS) -> str:
    """A two-column key/value table (escaped); says how many rows were left out."""
    rows = list(rows)
    body = "".join(
        f'<tr><td style="{CELL_STYLE};{MUTED}">{esc(k)}</td><td style="{CELL_STYLE}">{esc(format_number(v))}</td></tr>'
        for k, v in rows[:limit]
    )
    more = f'<tr><td colspan="2" style="{MUTED}">… {len(rows) - limit} more</td></tr>' if len(rows) > limit else ""
    return f'<table style="{TABLE_STYLE}">{body}{more}</table>'


def chips(rows: Iterable[tuple[Any, Any]], limit: int = 60) -> str:
    """Key/value pairs flowing on lines, for many short values (a run's params)."""
    rows = list(rows)
    items = "".join(
        f'<span style="display:inline-block;margin:0 14px 2px 0"><span style="{MUTED}">{esc(k)}</span> '
        f'{esc(format_number(v))}</span>' for k, v in rows[:limit])
    more = f'<span style="{MUTED}">… {len(rows) - limit} more</span>' if len(rows) > limit else ""
    return f'<div style="margin:2px 0 6px 0">{items}{more}</div>'


def section(title: str, content: str) -> str:
    """One titled part of a card."""
    return f'<div style="margin-top:4px"><b>{esc(title)}</b>{content}</div>'


def card(title_html: str, sections: Sequence[str], kind: str) -> str:
    """A card's HTML: its title and sections in one styled box."""
    return (f'<div class="mlnb-card mlnb-{kind}-card" style="{CARD_STYLE}"><div>{title_html}</div>'
            f'{"".join(sections)}</div>')


# -- models ----------------------------------------------------------------------------------
def _dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def _schema_rows(schema: Any) -> list[tuple[str, str]]:
    if schema is None:
        return []
    rows = []
    for i, spec in enumerate(getattr(schema, "inputs", None) or getattr(schema, "params", None) or []):
        name = getattr(spec, "name", None)
        typ = getattr(spec, "type", "")
        if hasattr(spec, "shape") and hasattr(spec, "dtype"):
            typ = f"tensor {spec.dtype} {list(spec.shape)}"
        elif isinstance(typ, Mapping):
            typ = typ.get("type", "object")
        optional = "" if getattr(spec, "required", True) else " (optional)"
        rows.append((name if name is not None else f"[{i}]", f"{typ}{optional}"))
    return rows


def _requirements(model_dir: Path | None) -> list[str]:
    if model_dir is None:
        return []
    file = Path(model_dir) / "requirements.txt"
    if not file.is_file():
        return []
    return [ln.strip() for ln in file.read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]


def model_summary(pyfunc_model: Any) -> dict[str, Any]:
    """What a model card shows, as plain data (also the text card's source)."""
    meta = pyfunc_model.metadata
    model_dir = getattr(pyfunc_model, "model_dir", None)
    flavors = [f for f in meta.flavors if f != "python_function"] or ["python_function"]
    try:
        signature = meta.get_signature()
    except Exception:  # a malformed signature must not break the display
        signature = None
    return {
        "flavors": flavors,
        "loader_module": (meta.pyfunc_conf or {}).get("loader_module", ""),
        "inputs": _schema_rows(signature.inputs if signature else None),
        "outputs": _schema_rows(signature.outputs if signature else None),
        "params": _schema_rows(signature.params if signature else None),
        "size": _dir_size(Path(model_dir)) if model_dir else None,
        "run_id": meta.run_id,
        "artifact_path": meta.artifact_path,
        "created": meta.utc_time_created,
        "model_uuid": meta.model_uuid,
        "requirements": _requirements(model_dir),
        "path": str(model_dir) if model_dir else "",
    }


def model_card_html(pyfunc_model: Any) -> str:
    """An HTML card for a loaded model: flavor, signature, size, source run, requirements."""
    s = model_summary(pyfunc_model)
    title = (f'<b>Model</b> · {esc(", ".join(s["flavors"]))}'
             + (f' · {esc(format_size(s["size"]))}' if s["size"] is not None else ""))
    sections = []
    if s["inputs"]:
        sections.append(section("Inputs", kv_table(s["inputs"])))
    else:
        sections.append(f'<div style="{MUTED}">No signature: inputs are not checked at predict time.</div>')
    if s["outputs"]:
        sections.append(section("Outputs", kv_table(s["outputs"])))
    if s["params"]:
        sections.append(section("Params", kv_table(s["params"])))
    source = []
    if s["run_id"]:
        source.append(("run", f"runs:/{s['run_id']}/{s['artifact_path'] or 'model'}"))
    if s["path"]:
        source.append(("path", s["path"]))
    source += [("created (UTC)", s["created"]), ("loader", s["loader_module"]), ("model_uuid", s["model_uuid"])]
    sections.append(section("Source", kv_table([(k, v) for k, v in source if v])))
    if s["requirements"]:
        reqs = "".join(f"<code>{esc(r)}</code> " for r in s["requirements"])
        sections.append(section("Requirements", f"<div>{reqs}</div>"))
    return card(title, sections, "model")


def model_card_text(pyfunc_model: Any) -> str:
    """The model card as plain text (the ``text/plain`` of a loaded model)."""
    s = model_summary(pyfunc_model)
    lines = [f"Model: {', '.join(s['flavors'])}" + (f" ({format_size(s['size'])})" if s["size"] is not None else "")]
    if s["inputs"]:
        lines.append("  inputs: " + ", ".join(f"{k}: {t}" for k, t in s["inputs"]))
    if s["outputs"]:
        lines.append("  outputs: " + ", ".join(f"{k}: {t}" for k, t in s["outputs"]))
    if s["run_id"]:
        lines.append(f"  run: runs:/{s['run_id']}/{s['artifact_path'] or 'model'}")
    if s["requirements"]:
        lines.append("  requirements: " + " ".join(s["requirements"]))
    return "\n".join(lines)


# -- runs ------------------------------------------------------------------------------------
def run_model_uris(run: Any) -> list[str]:
    """Model URIs a run holds: from autolog's record, else from MLflow's log-model history tag."""
    import json
    import sys

    uris: list[str] = []
    session = sys.modules.get("mlnb.autologging.session")  # only if autolog ran in this process
    if session is not None:
        uris += [f.model_uri for f in session.logged_fits(run.info.run_id) if f.model_uri]
    history = run.data.tags.get("mlflow.log-model.history")
    if history:
        try:
            for entry in json.loads(history):
                uri = f"runs:/{run.info.run_id}/{entry.get('artifact_path')}"
                if entry.get("artifact_path") and uri not in uris:
                    uris.append(uri)
        except (ValueError, TypeError, AttributeError):
            pass
    return uris


def _run_name(run: Any) -> str:
    return run.info.run_name or run.data.tags.get("mlflow.runName", "") or run.info.run_id[:8]


def run_card_html(run: Any, model_uris: Sequence[str] | None = None) -> str:
    """An HTML card for a run: name, status, duration, params, metrics and model URIs."""
    info, data = run.info, run.data
    uris = list(model_uris) if model_uris is not None else run_model_uris(run)
    duration = format_duration(info.start_time, info.end_time)
    title = (f"<b>Run</b> {esc(_run_name(run))} {status_badge(info.status)} "
             f'<span style="{MUTED}">{esc(info.run_id)} · experiment {esc(info.experiment_id)}'
             + (f" · {esc(duration)}" if duration else "") + "</span>")
    sections = []
    if data.params:
        sections.append(section(f"Params ({len(data.params)})", chips(sorted(data.params.items()))))
    if data.metrics:
        sections.append(section(f"Metrics ({len(data.metrics)})", kv_table(sorted(data.metrics.items()))))
    if uris:
        sections.append(section("Models", "".join(f"<div><code>{esc(u)}</code></div>" for u in uris)))
    if not (data.params or data.metrics or uris):
        sections.append(f'<div style="{MUTED}">Nothing logged.</div>')
    return card(title, sections, "run")


def run_card_text(run: Any, model_uris: Sequence[str] | None = None) -> str:
    """The run card as plain text (the ``text/plain`` of a run)."""
    info, data = run.info, run.data
    uris = list(model_uris) if model_uris is not None else run_model_uris(run)
    lines = [f"Run {_run_name(run)} [{info.status}] {info.run_id}"]
    if data.params:
        lines.append("  params: " + ", ".join(f"{k}={format_number(v)}" for k, v in sorted(data.params.items())[:MAX_ROWS]))
    if data.metrics:
        lines.append("  metrics: " + ", ".join(f"{k}={format_number(v)}" for k, v in sorted(data.metrics.items())[:MAX_ROWS]))
    lines += [f"  model: {u}" for u in uris]
    return "\n".join(lines)


class RunCard:
    """A run's card as a display object: ``text/plain`` and ``text/html``."""

    def __init__(self, run: Any, model_uris: Sequence[str] | None = None) -> None:
        self.run = run
        self.model_uris = list(model_uris) if model_uris is not None else run_model_uris(run)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        return {"text/plain": run_card_text(self.run, self.model_uris),
                "text/html": run_card_html(self.run, self.model_uris)}

    def __repr__(self) -> str:
        return run_card_text(self.run, self.model_uris)


__all__ = ["model_card_html", "model_card_text", "run_card_html", "run_card_text", "RunCard", "run_model_uris"]
