"""Custom models behave as MLflow's do: type-hinted predict, predict_stream, models from code;
and MLflow's model utilities (get_model_info, validate_serving_input, predict,
update_model_requirements, get_model_dependencies) give MLflow's answers."""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest
import yaml

import mlnb
from mlnb.exceptions import MlflowException


class Upper(mlnb.pyfunc.PythonModel):
    def predict(self, model_input: list[str], params=None) -> list[str]:
        return [s.upper() for s in model_input]


class Lengths(mlnb.pyfunc.PythonModel):
    def predict(self, context, model_input: list[dict[str, str]]) -> list[int]:
        return [len(d) for d in model_input]


def _mlflow_twin(source: type):
    """The same class written against MLflow's PythonModel."""
    import mlflow

    return type(source.__name__, (mlflow.pyfunc.PythonModel,), {"predict": source.predict})


@pytest.mark.parametrize("cls, data", [
    (Upper, ["a", "b"]),
    (Upper, pd.DataFrame({"text": ["x", "y"]})),
    (Lengths, [{"a": "1", "b": "2"}, {"c": "3"}]),
    (Upper, pd.DataFrame({"text": ["x", "y"], "other": ["p", "q"]})),
], ids=["list", "one-column-frame", "dicts", "first-column-of-a-wider-frame"])
def test_type_hinted_models_answer_as_mlflows(tmp_path, cls, data):
    import mlflow

    mlnb.pyfunc.save_model(tmp_path / "ours", python_model=cls())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.pyfunc.save_model(str(tmp_path / "theirs"), python_model=_mlflow_twin(cls)())
    ours, theirs = mlnb.pyfunc.load_model(tmp_path / "ours"), mlflow.pyfunc.load_model(str(tmp_path / "theirs"))
    assert ours.predict(data) == theirs.predict(data)
    assert ours.metadata.signature == yaml.safe_load((tmp_path / "theirs" / "MLmodel").read_text())["signature"]
    mlmodel = yaml.safe_load((tmp_path / "ours" / "MLmodel").read_text())
    assert mlmodel["is_signature_from_type_hint"] is True


def test_a_wider_frame_for_dict_items_becomes_records(tmp_path):
    # MLflow 3.17.2 hands such a model the first column's strings when the hint is dict[str, str]
    # (it only turns frames into records for a bare ``dict`` hint); mlnb gives the records
    mlnb.pyfunc.save_model(tmp_path / "m", python_model=Lengths())
    frame = pd.DataFrame({"a": ["1", "2"], "b": ["3", "4"]})
    assert mlnb.pyfunc.load_model(tmp_path / "m").predict(frame) == [2, 2]


def test_input_that_breaks_the_type_hint_is_refused_clearly(tmp_path):
    mlnb.pyfunc.save_model(tmp_path / "m", python_model=Upper())
    with pytest.raises(MlflowException, match=r"type hint list\[str\].*Expected str, but got int"):
        mlnb.pyfunc.load_model(tmp_path / "m").predict([1, 2])


class Streamer(mlnb.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return list(model_input["q"])

    def predict_stream(self, context, model_input, params=None):
        for word in model_input["q"].split():
            yield word


def test_predict_stream_yields_what_the_model_streams(tmp_path):
    import mlflow

    frame = {"q": "one two three"}
    mlnb.pyfunc.save_model(tmp_path / "ours", python_model=Streamer())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        twin = type("Streamer", (mlflow.pyfunc.PythonModel,),
                    {"predict": Streamer.predict, "predict_stream": Streamer.predict_stream})
        mlflow.pyfunc.save_model(str(tmp_path / "theirs"), python_model=twin())
    ours = list(mlnb.pyfunc.load_model(tmp_path / "ours").predict_stream(frame))
    theirs = list(mlflow.pyfunc.load_model(str(tmp_path / "theirs")).predict_stream(frame))
    assert ours == theirs == ["one", "two", "three"]
    assert yaml.safe_load((tmp_path / "ours" / "MLmodel").read_text())["flavors"]["python_function"]["streamable"]
    mlnb.pyfunc.save_model(tmp_path / "plain", python_model=Upper())
    with pytest.raises(MlflowException, match="does not stream"):
        mlnb.pyfunc.load_model(tmp_path / "plain").predict_stream(["a"])


MODEL_CODE = '''
import mlnb
from mlnb.models import set_model

class Upper(mlnb.pyfunc.PythonModel):
    def predict(self, context, model_input: list[str], params=None) -> list[str]:
        suffix = context.model_config.get("suffix", "") if context is not None else ""
        return [s.upper() + suffix for s in model_input]

set_model(Upper())
'''


def test_models_from_code_save_log_and_load(tmp_path):
    code = tmp_path / "my_model.py"
    code.write_text(MODEL_CODE)
    meta = mlnb.pyfunc.save_model(tmp_path / "m", python_model=str(code), model_config={"suffix": "!"},
                                  input_example=["a"])
    conf = meta.flavors["python_function"]
    assert conf["model_code_path"] == str(code) and conf["python_model"] == "my_model.py"
    assert (tmp_path / "m" / "my_model.py").read_text() == MODEL_CODE
    assert not (tmp_path / "m" / "python_model.pkl").exists()
    code.unlink()  # loading runs the copy inside the model
    assert mlnb.pyfunc.load_model(tmp_path / "m").predict(["x", "y"]) == ["X!", "Y!"]
    assert mlnb.pyfunc.load_model(tmp_path / "m", model_config={"suffix": "?"}).predict(["x"]) == ["X?"]
    import mlflow

    assert mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(["x"]) == ["X!"]  # MLflow loads it too
    code.write_text(MODEL_CODE)
    with mlnb.start_run():
        info = mlnb.pyfunc.log_model(name="upper", python_model=str(code))
    assert mlnb.pyfunc.load_model(info.model_uri).predict(["q"]) == ["Q"]


def test_a_model_file_that_sets_no_model_is_a_clear_error(tmp_path):
    code = tmp_path / "empty.py"
    code.write_text("x = 1\n")
    with pytest.raises(MlflowException, match="did not call mlnb.models.set_model"):
        mlnb.pyfunc.save_model(tmp_path / "m", python_model=str(code))
    with pytest.raises(MlflowException, match="PythonModel .* or a function"):
        mlnb.models.set_model("not a model")


def test_model_utilities_answer_as_mlflows(tmp_path, classification_data):
    import mlflow
    from sklearn.linear_model import LogisticRegression

    X, y = classification_data
    model = LogisticRegression().fit(X, y)
    with mlnb.start_run():
        info = mlnb.sklearn.log_model(model, name="clf", input_example=X.iloc[:2])
    got = mlnb.models.get_model_info(info.model_uri)
    assert (got.run_id, got.artifact_path, got.model_uuid) == (info.run_id, "clf", info.model_uuid)
    assert got.signature == info.signature
    for uri in (f"runs:/{info.run_id}/clf", f"models:/{info.model_id}"):   # MLmodel read through any model URI
        assert mlnb.models.get_model_info(uri).model_uuid == info.model_uuid
        assert mlnb.models.Model.load(uri).model_uuid == info.model_uuid

    payload = mlnb.models.convert_input_example_to_serving_input(X.iloc[:2])
    assert json.loads(payload) == json.loads(mlflow.models.convert_input_example_to_serving_input(X.iloc[:2]))
    assert list(mlnb.models.validate_serving_input(info.model_uri, payload)) == model.predict(X.iloc[:2]).tolist()
    with pytest.raises(MlflowException):
        mlnb.models.validate_serving_input(info.model_uri, '{"dataframe_split": {"columns": ["nope"], "data": [[1]]}}')

    out = tmp_path / "pred.json"
    mlnb.models.predict(info.model_uri, input_data=payload, output_path=out, env_manager="local")
    assert json.loads(out.read_text()) == {"predictions": model.predict(X.iloc[:2]).tolist()}
    with pytest.raises(MlflowException, match="env_manager must be one of uv, virtualenv .* got 'conda'"):
        mlnb.models.predict(info.model_uri, input_data=payload, env_manager="conda")  # uv: tests/test_environments.py

    local = tmp_path / "local-model"
    mlnb.sklearn.save_model(model, local)
    mlnb.models.update_model_requirements(str(local), "add", ["rich==13.0.0"])
    mlnb.models.update_model_requirements(str(local), "remove", ["skops"])
    reqs = open(mlnb.pyfunc.get_model_dependencies(str(local))).read().split()
    assert "rich==13.0.0" in reqs and not any(r.startswith("skops") for r in reqs)
    conda = yaml.safe_load(open(mlnb.pyfunc.get_model_dependencies(str(local), format="conda")))
    assert conda["dependencies"][-1]["pip"] == reqs
    mlnb.models.update_model_requirements(info.model_uri, "add", ["rich"])   # a logged model changes in place
    assert "rich" in open(mlnb.pyfunc.get_model_dependencies(info.model_uri)).read().split()
    with pytest.raises(MlflowException, match="registered model version"):
        mlnb.models.update_model_requirements("models:/churn/1", "add", ["rich"])
