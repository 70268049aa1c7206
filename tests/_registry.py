"""Helpers for the registry tests: an SQLite file with MLflow's schema, created by MLflow itself."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

_TEMPLATE: dict[str, Path] = {}


def mlflow_schema_db(target: Path, cache_dir: Path) -> Path:
    """Copy of an empty store MLflow 3.17.2 created (made once per session: MLflow takes seconds)."""
    template = _TEMPLATE.get("db")
    if template is None:
        import mlflow

        template = cache_dir / "mlflow-template.db"
        mlflow.MlflowClient(tracking_uri=f"sqlite:///{template}").search_experiments()
        _TEMPLATE["db"] = template
    shutil.copyfile(template, target)
    return target


def rows(db: Path, table: str) -> list[dict]:
    """Every row of a table as dicts (read with plain sqlite3, as any tool would)."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(f"SELECT * FROM {table}")]
    finally:
        conn.close()
