"""The model registry on a real SQLite file with MLflow's schema (created by MLflow 3.17.2):
what mlnb writes, MLflow reads, and the other way round; models:/ URIs wherever a URI is taken."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import mlnb
import mlnb.pyfunc
import mlnb.sklearn
from mlnb.errors import InvalidParameterError, ResourceNotFoundError, TrackingError
from mlnb.tracking.client import MlnbClient
from tests._registry import mlflow_schema_db, rows
from tests.conftest import WAIT


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("registry-template")


@pytest.fixture
def registry(tmp_path, template_dir, monkeypatch):
    """mlflow.db (MLflow's schema, MLflow's own MLFLOW_TRACKING_URI here) as mlnb's registry;
    runs stay in mlnb's own store until the two stores are one."""
    db = mlflow_schema_db(tmp_path / "mlflow.db", template_dir)
    monkeypatch.setenv("MLNB_REGISTRY_URI", f"sqlite:///{db}")
    return db


@pytest.fixture
def fitted(classification_data):
    X, y = classification_data
    return LogisticRegression(max_iter=200).fit(X, y), X, y


def _log(model, **kwargs):
    with mlnb.start_run():
        return mlnb.sklearn.log_model(model, name="model", **kwargs)


# -- what mlnb writes ------------------------------------------------------------------------------
def test_register_model_writes_the_rows_mlflow_writes(registry, fitted):
    model, X, _ = fitted
    info = _log(model)
    runs_uri = f"runs:/{info.run_id}/model"
    before = int(time.time() * 1000)
    mv = mlnb.register_model(runs_uri, "churn", tags={"data": "v1"})
    after = int(time.time() * 1000)
    run = mlnb.get_run(info.run_id)
    source = f"{run.info.artifact_uri}/model"
    assert (mv.name, mv.version, mv.source, mv.run_id, mv.status, mv.current_stage) == (
        "churn", 1, source, info.run_id, "READY", "None")
    assert mv.tags == {"data": "v1"} and mv.aliases == [] and mv.model_id is None
    [rm] = rows(registry, "registered_models")
    assert rm["name"] == "churn" and rm["workspace"] == "default" and rm["description"] is None
    assert before <= rm["creation_time"] <= after and rm["last_updated_time"] >= rm["creation_time"]
    [row] = rows(registry, "model_versions")
    assert row == {
        "name": "churn", "version": 1, "creation_time": row["creation_time"],
        "last_updated_time": row["creation_time"], "description": None, "user_id": None,
        "current_stage": "None", "source": source, "run_id": info.run_id, "status": "READY",
        "status_message": None, "run_link": None, "storage_location": source, "workspace": "default",
    }
    assert before <= row["creation_time"] <= after  # milliseconds, as MLflow writes them
    assert rows(registry, "model_version_tags") == [
        {"key": "data", "value": "v1", "name": "churn", "version": 1, "workspace": "default"}]
    # a second registration of the same name is version 2
    assert mlnb.register_model(runs_uri, "churn").version == 2


def test_log_model_with_registered_model_name_registers_each_time(registry, fitted):
    model, X, _ = fitted
    first = _log(model, registered_model_name="clf")
    second = _log(model, registered_model_name="clf")
    assert (first.registered_model_version, second.registered_model_version) == (1, 2)
    versions = MlnbClient().search_model_versions("name = 'clf'")
    assert [(v.version, v.run_id) for v in versions] == [(2, second.run_id), (1, first.run_id)]
    # as MLflow 3 records it: the logged model's models:/<model_id> is the source
    assert [(v.source, v.model_id) for v in versions] == [
        (f"models:/{i.model_id}", i.model_id) for i in (second, first)]
    with pytest.raises(InvalidParameterError, match="cannot contain '/'"):
        _log(model, registered_model_name="a/b")


def test_mlflow_reads_what_mlnb_registered(registry, fitted):
    import mlflow
    from mlflow import MlflowClient

    model, X, _ = fitted
    info = _log(model)
    client = MlnbClient()
    client.create_registered_model("churn", tags={"team": "ml"}, description="the churn model")
    runs_uri = f"runs:/{info.run_id}/model"
    mv = client.create_model_version("churn", runs_uri, run_id=info.run_id)
    mlnb.register_model(runs_uri, "churn")
    client.set_registered_model_alias("churn", "champion", 2)
    client.set_model_version_tag("churn", 2, "validated", "yes")
    client.update_model_version("churn", 2, description="best so far")

    theirs = MlflowClient(tracking_uri=f"sqlite:///{registry}", registry_uri=f"sqlite:///{registry}")
    rm = theirs.get_registered_model("churn")
    assert (rm.name, rm.description, rm.tags, rm.aliases) == ("churn", "the churn model", {"team": "ml"}, {"champion": 2})
    got = theirs.get_model_version_by_alias("churn", "champion")
    assert (got.version, got.description, got.tags, got.aliases) == (2, "best so far", {"validated": "yes"},
                                                                           ["champion"])
    assert got.source == f"{mlnb.get_run(info.run_id).info.artifact_uri}/model" and got.run_id == info.run_id
    assert mv.version == 1 and mv.source == runs_uri  # create_model_version keeps the source as given
    assert [v.version for v in theirs.search_model_versions("name = 'churn'")] == [2, 1]
    loaded = mlflow.pyfunc.load_model("models:/churn@champion")
    np.testing.assert_array_equal(loaded.predict(X.head(20)), model.predict(X.head(20)))


def test_mlnb_reads_what_mlflow_registered(registry, fitted):
    import mlflow
    from mlflow import MlflowClient

    model, X, _ = fitted
    with mlflow.start_run() as run:
        logged = mlflow.sklearn.log_model(model, name="model", registered_model_name="churn")
    theirs = MlflowClient()
    theirs.set_registered_model_alias("churn", "champion", 1)
    theirs.set_registered_model_tag("churn", "team", "ml")
    theirs.create_model_version("churn", "/nowhere", tags={"note": "placeholder"})
    theirs.delete_model_version("churn", 2)

    ours = MlnbClient()
    rm = ours.get_registered_model("churn")
    assert (rm.tags, rm.aliases, [v.version for v in rm.latest_versions]) == ({"team": "ml"}, {"champion": 1}, [1])
    mv = ours.get_model_version_by_alias("churn", "champion")
    theirs_mv = theirs.get_model_version("churn", 1)
    for attr in ("name", "creation_timestamp", "last_updated_timestamp", "description", "user_id", "current_stage",
                 "source", "run_id", "status", "status_message", "tags", "run_link", "aliases"):
        assert getattr(mv, attr) == getattr(theirs_mv, attr), attr
    assert mv.version == 1 and mv.source == f"models:/{logged.model_id}" and mv.run_id == run.info.run_id
    assert mv.model_id == logged.model_id  # MLflow 3's source: models:/<model_id>
    assert ours.get_model_version_download_uri("churn", 1) == theirs.get_model_version_download_uri("churn", 1)
    with pytest.raises(ResourceNotFoundError, match="Version 2 of registered model 'churn' was deleted"):
        ours.get_model_version("churn", 2)
    # and the files load through every models:/ form
    for uri in ("models:/churn/1", "models:/churn@champion", "models:/churn/latest", "models:/churn/None"):
        np.testing.assert_array_equal(mlnb.pyfunc.load_model(uri).predict(X.head(10)), model.predict(X.head(10)))
    # mlnb's next version of it is 3 (a deleted number is never reused), from a models:/ source
    mv3 = mlnb.register_model("models:/churn@champion", "churn")
    assert (mv3.version, mv3.source, mv3.run_id) == (3, "models:/churn@champion", None)  # as MLflow records it
    assert [v.version for v in theirs.search_model_versions("name = 'churn'")] == [3, 1]
    assert theirs.get_model_version_download_uri("churn", 3) == theirs.get_model_version_download_uri("churn", 1)
    loaded = mlflow.pyfunc.load_model("models:/churn/3")
    np.testing.assert_array_equal(loaded.predict(X.head(10)), model.predict(X.head(10)))


# -- the client's registry methods -----------------------------------------------------------------
def test_registered_models_create_update_rename_tag_delete(registry, tmp_path):
    c = MlnbClient()
    for name in ("churn-a", "churn-b", "Fraud"):
        c.create_registered_model(name, tags={"team": "ml" if name != "Fraud" else "risk"})
    with pytest.raises(InvalidParameterError, match="already exists"):
        c.create_registered_model("churn-a")
    assert c.update_registered_model("churn-a", "first").description == "first"
    c.set_registered_model_tag("churn-a", "stage", "dev")
    c.set_registered_model_tag("churn-a", "stage", "prod")
    c.delete_registered_model_tag("churn-a", "team")
    assert c.get_registered_model("churn-a").tags == {"stage": "prod"}
    c.create_model_version("churn-b", str(tmp_path), tags={"k": "v"})
    c.set_registered_model_alias("churn-b", "champion", 1)
    renamed = c.rename_registered_model("churn-b", "churn-c")
    assert renamed.name == "churn-c" and renamed.aliases == {"champion": 1}
    assert c.get_model_version("churn-c", 1).tags == {"k": "v"}
    assert c.get_model_version_by_alias("churn-c", "champion").name == "churn-c"
    with pytest.raises(InvalidParameterError, match="exists"):
        c.rename_registered_model("churn-c", "Fraud")
    names = lambda **kw: [m.name for m in c.search_registered_models(**kw)]  # noqa: E731
    assert names() == ["Fraud", "churn-a", "churn-c"]
    assert names(filter_string="name LIKE 'churn%'") == ["churn-a", "churn-c"]
    assert names(filter_string="name LIKE 'CHURN%'") == []  # LIKE is case-sensitive, ILIKE is not
    assert names(filter_string="name ILIKE 'CHURN%'") == ["churn-a", "churn-c"]
    assert names(filter_string="name IN ('Fraud', 'churn-c')") == ["Fraud", "churn-c"]
    assert names(filter_string="tags.team = 'ml'") == ["churn-c"]
    assert names(filter_string="name != 'Fraud' AND tags.`stage` = 'prod'") == ["churn-a"]
    assert names(order_by=["name DESC"]) == ["churn-c", "churn-a", "Fraud"]
    page = c.search_registered_models(max_results=2)
    assert [m.name for m in page] == ["Fraud", "churn-a"] and page.token
    assert [m.name for m in c.search_registered_models(max_results=2, page_token=page.token)] == ["churn-c"]
    c.delete_registered_model("churn-c")
    assert names() == ["Fraud", "churn-a"]
    assert {r["name"] for t in ("model_versions", "registered_model_aliases", "model_version_tags")
            for r in rows(registry, t)} == set()


def test_model_versions_search_update_stage_alias_delete(registry, tmp_path):
    c = MlnbClient()
    c.create_registered_model("m")
    for i in range(1, 5):
        c.create_model_version("m", str(tmp_path / f"v{i}"), run_id=f"run{i % 2}", tags={"parity": str(i % 2)})
    versions = lambda f, **kw: [v.version for v in c.search_model_versions(f, **kw)]  # noqa: E731
    assert versions("name = 'm' AND version_number > 2") == [4, 3]
    assert versions("version_number = '2'") == [2]
    assert versions("run_id IN ('run1')") == [3, 1]
    assert versions("tags.parity = '0'", order_by=["version_number ASC"]) == [2, 4]
    assert versions(f"source_path = '{tmp_path / 'v2'}'") == [2]
    assert c.update_model_version("m", "3", "third").description == "third"
    assert c.get_model_version_download_uri("m", 2) == str(tmp_path / "v2")
    c.transition_model_version_stage("m", 2, "production")
    c.transition_model_version_stage("m", 3, "Production", archive_existing_versions=True)
    assert c.get_model_version("m", 2).current_stage == "Archived"
    latest = {v.current_stage: v.version for v in c.get_latest_versions("m")}
    assert latest == {"None": 4, "Archived": 2, "Production": 3}
    assert [v.version for v in c.get_latest_versions("m", stages=["production"])] == [3]
    c.set_registered_model_alias("m", "champion", 3)
    c.set_registered_model_alias("m", "champion", 4)  # an alias moves
    c.set_registered_model_alias("m", "challenger", 1)
    assert c.get_registered_model("m").aliases == {"challenger": 1, "champion": 4}
    assert c.get_model_version("m", 4).aliases == ["champion"]
    c.delete_registered_model_alias("m", "challenger")
    c.delete_model_version_tag("m", 4, "parity")
    assert c.get_model_version("m", 4).tags == {}
    c.delete_model_version("m", 4)  # its alias goes with it, as in MLflow
    assert c.get_registered_model("m").aliases == {}
    assert versions("name = 'm'") == [3, 2, 1]
    deleted = [r for r in rows(registry, "model_versions") if r["version"] == 4][0]
    assert (deleted["current_stage"], deleted["source"], deleted["run_id"]) == (
        "Deleted_Internal", "REDACTED-SOURCE-PATH", "REDACTED-RUN-ID")
    assert c.create_model_version("m", str(tmp_path)).version == 5


# -- models:/ wherever a URI is taken ----------------------------------------------------------------
def test_models_uris_load_everywhere(registry, fitted):
    from IPython.core.interactiveshell import InteractiveShell

    model, X, y = fitted
    info = _log(model, registered_model_name="churn")
    _log(LogisticRegression(C=0.01, max_iter=200).fit(X, y), registered_model_name="churn")
    MlnbClient().set_registered_model_alias("churn", "champion", 1)
    expected = model.predict(X.head(15))
    assert type(mlnb.sklearn.load_model("models:/churn@champion")).__name__ == "LogisticRegression"
    np.testing.assert_array_equal(mlnb.sklearn.load_model("models:/churn/1").predict(X.head(15)), expected)
    np.testing.assert_array_equal(mlnb.pyfunc.load_model("models:/churn@champion").predict(X.head(15)), expected)
    latest = mlnb.pyfunc.load_model("models:/churn/latest")
    assert latest.metadata.run_id != info.run_id  # version 2
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "mlnb")
    try:
        shell.run_cell("m = %load_model models:/churn@champion")
        np.testing.assert_array_equal(shell.user_ns["m"].predict(X.head(15)), expected)
        result = shell.run_cell("bad = %load_model models:/churn@nope")
        assert "the model registry" in str(result.error_in_exec) and "champion -> version 1" in str(result.error_in_exec)
    finally:
        shell.run_line_magic("unload_ext", "mlnb")
        shell.reset(new_session=False)
    data = X.head(100).assign(label=y[:100])
    result = mlnb.evaluate("models:/churn@champion", data, targets="label", model_type="classifier")
    assert result.metrics["accuracy_score"] == pytest.approx((model.predict(X.head(100)) == y[:100]).mean())


def test_models_uri_of_a_logged_model_id_without_logged_models_says_what_to_write(registry, fitted):
    MlnbClient().create_registered_model("churn")
    with pytest.raises(ResourceNotFoundError, match=r"models:/churn/latest"):
        mlnb.pyfunc.load_model("models:/churn")


@pytest.mark.parametrize("uri", ["models:/", "models:/a/b/c", "models:/a@", "models:/a/", "models:/a/stagingx"])
def test_malformed_models_uris_are_refused(registry, uri):
    with pytest.raises(InvalidParameterError, match="models:/<name>/<version>"):
        mlnb.pyfunc.load_model(uri)


# -- bad input ------------------------------------------------------------------------------------
def test_unknown_name_version_and_alias_list_what_exists(registry, tmp_path):
    c = MlnbClient()
    for name in ("alpha", "beta"):
        c.create_registered_model(name)
    for _ in range(3):
        c.create_model_version("alpha", str(tmp_path))
    c.delete_model_version("alpha", 2)
    c.set_registered_model_alias("alpha", "champion", 3)
    with pytest.raises(ResourceNotFoundError, match=r"No registered model named 'gamma'.*Registered models: alpha, beta\."):
        mlnb.pyfunc.load_model("models:/gamma/1")
    with pytest.raises(ResourceNotFoundError, match=r"Version 7 .* does not exist\. Its versions are 1, 3\."):
        mlnb.pyfunc.load_model("models:/alpha/7")
    with pytest.raises(ResourceNotFoundError, match=r"Version 2 .* was deleted\. Its versions are 1, 3\."):
        c.get_model_version("alpha", "2")
    with pytest.raises(ResourceNotFoundError, match=r"no alias 'prod'\. Its aliases are champion -> version 3\."):
        mlnb.pyfunc.load_model("models:/alpha@prod")
    with pytest.raises(ResourceNotFoundError, match=r"has no aliases: set one"):
        c.get_model_version_by_alias("beta", "champion")
    with pytest.raises(ResourceNotFoundError, match=r"no version in stage Production"):
        mlnb.pyfunc.load_model("models:/alpha/Production")
    with pytest.raises(ResourceNotFoundError, match=r"It has no versions yet"):
        mlnb.pyfunc.load_model("models:/beta/latest")
    with pytest.raises(ResourceNotFoundError, match="The registry is empty"):
        MlnbClient(registry_uri=mlflow_schema_db(tmp_path / "empty.db", tmp_path)).get_registered_model("x")


def test_registering_a_missing_path_or_run_registers_nothing(registry, tmp_path, fitted):
    with pytest.raises(ResourceNotFoundError, match="No model at 'no/such/model'"):
        mlnb.register_model("no/such/model", "m")
    info = _log(fitted[0])
    with pytest.raises(ResourceNotFoundError, match="holds no model"):
        mlnb.register_model(f"runs:/{info.run_id}/not-a-model", "m")
    assert rows(registry, "registered_models") == [] and rows(registry, "model_versions") == []


def test_an_alias_pointing_at_a_deleted_version_is_a_clear_error(registry, tmp_path):
    c = MlnbClient()
    c.create_registered_model("alpha")
    c.create_model_version("alpha", str(tmp_path))
    c.create_model_version("alpha", str(tmp_path))
    c.set_registered_model_alias("alpha", "champion", 2)
    # a store written by another tool: version 2 deleted, its alias left behind
    conn = sqlite3.connect(registry)
    with conn:
        conn.execute("UPDATE model_versions SET current_stage = 'Deleted_Internal' WHERE version = 2")
    conn.close()
    with pytest.raises(ResourceNotFoundError, match=r"'champion' .* points at version 2, which was deleted "
                                                    r"\(live versions: 1\)"):
        mlnb.pyfunc.load_model("models:/alpha@champion")


@pytest.mark.parametrize("call", [
    lambda c: c.create_registered_model(""),
    lambda c: c.create_registered_model("a/b"),
    lambda c: c.create_registered_model("a:b"),
    lambda c: c.create_registered_model("../x"),
    lambda c: c.create_registered_model("x" * 300),
    lambda c: c.get_model_version("m", "one"),
    lambda c: c.get_model_version("m", 0),
    lambda c: c.set_registered_model_alias("m", "latest", 1),
    lambda c: c.set_registered_model_alias("m", "V3", 1),
    lambda c: c.set_registered_model_alias("m", "bad alias", 1),
    lambda c: c.set_registered_model_tag("m", "", "v"),
    lambda c: c.set_model_version_tag("m", 1, "k", None),
    lambda c: c.search_registered_models("version_number > 1"),
    lambda c: c.search_model_versions("name > 'a'"),
    lambda c: c.search_model_versions("version_number = 'x'"),
    lambda c: c.search_model_versions("version_number = 1.5"),
    lambda c: c.search_model_versions("name = 'a' OR name = 'b'"),
    lambda c: c.search_model_versions(order_by=["run_id"]),
    lambda c: c.search_registered_models(max_results=5000),
    lambda c: c.search_registered_models(page_token="garbage"),
    lambda c: c.get_latest_versions("m", stages=["Prod"]),
])
def test_invalid_input_is_an_invalid_parameter_error(registry, tmp_path, call):
    c = MlnbClient()
    c.create_registered_model("m")
    c.create_model_version("m", str(tmp_path))
    with pytest.raises(InvalidParameterError):
        call(c)
    assert len(rows(registry, "registered_models")) == 1 and len(rows(registry, "model_versions")) == 1


def test_a_registry_uri_that_is_not_an_mlflow_store_is_named(tmp_path):
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()
    mlnb.set_registry_uri(other)
    with pytest.raises(TrackingError, match="not an MLflow store"):
        mlnb.register_model(str(tmp_path), "m")
    # a missing file becomes a new MLflow store, as MLflow makes one: the registry is empty
    with pytest.raises(ResourceNotFoundError, match="No registered model named 'm'"):
        MlnbClient(registry_uri=tmp_path / "missing.db").get_registered_model("m")
    assert (tmp_path / "missing.db").is_file()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(TrackingError, match="not an MLflow store"):
        MlnbClient(registry_uri=garbage).get_registered_model("m")


def test_set_registry_uri_and_the_default(registry, tmp_path, monkeypatch):
    monkeypatch.delenv("MLNB_REGISTRY_URI")
    assert mlnb.get_registry_uri() == mlnb.get_tracking_uri()
    mlnb.set_registry_uri(f"sqlite:///{registry}")
    assert mlnb.get_registry_uri() == f"sqlite:///{registry}"
    mlnb.register_model(str(tmp_path), "m")
    assert MlnbClient(registry_uri=registry).get_registered_model("m").name == "m"
    mlnb.set_tracking_uri(f"sqlite:///{registry}")  # a client of an MLflow-schema tracking URI
    mlnb.set_registry_uri(None)
    assert mlnb.get_registry_uri() == f"sqlite:///{registry}"


# -- two processes at once -------------------------------------------------------------------------
_RACER = """
import json, os, sys, time
from mlnb.tracking.client import MlnbClient
db, go, source = sys.argv[1:4]
client = MlnbClient(registry_uri="sqlite:///" + db)
client.search_registered_models()  # the file is open before the race starts
open(go + f".ready-{os.getpid()}", "w").close()
while not os.path.exists(go):
    time.sleep(0.005)
print(json.dumps([client.register_model_version(source, "race").version for _ in range(15)]))
"""


def _start_together(cmds: list[list[str]], go: Path) -> list[subprocess.Popen]:
    """Start processes, wait until each says it is ready, then let them all go at once."""
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for cmd in cmds]
    deadline = time.monotonic() + WAIT
    while len(list(go.parent.glob(f"{go.name}.ready-*"))) < len(procs):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), [p.poll() for p in procs]
        time.sleep(0.02)
    go.touch()
    return procs


def test_two_processes_registering_one_name_get_distinct_versions(registry, tmp_path):
    go = tmp_path / "go"
    cmd = [sys.executable, "-c", _RACER, str(registry), str(go), str(tmp_path)]
    procs = _start_together([cmd, cmd], go)
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    got = [json.loads(out) for out, _ in outs]
    assert sorted(int(v) for vs in got for v in vs) == list(range(1, 31))
    assert len(rows(registry, "registered_models")) == 1
    assert sorted(r["version"] for r in rows(registry, "model_versions")) == list(range(1, 31))


def test_mlnb_models_serve_answers_for_an_alias(registry, tmp_path, port):
    import urllib.request

    from tests._serving import COLUMNS, mlnb_serve_cmd, save_logistic_model, start, stop

    model_dir = save_logistic_model(tmp_path / "logistic")
    mlnb.register_model(model_dir, "served")
    MlnbClient().set_registered_model_alias("served", "champion", 1)
    expected = mlnb.pyfunc.load_model(model_dir)
    # the server process finds the registry through MLNB_REGISTRY_URI (set by the fixture)
    proc = start(mlnb_serve_cmd("models:/served@champion", port), f"http://127.0.0.1:{port}", tmp_path / "serve.log")
    try:
        rows_in = [[0.1 * i + j for j in range(len(COLUMNS))] for i in range(4)]
        body = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": rows_in}}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            got = json.loads(resp.read())["predictions"]
    finally:
        stop(proc)
    import pandas as pd

    assert got == expected.predict(pd.DataFrame(rows_in, columns=COLUMNS)).tolist()


def test_mlnb_models_serve_names_a_missing_alias_in_one_line(registry, tmp_path, port):
    MlnbClient().create_registered_model("served")
    proc = subprocess.run([sys.executable, "-m", "mlnb.cli", "models", "serve", "-m", "models:/served@champion",
                           "-p", str(port)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "has no alias 'champion'" in proc.stderr and "Traceback" not in proc.stderr


_MLFLOW_RACER = """
import logging, os, sys, time
logging.disable(logging.WARNING)
from mlflow import MlflowClient
db, go, source = sys.argv[1:4]
client = MlflowClient(tracking_uri="sqlite:///" + db, registry_uri="sqlite:///" + db)
client.get_registered_model("race")
open(go + f".ready-{os.getpid()}", "w").close()
while not os.path.exists(go):
    time.sleep(0.005)
for _ in range(40):
    client.create_model_version("race", source)
"""


def test_mlnb_and_mlflow_registering_one_name_at_once_lose_nothing(registry, tmp_path):
    go = tmp_path / "go"
    (tmp_path / "mlnb").mkdir()
    MlnbClient().create_registered_model("race")
    cmds = [[sys.executable, "-c", _RACER.replace("range(15)", "range(200)"), str(registry), str(go),
             str(tmp_path / "mlnb")],
            [sys.executable, "-c", _MLFLOW_RACER, str(registry), str(go), "/elsewhere/mlflow"]]
    procs = _start_together(cmds, go)
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    found = rows(registry, "model_versions")
    assert sorted(r["version"] for r in found) == list(range(1, 241))
    assert sum(r["source"] == "/elsewhere/mlflow" for r in found) == 40
