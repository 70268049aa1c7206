"""The server's fast path hands an estimator a float64 array only where that answers as a DataFrame would.

``mlnb models serve`` reads rows of an all-double signature straight into a float64 block and, when
the flavor offers it (``PyFuncModel.validated_rows_predictor``), passes the block to the estimator's
own predict. scikit-learn's flavor offers it only for estimators that read nothing of a DataFrame
but its values: a Pipeline selecting columns by name keeps getting the DataFrame. Every answer of a
real server here is compared byte for byte with the DataFrame path (``PyFuncModel.predict`` on the
same rows as a DataFrame).
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest

from tests._serving import COLUMNS, RawClient, mlnb_serve_cmd, stop, wait_ready
from tests.conftest import free_port

JSON = "application/json"
CSV = "text/csv"
pytestmark = pytest.mark.filterwarnings("ignore:X has feature names")  # the model fitted on a bare array
_RNG = np.random.default_rng(7)
_X = pd.DataFrame(_RNG.normal(size=(240, 5)), columns=COLUMNS)
_Y = (_X["f0"] + 0.5 * _X["f3"] - _X["f4"] > 0).astype(int)
_MIXED = pd.DataFrame({"count": _RNG.integers(0, 20, 240).astype("int64"), "flag": _RNG.random(240) > 0.5,
                       "size": _RNG.normal(size=240)})
_MIXED_Y = (_MIXED["count"] / 10 + _MIXED["flag"] + _MIXED["size"] > 1.5).astype(int)


def _by_name_pipeline():
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    select = ColumnTransformer([("scaled", StandardScaler(), ["f4", "f0", "f3"])])  # by name, in another order
    return make_pipeline(select, LogisticRegression()).fit(_X, _Y)


def _models() -> dict:
    """name -> (fitted estimator, training frame, whether the fast path should be offered)."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    return {
        "linear": (LogisticRegression().fit(_X, _Y), _X, True),
        "tree": (DecisionTreeClassifier(max_depth=5, random_state=0).fit(_X, _Y), _X, True),
        "forest regressor": (RandomForestRegressor(n_estimators=5, random_state=0).fit(_X, _X["f1"]), _X, True),
        "scaled linear pipeline": (make_pipeline(StandardScaler(), LogisticRegression()).fit(_X, _Y), _X, True),
        "fitted without feature names": (LogisticRegression().fit(_X.to_numpy(), _Y), _X, True),
        "pipeline selecting columns by name": (_by_name_pipeline(), _X, False),
        "int, bool and double columns": (make_pipeline(StandardScaler(), LogisticRegression()).fit(_MIXED, _MIXED_Y),
                                         _MIXED, False),
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """name -> (loaded PyFuncModel, frame of its columns, fast path expected, server URL): one real server each."""
    import mlnb.pyfunc
    import mlnb.sklearn
    from mlnb.models.signature import infer_signature

    root = tmp_path_factory.mktemp("fast-path")
    entries, procs = {}, []
    try:
        for i, (name, (model, frame, fast)) in enumerate(_models().items()):
            path = root / f"model{i}"
            mlnb.sklearn.save_model(model, path, signature=infer_signature(frame, model.predict(frame)))
            port = free_port()
            log = open(root / f"server{i}.log", "w+b")
            proc = subprocess.Popen(mlnb_serve_cmd(path, port), stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            proc._log = log  # type: ignore[attr-defined]
            procs.append(proc)
            entries[name] = (mlnb.pyfunc.load_model(path), frame, fast, f"http://127.0.0.1:{port}", proc)
        for *_, url, proc in entries.values():
            wait_ready(url, proc, timeout=240)
        yield {name: entry[:4] for name, entry in entries.items()}
    finally:
        for proc in procs:
            stop(proc)


def _bodies(frame: pd.DataFrame) -> list[tuple[str, bytes, pd.DataFrame]]:
    """(content type, body, the rows as a DataFrame) for one row and for several, in three layouts."""
    rows = frame.iloc[3:10].reset_index(drop=True)
    one = frame.iloc[[11]].reset_index(drop=True)
    split = lambda part: json.dumps({"dataframe_split": {"columns": list(part.columns),  # noqa: E731
                                                         "data": part.to_numpy(dtype=object).tolist()}}).encode()
    records = json.dumps({"dataframe_records": rows.to_dict(orient="records")}, default=lambda v: v.item()).encode()
    return [(JSON, split(one), one), (JSON, split(rows), rows), (JSON, records, rows),
            (CSV, rows.to_csv(index=False).encode(), rows)]


@pytest.mark.parametrize("name", list(_models()))
def test_a_served_model_answers_byte_for_byte_as_the_dataframe_path(served, name):
    from mlnb.serving.responses import predictions_body

    model, frame, _, url = served[name]
    with RawClient(url) as client:
        for content_type, body, rows in _bodies(frame):
            assert client.post(body, content_type) == (200, predictions_body(model.predict(rows))), content_type


@pytest.mark.parametrize("name", list(_models()))
def test_the_fast_path_is_offered_only_where_an_array_answers_as_the_dataframe(served, name):
    from mlnb.serving.scoring import Scorer

    model, frame, fast, _ = served[name]
    assert (model.validated_rows_predictor(tuple(frame.columns)) is not None) is fast
    assert (Scorer(model, own_process=True)._array_fn is not None) is fast


def _offered(model, frame=_X) -> bool:
    from mlnb.flavors.sklearn import _SklearnPyfunc

    return _SklearnPyfunc(model).validated_rows_predictor(tuple(frame.columns)) is not None


def test_estimators_that_may_read_more_than_values_keep_the_dataframe():
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    class OwnLogistic(LogisticRegression):  # a subclass may override predict to read the frame
        pass

    by_function = make_pipeline(FunctionTransformer(lambda frame: frame[COLUMNS[::-1]]), LogisticRegression())
    assert not _offered(by_function.fit(_X, _Y))
    assert not _offered(_by_name_pipeline())
    assert not _offered(HistGradientBoostingClassifier(max_iter=5).fit(_X, _Y))
    assert not _offered(OwnLogistic().fit(_X, _Y))
    assert _offered(make_pipeline("passthrough", LogisticRegression()).fit(_X, _Y))


def test_an_estimator_fitted_on_another_width_or_order_keeps_the_dataframe():
    from sklearn.linear_model import LogisticRegression

    assert not _offered(LogisticRegression().fit(_X.to_numpy()[:, :4], _Y))
    assert not _offered(LogisticRegression().fit(_X[COLUMNS[::-1]], _Y))
