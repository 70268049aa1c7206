"""Environment files: pinned requirements computed in-process, python_env.yaml and conda.yaml."""

from __future__ import annotations

import importlib.metadata as md
import platform

import pytest
import yaml

from mlnb.errors import InvalidParameterError
from mlnb.models import environment


def test_requirements_are_pinned_from_the_modules_a_model_imports():
    reqs = environment.infer_requirements(["sklearn.linear_model._logistic", "numpy", "os", "__main__", "yaml"])
    assert reqs == sorted([f"numpy=={md.version('numpy')}", f"pyyaml=={md.version('pyyaml')}",
                           f"scikit-learn=={md.version('scikit-learn')}"], key=str.lower)


def test_installed_version_reads_the_same_as_importlib_metadata():
    for dist in ("numpy", "scikit-learn", "pip", "mlnb", "PyYAML"):
        assert environment.installed_version(dist) == md.version(dist)
    assert environment.installed_version("no-such-distribution-anywhere") is None


def test_pip_requirements_replace_and_extra_pip_requirements_add():
    default = ["numpy==2.0", "scikit-learn==1.5"]
    assert environment.resolve_requirements(default, pip_requirements=["torch"]) == ["torch"]
    assert environment.resolve_requirements(default, extra_pip_requirements=["numpy>=2", "shap"]) == [
        "scikit-learn==1.5", "numpy>=2", "shap"]
    with pytest.raises(InvalidParameterError, match="either pip_requirements or extra_pip_requirements"):
        environment.resolve_requirements(default, ["a"], ["b"])


def test_requirements_can_come_from_a_file(tmp_path):
    f = tmp_path / "reqs.txt"
    f.write_text("# pinned\nnumpy==2.0\n\npandas\n")
    assert environment.resolve_requirements([], pip_requirements=str(f)) == ["numpy==2.0", "pandas"]
    with pytest.raises(InvalidParameterError, match="list of strings or a path"):
        environment.resolve_requirements([], pip_requirements=42)


def test_the_three_files_follow_mlflows_layout(tmp_path):
    env = environment.write(tmp_path, ["numpy==2.0", "pandas==2.2"])
    assert env == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    assert (tmp_path / "requirements.txt").read_text() == "numpy==2.0\npandas==2.2\n"
    py = platform.python_version()
    try:  # MLflow pins wheel when it is installed, and names it bare when it is not
        wheel = f"wheel=={md.version('wheel')}"
    except md.PackageNotFoundError:
        wheel = "wheel"
    assert (tmp_path / "python_env.yaml").read_text() == (
        f"python: {py}\nbuild_dependencies:\n- pip=={md.version('pip')}\n- setuptools=={md.version('setuptools')}\n"
        f"- {wheel}\ndependencies:\n- -r requirements.txt\n")
    conda = yaml.safe_load((tmp_path / "conda.yaml").read_text())
    assert conda == {"channels": ["conda-forge"], "name": "mlflow-env",
                     "dependencies": [f"python={py}", f"pip<={md.version('pip')}", {"pip": ["numpy==2.0", "pandas==2.2"]}]}


def test_mlflow_reads_the_environment_mlnb_writes(tmp_path):
    from mlflow.utils.environment import _PythonEnv

    environment.write(tmp_path, ["numpy==2.0"])
    env = _PythonEnv.from_yaml(str(tmp_path / "python_env.yaml"))
    assert env.python == platform.python_version() and env.dependencies == ["-r requirements.txt"]


def test_version_differences_are_described(tmp_path):
    (tmp_path / "requirements.txt").write_text(f"numpy==0.0.1\nscikit-learn=={md.version('scikit-learn')}\nlocal-thing\n")
    assert environment.check_versions(tmp_path) == [f"numpy (saved with 0.0.1, installed {md.version('numpy')})"]


def test_flavor_versions_and_python_version_are_checked_too(tmp_path):
    (tmp_path / "requirements.txt").write_text("numpy\n")  # unpinned: the flavor's key is what tells
    flavors = {"sklearn": {"sklearn_version": "0.24.2"}, "python_function": {"python_version": "3.8.10"}}
    notes = environment.check_versions(tmp_path, flavors)
    assert notes == [f"scikit-learn (saved with 0.24.2, installed {md.version('scikit-learn')})",
                     f"Python (saved with 3.8.10, installed {platform.python_version()})"]
    (tmp_path / "requirements.txt").write_text(f"scikit-learn=={md.version('scikit-learn')}\n")
    assert environment.check_versions(tmp_path, {"sklearn": {"sklearn_version": "0.24.2"}}) == []
