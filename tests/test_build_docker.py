"""``mlnb.models.build_docker`` (MLflow's ``mlflow.models.build_docker``) and the build context it
writes. No Docker daemon runs on this machine, so the image itself is built in no test here: the
context is checked file by file, and building fails in seconds with docker's own reason.
(tests/test_environments.py runs the Dockerfile's steps outside a container.)"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
import zipfile

import mlflow.models
import pytest

import mlnb.models
from mlnb.environments.docker import generate_dockerfile
from mlnb.errors import EnvironmentRestoreError, InvalidParameterError
from tests._serving import save_logistic_model
from tests._tiers import REPO


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_logistic_model(tmp_path_factory.mktemp("docker") / "model")


def test_build_docker_has_mlflows_name_and_parameters():
    ours = inspect.signature(mlnb.models.build_docker).parameters
    theirs = inspect.signature(mlflow.models.build_docker).parameters
    assert list(ours) == list(theirs)
    assert ours["env_manager"].default == theirs["env_manager"].default == "virtualenv"
    assert ours["name"].default == "mlnb-pyfunc"


def test_the_context_holds_the_model_mlnbs_wheel_and_a_dockerfile_with_the_chosen_base(model, tmp_path):
    dockerfile = generate_dockerfile(str(model), tmp_path / "ctx", install_java=True, base_image="python:3.11-bookworm")
    context = dockerfile.parent
    text = dockerfile.read_text()
    assert text.splitlines()[1] == "FROM python:3.11-bookworm"
    assert "apt-get install -y --no-install-recommends default-jre-headless" in text
    assert (context / "model_dir" / "MLmodel").read_text() == (model / "MLmodel").read_text()
    requirements = (context / "mlnb-dist" / "requirements.txt").read_text().splitlines()
    assert requirements == [r for r in (model / "requirements.txt").read_text().splitlines() if r]
    [wheel] = (context / "mlnb-dist").glob("mlnb-*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as zf:
        assert "mlnb/cli.py" in zf.namelist()
    plain = generate_dockerfile(str(model), tmp_path / "plain").read_text()  # a scikit-learn model: no Java
    assert "default-jre" not in plain and "FROM python:3.11-slim" in plain


def test_without_a_docker_command_building_says_where_to_build_instead(model, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker here
    with pytest.raises(EnvironmentRestoreError) as caught:
        mlnb.models.build_docker(str(model), name="served")
    assert str(caught.value) == (
        "Building the image 'served' needs the docker command, which is not installed. Write the build context "
        "with `mlnb models generate-dockerfile` (or mlnb.environments.docker.generate_dockerfile) and build it "
        "where a container builder runs.")


def test_without_a_docker_daemon_building_fails_at_once_with_dockers_reason(model, tmp_path):
    docker = shutil.which("docker")
    assert docker is not None, "this machine has docker's client (a daemon cannot run here)"
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path / 'no-daemon.sock'}", "PYTHONPATH": str(REPO)}
    done = subprocess.run([docker, "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode != 0  # no daemon at that socket, here or anywhere
    cli = subprocess.run([sys.executable, "-m", "mlnb.cli", "models", "build-docker", "-m", str(model), "-n", "served"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert cli.returncode == 1 and cli.stdout == ""
    lines = cli.stderr.strip().splitlines()
    assert len(lines) == 1, cli.stderr
    line = lines[0]
    assert line.startswith("Error: Building the image 'served' needs a Docker daemon, and none answers: ")
    assert "no-daemon.sock" in line and line.endswith("and build it where a container builder runs.")


def test_mlflow_home_is_refused_naming_what_to_do(model):
    with pytest.raises(InvalidParameterError, match="install_mlflow=True"):
        mlnb.models.build_docker(str(model), mlflow_home="/src/mlflow")


def test_without_a_model_the_context_serves_a_model_mounted_at_opt_ml_model(tmp_path):
    """MLflow's generic image: nothing of a model in the context; the entrypoint serves /opt/ml/model
    with mlnb's default environment choice, and the image carries the installer that restores it."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "mlnb.cli", "models", "generate-dockerfile",
                           "-d", str(tmp_path / "ctx"), "--env-manager", "uv"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    context = tmp_path / "ctx"
    assert sorted(p.name for p in context.iterdir()) == ["Dockerfile", "mlnb-dist"]
    [wheel] = (context / "mlnb-dist").iterdir()  # no requirements: they are the mounted model's
    assert wheel.name.startswith("mlnb-") and wheel.suffix == ".whl"
    text = (context / "Dockerfile").read_text()
    python = ".".join(map(str, sys.version_info[:2]))
    assert f"FROM python:{python}-slim" in text.splitlines()
    assert f'RUN python -m pip install "/opt/mlnb/dist/{wheel.name}[serve,env]"' in text.splitlines()  # uv stays
    assert "default-jre" not in text and "model_dir" not in text
    [entrypoint] = [ln for ln in text.splitlines() if ln.startswith("ENTRYPOINT ")]
    assert json.loads(entrypoint.split(" ", 1)[1]) == ["mlnb", "models", "serve", "-m", "/opt/ml/model", "-h",
                                                        "0.0.0.0", "-p", "8080"]
    assert "USER mlnb" in text and "HEALTHCHECK" in text
    plain = generate_dockerfile(output_directory=tmp_path / "pip", install_mlflow=True).read_text()
    assert f'RUN python -m pip install "/opt/mlnb/dist/{wheel.name}[serve]"' in plain.splitlines()
    assert '"8080", "--install-mlflow"]' in plain


def test_without_a_model_building_needs_only_docker(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker here: the check after the arguments are accepted
    with pytest.raises(EnvironmentRestoreError, match="needs the docker command"):
        mlnb.models.build_docker(name="generic")
