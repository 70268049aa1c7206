"""``GET /model`` and ``POST /invocations?method=predict_proba``: mlnb's addition to the scoring
protocol, through which a model served from its restored environment gives ``mlnb.evaluate`` its
probabilities. Real servers (``mlnb models serve``) on 127.0.0.1."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest

from tests._serving import COLUMNS, save_logistic_model, start, stop
from tests._tiers import REPO


def _serve(model, port, tmp_path):
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mlnb.cli", "models", "serve", "-m", str(model), "-p", str(port),
           "--env-manager", "local"]
    return url, start(cmd, url, tmp_path / "server.log", env={"PYTHONPATH": str(REPO)})


def _post(url: str, body: dict, query: str = "") -> tuple[int, dict]:
    request = urllib.request.Request(f"{url}/invocations{query}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_classifier_offers_predict_proba_with_its_classes(tmp_path, port):
    import mlnb.sklearn

    model = save_logistic_model(tmp_path / "model")
    estimator = mlnb.sklearn.load_model(str(model))
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(7, len(COLUMNS))), columns=COLUMNS)
    url, proc = _serve(model, port, tmp_path)
    try:
        with urllib.request.urlopen(f"{url}/model", timeout=30) as response:
            assert json.loads(response.read()) == {"methods": ["predict", "predict_proba"], "classes": [0, 1]}
        split = {"dataframe_split": frame.to_dict(orient="split", index=False)}
        status, answer = _post(url, split, "?method=predict_proba")
        assert status == 200
        assert np.array_equal(np.asarray(answer["predictions"]), estimator.predict_proba(frame))  # bit for bit
        status, answer = _post(url, {"dataframe_records": frame.to_dict(orient="records")}, "?method=predict_proba")
        assert status == 200 and np.array_equal(np.asarray(answer["predictions"]), estimator.predict_proba(frame))
        status, answer = _post(url, split)  # no query: predict, as ever
        assert status == 200 and answer["predictions"] == estimator.predict(frame).tolist()
        status, answer = _post(url, split, "?method=decision_function")
        assert status == 400 and answer["error_code"] == "INVALID_PARAMETER_VALUE"
        assert answer["message"] == ("This model has no method 'decision_function'; it offers: predict, "
                                     "predict_proba. Leave out ?method= to predict.")
        status, answer = _post(url, split, "?proba=1")
        assert status == 400 and "takes one query parameter, method=<name>" in answer["message"]
        with pytest.raises(urllib.error.HTTPError) as caught:  # a description is read, not posted
            urllib.request.urlopen(urllib.request.Request(f"{url}/model", data=b"{}"), timeout=30)
        assert caught.value.code == 405
    finally:
        stop(proc)


def test_a_model_without_predict_proba_says_so(tmp_path, port):
    import mlnb.pyfunc

    class Doubler(mlnb.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return [2.0 * x for x in model_input["x"]]

    model = tmp_path / "model"
    mlnb.pyfunc.save_model(model, python_model=Doubler())
    url, proc = _serve(model, port, tmp_path)
    try:
        with urllib.request.urlopen(f"{url}/model", timeout=30) as response:
            assert json.loads(response.read()) == {"methods": ["predict"], "classes": None}
        status, answer = _post(url, {"dataframe_records": [{"x": 1.0}]}, "?method=predict_proba")
        assert status == 400
        assert answer["message"].startswith("This model has no method 'predict_proba'; it offers: predict.")
        assert _post(url, {"dataframe_records": [{"x": 1.0}]}) == (200, {"predictions": [2.0]})
    finally:
        stop(proc)
