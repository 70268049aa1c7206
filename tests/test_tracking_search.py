"""search_runs: MLflow's filter language and ordering, checked against MLflow's own SQLite store."""

from __future__ import annotations

import pytest

import mlnb
from mlnb.errors import InvalidParameterError
from mlnb.tracking.search import parse_filter, parse_order_by

RUNS = [  # name, params, metrics, tags, status
    ("r0", {"model": "linear", "alpha": "0.1"}, {"rmse": 3.0, "acc": 0.5}, {"team": "ml-core"}, "FINISHED"),
    ("r1", {"model": "forest", "alpha": "0.2"}, {"rmse": 2.0}, {"team": "ML-edge"}, "FINISHED"),
    ("r2", {"model": "forest"}, {"rmse": 1.0, "acc": 0.9}, {"team": "data"}, "FAILED"),
    ("r3", {"model": "boost", "alpha": "0.1"}, {"rmse": 0.5, "acc": 0.95}, {}, "FINISHED"),
    ("r4", {"model": "linear"}, {"acc": 0.7}, {"team": "ml-core", "note": "it's"}, "KILLED"),
]

FILTERS = [
    "",
    "metrics.rmse < 2",
    "metrics.rmse <= 2",
    "metrics.rmse > 0.5 AND metrics.acc >= 0.5",
    "metrics.rmse = 1",
    "metrics.rmse != 1",
    "params.model = 'forest'",
    "params.model != 'forest'",
    "params.alpha = '0.1' AND params.model = 'linear'",
    "params.model LIKE '%o%'",
    "tags.team LIKE 'ml-%'",
    "tags.team ILIKE 'ml-%'",
    "tags.note = \"it's\"",
    "attributes.status = 'FAILED'",
    "attributes.status != 'FINISHED'",
    "attributes.run_name = 'r3'",
    "attributes.run_name LIKE 'r%' AND metrics.acc > 0.6",
    "tags.`team` = 'data'",
    "metrics.`rmse` < 3",
]
ORDERS = [
    ["metrics.rmse DESC"],
    ["metrics.acc"],
    ["params.model ASC", "metrics.rmse DESC"],
    ["attributes.run_name DESC"],
]


@pytest.fixture(scope="module")
def both_stores(tmp_path_factory):
    """The same runs logged to mlnb's store and to MLflow's SQLite store."""
    import mlflow

    from mlnb.tracking.fluent import _reset_for_tests

    root = tmp_path_factory.mktemp("search")
    mlnb.set_tracking_uri(root / "mlnb.db")
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    theirs_exp = client.create_experiment("search")
    ours_exp = mlnb.set_experiment("search").experiment_id
    t0 = 1_700_000_000_000
    for i, (name, params, metrics, tags, status) in enumerate(RUNS):
        with mlnb.start_run(run_name=name, tags=tags):
            mlnb.log_params(params)
            for k, v in metrics.items():
                mlnb.log_metric(k, v, timestamp=t0 + i)
            mlnb.end_run(status)
        run = client.create_run(theirs_exp, run_name=name, tags=tags, start_time=t0 + i)
        for k, v in params.items():
            client.log_param(run.info.run_id, k, v)
        for k, v in metrics.items():
            client.log_metric(run.info.run_id, k, v, timestamp=t0 + i)
        client.set_terminated(run.info.run_id, status)
    ours = mlnb.tracking.store.get_store().uri
    _reset_for_tests()
    return ours, ours_exp, client, theirs_exp


def _ours(both, **kw):
    uri, exp, _, _ = both
    mlnb.set_tracking_uri(uri)
    return mlnb.search_runs([exp], **kw)


def _theirs(both, **kw):
    _, _, client, exp = both
    return [r.info.run_name for r in client.search_runs([exp], **kw)]


@pytest.mark.parametrize("filter_string", FILTERS)
def test_filters_select_the_same_runs_as_mlflow(both_stores, filter_string):
    ours = _ours(both_stores, filter_string=filter_string)
    theirs = _theirs(both_stores, filter_string=filter_string)
    assert sorted(ours["tags.mlflow.runName"]) == sorted(theirs)


@pytest.mark.parametrize("order_by", ORDERS)
def test_order_by_sorts_like_mlflow(both_stores, order_by):
    ours = _ours(both_stores, order_by=order_by)
    assert list(ours["tags.mlflow.runName"]) == _theirs(both_stores, order_by=order_by)


@pytest.mark.parametrize("filter_string, names", [
    ("params.model IN ('boost', 'linear')", ["r0", "r3", "r4"]),
    ("params.model NOT IN ('boost', 'linear')", ["r1", "r2"]),
    ("tags.team IN ('data')", ["r2"]),
    ("attributes.status IN ('FAILED', 'KILLED')", ["r2", "r4"]),
])
def test_in_lists_work_on_params_and_tags_too(both_stores, filter_string, names):
    # an mlnb extension: MLflow accepts IN only for a few attributes
    assert sorted(_ours(both_stores, filter_string=filter_string)["tags.mlflow.runName"]) == names


def test_default_order_is_newest_first_and_max_results_limits(both_stores):
    ours = _ours(both_stores)
    assert list(ours["tags.mlflow.runName"]) == ["r4", "r3", "r2", "r1", "r0"]
    assert list(_ours(both_stores, max_results=2)["tags.mlflow.runName"]) == ["r4", "r3"]
    top = _ours(both_stores, order_by=["metrics.rmse"], max_results=2)
    assert list(top["tags.mlflow.runName"]) == ["r3", "r2"]
    assert set(top.columns) >= {"metrics.rmse", "params.model"}


def test_dataframe_is_shaped_like_mlflows(both_stores):
    import mlflow
    import pandas as pd

    ours = _ours(both_stores, order_by=["attributes.run_name"])
    _, _, client, exp = both_stores
    mlflow.set_tracking_uri(client.tracking_uri)
    try:
        theirs = mlflow.search_runs([exp], order_by=["attributes.run_name"])
    finally:
        mlflow.set_tracking_uri(None)
    assert list(ours.columns[:6]) == list(theirs.columns[:6]) == [
        "run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
    assert set(theirs.columns) <= set(ours.columns)
    assert isinstance(ours["start_time"].dtype, pd.DatetimeTZDtype)
    assert ours["metrics.rmse"].dtype == "float64"
    assert ours["metrics.acc"].isna().tolist() == theirs["metrics.acc"].isna().tolist()
    assert ours["params.alpha"].isna().tolist() == theirs["params.alpha"].isna().tolist()
    assert list(ours["status"]) == list(theirs["status"])


def test_list_output_and_search_by_experiment_name(both_stores):
    uri, _, _, _ = both_stores
    mlnb.set_tracking_uri(uri)
    runs = mlnb.search_runs(experiment_names=["search"], filter_string="params.model = 'forest'",
                            output_format="list")
    assert sorted(r.info.run_name for r in runs) == ["r1", "r2"]
    assert all(r.data.params["model"] == "forest" for r in runs)
    assert len(mlnb.search_runs(experiment_names=["no-such"])) == 0


def test_empty_search_has_mlflows_info_columns():
    df = mlnb.search_runs()
    assert len(df) == 0 and list(df.columns) == ["run_id", "experiment_id", "status", "artifact_uri",
                                                 "start_time", "end_time"]


@pytest.mark.parametrize("bad, message", [
    ("metrics.rmse LIKE '1'", "numeric"),
    ("params.model = 3", "quote"),
    ("foo.bar = 'x'", "metrics., params."),
    ("attributes.nope = 'x'", "searchable attributes"),
    ("metrics.rmse < 1 OR metrics.rmse > 2", "AND"),
    ("metrics.rmse <", "value"),
    ("params.model IN 'a'", "parenthesised"),
    ("metrics.rmse < 1 AND", "AND"),
    ("params.model = 'unterminated", "parse"),
])
def test_bad_filters_get_clear_errors(bad, message):
    with pytest.raises(InvalidParameterError, match=message):
        parse_filter(bad)
    with pytest.raises(InvalidParameterError):
        mlnb.search_runs(filter_string=bad)


def test_order_by_errors_and_aliases():
    assert parse_order_by("metric.rmse desc")[0].ascending is False
    assert parse_order_by(["attr.start_time"])[0].key == "start_time"
    with pytest.raises(InvalidParameterError, match="ASC or DESC"):
        parse_order_by(["metrics.rmse sideways"])


def test_keys_with_dots_spaces_and_quotes_parse():
    c = parse_filter("metrics.train.loss < 1 AND params.`learning rate` = '0.1' AND tags.\"a.b\" != 'x'")
    assert [(x.entity, x.key) for x in c] == [("metric", "train.loss"), ("param", "learning rate"), ("tag", "a.b")]
