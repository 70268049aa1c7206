"""How the server reaches a model: through PyFuncModel, and its seam for rows already checked.

``PyFuncModel.validated_rows_predictor(columns)`` hands the server a flavor's own predict for
float64 rows in the signature's order; the server never looks at which flavor a model is.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests._serving import COLUMNS, save_logistic_model

JSON = "application/json"


@pytest.fixture(scope="module")
def logistic(tmp_path_factory):
    import mlnb.pyfunc

    return mlnb.pyfunc.load_model(save_logistic_model(tmp_path_factory.mktemp("scoring") / "model"))


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_a_flavor_offers_its_own_predict_for_rows_in_the_signatures_order(logistic):
    rows = np.random.default_rng(0).normal(size=(50, 5))
    direct = logistic.validated_rows_predictor(COLUMNS)
    assert direct is not None
    assert np.array_equal(direct(rows), logistic.predict(pd.DataFrame(rows, columns=COLUMNS)))


def test_the_seam_declines_rows_in_another_order_or_shape(logistic):
    assert logistic.validated_rows_predictor(COLUMNS[::-1]) is None
    assert logistic.validated_rows_predictor(COLUMNS[:4]) is None


def test_the_seam_declines_a_signature_with_params(tmp_path):
    from sklearn.linear_model import LogisticRegression

    import mlnb.pyfunc
    import mlnb.sklearn
    from mlnb.models.signature import infer_signature

    frame = pd.DataFrame(np.random.default_rng(1).normal(size=(40, 5)), columns=COLUMNS)
    model = LogisticRegression().fit(frame, frame["f0"] > 0)
    mlnb.sklearn.save_model(model, tmp_path / "m", signature=infer_signature(frame, params={"threshold": 0.5}))
    assert mlnb.pyfunc.load_model(tmp_path / "m").validated_rows_predictor(COLUMNS) is None


def test_a_model_without_the_seam_is_scored_through_predict(logistic):
    from mlnb.serving.scoring import Scorer

    class Doubler:
        metadata = logistic.metadata  # the same all-double signature, so rows are read as a float block

        def predict(self, data):
            return (np.asarray(data)[:, 0] * 2).tolist()

    scorer = Scorer(Doubler(), own_process=True)
    assert scorer._array_fn is None
    body = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [[0.5, 1, 2, 3, 4]]}}).encode()
    assert scorer.score(body, JSON) == (200, b'{"predictions":[1.0]}')


def test_the_server_scores_rows_through_the_seam_with_the_same_answers(logistic):
    from mlnb.serving.scoring import Scorer

    rows = np.random.default_rng(2).normal(size=(30, 5))
    body = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": rows.tolist()}}).encode()
    direct, general = Scorer(logistic, own_process=True), Scorer(logistic)
    assert direct._array_fn is not None and general._array_fn is None
    expected = logistic.predict(pd.DataFrame(rows, columns=COLUMNS)).tolist()
    for scorer in (direct, general):
        assert json.loads(scorer.score(body, JSON)[1]) == {"predictions": expected}


# -- large bodies: read in pieces, answered as a whole parse would be --------------------------
_ROWS = np.random.default_rng(3).normal(size=(60_000, 5))  # about 6 MB of JSON: over the piecewise threshold


def _plan():
    from mlnb.serving.parsing import InputPlan

    return InputPlan(tuple(COLUMNS), {c: "double" for c in COLUMNS})


@pytest.mark.parametrize("doc", [
    {"dataframe_split": {"columns": COLUMNS, "data": _ROWS.tolist()}},
    {"dataframe_split": {"data": _ROWS.tolist()}},
    {"inputs": _ROWS.tolist(), "params": {"k": [1, 2]}},
    {"instances": _ROWS.tolist()},
    {"dataframe_records": [dict(zip(COLUMNS, r)) for r in _ROWS.tolist()]},
    {"instances": [dict(zip(COLUMNS, r)) for r in _ROWS.tolist()]},
    {"inputs": [dict(zip(COLUMNS, r)) for r in _ROWS.tolist()]},
], ids=["split", "split without columns", "inputs with params", "instances", "records", "instances of objects",
        "inputs of objects"])
@pytest.mark.parametrize("indent", [None, 1])
def test_a_large_json_body_is_read_piecewise_into_the_same_rows(doc, indent):
    from mlnb.serving import bulk
    from mlnb.serving.parsing import FloatRows, parse_json

    body = bytearray(json.dumps(doc, indent=indent).encode())
    assert len(body) > bulk.LARGE
    rows, params = parse_json(body, _plan())
    assert type(rows) is FloatRows and np.array_equal(np.asarray(rows), _ROWS)
    assert params == doc.get("params")


@pytest.mark.parametrize("doc, kind", [
    ({"dataframe_split": {"columns": COLUMNS, "data": _ROWS.tolist(), "index": list(range(len(_ROWS)))}},
     pd.DataFrame),  # an index: the general path, as for a small body
    ({"params": {"data": [[1.0] * 5] * 5}, "inputs": _ROWS.tolist()}, np.ndarray),  # rows after a decoy
    ({"dataframe_split": {"columns": COLUMNS[::-1], "data": _ROWS.tolist()}}, pd.DataFrame),
], ids=["index", "decoy key first", "other column order"])
def test_a_large_json_body_in_another_layout_is_parsed_whole(doc, kind):
    from mlnb.serving import bulk
    from mlnb.serving.parsing import parse_json

    body = json.dumps(doc).encode()
    assert len(body) > bulk.LARGE
    data, _ = parse_json(body, _plan())
    assert isinstance(data, kind) and len(data) == len(_ROWS)


def test_large_json_with_nan_tokens_or_errors_gets_the_whole_parse_answer():
    from mlnb.errors import ServingError
    from mlnb.serving.parsing import parse_json

    text = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": _ROWS.tolist()}})
    with_nan = text.replace(str(_ROWS[-1][0]), "NaN", 1).encode()
    rows, _ = parse_json(with_nan, _plan())
    assert np.isnan(np.asarray(rows)).sum() == 1
    with pytest.raises(ServingError, match="valid JSON"):
        parse_json(text[:-3].encode(), _plan())


def test_a_large_csv_body_is_read_piecewise_into_the_same_rows():
    from mlnb.serving import bulk
    from mlnb.serving.parsing import FloatRows, parse_csv

    body = bytearray(pd.DataFrame(_ROWS, columns=COLUMNS).to_csv(index=False).encode())
    assert len(body) > bulk.LARGE
    rows = parse_csv(body, _plan())
    assert type(rows) is FloatRows and np.allclose(np.asarray(rows), _ROWS, rtol=0, atol=1e-15)
    with_gap = body.replace(b"\n", b"\n,,,,\n", 1)  # empty cells: pandas' general reading, as for a small body
    rows = np.asarray(parse_csv(with_gap, _plan()))
    assert rows.shape == (len(_ROWS) + 1, 5) and np.isnan(rows[0]).all() and not np.isnan(rows[1:]).any()
