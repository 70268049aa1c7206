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


#: A run of at least this many same-typed columns is shown as one row ("30 × double").
COLLAPSE_MIN = 4


def collapse_rows(rows: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Runs of consecutive columns of one type as one row: ``("mean radius … worst symmetry", "30 × double")``."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(rows):
        j = i
        while j + 1 < len(rows) and rows[j + 1][1] == rows[i][1]:
            j += 1
        if j - i + 1 >= COLLAPSE_MIN:
            out.append((f"{rows[i][0]} … {rows[j][0]}", f"{j - i + 1} × {rows[i][1]}"))
        else:
            out += rows[i:j + 1]
        i = j + 1
    return out


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
        "inputs": collapse_rows(_schema_rows(signature.inputs if signature else None)),
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


def _tracking_client() -> Any:
    """An MlflowClient when the tracking layer is loaded (it is whenever a run exists), else None.

    Read from ``sys.modules`` rather than imported: the tracking layer shows its entities with
    these cards, so importing it here would make the two import each other."""
    import sys

    module = sys.modules.get("mlnb.tracking.client")
    return None if module is None else module.MlflowClient()


def experiment_name(experiment_id: str) -> str:
    """An experiment's name from the tracking store, or its id when the store cannot be read."""
    try:
        return _tracking_client().get_experiment(experiment_id).name
    except Exception:  # a card must show even when the store is gone
        return str(experiment_id)


#: Artifact previews: at most this many, images shown this wide, files read up to this size.
PREVIEW_COUNT = 6
THUMB_PX = 220
PREVIEW_MAX_BYTES = 2_000_000
TEXT_HEAD_LINES = 8
CSV_HEAD_ROWS = 6
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".svg": "image/svg+xml"}
TEXT_SUFFIXES = (".txt", ".md", ".json", ".yaml", ".yml", ".log", ".py")
TABLE_SUFFIXES = (".csv", ".tsv")


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name[name.rfind("."):].lower() if "." in name else ""


def previewable(path: str) -> bool:
    """True for the artifacts :func:`preview_html` shows: images, text, CSV and TSV files."""
    suffix = _suffix(path)
    return suffix in IMAGE_TYPES or suffix in TEXT_SUFFIXES or suffix in TABLE_SUFFIXES


def preview_html(path: str, data: bytes) -> str:
    """One artifact's preview, captioned with its path: an image (size-capped), the first rows of a
    CSV/TSV as a table, or the first lines of a text file ('' for anything else)."""
    import base64

    suffix = _suffix(path)
    if suffix in IMAGE_TYPES:
        body = (f'<img alt="{esc(path)}" style="max-width:{THUMB_PX}px;max-height:{THUMB_PX}px;height:auto" '
                f'src="data:{IMAGE_TYPES[suffix]};base64,{base64.b64encode(data).decode("ascii")}"/>')
    elif suffix in TABLE_SUFFIXES:
        import csv
        import io

        reader = csv.reader(io.StringIO(data.decode("utf-8", "replace")), delimiter="\t" if suffix == ".tsv" else ",")
        rows = [row for _, row in zip(range(CSV_HEAD_ROWS + 1), reader)]
        if not rows:
            return ""
        head = "".join(f'<th style="{CELL_STYLE};{MUTED}">{esc(c)}</th>' for c in rows[0])
        body_rows = "".join("<tr>" + "".join(f'<td style="{CELL_STYLE}">{esc(c)}</td>' for c in r) + "</tr>"
                            for r in rows[1:])
        body = (f'<div style="overflow-x:auto;max-width:{THUMB_PX * 2}px"><table style="{TABLE_STYLE}">'
                f"<thead><tr>{head}</tr></thead><tbody>{body_rows}</tbody></table></div>")
    elif suffix in TEXT_SUFFIXES:
        lines = data.decode("utf-8", "replace").splitlines()
        text = "\n".join(line[:120] for line in lines[:TEXT_HEAD_LINES])
        more = f"\n… {len(lines) - TEXT_HEAD_LINES} more lines" if len(lines) > TEXT_HEAD_LINES else ""
        body = (f'<pre style="margin:0;max-width:{THUMB_PX * 2}px;max-height:{THUMB_PX}px;overflow:auto;'
                f'font-size:11px">{esc(text + more)}</pre>')
    else:
        return ""
    return (f'<figure class="mlnb-artifact-preview" style="display:inline-block;vertical-align:top;'
            f'margin:0 12px 6px 0"><figcaption style="font-size:11px;{MUTED}">{esc(path)}</figcaption>'
            f"{body}</figure>")


def _artifact_files(client: Any, run_id: str, path: str = "", depth: int = 2) -> list[Any]:
    files = []
    for f in client.list_artifacts(run_id, path or None):
        if f.is_dir:
            if depth > 0 and not any(c.path.endswith("MLmodel") for c in client.list_artifacts(run_id, f.path)):
                files += _artifact_files(client, run_id, f.path, depth - 1)
        else:
            files.append(f)
    return files


def artifact_previews_html(run_id: str, client: Any = None) -> str:
    """Previews of a run's artifacts (see :func:`preview_html`), at most ``PREVIEW_COUNT``, as inline
    HTML that needs no server once saved. Model directories are left out."""
    try:
        client = client or _tracking_client()
        files = _artifact_files(client, run_id)
    except Exception:  # previews are a courtesy: an unreadable store shows none
        return ""
    items = []
    for f in files:
        if len(items) >= PREVIEW_COUNT:
            break
        if not previewable(f.path) or (f.file_size or 0) > PREVIEW_MAX_BYTES:
            continue
        try:
            data = Path(client.download_artifacts(run_id, f.path)).read_bytes()
        except Exception:
            continue
        item = preview_html(f.path, data)
        if item:
            items.append(item)
    return section("Artifacts", f'<div class="mlnb-previews">{"".join(items)}</div>') if items else ""


def _run_name(run: Any) -> str:
    return run.info.run_name or run.data.tags.get("mlflow.runName", "") or run.info.run_id[:8]


def _dataset_profile(profile_json: str | None) -> str:
    """A dataset's size from its stored profile: rows for a DataFrame, the shape for arrays."""
    import json

    try:
        profile = json.loads(profile_json) if profile_json else {}
    except ValueError:
        return ""
    if not isinstance(profile, dict):
        return ""
    if isinstance(profile.get("num_rows"), int):
        return f"{profile['num_rows']:,} rows"
    shape = profile.get("features_shape")
    return "shape " + "×".join(str(n) for n in shape) if isinstance(shape, list) and shape else ""


def run_datasets(run: Any) -> list[tuple[str, str]]:
    """The datasets a run used, as (``name (context)``, ``digest · size · source type``) rows."""
    rows = []
    for entry in getattr(getattr(run, "inputs", None), "dataset_inputs", None) or []:
        dataset = getattr(entry, "dataset", entry)
        context = next((t.value for t in getattr(entry, "tags", None) or () if t.key == "mlflow.data.context"), None)
        details = [f"digest {dataset.digest}", _dataset_profile(getattr(dataset, "profile", None)),
                   getattr(dataset, "source_type", "") or ""]
        rows.append((f"{dataset.name} ({context})" if context else str(dataset.name),
                     " · ".join(d for d in details if d)))
    return rows


def run_card_html(run: Any, model_uris: Sequence[str] | None = None, previews: bool = False) -> str:
    """An HTML card for a run: name, status, experiment, duration, params, metrics, the datasets it
    used and model URIs (and previews of its artifacts with ``previews=True``)."""
    info, data = run.info, run.data
    uris = list(model_uris) if model_uris is not None else run_model_uris(run)
    duration = format_duration(info.start_time, info.end_time)
    title = (f"<b>Run</b> {esc(_run_name(run))} {status_badge(info.status)} "
             f'<span style="{MUTED}">{esc(info.run_id)} · experiment {esc(experiment_name(info.experiment_id))}'
             + (f" · {esc(duration)}" if duration else "") + "</span>")
    sections = []
    if data.params:
        sections.append(section(f"Params ({len(data.params)})", chips(sorted(data.params.items()))))
    if data.metrics:
        sections.append(section(f"Metrics ({len(data.metrics)})", kv_table(sorted(data.metrics.items()))))
    datasets = run_datasets(run)
    if datasets:
        sections.append(section(f"Datasets ({len(datasets)})", kv_table(datasets)))
    if uris:
        sections.append(section("Models", "".join(f"<div><code>{esc(u)}</code></div>" for u in uris)))
    if previews:
        sections.append(artifact_previews_html(info.run_id))
    if not (data.params or data.metrics or uris or datasets):
        sections.append(f'<div style="{MUTED}">Nothing logged.</div>')
    return card(title, sections, "run")


def run_card_text(run: Any, model_uris: Sequence[str] | None = None) -> str:
    """The run card as plain text (the ``text/plain`` of a run)."""
    info, data = run.info, run.data
    uris = list(model_uris) if model_uris is not None else run_model_uris(run)
    lines = [f"Run {_run_name(run)} [{info.status}] {info.run_id} · experiment {experiment_name(info.experiment_id)}"]
    if data.params:
        lines.append("  params: " + ", ".join(f"{k}={format_number(v)}" for k, v in sorted(data.params.items())[:MAX_ROWS]))
    if data.metrics:
        lines.append("  metrics: " + ", ".join(f"{k}={format_number(v)}" for k, v in sorted(data.metrics.items())[:MAX_ROWS]))
    lines += [f"  dataset: {name}, {details}" for name, details in run_datasets(run)[:MAX_ROWS]]
    lines += [f"  model: {u}" for u in uris]
    return "\n".join(lines)


class RunCard:
    """A run's card as a display object: ``text/plain`` and ``text/html``."""

    def __init__(self, run: Any, model_uris: Sequence[str] | None = None) -> None:
        self.run = run
        self.model_uris = list(model_uris) if model_uris is not None else run_model_uris(run)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        return {"text/plain": run_card_text(self.run, self.model_uris),
                "text/html": run_card_html(self.run, self.model_uris, previews=True)}

    def __repr__(self) -> str:
        return run_card_text(self.run, self.model_uris)


# -- the model registry -----------------------------------------------------------------------
def _aliases_text(aliases: Iterable[str]) -> str:
    return " ".join(f"@{a}" for a in aliases)


def _alias_chips(aliases: Iterable[str]) -> str:
    return " ".join(f'<code style="border:1px solid rgba(128,128,128,.5);border-radius:3px;padding:0 4px">'
                    f"@{esc(a)}</code>" for a in aliases)


def version_card_html(version: Any) -> str:
    """An HTML card for a registered model version: name, number, aliases, source, run, status."""
    v = version
    title = (f"<b>Model version</b> {esc(v.name)} v{esc(v.version)} {_alias_chips(v.aliases)} "
             f'<span style="{MUTED}">{esc(format_time(v.creation_timestamp))}</span>')
    rows = [("load with", f"models:/{v.name}/{v.version}"), ("source", v.source), ("run", v.run_id),
            ("status", v.status), ("stage", v.current_stage if v.current_stage != "None" else ""),
            ("description", v.description)]
    sections = [kv_table([(k, x) for k, x in rows if x])]
    if v.tags:
        sections.append(section("Tags", chips(sorted(v.tags.items()))))
    return card(title, sections, "version")


def version_card_text(version: Any) -> str:
    """The version card as plain text."""
    v = version
    lines = [f"Model version {v.name} v{v.version}" + (f" {_aliases_text(v.aliases)}" if v.aliases else "")]
    lines.append(f"  load with: models:/{v.name}/{v.version}")
    if v.source:
        lines.append(f"  source: {v.source}")
    if v.run_id:
        lines.append(f"  run: {v.run_id}")
    return "\n".join(lines)


def registered_model_card_html(model: Any) -> str:
    """An HTML card for a registered model: its aliases, latest versions and tags."""
    m = model
    title = f"<b>Registered model</b> {esc(m.name)}"
    sections = []
    if m.description:
        sections.append(f"<div>{esc(m.description)}</div>")
    if m.aliases:
        sections.append(section("Aliases", kv_table(
            [(f"@{a}", f"v{v} · models:/{m.name}@{a}") for a, v in sorted(m.aliases.items())])))
    if m.latest_versions:
        by_version: dict[int, list[str]] = {}
        for a, v in m.aliases.items():
            by_version.setdefault(v, []).append(a)
        rows = [(f"v{v.version}", " ".join(x for x in (v.status, format_time(v.creation_timestamp),
                                                         _aliases_text(by_version.get(v.version, []))) if x))
                for v in sorted(m.latest_versions, key=lambda v: v.version, reverse=True)]
        sections.append(section("Latest versions", kv_table(rows)))
    else:
        sections.append(f'<div style="{MUTED}">No versions yet: mlnb.register_model(model_uri, name) adds one.</div>')
    if m.tags:
        sections.append(section("Tags", chips(sorted(m.tags.items()))))
    return card(title, sections, "registered-model")


def registered_model_card_text(model: Any) -> str:
    """The registered model card as plain text."""
    m = model
    lines = [f"Registered model {m.name}"]
    lines += [f"  @{a} → v{v}" for a, v in sorted(m.aliases.items())]
    if m.latest_versions:
        lines.append("  latest versions: " + ", ".join(f"v{v.version}" for v in m.latest_versions))
    return "\n".join(lines)


__all__ = ["model_card_html", "model_card_text", "run_card_html", "run_card_text", "RunCard", "run_model_uris", "run_datasets",
           "artifact_previews_html", "collapse_rows", "experiment_name", "version_card_html", "version_card_text",
           "registered_model_card_html", "registered_model_card_text"]
