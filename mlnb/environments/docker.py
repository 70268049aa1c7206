"""A container image for a model: ``mlnb models generate-dockerfile`` and ``build-docker``.

With a model, the image is the model's restored environment: a slim Python base of the model's
Python version, mlnb installed from a wheel of this installation (written beside the Dockerfile, so
the build never fetches mlnb), the model's requirements installed at build time, the model copied
in, a non-root user, a HEALTHCHECK on ``/ping`` and ``mlnb models serve`` on port 8080 as entrypoint.

Without a model (MLflow's generic image), the image holds mlnb and its installer (uv, or venv + pip)
on this Python's slim base, and serves whatever model directory is mounted at ``/opt/ml/model``
when the container starts: that model's environment is restored then, into the cache under the
user's home, unless the image's own environment already meets it (mlnb's default).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from mlnb.errors import EnvironmentRestoreError, InvalidParameterError

MODEL_DIR = "/opt/ml/model"
DIST_DIR = "/opt/mlnb/dist"
PORT = 8080
DEFAULT_DIRECTORY = "mlnb-dockerfile"
DEFAULT_IMAGE = "mlnb-pyfunc-servable"
MANAGERS = ("virtualenv", "uv")


def dockerfile_text(python: str, wheel: str, env_manager: str = "virtualenv", constraints: bool = False,
                    install_java: bool = False, base_image: str | None = None, with_model: bool = True,
                    install_mlflow: bool = False) -> str:
    """The Dockerfile for a context laid out by :func:`generate_dockerfile`: a model's image, or
    with ``with_model=False`` the generic one that serves a model mounted at run time."""
    if not with_model:
        return _generic_dockerfile(python, wheel, env_manager, install_java, base_image, install_mlflow)
    if env_manager not in MANAGERS:
        raise InvalidParameterError(f"env_manager must be one of {', '.join(MANAGERS)}, got {env_manager!r}.")
    java = _java(install_java)
    targets = f'-r {DIST_DIR}/requirements.txt{f" -c {DIST_DIR}/constraints.txt" if constraints else ""} ' \
              f'"{DIST_DIR}/{wheel}[serve]"'
    install = (f"python -m pip install {targets}" if env_manager == "virtualenv"
               else f'python -m pip install uv && uv pip install --python "$(command -v python)" {targets} '
                    f"&& python -m pip uninstall -y uv")
    serve = ["mlnb", "models", "serve", "-m", MODEL_DIR, "-h", "0.0.0.0", "-p", str(PORT), "--env-manager", "local"]
    return f"""# A model served by mlnb: the image is the model's environment, restored at build time.
FROM {base_image or f"python:{python}-slim"}

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
{java}
# mlnb comes from the wheel beside this file; the model's requirements are resolved with it.
COPY mlnb-dist/ {DIST_DIR}/
RUN {install}

COPY model_dir/ {MODEL_DIR}/
{_serving_tail(serve, start_period=60)}"""


def _java(install_java: bool) -> str:
    return ("\n# Java, for models that run on the JVM (Spark, H2O)\n"
            "RUN apt-get update && apt-get install -y --no-install-recommends default-jre-headless "
            "&& rm -rf /var/lib/apt/lists/*\n") if install_java else ""


def _serving_tail(serve: list[str], start_period: int) -> str:
    """The lines every image ends with: the non-root user, the port, the health check, the entrypoint."""
    ping = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{PORT}/ping', timeout=4)"
    return f"""RUN useradd --create-home --uid 10001 mlnb
USER mlnb

EXPOSE {PORT}
HEALTHCHECK --interval=30s --timeout=5s --start-period={start_period}s --retries=3 \\
  CMD {json.dumps(["python", "-c", ping])}
ENTRYPOINT {json.dumps(serve)}
"""


def _generic_dockerfile(python: str, wheel: str, env_manager: str, install_java: bool, base_image: str | None,
                        install_mlflow: bool) -> str:
    """The image without a model: mlnb and the installer that restores a mounted model's environment."""
    if env_manager not in MANAGERS:
        raise InvalidParameterError(f"env_manager must be one of {', '.join(MANAGERS)}, got {env_manager!r}.")
    target = f'"{DIST_DIR}/{wheel}[serve{",env" if env_manager == "uv" else ""}]"'
    serve = ["mlnb", "models", "serve", "-m", MODEL_DIR, "-h", "0.0.0.0", "-p", str(PORT)]
    if install_mlflow:
        serve.append("--install-mlflow")
    by = "; uv restores the mounted model's environment" if env_manager == "uv" else ""
    return f"""# mlnb's scoring server for a model mounted at run time:
#   docker run -p 5001:8080 -v /path/to/model:{MODEL_DIR}:ro IMAGE
# The model's environment is restored when the container starts ({env_manager}), unless this image's
# environment already meets its requirements. Restored environments are cached in
# /home/mlnb/.cache/mlnb/environments: mount a volume there to keep them between containers.
FROM {base_image or f"python:{python}-slim"}

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
{_java(install_java)}
# mlnb comes from the wheel beside this file{by}.
COPY mlnb-dist/ {DIST_DIR}/
RUN python -m pip install {target}

{_serving_tail(serve, start_period=600)}"""


#: flavors whose models need Java in the image (as MLflow installs it for them)
JAVA_FLAVORS = ("spark", "h2o", "johnsnowlabs")


def generate_dockerfile(model_uri: str | None = None, output_directory: str | os.PathLike = DEFAULT_DIRECTORY,
                        env_manager: str = "virtualenv", install_mlflow: bool = False,
                        install_java: bool | None = None, base_image: str | None = None) -> Path:
    """Write a build context into ``output_directory``: the Dockerfile, mlnb's wheel (``mlnb-dist/``)
    and, for ``model_uri``, the model (``model_dir/``) with the requirements installed at build time.
    Without ``model_uri`` the image serves a model directory mounted at ``/opt/ml/model`` when the
    container starts, restoring its environment then with ``env_manager``. Returns the Dockerfile's
    path. The folder is replaced as a whole, never left half-written. ``install_java`` (default: for
    Spark and H2O models) adds a JRE; ``base_image`` replaces the slim Python image of the model's
    version, or of this Python without a model (it must have ``python`` with pip)."""
    from mlnb.environments.package import write_wheel

    if env_manager not in MANAGERS:
        raise InvalidParameterError(f"env_manager must be one of {', '.join(MANAGERS)}, got {env_manager!r}.")
    out = Path(output_directory).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        wheel = write_wheel(staging / "mlnb-dist")
        if model_uri:
            text = _model_context(model_uri, staging, wheel.name, env_manager, install_mlflow, install_java,
                                  base_image)
        else:
            text = dockerfile_text(".".join(map(str, sys.version_info[:2])), wheel.name, env_manager,
                                   install_java=bool(install_java), base_image=base_image, with_model=False,
                                   install_mlflow=install_mlflow)
        (staging / "Dockerfile").write_text(text)
        os.chmod(staging, 0o755)
        if out.exists():
            shutil.rmtree(out)
        os.rename(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out / "Dockerfile"


def _model_context(model_uri: str, staging: Path, wheel: str, env_manager: str, install_mlflow: bool,
                   install_java: bool | None, base_image: str | None) -> str:
    """Copy the model and its requirements into the context at ``staging``; return its Dockerfile."""
    from mlnb.environments.spec import spec_of
    from mlnb.models.reading import read_model

    path, mlmodel = read_model(model_uri, warn_versions=False)
    if install_java is None:
        install_java = any(name in JAVA_FLAVORS for name in mlmodel.flavors)
    spec = spec_of(path, install_mlflow=install_mlflow)
    shutil.copytree(path, staging / "model_dir")
    _readable(staging / "model_dir")  # the image's user is not the owner: it reads what root copied in
    (staging / "mlnb-dist" / "requirements.txt").write_text("".join(f"{r}\n" for r in spec.requirements))
    if spec.constraints:
        (staging / "mlnb-dist" / "constraints.txt").write_text("".join(f"{c}\n" for c in spec.constraints))
    return dockerfile_text(spec.python, wheel, env_manager, constraints=bool(spec.constraints),
                           install_java=install_java, base_image=base_image)


def _readable(folder: Path) -> None:
    for dirpath, _, files in os.walk(folder):
        os.chmod(dirpath, 0o755)
        for name in files:
            os.chmod(os.path.join(dirpath, name), 0o644)


def build_docker(model_uri: str | None = None, name: str = "mlnb-pyfunc", env_manager: str = "virtualenv",
                 mlflow_home: str | None = None, install_java: bool | None = None, install_mlflow: bool = False,
                 base_image: str | None = None) -> None:
    """Build a container image that serves ``model_uri`` on port 8080 (``docker run -p 5001:8080 NAME``),
    with MLflow's ``mlflow.models.build_docker`` arguments: the image of :func:`generate_dockerfile`,
    built by ``docker build``. Without ``model_uri`` the image serves the model directory mounted at
    ``/opt/ml/model`` (``docker run -p 5001:8080 -v /path/to/model:/opt/ml/model NAME``), restoring its
    environment when the container starts. ``mlflow_home`` (a source tree of MLflow to install) has
    no mlnb equivalent and is refused; ``install_mlflow=True`` installs MLflow from the index."""
    if mlflow_home is not None:
        raise InvalidParameterError("mlflow_home installs MLflow from a source tree, which mlnb's images do not "
                                    "use (mlnb comes from a wheel of this installation). Leave it out; pass "
                                    "install_mlflow=True to add MLflow from the package index.")
    docker = shutil.which("docker")
    if docker is None:
        raise EnvironmentRestoreError(f"Building the image '{name}' needs the docker command, which is not installed. "
                                      "Write the build context with `mlnb models generate-dockerfile` (or "
                                      "mlnb.environments.docker.generate_dockerfile) and build it where a container "
                                      "builder runs.")
    _check_daemon(docker, name)
    with tempfile.TemporaryDirectory(prefix="mlnb-docker-") as folder:
        dockerfile = generate_dockerfile(model_uri, Path(folder) / "context", env_manager, install_mlflow,
                                         install_java, base_image)
        done = subprocess.run([docker, "build", "-t", name, str(dockerfile.parent)])
    if done.returncode != 0:
        raise EnvironmentRestoreError(
            f"docker build of '{name}' failed (exit code {done.returncode}; its output is above). If it says it "
            f"cannot connect to the Docker daemon, start one, or build the context that "
            f"`mlnb models generate-dockerfile` writes elsewhere.")


def _check_daemon(docker: str, name: str) -> None:
    """Fail in seconds, with docker's reason, when no Docker daemon answers (before writing anything)."""
    try:
        done = subprocess.run([docker, "version", "--format", "{{.Server.Version}}"], capture_output=True,
                              text=True, timeout=30)
        reason = "" if done.returncode == 0 else (done.stderr.strip().splitlines() or ["no answer"])[-1]
    except subprocess.TimeoutExpired:
        reason = "`docker version` did not answer within 30 s"
    if reason:
        raise EnvironmentRestoreError(
            f"Building the image '{name}' needs a Docker daemon, and none answers: {reason} Start one (or point "
            f"DOCKER_HOST at one), or write the build context with `mlnb models generate-dockerfile` and build it "
            f"where a container builder runs.")


__all__ = ["generate_dockerfile", "build_docker", "dockerfile_text", "DEFAULT_DIRECTORY", "DEFAULT_IMAGE"]
