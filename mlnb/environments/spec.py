"""What a model's environment is made of: a Python version and requirements, and the key that names it.

Two models with the same Python (major.minor) and the same requirements share one cached
environment. mlnb's own runtime dependencies are part of every environment (the server runs in
it), so they are part of the key; mlnb's code is not (it is put on the path at launch, see
:mod:`mlnb.environments.package`), so editing mlnb never rebuilds an environment.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path

from mlnb.models.environment import requirement_name

#: bump when the layout of a built environment changes, so older entries are rebuilt
LAYOUT_VERSION = 1
#: mlnb's extras an environment needs to serve a model
SERVING_EXTRAS = ("serve",)


def mlnb_requirements(extras: tuple[str, ...] = SERVING_EXTRAS) -> list[str]:
    """mlnb's own dependencies with ``extras``, read from its installed metadata."""
    import importlib.metadata as md

    from mlnb.errors import EnvironmentRestoreError

    try:
        declared = md.requires("mlnb") or []
    except md.PackageNotFoundError:
        raise EnvironmentRestoreError(
            "mlnb's package metadata is missing, so its dependencies are unknown; install mlnb with pip "
            "(pip install 'mlnb[serve]') before restoring a model's environment.") from None
    out = []
    for line in declared:
        req, _, marker = line.partition(";")
        extra = re.search(r"extra\s*==\s*['\"]([\w-]+)['\"]", marker)
        if extra is not None and extra.group(1) not in extras:
            continue
        rest = re.sub(r"(and\s+)?extra\s*==\s*['\"][\w-]+['\"]", "", marker).strip()
        rest = re.sub(r"\s+and\s*$", "", rest).strip()
        if requirement_name(req) == "mlnb":
            continue
        out.append(f"{req.strip()}; {rest}" if rest else req.strip())
    return sorted(out, key=str.lower)


@dataclass(frozen=True)
class EnvironmentSpec:
    """A Python version (``"3.11"``) and the requirements to install into it."""

    python: str
    requirements: tuple[str, ...]
    constraints: tuple[str, ...] = ()
    runtime: tuple[str, ...] = field(default_factory=lambda: tuple(mlnb_requirements()))

    @property
    def key(self) -> str:
        """The cache key: a digest of everything that decides what gets installed."""
        text = json.dumps({"layout": LAYOUT_VERSION, "python": self.python,
                           "platform": f"{platform.system()}-{platform.machine()}",
                           "requirements": sorted(self.requirements), "constraints": sorted(self.constraints),
                           "runtime": sorted(self.runtime)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def with_python(self, python: str) -> "EnvironmentSpec":
        return EnvironmentSpec(major_minor(python), self.requirements, self.constraints, self.runtime)

    def install_lines(self) -> list[str]:
        """The requirements file handed to the installer: the model's, then mlnb's runtime."""
        return [*self.requirements, *self.runtime]

    def to_dict(self) -> dict:
        return {"python": self.python, "requirements": list(self.requirements),
                "constraints": list(self.constraints), "runtime": list(self.runtime), "key": self.key}


def major_minor(version: str) -> str:
    return ".".join(str(version).split(".")[:2])


def spec_of(model_path: str | Path, extra_requirements: list[str] | None = None,
            install_mlflow: bool = False) -> EnvironmentSpec:
    """The environment a saved model asks for: python_env.yaml's Python (else the MLmodel's, else
    this one's) and requirements.txt with its constraints. ``mlnb`` itself is left out (it is
    provided from this installation); ``extra_requirements`` replace same-named ones."""
    python, requirements, constraints = model_environment(model_path)
    extra = list(extra_requirements or []) + (["mlflow"] if install_mlflow else [])
    names = {requirement_name(r) for r in extra}
    kept = [r for r in requirements if requirement_name(r) not in names]
    return EnvironmentSpec(python, tuple(kept + extra), tuple(constraints))


def model_environment(model_path: str | Path) -> tuple[str, list[str], list[str]]:
    """What a saved model asks for: (Python major.minor, requirements without ``mlnb``, constraints)."""
    from mlnb.models.environment import PYTHON_ENV_FILE, expand_requirements, read_requirements

    path = Path(model_path)
    python = _python_of(path, PYTHON_ENV_FILE) or platform.python_version()
    requirements, constraints = expand_requirements(read_requirements(path), path)
    return major_minor(python), [r for r in requirements if requirement_name(r) != "mlnb"], list(constraints)


def _python_of(path: Path, python_env_file: str) -> str | None:
    import yaml

    env_file = path / python_env_file
    if env_file.is_file():
        data = yaml.safe_load(env_file.read_text(encoding="utf-8")) or {}
        if isinstance(data, dict) and data.get("python"):
            return str(data["python"])
    mlmodel = path / "MLmodel"
    if mlmodel.is_file():
        data = yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}
        version = ((data.get("flavors") or {}).get("python_function") or {}).get("python_version")
        if version:
            return str(version)
    return None


__all__ = ["EnvironmentSpec", "spec_of", "model_environment", "mlnb_requirements", "major_minor"]
