"""The default environment manager: a model this environment meets runs here, any other is restored.

Nothing is installed in these tests: they check the choice (tests/test_environments.py builds the
restored environments, from the local wheelhouse)."""

from __future__ import annotations

import platform

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LinearRegression

import mlnb
import mlnb.sklearn
from mlnb.environments import choose, default_manager, unmet_requirements


@pytest.fixture
def saved_here(tmp_path):
    path = tmp_path / "here"
    mlnb.sklearn.save_model(LinearRegression().fit(np.arange(6.0).reshape(3, 2), [1.0, 2.0, 3.0]), path)
    return path


def _require(path, *lines: str) -> None:
    (path / "requirements.txt").write_text("".join(f"{line}\n" for line in lines))


def test_a_model_saved_in_this_environment_runs_here_by_default(saved_here):
    assert unmet_requirements(saved_here) == []
    assert choose(saved_here, None) == "local"


def test_a_model_pinning_other_versions_is_restored_naming_what_differs(saved_here):
    _require(saved_here, "scikit-learn==1.6.1", f"numpy>={np.__version__}", "not-installed-anywhere",
             "pandas; python_version < '3'")  # a marker for other Pythons is met by leaving it out
    assert unmet_requirements(saved_here) == ["scikit-learn==1.6.1", "not-installed-anywhere"]
    logged: list[str] = []
    assert choose(saved_here, None, log=logged.append) == default_manager() == "uv"  # uv is installed here
    assert logged == ["The current environment does not meet the model's requirements (scikit-learn==1.6.1, "
                      "not-installed-anywhere); restoring its environment with uv (--env-manager local runs it "
                      "here instead)."]


def test_ranges_constraints_and_the_python_version_are_checked(saved_here):
    _require(saved_here, f"scikit-learn>=1.3,<{int(sklearn.__version__.split('.')[0]) + 1}", "-c constraints.txt")
    (saved_here / "constraints.txt").write_text("numpy<1.0\nnot-installed-anywhere==1.0\n")
    assert unmet_requirements(saved_here) == ["numpy<1.0 (constraint)"]  # a constraint binds only what is installed
    (saved_here / "constraints.txt").write_text("")
    env_file = saved_here / "python_env.yaml"
    here = platform.python_version()
    env_file.write_text(env_file.read_text().replace(f"python: {here}", "python: 3.4.10"))
    assert unmet_requirements(saved_here) == [f"Python 3.4 (this is Python {'.'.join(here.split('.')[:2])})"]


def test_an_explicit_manager_or_an_option_that_needs_a_restored_environment_wins(saved_here):
    assert choose(saved_here, "virtualenv") == "virtualenv"
    assert choose(saved_here, "local") == "local"
    assert choose(saved_here, None, restore_only=True) == "uv"  # e.g. --install-mlflow


def test_notebook_serve_of_a_saved_model_this_environment_meets_stays_in_the_kernel(saved_here):
    with mlnb.serve(str(saved_here)) as handle:
        assert type(handle.model).__name__ == "PyFuncModel"  # loaded here, served on a kernel thread
        assert handle.running
