"""The trust policy's rules one by one: skops' reviewed types, consent resolution, safe YAML."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

import mlnb.pyfunc
import mlnb.sklearn
from _models import assert_same, estimator
from hostile_models import skops_file as _skops_bytes
from mlnb.errors import ModelFormatError, UnsafeModelError, UntrustedTypesError
from mlnb.flavors._skops import REVIEWED, defined_at, trusted_types
from mlnb.models import trust
from mlnb.models.mlmodel import Model, safe_yaml


def test_every_reviewed_type_is_a_class_defined_under_its_name():
    assert all(defined_at(name) for name in REVIEWED)


def test_a_reexported_name_is_not_the_class_it_reaches():
    import subprocess  # noqa: F401  (sklearn.utils._show_versions and friends import it)

    assert not defined_at("numpy.distutils.fcompiler.gnu.Popen")
    assert not defined_at("numpy.load")  # a function, not a class
    assert defined_at("sklearn.tree._tree.Tree")


def test_a_reviewed_type_built_another_way_is_refused():
    """``Bunch`` is trusted as skops writes it (a DictNode), not called with arguments from the file."""
    import skops.io

    args = json.loads(zipfile.ZipFile(io.BytesIO(skops.io.dumps(({"a": 1},)))).read("schema.json"))
    data = _skops_bytes({"__module__": "sklearn.utils._bunch", "__class__": "Bunch",
                         "__loader__": "ConstructorFromReduceNode", "content": args})
    with pytest.raises(UntrustedTypesError, match=r"Bunch \(built by ConstructorFromReduceNode; mlnb trusts it only "
                                                  r"through DictNode\)"):
        trusted_types(data)
    assert trusted_types(data, ["sklearn.utils._bunch.Bunch"]) == ["sklearn.utils._bunch.Bunch"]


def test_an_audit_is_reused_only_for_a_schema_that_differs_in_object_ids_alone():
    """A save audits the bytes it just wrote once per kind of schema; another structure is audited anew."""
    import skops.io
    from sklearn.datasets import make_classification
    from sklearn.neighbors import KNeighborsClassifier

    X, y = make_classification(60, 4, random_state=0)
    kd = [skops.io.dumps(KNeighborsClassifier(algorithm="kd_tree").fit(X, y)) for _ in range(2)]
    ball = skops.io.dumps(KNeighborsClassifier(algorithm="ball_tree").fit(X, y))
    assert kd[0] != kd[1]  # the writer's object ids differ
    assert trusted_types(kd[0]) == trusted_types(kd[1])
    assert "sklearn.neighbors._kd_tree.KDTree" in trusted_types(kd[1])
    assert "sklearn.neighbors._ball_tree.BallTree" in trusted_types(ball)
    assert "sklearn.neighbors._kd_tree.KDTree" not in trusted_types(ball)
    from sklearn.utils import Bunch

    assert trusted_types(skops.io.dumps(Bunch(a=1))) == ["sklearn.utils._bunch.Bunch"]  # built by DictNode
    args = json.loads(zipfile.ZipFile(io.BytesIO(skops.io.dumps(({"a": 1},)))).read("schema.json"))
    with pytest.raises(UntrustedTypesError, match="ConstructorFromReduceNode"):   # not the memo's verdict
        trusted_types(_skops_bytes({"__module__": "sklearn.utils._bunch", "__class__": "Bunch",
                                    "__loader__": "ConstructorFromReduceNode", "content": args}))


@pytest.mark.parametrize("kind", ["random_forest", "gradient_boosting", "pipeline"])
def test_mlmodel_records_only_types_that_passed(kind, tmp_path):
    model, X = estimator(kind)
    meta = mlnb.sklearn.save_model(model, tmp_path / "m")
    recorded = meta.flavors["sklearn"].get("skops_trusted_types") or []
    assert set(recorded) <= set(REVIEWED)
    assert_same(mlnb.sklearn.load_model(tmp_path / "m").predict(X), model.predict(X))


def test_pyfunc_loads_types_beyond_the_policy_only_with_trust_code(tmp_path):
    """pyfunc, %load_model and serve have no skops_trusted_types: trust_code is their consent."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from _models import classification, double

    X, y = classification()
    model = make_pipeline(FunctionTransformer(double), LogisticRegression()).fit(X, y)
    mlnb.sklearn.save_model(model, tmp_path / "m", serialization_format="skops", skops_trusted_types=["_models.double"])
    with pytest.raises(UntrustedTypesError, match=r"_models\.double.*skops_trusted_types=.*trust_code=True"):
        mlnb.pyfunc.load_model(tmp_path / "m")
    assert_same(mlnb.pyfunc.load_model(tmp_path / "m", trust_code=True).predict(X), model.predict(X))


@pytest.mark.parametrize("env,args,expected", [
    ({}, {}, (False, True)),
    ({"MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false"}, {}, (False, False)),
    ({"MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true"}, {}, (False, True)),
    ({"MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false", "MLNB_ALLOW_PICKLE": "1"}, {}, (False, True)),
    ({"MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false"}, {"allow_pickle": True}, (False, True)),
    ({"MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false"}, {"trust_code": True}, (True, True)),
    ({}, {"trust_code": True, "allow_pickle": False}, (True, False)),
    ({"MLNB_TRUST_MODEL_CODE": "true"}, {}, (True, True)),
    ({"MLNB_TRUST_MODEL_CODE": "true"}, {"trust_code": False}, (False, True)),
])
def test_consent_arguments_beat_mlnbs_variables_which_beat_mlflows(env, args, expected, monkeypatch):
    for name in (trust.TRUST_CODE_ENV, trust.ALLOW_PICKLE_ENV, trust.MLFLOW_PICKLE_ENV):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    consent = trust.resolve(**args)
    assert (consent.code, consent.pickle) == expected


def test_a_garbled_switch_is_an_error_not_a_guess(monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "maybe")
    with pytest.raises(UnsafeModelError, match="neither true nor false"):
        trust.resolve()


def test_safe_yaml_reads_every_manifest_mlnb_writes(tmp_path):
    model, _ = estimator("pipeline")
    meta = mlnb.sklearn.save_model(model, tmp_path / "m", input_example=None, metadata={"a": [1, {"b": 2}]})
    assert Model.load(tmp_path / "m").to_dict() == meta.to_dict()


@pytest.mark.parametrize("text,match", [
    ("flavors: !!python/name:os.system {}", "YAML tag"),
    ("flavors: &a [*a]", "a cycle"),
    ("a: " + "{x: " * 70 + "1" + "}" * 70, "nests more than 64"),
])
def test_safe_yaml_refuses_what_only_an_attacker_writes(text, match):
    with pytest.raises(ModelFormatError, match=match):
        safe_yaml(text)


@pytest.mark.parametrize("value", ["/etc", "../x", "a/../../x", "C:\\x", "..\\x"])
def test_paths_outside_the_model_are_refused(value, tmp_path):
    with pytest.raises(ModelFormatError, match="outside the model directory"):
        trust.inside(tmp_path, value, "the code directory")
