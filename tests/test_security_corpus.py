"""The hostile-model corpus (tests/hostile_models.py) through every way mlnb loads a model:
``mlnb.<flavor>.load_model``, ``mlnb.pyfunc.load_model``, ``%load_model`` and ``mlnb models serve``.

Every case must end in a typed mlnb error (never RecursionError, BadZipFile, UnpicklingError...)
whose one-line message names what was refused and how to consent, and the marker file the model
would write must not exist. Consent is tested too: with it, the same files do what they ask.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

import hostile_models  # noqa: E402
from hostile_models import CASES, NO_PICKLE, Case, build  # noqa: E402
from mlnb.errors import MlnbError, UnsafeModelError  # noqa: E402
from mlnb.models import trust  # noqa: E402

_CONSENT_VARS = (trust.TRUST_CODE_ENV, trust.ALLOW_PICKLE_ENV, trust.MLFLOW_PICKLE_ENV)
_BUILT: dict[str, tuple] = {}


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory):
    return tmp_path_factory.mktemp("corpus")


@pytest.fixture
def hostile(case, corpus_root, monkeypatch):
    """(case, model directory, marker) with the case's environment and no consent set."""
    for name in _CONSENT_VARS:
        monkeypatch.delenv(name, raising=False)
    if case.name not in _BUILT:  # built once per module: every entry point reads the same files
        _BUILT[case.name] = build(case, corpus_root / case.name)
    path, marker = _BUILT[case.name]
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    yield case, path, marker
    assert not marker.exists(), f"{case.name}: the model ran its payload"


def check_refusal(case: Case, message: str) -> None:
    assert "\n" not in message.strip(), message
    assert re.search(case.refusal, message), f"{case.name}: the message does not name what was refused: {message}"
    assert re.search(case.consent, message), f"{case.name}: the message does not say how to consent: {message}"


def _flavor_module(case: Case):
    return importlib.import_module("mlnb.pyfunc" if case.flavor == "pyfunc" else f"mlnb.flavors.{case.flavor}")


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        cases = [c for c in CASES if c.flavor_reads_it or metafunc.function.__name__ != "test_flavor_load_model_refuses"]
        metafunc.parametrize("case", cases, ids=[c.name for c in cases])


def test_flavor_load_model_refuses(hostile):
    case, path, marker = hostile
    with pytest.raises(MlnbError) as info:
        _flavor_module(case).load_model(path)
    assert isinstance(info.value, case.error), f"{type(info.value).__name__}: {info.value}"
    check_refusal(case, str(info.value))
    assert not marker.exists()


def test_pyfunc_load_model_refuses(hostile):
    import mlnb.pyfunc

    case, path, marker = hostile
    with pytest.raises(MlnbError) as info:
        mlnb.pyfunc.load_model(path)
    assert isinstance(info.value, case.error), f"{type(info.value).__name__}: {info.value}"
    check_refusal(case, str(info.value))
    assert not marker.exists()


@pytest.fixture
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "mlnb")
    yield sh
    sh.run_line_magic("unload_ext", "mlnb")
    sh.reset(new_session=False)


def test_load_model_magic_refuses(hostile, shell):
    from IPython.utils.capture import capture_output

    case, path, marker = hostile
    with capture_output():
        result = shell.run_cell(f"m = %load_model {path}")
    error = result.error_in_exec
    assert isinstance(error, MlnbError) and "%load_model could not load" in str(error), repr(error)
    check_refusal(case, str(error))
    assert not marker.exists()


def test_serve_exits_with_a_one_line_error(hostile, port):
    from _serving import mlnb_serve_cmd

    case, path, marker = hostile
    env = {k: v for k, v in os.environ.items() if k not in _CONSENT_VARS}
    proc = subprocess.run(mlnb_serve_cmd(path, port), env={**env, **case.env}, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    check_refusal(case, errors[0])
    assert "is serving" not in proc.stdout
    assert not marker.exists()


# -- consent: the same files do what they ask once the caller agrees -------------------------
def _case(name: str) -> Case:
    return next(c for c in CASES if c.name == name)


@pytest.fixture
def clean_env(monkeypatch):
    for name in _CONSENT_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("consent", [
    {"allow_pickle": True},
    {"trust_code": True},
    {"env": {**NO_PICKLE, trust.ALLOW_PICKLE_ENV: "true"}},  # mlnb's switch beats MLflow's
])
def test_consent_lets_a_pickle_load(consent, clean_env, tmp_path):
    clean_env.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    for name, value in consent.pop("env", {}).items():
        clean_env.setenv(name, value)
    import mlnb.pyfunc
    import mlnb.sklearn

    path = hostile_models.sklearn_model(tmp_path / "legit", fmt="cloudpickle")
    estimator = mlnb.sklearn.load_model(path, **consent)
    assert estimator.predict([[0.0, 1.0]]).shape == (1,)
    assert mlnb.pyfunc.load_model(path, **consent).predict([[0.0, 1.0]]).shape == (1,)


def test_pickles_load_by_default_as_in_mlflow(clean_env, tmp_path):
    """MLflow 3.17.2 allows pickles while MLFLOW_ALLOW_PICKLE_DESERIALIZATION is unset; so does mlnb."""
    import mlnb.sklearn

    path = hostile_models.sklearn_model(tmp_path / "legit", fmt="pickle")
    assert mlnb.sklearn.load_model(path).predict([[0.0, 1.0]]).shape == (1,)
    with pytest.raises(UnsafeModelError, match="allow_pickle=False"):
        mlnb.sklearn.load_model(path, allow_pickle=False)
    clean_env.setenv(trust.ALLOW_PICKLE_ENV, "false")
    with pytest.raises(UnsafeModelError, match="MLNB_ALLOW_PICKLE=false"):
        mlnb.pyfunc.load_model(path)


def _attempt(load) -> None:
    """Run a load whose result (a payload, not a model) or error does not matter; close what it opened."""
    try:
        result = load()
    except Exception:
        return
    close = getattr(result, "close", None)
    if callable(close):
        close()


def test_consent_runs_what_the_hostile_files_ask(clean_env, tmp_path):
    """The refusals above were the only thing between these files and their payloads."""
    import mlnb.pyfunc
    import mlnb.sklearn

    path, marker = build(_case("skops_memmap"), tmp_path / "memmap")
    mlnb.sklearn.load_model(path, skops_trusted_types=["numpy.memmap"])
    assert marker.exists()

    path, marker = build(_case("sklearn_pickle"), tmp_path / "pickle")
    clean_env.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    _attempt(lambda: mlnb.sklearn.load_model(path, allow_pickle=True))  # the payload is an open file
    assert marker.exists()

    path, marker = build(_case("code_shadows_skops"), tmp_path / "code")
    clean_env.setenv(trust.TRUST_CODE_ENV, "true")
    sys.modules.pop("skops.io", None)
    shadowed = {k: sys.modules.pop(k) for k in list(sys.modules) if k == "skops" or k.startswith("skops.")}
    try:
        _attempt(lambda: mlnb.sklearn.load_model(path))  # the shadowing package has no skops.io.load
        assert marker.exists()
    finally:
        for k in [k for k in sys.modules if k == "skops" or k.startswith("skops.")]:
            del sys.modules[k]
        sys.modules.update(shadowed)
        sys.path[:] = [p for p in sys.path if not p.startswith(str(path))]


def test_a_custom_model_with_code_paths_loads_by_default(clean_env, tmp_path):
    """A pickled custom model may use its code/: its pickle could run any code anyway."""
    import mlnb.pyfunc

    helper = tmp_path / "corpus_helper_mod.py"
    helper.write_text("FACTOR = 3\n")
    mlnb.pyfunc.save_model(tmp_path / "m", python_model=hostile_models._Custom(), code_paths=[str(helper)])
    assert mlnb.pyfunc.load_model(tmp_path / "m").predict([1]) == [1]
    clean_env.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    with pytest.raises(UnsafeModelError, match="python_model.pkl"):
        mlnb.pyfunc.load_model(tmp_path / "m")


def test_a_skops_model_with_code_paths_needs_trust_code(clean_env, tmp_path):
    import mlnb.sklearn

    helper = tmp_path / "corpus_skops_helper.py"
    helper.write_text("X = 1\n")
    path = hostile_models.sklearn_model(tmp_path / "m", code_paths=[str(helper)])
    with pytest.raises(UnsafeModelError, match="code directory 'code'.*trust_code=True"):
        mlnb.sklearn.load_model(path)
    assert mlnb.sklearn.load_model(path, trust_code=True).predict([[0.0, 1.0]]).shape == (1,)
    assert str(path / "code") in sys.path
    sys.path.remove(str(path / "code"))


def test_mlflow_loading_through_mlnb_pyfunc_honours_its_switch(clean_env, tmp_path):
    """``loader_module: mlnb.pyfunc`` is no way around MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false."""
    import mlflow.pyfunc

    path, marker = build(_case("pyfunc_pickle"), tmp_path / "c")
    clean_env.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    with pytest.raises(Exception) as info:
        mlflow.pyfunc.load_model(str(path))
    assert "MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false" in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["keras_lambda", "onnx_writes_optimized_model", "pytorch_pt2_record",
                                  "pytorch_pt2_pickled_weight",
                                  "loader_module_in_code"])
def test_trust_code_runs_what_a_code_free_model_asks(name, clean_env, tmp_path):
    """trust_code=True is the consent the refusals name: with it, each payload runs."""
    case = _case(name)
    path, marker = build(case, tmp_path / name)
    load = mlnb_pyfunc_load if case.flavor_reads_it is False else _flavor_module(case).load_model
    _attempt(lambda: load(path, trust_code=True))
    assert marker.exists()
    sys.path[:] = [p for p in sys.path if not p.startswith(str(path))]
    sys.modules.pop("evil_loader", None)


def mlnb_pyfunc_load(path, **kwargs):
    import mlnb.pyfunc

    return mlnb.pyfunc.load_model(path, **kwargs)
