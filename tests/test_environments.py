"""Restored model environments (``--env-manager uv|virtualenv``), built from the local wheelhouse.

A model pins a scikit-learn other than this environment's and answers with the version it runs
under, so every test can tell the restored environment from the current one. Installers read only
the wheelhouse tests/run.sh builds (MLNB_ENV_NO_INDEX, MLNB_ENV_FIND_LINKS): nothing is downloaded.
"""

from __future__ import annotations

import fcntl
import json
import marshal
import os
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
import sklearn

from tests._tiers import REPO, WHEELHOUSE
from tests.conftest import WAIT

pytestmark = [pytest.mark.install, pytest.mark.slow]

PINNED = "1.6.1"
ROWS = {"dataframe_records": [{"x": 0.9}, {"x": 0.1}]}
MAKE_MODEL = textwrap.dedent('''
    """A model that answers with the scikit-learn version it runs under (a script: pickled by value)."""
    import sys

    import mlnb.pyfunc


    class SklearnVersion(mlnb.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            import sklearn
            from sklearn.linear_model import LogisticRegression

            fitted = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
            return [f"{sklearn.__version__}:{int(fitted.predict([[float(x)]])[0])}" for x in model_input["x"]]


    class SklearnMinor(mlnb.pyfunc.PythonModel):
        """A regressor: x plus the minor version of the scikit-learn it runs under (6 for 1.6.1)."""

        def predict(self, context, model_input, params=None):
            import sklearn

            return [float(x) + int(sklearn.__version__.split(".")[1]) for x in model_input["x"]]


    kind, folder, requirements = sys.argv[1], sys.argv[2], sys.argv[3:]
    model = SklearnVersion() if kind == "version" else SklearnMinor()
    mlnb.pyfunc.save_model(folder, python_model=model, pip_requirements=requirements)
''')


def make_model(folder: Path, *requirements: str, python: str | None = None, kind: str = "version") -> Path:
    script = folder.parent / f"{folder.name}-make.py"
    script.write_text(MAKE_MODEL)
    subprocess.run([sys.executable, str(script), kind, str(folder), *requirements], check=True, timeout=300)
    if python is not None:
        env_file = folder / "python_env.yaml"
        env_file.write_text(env_file.read_text().replace(f"python: {'.'.join(map(str, sys.version_info[:3]))}",
                                                         f"python: {python}"))
    return folder


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("env-cache")


@pytest.fixture(scope="module")
def offline(cache) -> dict:
    """Process environment for mlnb commands: the wheelhouse as the only index, a cache of our own."""
    return {**os.environ, "PYTHONPATH": str(REPO), "MLNB_ENV_CACHE": str(cache), "MLNB_ENV_NO_INDEX": "1",
            "MLNB_ENV_FIND_LINKS": str(WHEELHOUSE)}


@pytest.fixture(scope="module")
def pinned_model(tmp_path_factory) -> Path:
    assert sklearn.__version__ != PINNED  # the test environment must differ from the model's
    return make_model(tmp_path_factory.mktemp("pinned") / "model", f"scikit-learn=={PINNED}")


#: A first predict in a fresh environment imports (and byte-compiles) the model's libraries: on a loaded
#: machine that can outlast the server's 60 s prediction timeout, so servers started here allow WAIT.
FIRST_PREDICT = ["--timeout", f"{WAIT:g}"]


def mlnb_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "mlnb.cli", *args]


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(f"{url}/invocations", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=WAIT) as response:  # a first predict imports the model's libraries
        return json.loads(response.read())


def test_served_with_uv_the_model_runs_under_its_pinned_scikit_learn(pinned_model, offline, port):
    from mlnb.serving.server import wait_until_ready

    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(mlnb_cmd("models", "serve", "-m", str(pinned_model), "-p", str(port), *FIRST_PREDICT,
                                     "--env-manager", "uv"), env=offline, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until_ready(url, time.monotonic() + 900, lambda: proc.poll() is None), proc.communicate()
        assert post(url, ROWS) == {"predictions": [f"{PINNED}:1", f"{PINNED}:0"]}
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=WAIT)
    assert "Restoring the model's environment with uv (Python 3.11, 1 requirements)" in err
    assert f"mlnb is serving '{pinned_model}'" in out


def test_predict_in_the_restored_environment_reuses_the_cached_one(pinned_model, offline, tmp_path):
    request = tmp_path / "in.json"
    request.write_text(json.dumps(ROWS))
    done = subprocess.run(mlnb_cmd("models", "predict", "-m", str(pinned_model), "-i", str(request),
                                   "--env-manager", "uv"), env=offline, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"predictions": [f"{PINNED}:1", f"{PINNED}:0"]}
    assert "Restoring" not in done.stderr  # the serve test built it; the same requirements share it


def test_notebook_serve_runs_a_saved_model_in_its_restored_environment(pinned_model, offline, monkeypatch):
    import mlnb

    for name in ("MLNB_ENV_CACHE", "MLNB_ENV_NO_INDEX", "MLNB_ENV_FIND_LINKS"):
        monkeypatch.setenv(name, offline[name])
    with mlnb.serve(str(pinned_model), env_manager="uv") as handle:
        assert post(handle.url, ROWS)["predictions"] == [f"{PINNED}:1", f"{PINNED}:0"]
    assert not handle.running


def test_virtualenv_builds_with_venv_and_pip(tmp_path, offline):
    model = make_model(tmp_path / "model", f"scikit-learn=={PINNED}")
    env = {**offline, "MLNB_ENV_CACHE": str(tmp_path / "cache")}
    request = tmp_path / "in.json"
    request.write_text(json.dumps(ROWS))
    done = subprocess.run(mlnb_cmd("models", "predict", "-m", str(model), "-i", str(request),
                                   "--env-manager", "virtualenv"), env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["predictions"] == [f"{PINNED}:1", f"{PINNED}:0"]
    assert "with virtualenv" in done.stderr
    [root] = (tmp_path / "cache" / "envs").iterdir()
    assert (root / "bin" / "pip").exists()  # venv's own pip, not uv


def test_an_unresolvable_requirement_stops_the_server_naming_it_and_the_reason(tmp_path, offline, port):
    model = make_model(tmp_path / "model", "scikit-learn==0.0.1")
    done = subprocess.run(mlnb_cmd("models", "serve", "-m", str(model), "-p", str(port),
                                   "--env-manager", "uv"), env=offline, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1 and "mlnb is serving" not in done.stdout
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: Cannot restore the environment of the model at ")
    assert "the requirement 'scikit-learn==0.0.1' cannot be installed. uv says: " in error
    reason = error.split("uv says: ", 1)[1]  # uv's own words: the model's pin conflicts with mlnb's scikit-learn>=1.3
    assert "you require scikit-learn==0.0.1 and scikit-learn>=1.3" in reason and "unsatisfiable" in reason
    assert "Traceback" not in done.stderr
    envs = Path(offline["MLNB_ENV_CACHE"]) / "envs"
    assert not any(p.name.startswith(".tmp-") for p in envs.iterdir())  # nothing half-built is left


def test_a_corrupt_cache_entry_is_rebuilt(pinned_model, offline, monkeypatch):
    from mlnb.environments import prepare

    monkeypatch.setenv("MLNB_ENV_NO_INDEX", "1")
    monkeypatch.setenv("MLNB_ENV_FIND_LINKS", str(WHEELHOUSE))
    cache = Path(offline["MLNB_ENV_CACHE"])
    logged: list[str] = []
    env = prepare(pinned_model, "uv", cache=cache, log=logged.append)
    assert logged == []  # built by an earlier test
    (env.root / "mlnb-environment.json").write_text("{not json")
    stale = env.root.parent / f".tmp-{env.spec.key}-killed"  # a build that was interrupted
    stale.mkdir()
    rebuilt = prepare(pinned_model, "uv", cache=cache, log=logged.append)
    assert rebuilt.root == env.root and not stale.exists()
    assert any("incomplete or corrupt; rebuilding" in line for line in logged)
    out = subprocess.run([str(rebuilt.python), "-c", "import sklearn; print(sklearn.__version__)"],
                         env=rebuilt.environ(), capture_output=True, text=True, check=True).stdout
    assert out.strip() == PINNED


def test_two_servers_preparing_one_environment_at_once_build_it_once(tmp_path, offline):
    from mlnb.environments import spec_of
    from mlnb.serving.server import wait_until_ready
    from tests.conftest import free_port

    model = make_model(tmp_path / "model", f"scikit-learn=={PINNED}", "threadpoolctl")
    env = {**offline, "MLNB_ENV_CACHE": str(tmp_path / "cache")}
    lock = tmp_path / "cache" / "locks" / f"{spec_of(model).key}.lock"
    lock.parent.mkdir(parents=True)
    urls = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    procs = []
    try:
        with open(lock, "a+") as held:
            fcntl.flock(held, fcntl.LOCK_EX)  # both servers find the build under way
            procs = [subprocess.Popen(mlnb_cmd("models", "serve", "-m", str(model), "-p", url.rsplit(":", 1)[1],
                                               "--env-manager", "uv"), env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for url in urls]
            firsts = [proc.stderr.readline() for proc in procs]  # each says it waits, then blocks on the lock
            assert all(line.startswith("Waiting for another process that is building the environment")
                       for line in firsts), firsts
            fcntl.flock(held, fcntl.LOCK_UN)
        for url, proc in zip(urls, procs):
            assert wait_until_ready(url, time.monotonic() + 900, lambda: proc.poll() is None), proc.communicate()
            assert post(url, ROWS) == {"predictions": [f"{PINNED}:1", f"{PINNED}:0"]}
    finally:
        for proc in procs:
            proc.terminate()
    errs = [proc.communicate(timeout=30)[1] for proc in procs]
    assert sum("Restoring the model's environment" in err for err in errs) == 1, errs  # one built, one waited
    assert len(list((tmp_path / "cache" / "envs").iterdir())) == 1


def test_a_python_version_without_an_interpreter_is_an_error_or_with_consent_a_warning(tmp_path, offline):
    model = make_model(tmp_path / "model", f"scikit-learn=={PINNED}", python="3.4.10")
    cmd = mlnb_cmd("models", "prepare-env", "-m", str(model), "--env-manager", "uv")
    refused = subprocess.run(cmd, env=offline, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"Error: The model at '{model}' was saved with Python 3.4 and no Python 3.4 interpreter is installed here "
        f"(uv found none). Install one (for example `uv python install 3.4`), pass --allow-python-mismatch "
        f"(allow_python_mismatch=True) to restore it with Python 3.11, or run it in the current environment with "
        f"--env-manager local.")
    allowed = subprocess.run([*cmd, "--allow-python-mismatch"], env=offline, capture_output=True, text=True,
                             timeout=900)
    assert allowed.returncode == 0, allowed.stderr
    assert "Warning: The model at" in allowed.stderr and "running it with Python 3.11" in allowed.stderr
    assert "(uv, Python 3.11)" in allowed.stdout


def test_env_shows_what_would_be_installed_and_prune_removes_unused_entries(pinned_model, offline, tmp_path):
    shown = subprocess.run(mlnb_cmd("models", "env", "-m", str(pinned_model)), env=offline, capture_output=True,
                           text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"Cache: {offline['MLNB_ENV_CACHE']}"
    assert "Manager: uv" in lines and "Python: 3.11" in lines
    assert f"Model requirements:\n  scikit-learn=={PINNED}\nmlnb's runtime:\n" in shown.stdout
    assert "  uvicorn>=0.30" in lines
    assert lines[-1].endswith("(built)")
    cache = tmp_path / "cache"
    shutil.copytree(Path(offline["MLNB_ENV_CACHE"]) / "envs", cache / "envs", symlinks=True)
    env = {**offline, "MLNB_ENV_CACHE": str(cache)}
    kept = subprocess.run(mlnb_cmd("models", "env", "--prune", "--days", "30"), env=env, capture_output=True,
                          text=True, timeout=120)
    assert kept.stdout.strip().splitlines()[-1] == f"Pruned 0 entries unused for 30 days from {cache}."
    pruned = subprocess.run(mlnb_cmd("models", "env", "--prune", "--days", "0"), env=env, capture_output=True,
                            text=True, timeout=120)
    assert pruned.returncode == 0, pruned.stderr
    assert not any((cache / "envs").iterdir())
    assert pruned.stdout.strip().splitlines()[-1].startswith("Pruned ")


def _dockerfile_steps(context: Path) -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (op, argument), continuation lines joined, comments left out."""
    lines = (context / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    return [(ln.split(" ", 1)[0], ln.split(" ", 1)[1].strip()) for ln in lines if ln and not ln.startswith("#")]


def _serve_recipe(context: Path, tmp_path: Path, port: int, run_env: dict | None = None,
                  mounts: dict | None = None) -> None:
    """Run a build context's Dockerfile outside a container, since no container builder runs on this
    machine (no Docker daemon, no podman or buildah): its RUN lines in a fresh venv standing in for
    the base image's Python (indexes replaced by the wheelhouse), then its ENTRYPOINT, with
    ``run_env`` as ``docker run -e`` and ``mounts`` (image path -> folder here) as ``-v``; check the
    HEALTHCHECK passes and the model answers under its pinned scikit-learn."""
    import re

    steps = _dockerfile_steps(context)
    assert steps[0] == ("FROM", f"python:{'.'.join(map(str, sys.version_info[:2]))}-slim")
    user = [arg for op, arg in steps if op == "USER"]
    assert user == ["mlnb"] and ("RUN", "useradd --create-home --uid 10001 mlnb") in steps
    paths = {dest.rstrip("/"): context / src for op, arg in steps if op == "COPY" for src, dest in [arg.split()]}
    paths.update(mounts or {})

    def here(text: str) -> str:
        for dest, src in paths.items():
            text = text.replace(dest, str(src))
        return text.replace("8080", str(port))

    root = tmp_path / "base-image-python"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=300)
    image_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "MLNB_", "UV_"))}
    image_env["PATH"] = f"{root / 'bin'}{os.pathsep}{image_env['PATH']}"
    offline = f"install --no-index --find-links {WHEELHOUSE}"
    for op, arg in steps:
        if op == "RUN" and not arg.startswith("useradd"):
            command = re.sub(r"\b(pip|uv pip) install\b", lambda m: f"{m.group(1)} {offline}", here(arg))
            ran = subprocess.run(["sh", "-c", command], env=image_env, cwd=tmp_path, capture_output=True, text=True,
                                 timeout=900)
            assert ran.returncode == 0, (command, ran.stderr)
    [(_, entrypoint)] = [(op, arg) for op, arg in steps if op == "ENTRYPOINT"]
    [(_, healthcheck)] = [(op, arg) for op, arg in steps if op == "HEALTHCHECK"]
    assert json.loads(entrypoint)[:3] == ["mlnb", "models", "serve"]
    probe = json.loads(here(healthcheck.split(" CMD ", 1)[1]))
    server = subprocess.Popen([here(a) for a in json.loads(entrypoint)] + FIRST_PREDICT,
                              env={**image_env, **(run_env or {})}, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        from mlnb.serving.server import wait_until_ready

        url = f"http://127.0.0.1:{port}"
        # a generic image restores the model's environment at start, then imports it: up to three WAITs
        assert wait_until_ready(url, time.monotonic() + 3 * WAIT, lambda: server.poll() is None), server.communicate()
        assert subprocess.run(probe, env=image_env, timeout=WAIT).returncode == 0  # the HEALTHCHECK passes
        assert post(url, ROWS) == {"predictions": [f"{PINNED}:1", f"{PINNED}:0"]}
    finally:
        server.terminate()
        server.communicate(timeout=WAIT)


def test_the_dockerfile_recipe_builds_and_serves_outside_a_container(pinned_model, tmp_path, port):
    context = tmp_path / "context"
    done = subprocess.run(mlnb_cmd("models", "generate-dockerfile", "-m", str(pinned_model), "-d", str(context),
                                   "--env-manager", "uv"), capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    copies = [arg.split()[1].rstrip("/") for op, arg in _dockerfile_steps(context) if op == "COPY"]
    assert sorted(copies) == ["/opt/ml/model", "/opt/mlnb/dist"]
    assert os.stat(context / "model_dir" / "MLmodel").st_mode & 0o004  # readable by the image's user, not only root
    _serve_recipe(context, tmp_path, port)
    assert not (tmp_path / "base-image-python" / "bin" / "uv").exists()  # the installer is not left in the image


def test_the_generic_dockerfile_recipe_serves_a_model_mounted_at_run_time(pinned_model, tmp_path, port):
    """Without -m (MLflow's generic image): the model directory is mounted at /opt/ml/model when the
    container starts, and its environment is restored then, with the uv the image carries."""
    context = tmp_path / "context"
    done = subprocess.run(mlnb_cmd("models", "generate-dockerfile", "-d", str(context), "--env-manager", "uv"),
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert not (context / "model_dir").exists()
    cache = tmp_path / "home-mlnb-cache"  # the container user's cache; a volume would keep it between runs
    run_env = {"MLNB_ENV_CACHE": str(cache), "MLNB_ENV_NO_INDEX": "1", "MLNB_ENV_FIND_LINKS": str(WHEELHOUSE)}
    _serve_recipe(context, tmp_path, port, run_env=run_env, mounts={"/opt/ml/model": pinned_model})
    assert (tmp_path / "base-image-python" / "bin" / "uv").exists()  # kept: it restores mounted models
    [restored] = (cache / "envs").iterdir()
    assert (restored / "mlnb-environment.json").is_file()


def test_the_python_predict_runs_in_the_restored_environment(pinned_model, offline, monkeypatch, tmp_path):
    import pandas as pd

    from mlnb.serving.offline import predict

    for name in ("MLNB_ENV_CACHE", "MLNB_ENV_NO_INDEX", "MLNB_ENV_FIND_LINKS"):
        monkeypatch.setenv(name, offline[name])
    out = tmp_path / "out.json"
    predict(str(pinned_model), pd.DataFrame({"x": [0.9, 0.1]}), output_path=out, env_manager="uv")
    assert json.loads(out.read_text()) == {"predictions": [f"{PINNED}:1", f"{PINNED}:0"]}


def test_by_default_a_model_this_environment_meets_runs_here_and_others_are_restored(pinned_model, offline,
                                                                                    tmp_path):
    request = tmp_path / "in.json"
    request.write_text(json.dumps(ROWS))
    env = {**offline, "MLNB_ENV_CACHE": str(tmp_path / "cache")}
    here = make_model(tmp_path / "here", f"scikit-learn=={sklearn.__version__}")
    done = subprocess.run(mlnb_cmd("models", "predict", "-m", str(here), "-i", str(request)), env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["predictions"] == [f"{sklearn.__version__}:1", f"{sklearn.__version__}:0"]
    assert not (tmp_path / "cache" / "envs").exists()  # nothing restored: this environment is the model's
    restored = subprocess.run(mlnb_cmd("models", "predict", "-m", str(pinned_model), "-i", str(request)),
                              env=offline, capture_output=True, text=True, timeout=900)
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["predictions"] == [f"{PINNED}:1", f"{PINNED}:0"]
    assert restored.stderr.splitlines()[0] == (
        f"The current environment does not meet the model's requirements (scikit-learn=={PINNED}); restoring its "
        f"environment with uv (--env-manager local runs it here instead).")


def test_without_access_to_an_index_the_default_serve_stops_in_seconds_saying_to_use_local(tmp_path, port):
    from tests.conftest import free_port

    model = make_model(tmp_path / "model", f"scikit-learn=={PINNED}")
    closed = free_port()  # nothing listens there: the index refuses connections, as offline
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLNB_ENV_", "UV_"))}
    env.update(PYTHONPATH=str(REPO), MLNB_ENV_CACHE=str(tmp_path / "cache"), UV_CACHE_DIR=str(tmp_path / "uv-cache"),
               UV_DEFAULT_INDEX=f"http://127.0.0.1:{closed}/simple", UV_NO_CONFIG="1")
    done = subprocess.run(mlnb_cmd("models", "serve", "-m", str(model), "-p", str(port)), env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "mlnb is serving" not in done.stdout
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith(f"Error: Cannot restore the environment of the model at '{model}': the package index "
                            f"cannot be reached. uv says: ")
    assert f"127.0.0.1:{closed}" in error and "Connection refused" in error
    assert error.endswith("Run the model in the current environment with --env-manager local (env_manager='local'), "
                          "or give mlnb a folder of wheels with MLNB_ENV_FIND_LINKS (and MLNB_ENV_NO_INDEX=1 to use "
                          "only that folder).")
    assert not any(p.name.startswith(".tmp-") for p in (tmp_path / "cache" / "envs").iterdir())


def test_evaluate_scores_the_model_in_its_restored_environment(offline, monkeypatch, tmp_path):
    import pandas as pd

    import mlnb

    for name in ("MLNB_ENV_CACHE", "MLNB_ENV_NO_INDEX", "MLNB_ENV_FIND_LINKS"):
        monkeypatch.setenv(name, offline[name])
    model = make_model(tmp_path / "model", f"scikit-learn=={PINNED}", kind="minor")  # the pinned model's env
    data = pd.DataFrame({"x": [0.5, 1.0, 2.0, 4.0]})
    data["y"] = data["x"] + int(PINNED.split(".")[1])  # exact only under scikit-learn 1.6
    with mlnb.start_run():
        restored = mlnb.models.evaluate(str(model), data, targets="y", model_type="regressor", env_manager="uv",
                                        evaluator_config={"log_model_explainability": False})
        here = mlnb.evaluate(str(model), data, targets="y", model_type="regressor", env_manager="local",
                             evaluator_config={"log_model_explainability": False})
    assert restored.metrics["max_error"] == 0.0 and restored.metrics["r2_score"] == 1.0
    assert here.metrics["max_error"] == int(sklearn.__version__.split(".")[1]) - int(PINNED.split(".")[1])
    assert _servers_of(model) == []  # the restored server stopped with the evaluation


def test_a_classifier_evaluated_in_its_restored_environment_gets_the_probability_metrics_of_local(
        offline, monkeypatch, tmp_path):
    """predict_proba crosses into the restored environment (``POST /invocations?method=predict_proba``):
    ROC, precision-recall and log loss come out as evaluating here gives them, to the last bit."""
    import pandas as pd
    from sklearn.datasets import make_classification

    import mlnb
    from tests._serving import COLUMNS, save_logistic_model

    for name in ("MLNB_ENV_CACHE", "MLNB_ENV_NO_INDEX", "MLNB_ENV_FIND_LINKS"):
        monkeypatch.setenv(name, offline[name])
    model = save_logistic_model(tmp_path / "model")  # pins this environment's versions, all in the wheelhouse
    X, y = make_classification(n_samples=200, n_features=5, n_informative=3, random_state=1)
    data = pd.DataFrame(X, columns=COLUMNS).assign(label=y)
    config = {"log_model_explainability": False}
    with mlnb.start_run():
        restored = mlnb.evaluate(str(model), data, targets="label", model_type="classifier", env_manager="uv",
                                 evaluator_config=config)
        here = mlnb.evaluate(str(model), data, targets="label", model_type="classifier", env_manager="local",
                             evaluator_config=config)
    probability = {"roc_auc", "precision_recall_auc", "log_loss"}
    assert probability <= set(restored.metrics)
    # every metric alike; only the estimator's own score() (MLflow's "score") needs the estimator here
    assert restored.metrics == {k: v for k, v in here.metrics.items() if k != "score"}
    assert {"roc_curve_plot", "precision_recall_curve_plot"} <= set(restored.artifacts)
    assert _servers_of(model) == []


def _servers_of(model: Path) -> list[int]:
    """Process ids of `mlnb models serve -m <model>` still running."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in cmdline and str(model).encode() in cmdline:
            found.append(int(proc.name))
    return found


def test_spark_udf_scores_in_the_restored_environment_one_server_per_worker(pinned_model, offline, monkeypatch):
    from tests._spark import local_session, stop_session
    from tests._tiers import missing_prerequisite

    problem = missing_prerequisite("java")
    if problem:
        pytest.fail(f"{problem} This test runs Spark: run `bash tests/run.sh`.", pytrace=False)
    import mlnb.pyfunc

    for name in ("MLNB_ENV_CACHE", "MLNB_ENV_NO_INDEX", "MLNB_ENV_FIND_LINKS"):
        monkeypatch.setenv(name, offline[name])
    import pandas as pd

    spark = local_session("local[2]", shuffle_partitions=2)
    try:
        from pyspark.sql.functions import struct

        frame = spark.createDataFrame(pd.DataFrame({"x": [0.9, 0.1] * 6})).repartition(4)
        udf = mlnb.pyfunc.spark_udf(spark, str(pinned_model), result_type="string", env_manager="uv")
        rows = frame.select(udf(struct("x")).alias("p")).collect()  # no signature: the struct names the column
        assert sorted(r.p for r in rows) == sorted([f"{PINNED}:1", f"{PINNED}:0"] * 6)
        assert 1 <= len(_servers_of(pinned_model)) <= 2  # one per Python worker, kept for its next batches
    finally:
        stop_session(spark)
    deadline = time.monotonic() + WAIT
    while _servers_of(pinned_model) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _servers_of(pinned_model) == []  # each server ended with its worker


def _bytecode(folder: Path) -> dict[Path, tuple[int, int]]:
    """Each ``.pyc`` under ``folder``: (inode, modification time), which change if Python rewrites it."""
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.rglob("*.pyc")}


def test_a_new_environment_holds_bytecode_for_what_serving_imports_and_uses_it(pinned_model, offline, monkeypatch,
                                                                             tmp_path):
    from mlnb.environments import prepare
    from mlnb.environments.bytecode import site_packages

    for name in ("MLNB_ENV_NO_INDEX", "MLNB_ENV_FIND_LINKS"):
        monkeypatch.setenv(name, offline[name])
    logged: list[str] = []
    env = prepare(pinned_model, "uv", cache=tmp_path / "cache", log=logged.append)
    assert not any("precompile" in line for line in logged), logged
    [lib] = site_packages(env.root)
    tag = sys.implementation.cache_tag
    for module in ("numpy/__init__", "pandas/core/frame", "uvicorn/main", "cloudpickle/cloudpickle"):
        assert (lib / Path(module).parent / "__pycache__" / f"{Path(module).name}.{tag}.pyc").is_file(), module
    for module in ("mlnb/cli", "mlnb/serving/app", "mlnb/pyfunc"):
        assert (env.code / Path(module).parent / "__pycache__" / f"{Path(module).name}.{tag}.pyc").is_file(), module
    # only what is imported: no package's tests, and most of the environment's modules left alone
    assert not list((lib / "pandas" / "tests").rglob("*.pyc")) and not list((lib / "numpy" / "tests").rglob("*.pyc"))
    assert 300 < len(list(lib.rglob("*.pyc"))) < len(list(lib.rglob("*.py"))) / 2
    before = {**_bytecode(lib), **_bytecode(env.code)}

    request = tmp_path / "in.json"
    request.write_text(json.dumps(ROWS))
    done = subprocess.run(mlnb_cmd("models", "predict", "-m", str(pinned_model), "-i", str(request),
                                   "--env-manager", "uv"), env={**offline, "MLNB_ENV_CACHE": str(tmp_path / "cache")},
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"predictions": [f"{PINNED}:1", f"{PINNED}:0"]}
    after = {**_bytecode(lib), **_bytecode(env.code)}
    assert {p: after.get(p) for p in before} == before  # every precompiled file was valid: none was rewritten

    # compiled in the staging folder, the bytecode and tracebacks name the environment's final path
    frame = lib / "pandas" / "core" / "frame.py"
    pyc = frame.parent / "__pycache__" / f"frame.{tag}.pyc"
    assert pyc in before and marshal.loads(pyc.read_bytes()[16:]).co_filename == str(frame)
    failed = subprocess.run([str(env.python), "-c", "import pandas; pandas.DataFrame({'a': [1]})['b']"],
                            env=env.environ(), capture_output=True, text=True)
    assert failed.returncode == 1 and f'File "{frame}"' in failed.stderr and ".tmp-" not in failed.stderr


PROBE_HOST = {"__init__.py": "from mlnb_probe import extra\n\n\ndef answer(x):\n    return 'host'\n",
              "extra.py": "VALUE = 1\n"}
PROBE_WHEEL = {"__init__.py": "def answer(x):\n    return 'restored'\n",
               "extra.py": "def broken(:\n"}  # never imported in the restored environment, and not valid Python
MAKE_PROBE_MODEL = textwrap.dedent('''
    import sys

    import mlnb.pyfunc
    import mlnb_probe


    class Probe(mlnb.pyfunc.PythonModel):
        def __init__(self):
            self.answer = mlnb_probe.answer  # pickled by reference: the model names the module

        def predict(self, context, model_input, params=None):
            return [self.answer(x) for x in model_input["x"]]


    mlnb.pyfunc.save_model(sys.argv[1], python_model=Probe(), pip_requirements=sys.argv[2:])
''')


def _write_wheel(folder: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """A pure-Python wheel of the package ``name`` holding ``files``."""
    import base64
    import hashlib
    import zipfile

    info = f"{name}-{version}.dist-info"
    entries = {f"{name}/{rel}": text.encode() for rel, text in files.items()}
    metadata = f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n"
    entries[f"{info}/METADATA"] = metadata.encode()
    entries[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = "".join(f"{n},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},"
                     f"{len(d)}\n" for n, d in entries.items()) + f"{info}/RECORD,,\n"
    entries[f"{info}/RECORD"] = record.encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for n, d in entries.items():
            zf.writestr(n, d)
    return wheel


def test_a_module_that_fails_to_compile_is_logged_and_the_environment_still_serves(offline, monkeypatch, tmp_path):
    from mlnb.environments import prepare
    from mlnb.environments.bytecode import site_packages
    from mlnb.environments.cache import is_valid

    host = tmp_path / "host"  # this side's mlnb_probe imports its extra.py; the model's version has a broken one
    (host / "mlnb_probe").mkdir(parents=True)
    for rel, text in PROBE_HOST.items():
        (host / "mlnb_probe" / rel).write_text(text)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _write_wheel(wheels, "mlnb_probe", "1.0", PROBE_WHEEL)
    pythonpath = f"{host}{os.pathsep}{REPO}"
    script = tmp_path / "make.py"
    script.write_text(MAKE_PROBE_MODEL)
    model = tmp_path / "model"
    subprocess.run([sys.executable, str(script), str(model), "mlnb-probe==1.0"], check=True, timeout=300,
                   env={**os.environ, "PYTHONPATH": pythonpath})
    monkeypatch.setenv("PYTHONPATH", pythonpath)  # the module lister imports the model's mlnb_probe from here
    monkeypatch.setenv("MLNB_ENV_NO_INDEX", "1")
    monkeypatch.setenv("MLNB_ENV_FIND_LINKS", f"{WHEELHOUSE}{os.pathsep}{wheels}")
    logged: list[str] = []
    env = prepare(model, "uv", cache=tmp_path / "cache", log=logged.append)
    assert is_valid(env.root, env.spec.key)
    [failure] = [line for line in logged if "precompile" in line]
    assert failure.startswith("Could not precompile 1 of ") and failure.endswith("they compile when first imported.")
    [lib] = site_packages(env.root)
    tag = sys.implementation.cache_tag
    assert (lib / "mlnb_probe" / "__pycache__" / f"__init__.{tag}.pyc").is_file()
    assert not (lib / "mlnb_probe" / "__pycache__" / f"extra.{tag}.pyc").exists()
    request = tmp_path / "in.json"
    request.write_text(json.dumps(ROWS))
    done = subprocess.run(mlnb_cmd("models", "predict", "-m", str(model), "-i", str(request), "--env-manager", "uv"),
                          env={**offline, "MLNB_ENV_CACHE": str(tmp_path / "cache"),
                               "MLNB_ENV_FIND_LINKS": f"{WHEELHOUSE}{os.pathsep}{wheels}"},
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"predictions": ["restored", "restored"]}
    assert "Restoring" not in done.stderr
