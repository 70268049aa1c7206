"""An EvaluationResult saved to a directory and read back, in MLflow's layout.

::

    <path>/metrics.json               metric name -> value                              (MLflow's)
    <path>/artifacts_metadata.json    name -> {"uri", "class_name"}: MLflow's artifact classes (MLflow's)
    <path>/artifacts/<file>           each artifact, named by the last part of its URI  (MLflow's)
    <path>/mlnb_result.json           the rest of mlnb's result: run id, model type and name,
                                      baseline metrics, notes, greater_is_better, artifact kinds
    <path>/tables/<name>.json         ``result.tables`` (pandas' table-schema JSON: dtypes kept)
    <path>/explanation/<field>.npy    the SHAP arrays (never pickled)

MLflow's ``EvaluationResult.load`` reads the first three and ignores the rest; mlnb reads all of it,
and reads a result MLflow saved (no ``mlnb_result.json``). An artifact MLflow has no class for
(a file of another type) is kept in ``artifacts/`` and listed only in ``mlnb_result.json``; MLflow's
pickle artifacts are read as bytes, never unpickled. A save appears whole or not at all.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import urllib.parse
import uuid
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlnb.errors import InvalidParameterError, ResourceNotFoundError

if TYPE_CHECKING:  # result.py calls this module from EvaluationResult.save/load, and passes its classes
    from mlnb.evaluation.result import EvaluationArtifact, EvaluationResult

METRICS_FILE = "metrics.json"
ARTIFACTS_METADATA_FILE = "artifacts_metadata.json"
ARTIFACTS_DIR = "artifacts"
MLNB_FILE = "mlnb_result.json"
TABLES_DIR = "tables"
EXPLANATION_DIR = "explanation"
FORMAT_VERSION = 1

_MLFLOW_ARTIFACTS = "mlflow.models.evaluation.artifacts."
#: mlnb artifact kind -> MLflow's artifact class (files of kind "file" go by their suffix)
KIND_CLASSES = {"image": "ImageEvaluationArtifact", "csv": "CsvEvaluationArtifact",
                "json": "JsonEvaluationArtifact", "npy": "NumpyEvaluationArtifact"}
SUFFIX_CLASSES = {".txt": "TextEvaluationArtifact", ".parquet": "ParquetEvaluationArtifact",
                  ".jpg": "ImageEvaluationArtifact", ".jpeg": "ImageEvaluationArtifact"}
CLASS_KINDS = {cls: kind for kind, cls in KIND_CLASSES.items()}


def save_result(result: EvaluationResult, path: str | os.PathLike) -> Path:
    """Write ``result`` to the directory ``path`` (replacing a result saved there before)."""
    target = Path(path).expanduser().absolute()
    if target.exists() and not _replaceable(target):
        raise InvalidParameterError(
            f"'{target}' exists and is not a saved evaluation result; save to a new or empty directory.")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        _write(result, tmp)
        _swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def load_result(path: str | os.PathLike, result_type: type[EvaluationResult],
                artifact_type: type[EvaluationArtifact]) -> EvaluationResult:
    """Read a result saved by :func:`save_result` or by MLflow's ``EvaluationResult.save``, as
    ``result_type`` holding ``artifact_type`` artifacts (EvaluationResult.load passes its classes)."""
    root = Path(path).expanduser().absolute()
    if not (root / METRICS_FILE).is_file():
        raise ResourceNotFoundError(
            f"'{root}' holds no saved evaluation result (no {METRICS_FILE}); write one with result.save(path).")
    metrics = _read_json(root / METRICS_FILE)
    extra = _read_json(root / MLNB_FILE) if (root / MLNB_FILE).is_file() else {}
    if extra.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
        raise InvalidParameterError(
            f"'{root}' was saved by a newer mlnb (format {extra['format_version']}); upgrade mlnb to read it.")
    if "artifacts" in extra:
        listed = {name: (meta["uri"], meta["kind"]) for name, meta in extra["artifacts"].items()}
    else:
        listed = {name: (meta["uri"], _kind_of(meta.get("class_name", ""), meta["uri"]))
                  for name, meta in _read_json(root / ARTIFACTS_METADATA_FILE).items()}
    artifacts = {}
    for name, (uri, kind) in listed.items():
        file = _inside(root, f"{ARTIFACTS_DIR}/{_file_name(uri, name)}")
        artifact = artifact_type(uri=uri, path=file, kind=kind)
        artifact.data = artifact.content  # read now: the result outlives its directory
        artifacts[name] = artifact
    tables = {name: pd.read_json(io.StringIO(_inside(root, file).read_text()), orient="table")
              for name, file in extra.get("tables", {}).items()}
    return result_type(
        metrics=metrics, artifacts=artifacts, tables=tables, run_id=extra.get("run_id"),
        model_type=extra.get("model_type", ""), model_name=extra.get("model_name", ""),
        baseline_metrics=extra.get("baseline_metrics"), notes=list(extra.get("notes", [])),
        greater_is_better=dict(extra.get("greater_is_better", {})),
        explanation=_read_explanation(root, extra["explanation"]) if extra.get("explanation") else None,
    )


# -- writing ----------------------------------------------------------------------------------
def _write(result: EvaluationResult, folder: Path) -> None:
    files = {}
    for name, artifact in result.artifacts.items():
        file = _file_name(artifact.uri, name)
        if file in files.values():
            raise InvalidParameterError(
                f"Artifacts '{name}' and '{_key_of(files, file)}' would both be saved as '{file}' (a saved "
                f"result names files by the last part of their URI, as MLflow does); give them distinct URIs.")
        files[name] = file
    (folder / ARTIFACTS_DIR).mkdir()
    for name, artifact in result.artifacts.items():
        (folder / ARTIFACTS_DIR / files[name]).write_bytes(_artifact_bytes(name, artifact))
    _write_json(folder / METRICS_FILE, result.metrics)
    mlflow_classes = {name: _mlflow_class(a.kind, files[name]) for name, a in result.artifacts.items()}
    _write_json(folder / ARTIFACTS_METADATA_FILE, {
        name: {"uri": a.uri, "class_name": _MLFLOW_ARTIFACTS + mlflow_classes[name]}
        for name, a in result.artifacts.items() if mlflow_classes[name]})
    tables = {}
    if result.tables:
        (folder / TABLES_DIR).mkdir()
    for i, (name, frame) in enumerate(result.tables.items()):
        tables[name] = f"{TABLES_DIR}/{i}-{_safe(name)}.json"
        (folder / tables[name]).write_text(frame.to_json(orient="table", index=False))
    _write_json(folder / MLNB_FILE, {
        "format_version": FORMAT_VERSION,
        "run_id": result.run_id, "model_type": result.model_type, "model_name": result.model_name,
        "baseline_metrics": result.baseline_metrics, "notes": list(result.notes),
        "greater_is_better": result.greater_is_better,
        "artifacts": {name: {"uri": a.uri, "kind": a.kind} for name, a in result.artifacts.items()},
        "tables": tables,
        "explanation": _write_explanation(result.explanation, folder),
    })


def _artifact_bytes(name: str, artifact: EvaluationArtifact) -> bytes:
    """The artifact's file as logged: its local copy, else its content written by kind, else a download."""
    if artifact.path is not None and Path(artifact.path).is_file():
        return Path(artifact.path).read_bytes()
    data = artifact.data
    if data is None:
        from mlnb.tracking.fluent import download_artifacts

        return Path(download_artifacts(artifact.uri)).read_bytes()
    if artifact.kind == "csv":
        return data.to_csv(index=False).encode("utf-8")
    if artifact.kind == "json":
        return json.dumps(data, default=_plain).encode("utf-8")
    if artifact.kind == "npy":
        buf = io.BytesIO()
        np.save(buf, np.asarray(data), allow_pickle=False)
        return buf.getvalue()
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    raise InvalidParameterError(f"Artifact '{name}' ({artifact.kind}) holds a {type(data).__name__}, not bytes; "
                                f"it cannot be saved.")


def _write_explanation(explanation: Any, folder: Path) -> dict | None:
    if explanation is None:
        return None
    out: dict[str, Any] = {}
    for f in fields(explanation):
        value = getattr(explanation, f.name)
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                continue  # would need a pickle; the summary and the other arrays are kept
            (folder / EXPLANATION_DIR).mkdir(exist_ok=True)
            np.save(folder / EXPLANATION_DIR / f"{f.name}.npy", value, allow_pickle=False)
            out.setdefault("arrays", []).append(f.name)
        else:
            out[f.name] = value
    return out


def _swap_in(tmp: Path, target: Path) -> None:
    """Rename the finished directory to ``target``; an older saved result there is removed after."""
    if not target.exists():
        os.replace(tmp, target)
        return
    if not any(target.iterdir()):
        target.rmdir()
        os.replace(tmp, target)
        return
    old = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _replaceable(target: Path) -> bool:
    return target.is_dir() and (not any(target.iterdir()) or (target / METRICS_FILE).is_file())


# -- reading ----------------------------------------------------------------------------------
def _read_explanation(root: Path, saved: dict) -> Any:
    from mlnb.evaluation.explain import Explanation

    arrays = {name: np.load(_inside(root, f"{EXPLANATION_DIR}/{name}.npy"), allow_pickle=False)
              for name in saved.get("arrays", [])}
    known = {f.name for f in fields(Explanation)}
    return Explanation(**{k: v for k, v in {**saved, **arrays}.items() if k in known})


def _kind_of(class_name: str, uri: str) -> str:
    cls = class_name.rsplit(".", 1)[-1]
    if cls == "ImageEvaluationArtifact":
        return "image" if _file_name(uri, uri).lower().endswith(".png") else "file"
    return CLASS_KINDS.get(cls, "file")


def _mlflow_class(kind: str, file: str) -> str | None:
    return KIND_CLASSES.get(kind) or SUFFIX_CLASSES.get(Path(file).suffix.lower())


# -- small helpers ----------------------------------------------------------------------------
def _file_name(uri: str, name: str) -> str:
    file = Path(urllib.parse.urlparse(uri).path).name
    if file in ("", ".", ".."):
        raise InvalidParameterError(f"Artifact '{name}' has the URI '{uri}', which names no file.")
    return file


def _inside(root: Path, rel: str) -> Path:
    path = (root / rel).resolve()
    if root.resolve() not in path.parents or not path.is_file():
        raise InvalidParameterError(f"'{root}' is not a whole saved evaluation result: '{rel}' is missing or "
                                    f"outside it.")
    return path


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidParameterError(f"'{path.parent}' is not a whole saved evaluation result: "
                                    f"'{path.name}' is missing.") from None
    except ValueError as exc:
        raise InvalidParameterError(f"'{path}' is not valid JSON ({exc}); the saved result is damaged.") from None


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, default=_plain, indent=1))


def _plain(obj: Any) -> Any:
    """NumPy scalars and arrays as plain JSON values."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".") or "table"


def _key_of(files: dict[str, str], file: str) -> str:
    return next(k for k, v in files.items() if v == file)
