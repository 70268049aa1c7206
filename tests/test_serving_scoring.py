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
