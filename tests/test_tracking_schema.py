"""The embedded store is MLflow's: the shipped schema, the revision policy, damaged and odd files."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat

import pytest

import mlnb
from mlnb.errors import InvalidParameterError, TrackingError
from mlnb.tracking import schema
from mlnb.tracking.sqlite_store import SqliteStore
from tests._tracking import mlflow_schema


def _definitions(db) -> dict:
    """Every table's columns (name, type, not-null, default, key) and every index and trigger's SQL."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        master = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
                              "AND name NOT LIKE 'mlnb_%'")   # mlnb's search cache is its own addition
        out = {}
        for kind, name, table, sql in master.fetchall():
            if kind == "table":
                out[("table", name)] = conn.execute(f'PRAGMA table_xinfo("{name}")').fetchall()
                out[("fks", name)] = sorted(conn.execute(f'PRAGMA foreign_key_list("{name}")').fetchall())
            else:
                out[(kind, name)] = (table, sql)
        out["alembic"] = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    return out


def test_the_shipped_schema_is_the_one_mlflow_creates(tmp_path):
    theirs = tmp_path / "theirs" / "mlflow.db"
    theirs.parent.mkdir()
    assert mlflow_schema(theirs)   # MLflow 3.17.2 makes a fresh store
    SqliteStore(tmp_path / "ours.db").search_experiments()
    ours, expected = _definitions(tmp_path / "ours.db"), _definitions(theirs)
    assert sorted(ours, key=str) == sorted(expected, key=str)
    for key, value in expected.items():
        assert ours[key] == value, key
    assert ours["alembic"] == [(schema.HEAD,)]


def test_mlflow_opens_a_store_mlnb_created_without_an_upgrade(tmp_path):
    import mlflow

    mlnb.set_tracking_uri(tmp_path / "mlflow.db")
    with mlnb.start_run(run_name="from-mlnb") as run:
        mlnb.log_metric("m", 1.0)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")   # MLflow's own global, not another test's
    client = mlflow.MlflowClient()
    assert client.get_run(run.info.run_id).info.run_name == "from-mlnb"
    with mlflow.start_run(experiment_id="0") as theirs:   # MLflow writes to it as its own
        mlflow.log_param("p", "v")
    assert mlnb.get_run(theirs.info.run_id).data.params == {"p": "v"}


def _mlflow_store_at(db, revision: str) -> str:
    """A store MLflow's own migrations brought to ``revision`` (how an older MLflow left it)."""
    from alembic import command
    from mlflow.store.db.utils import _get_alembic_config
    import sqlalchemy
    from mlflow.store.tracking.dbmodels.initial_models import Base

    url = f"sqlite:///{db}"
    engine = sqlalchemy.create_engine(url)
    Base.metadata.create_all(engine)
    config = _get_alembic_config(url)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    engine.dispose()
    return url


def test_an_older_store_is_read_and_written_then_mlflow_upgrades_it(tmp_path):
    import mlflow
    from mlflow.store.db.utils import _upgrade_db
    import sqlalchemy

    db = tmp_path / "old.db"
    url = _mlflow_store_at(db, schema.OLDEST_READABLE)
    with contextlib.closing(sqlite3.connect(db)) as conn:   # an older MLflow's Default experiment
        conn.execute("INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage) "
                     f"VALUES (0, 'Default', '{tmp_path}/mlruns/0', 'active')")
        conn.commit()
    mlnb.set_tracking_uri(url)
    with mlnb.start_run() as run:
        mlnb.log_params({"a": 1})
        mlnb.log_metric("m", 2.0, step=3)
    # logged models need tables this revision lacks: refused with the way forward
    with pytest.raises(TrackingError, match="mlflow db upgrade"):
        mlnb.MlnbClient().store.create_logged_model("0", "model")
    engine = sqlalchemy.create_engine(url)
    _upgrade_db(engine)   # what `mlflow db upgrade` does
    engine.dispose()
    mlnb.tracking.fluent._reset_for_tests()
    mlnb.set_tracking_uri(url)
    assert mlnb.get_run(run.info.run_id).data.params == {"a": "1"}
    with mlnb.start_run() as second:
        mlnb.log_metric("m", 1.0)
    assert mlnb.MlnbClient().store.create_logged_model("0", "model").status == "PENDING"
    client = mlflow.MlflowClient(url)
    assert client.get_run(run.info.run_id).data.metrics == {"m": 2.0}
    assert client.get_run(second.info.run_id).data.metrics == {"m": 1.0}


def test_a_store_older_than_mlnb_reads_is_refused_with_the_upgrade_command(tmp_path):
    db = tmp_path / "ancient.db"
    url = _mlflow_store_at(db, "89d4b8295536")
    with pytest.raises(TrackingError, match=f"mlflow db upgrade {url}"):
        SqliteStore(db).search_experiments()


def _newer_revision(db, change: str) -> None:
    SqliteStore(db).close()
    SqliteStore(db).search_experiments()
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffffeeee0000'")
        conn.execute(change)
        conn.commit()


def test_a_newer_store_with_additive_changes_is_written(tmp_path):
    db = tmp_path / "newer.db"
    _newer_revision(db, "ALTER TABLE runs ADD COLUMN future_note TEXT")
    mlnb.set_tracking_uri(db)
    with mlnb.start_run() as run:
        mlnb.log_param("a", 1)
    assert mlnb.get_run(run.info.run_id).data.params == {"a": "1"}


def test_a_newer_store_with_other_changes_is_read_but_not_written(tmp_path):
    db = tmp_path / "newer.db"
    store = SqliteStore(db)
    store.create_run("0", "before", 1, {})
    store.close()
    _newer_revision(db, "ALTER TABLE runs RENAME COLUMN source_version TO code_version")
    mlnb.set_tracking_uri(db)
    assert len(mlnb.search_runs()) == 1   # still read and searched
    with pytest.raises(TrackingError, match=f"ffffeeee0000.*{schema.HEAD}|{schema.HEAD}.*ffffeeee0000"):
        mlnb.start_run()


def test_damaged_files_are_named_as_damaged(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(TrackingError, match="damaged: the file is empty"):
        SqliteStore(empty).search_experiments()
    folder = tmp_path / "folder.db"
    folder.mkdir()
    with pytest.raises(TrackingError, match="is a directory"):
        SqliteStore(folder).search_experiments()
    wal = tmp_path / "wal.db"
    SqliteStore(wal).close()
    SqliteStore(wal).search_experiments()
    (tmp_path / "wal.db-wal").write_bytes(b"garbage" * 100)
    with pytest.raises(TrackingError, match="damaged: its write-ahead log"):
        SqliteStore(wal).search_experiments()


def test_corrupted_pages_are_found_on_open(tmp_path):
    db = tmp_path / "corrupt.db"
    store = SqliteStore(db)
    for i in range(200):
        run = store.create_run("0", f"r{i}", i, {"k": "v" * 200})
        store.log_batch(run.info.run_id, params=[mlnb.tracking.entities.Param("p", "x" * 300)])
    store.connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    size = db.stat().st_size
    with open(db, "r+b") as f:   # scribble over pages in the middle of the file
        f.seek(size // 2)
        f.write(os.urandom(8192))
    with pytest.raises(TrackingError, match="damaged"):
        SqliteStore(db).search_runs(["0"])


def test_a_read_only_store_is_read_and_searched(tmp_path):
    db = tmp_path / "mlflow.db"
    mlnb.set_tracking_uri(db)
    with mlnb.start_run() as run:
        mlnb.log_metric("m", 1.0)
    mlnb.tracking.fluent._reset_for_tests()
    os.chmod(db, stat.S_IRUSR)   # (root ignores file modes: read_only=True opens it as a read-only mount would)
    store = SqliteStore(db, read_only=True)
    assert store.get_run(run.info.run_id).data.metrics == {"m": 1.0}
    assert len(store.search_runs(["0"])) == 1
    with pytest.raises(TrackingError, match="read-only"):
        store.create_run("0", "x", 1, {})


def test_unencodable_strings_are_refused_at_write_and_search_keeps_working():
    with mlnb.start_run():
        mlnb.log_param("good", "x")
        with pytest.raises(InvalidParameterError, match="UTF-8"):
            mlnb.log_param("bad", "a\udcff")
        with pytest.raises(InvalidParameterError, match="UTF-8"):
            mlnb.set_tag("bad", "v\ud800")
    df = mlnb.search_runs()
    assert list(df["params.good"]) == ["x"] and "params.bad" not in df


def test_a_full_disk_is_a_tracking_error_with_the_path_and_a_next_step(tmp_path):
    store = SqliteStore(tmp_path / "full.db")
    run = store.create_run("0", "r", 1, {})
    pages = store.connection().execute("PRAGMA page_count").fetchone()[0]
    store.connection().execute(f"PRAGMA max_page_count = {pages}")   # SQLite's own "disk full"
    with pytest.raises(TrackingError, match=r"full\.db.*full: free some space"):
        store.log_batch(run.info.run_id, params=[mlnb.tracking.entities.Param(f"p{i}", "x" * 2000)
                                                 for i in range(200)])


def test_a_garbled_cache_document_is_a_tracking_error_naming_the_store(tmp_path):
    db = tmp_path / "mlflow.db"
    mlnb.set_tracking_uri(db)
    with mlnb.start_run():
        mlnb.log_param("a", "1")
    with contextlib.closing(sqlite3.connect(db)) as conn:   # a third tool wrote nonsense into it
        conn.execute("UPDATE mlnb_run_cache SET params = '{\"a\": tru'")
        conn.commit()
    with pytest.raises(TrackingError, match=f"{db}.*not valid JSON"):
        mlnb.search_runs()
