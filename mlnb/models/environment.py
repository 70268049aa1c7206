"""The environment files of a model, written in one place.

``requirements.txt`` pins the distributions the model really needs: the flavor names the modules
it imports, and each module is mapped to its installed distribution in-process (no subprocess,
no re-loading the model). ``python_env.yaml`` and ``conda.yaml`` follow MLflow's layout.
"""

from __future__ import annotations

import functools
import importlib.metadata as md
import os
import platform
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

from mlnb.errors import InvalidParameterError

REQUIREMENTS_FILE = "requirements.txt"
CONSTRAINTS_FILE = "constraints.txt"
PYTHON_ENV_FILE = "python_env.yaml"
CONDA_FILE = "conda.yaml"

# Modules whose distribution name differs from the import name (the common ones, looked up first).
_KNOWN_DISTS = {
    "sklearn": "scikit-learn", "skops": "skops", "yaml": "pyyaml", "PIL": "pillow",
    "cv2": "opencv-python", "mlnb": "mlnb", "google": "protobuf",
}
_STDLIB_LIKE = {"builtins", "__main__", "copyreg", "collections", "functools", "numbers", "typing"}


@functools.lru_cache(maxsize=None)
def _module_dists() -> dict[str, list[str]]:
    return md.packages_distributions()


@functools.lru_cache(maxsize=512)
def distribution_of(module: str) -> str | None:
    """The installed distribution providing top-level ``module``, or None (stdlib, local code)."""
    top = module.split(".")[0]
    if top in _STDLIB_LIKE or top in getattr(__import__("sys"), "stdlib_module_names", ()):
        return None
    name = _KNOWN_DISTS.get(top, top)
    if installed_version(name) is not None:
        return name
    dists = _module_dists().get(top)
    return dists[0] if dists else None


@functools.lru_cache(maxsize=512)
def installed_version(dist: str) -> str | None:
    """The installed version of ``dist``, read from its ``.dist-info`` directory name when it has
    one (parsing METADATA costs milliseconds per distribution), else from its metadata."""
    try:
        found = md.distribution(dist)
    except md.PackageNotFoundError:
        return None
    folder = getattr(found, "_path", None)
    if folder is not None and folder.name.endswith(".dist-info"):
        _, _, version = folder.name[: -len(".dist-info")].partition("-")
        if version:
            return version
    return found.version


def pinned(dist: str) -> str:
    """``name==version`` for an installed distribution (the bare name when not installed). A local
    version label (``2.13.0+cpu``) is left out, as MLflow does, so the pin installs from PyPI."""
    v = installed_version(dist)
    return f"{dist}=={v.partition('+')[0]}" if v else dist


def infer_requirements(modules: Iterable[str]) -> list[str]:
    """Pinned requirements for the distributions behind ``modules``, sorted, without duplicates."""
    dists = {d for m in modules if (d := distribution_of(m))}
    return sorted((pinned(d) for d in dists), key=str.lower)


def pickled_modules(data: bytes) -> set[str]:
    """The modules a pickle refers to: every class or function it names, and every module
    cloudpickle re-imports for code pickled by value (a PythonModel defined in a notebook that
    calls ``xgboost``). Read from the opcodes; nothing is unpickled."""
    import pickletools
    import sys

    modules: set[str] = set()
    strings: list[str] = []
    for op, arg, _ in pickletools.genops(data):
        if op.name == "GLOBAL":
            modules.add(str(arg).split(" ", 1)[0])
        elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
            modules.add(strings[-2])
        elif isinstance(arg, str):
            strings.append(arg)
    if any(m.startswith("cloudpickle") for m in modules):  # by-value code names modules as plain strings
        modules.update(s for s in strings if s in sys.modules and s.replace(".", "").replace("_", "").isalnum())
    return {m for m in modules if m and not m.startswith("__")}


def local_module_sources(modules: Iterable[str]) -> list[Path]:
    """Source files or package folders of ``modules`` that are local code: not installed as a
    distribution, not the standard library (what ``infer_code_paths`` copies into a model)."""
    import sys

    out: dict[Path, None] = {}
    for name in sorted({m.split(".")[0] for m in modules}):
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if not file or name in _STDLIB_LIKE or name in sys.stdlib_module_names or distribution_of(name):
            continue
        path = Path(file)
        if "site-packages" in path.parts or "dist-packages" in path.parts:
            continue
        out[path.parent if path.name == "__init__.py" else path] = None
    return list(out)


def _read_requirements(spec: str | os.PathLike | Sequence[str]) -> list[str]:
    if isinstance(spec, (str, os.PathLike)) and Path(spec).is_file():
        lines = Path(spec).read_text(encoding="utf-8").splitlines()
    elif isinstance(spec, str):
        lines = [spec]
    elif isinstance(spec, (list, tuple)):
        lines = list(spec)
    else:
        raise InvalidParameterError(
            f"pip requirements must be a list of strings or a path to a requirements file, got {type(spec).__name__}."
        )
    for ln in lines:
        if not isinstance(ln, str):
            raise InvalidParameterError(f"Requirement {ln!r} is not a string.")
    return [ln.strip() for ln in lines if ln and ln.strip() and not ln.strip().startswith("#")]


_INCLUDE = ("-r ", "--requirement ", "--requirement=")
_CONSTRAIN = ("-c ", "--constraint ", "--constraint=")


def expand_requirements(lines: Sequence[str], base: Path | None = None,
                        _seen: frozenset = frozenset()) -> tuple[list[str], list[str]]:
    """``-r file`` lines replaced by the file's requirements, ``-c file`` lines collected as
    constraints (MLflow's rule); relative paths are read from ``base`` (the current directory for
    the caller's list, the including file's directory inside a file)."""
    base = base or Path.cwd()
    reqs: list[str] = []
    constraints: list[str] = []
    for line in lines:
        for prefixes, into in ((_INCLUDE, reqs), (_CONSTRAIN, constraints)):
            prefix = next((p for p in prefixes if line.startswith(p)), None)
            if prefix is None:
                continue
            path = (base / line[len(prefix):].strip()).resolve()
            if not path.is_file():
                raise InvalidParameterError(f"'{line}': no file at '{path}'. Give the path of a requirements file.")
            if path in _seen:
                raise InvalidParameterError(f"'{path}' includes itself through -r or -c lines.")
            sub_reqs, sub_cons = expand_requirements(_read_requirements(path), path.parent, _seen | {path})
            into.extend(sub_reqs)
            constraints.extend(sub_cons)
            break
        else:
            reqs.append(line)
    return reqs, constraints


def resolve_requirements(default: Iterable[str], pip_requirements=None, extra_pip_requirements=None) -> list[str]:
    """The requirements :func:`resolve_environment` gives (without its constraints)."""
    return resolve_environment(default, pip_requirements, extra_pip_requirements)[0]


def resolve_environment(default: Iterable[str], pip_requirements=None, extra_pip_requirements=None,
                        conda_env=None) -> tuple[list[str], list[str]]:
    """MLflow's rules: ``pip_requirements`` replaces the inferred list; ``extra_pip_requirements`` adds to
    it; a ``conda_env`` gives the pip requirements itself. Returns (requirements, constraints)."""
    given = [k for k, v in (("conda_env", conda_env), ("pip_requirements", pip_requirements),
                            ("extra_pip_requirements", extra_pip_requirements)) if v is not None]
    if len(given) > 1:
        raise InvalidParameterError(f"Pass either {' or '.join(given)}, not both: each one gives the "
                                    f"model's requirements.")
    if conda_env is not None:
        return expand_requirements(conda_pip_requirements(conda_env))
    if pip_requirements is not None:
        return expand_requirements(_read_requirements(pip_requirements))
    reqs = list(default)
    constraints: list[str] = []
    if extra_pip_requirements is not None:
        extra, constraints = expand_requirements(_read_requirements(extra_pip_requirements))
        names = {requirement_name(r) for r in extra}
        reqs = [r for r in reqs if requirement_name(r) not in names] + extra
    return reqs, constraints


def read_conda_env(conda_env: str | os.PathLike | dict) -> dict:
    """A conda environment given as a dict or as the path of a YAML file."""
    if isinstance(conda_env, dict):
        return dict(conda_env)
    if isinstance(conda_env, (str, os.PathLike)):
        import yaml

        path = Path(conda_env)
        if not path.is_file():
            raise InvalidParameterError(f"conda_env: no file at '{path}'. Pass a dict or the path of a conda YAML file.")
        env = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(env, dict):
            return env
    raise InvalidParameterError(
        f"conda_env must be a dict or the path of a conda environment YAML file, got {type(conda_env).__name__}.")


def conda_pip_requirements(conda_env) -> list[str]:
    """The ``pip:`` list of a conda environment's dependencies."""
    env = read_conda_env(conda_env)
    out: list[str] = []
    for dep in env.get("dependencies") or []:
        if isinstance(dep, dict) and isinstance(dep.get("pip"), list):
            out.extend(str(r) for r in dep["pip"])
    return out


def requirement_name(req: str) -> str:
    """The normalized distribution name of a requirement line (``Scikit_Learn>=1`` -> ``scikit-learn``)."""
    import re

    return re.split(r"[<>=!~\[;@ ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-").replace(".", "-")


def write(model_dir: str | os.PathLike, requirements: Sequence[str], constraints: Sequence[str] = (),
          conda_env=None) -> dict[str, str]:
    """Write requirements.txt (and constraints.txt), python_env.yaml and conda.yaml; return the pyfunc
    ``env`` entry. A given ``conda_env`` is written as conda.yaml with its pip list replaced by the
    expanded requirements, as MLflow does."""
    d = Path(model_dir)
    if constraints:
        (d / CONSTRAINTS_FILE).write_text("".join(f"{c}\n" for c in constraints), encoding="utf-8")
        requirements = [*requirements, f"-c {CONSTRAINTS_FILE}"]
    (d / REQUIREMENTS_FILE).write_text("".join(f"{r}\n" for r in requirements), encoding="utf-8")
    (d / PYTHON_ENV_FILE).write_text(_python_env_yaml(), encoding="utf-8")
    if conda_env is not None:
        conda = read_conda_env(conda_env)
        deps = [dep for dep in conda.get("dependencies") or [] if not (isinstance(dep, dict) and "pip" in dep)]
        conda["dependencies"] = [*deps, {"pip": list(requirements)}]
        text = _yaml_text(conda)
    else:
        text = _default_conda_yaml(tuple(requirements))
    (d / CONDA_FILE).write_text(text, encoding="utf-8")
    return {"conda": CONDA_FILE, "virtualenv": PYTHON_ENV_FILE}


def _yaml_text(data: dict, sort_keys: bool = True) -> str:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: same text, much faster
    return yaml.dump(data, Dumper=dumper, default_flow_style=False, sort_keys=sort_keys)


# python_env.yaml and the default conda.yaml depend only on the process (Python, pip) and the
# requirements, so each text is made once per process and requirement list (a model per fit logs
# the same ones)
@functools.lru_cache(maxsize=None)
def _python_env_yaml() -> str:
    return _yaml_text({
        "python": platform.python_version(),
        "build_dependencies": [pinned("pip"), pinned("setuptools"), pinned("wheel")],
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }, sort_keys=False)


@functools.lru_cache(maxsize=256)
def _default_conda_yaml(requirements: tuple[str, ...]) -> str:
    return _yaml_text(default_conda_env(requirements))


def read_requirements(model_dir: str | os.PathLike) -> list[str]:
    f = Path(model_dir) / REQUIREMENTS_FILE
    return _read_requirements(f) if f.is_file() else []


# Flavor keys that record the version of the library a model was saved with (MLflow's names).
_FLAVOR_VERSION_KEYS = {"sklearn_version": "scikit-learn", "xgb_version": "xgboost"}


def check_versions(model_dir: str | os.PathLike, flavors: dict | None = None) -> list[str]:
    """Describe each recorded library version that differs from the installed one (for a
    load-time warning): pinned requirements, the flavors' ``*_version`` keys and Python's
    major.minor version."""
    recorded: dict[str, str] = {}
    for req in read_requirements(model_dir):
        if "==" in req:
            name, want = req.split("==", 1)
            recorded[name.strip()] = want.strip()
    for conf in (flavors or {}).values():
        for key, dist in _FLAVOR_VERSION_KEYS.items():
            if conf.get(key) and requirement_name(dist) not in {requirement_name(n) for n in recorded}:
                recorded[dist] = str(conf[key])
    notes = []
    for name, want in recorded.items():
        have = installed_version(name)
        if have is not None and have != want and have.partition("+")[0] != want:  # 2.13.0+cpu is 2.13.0
            notes.append(f"{name} (saved with {want}, installed {have})")
    saved_py = str(((flavors or {}).get("python_function") or {}).get("python_version") or "")
    if saved_py and saved_py.split(".")[:2] != platform.python_version().split(".")[:2]:
        notes.append(f"Python (saved with {saved_py}, installed {platform.python_version()})")
    return notes


#: a requirement pip reads: name, extras, version clauses, a marker (PEP 508, without URLs)
_REQUIREMENT_RE = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?\s*(?:\[[A-Za-z0-9._,\s-]*\])?\s*"
    r"(?:(?:===|==|!=|<=|>=|~=|<|>)\s*[A-Za-z0-9.*+!_-]+\s*(?:,\s*(?:===|==|!=|<=|>=|~=|<|>)\s*[A-Za-z0-9.*+!_-]+\s*)*)?"
    r"(?:;.*)?$")


def check_requirement_update(operation: Any, requirement_list: Any) -> None:
    """Refuse an operation other than add/remove, or requirements that are not strings pip reads."""
    if operation not in ("add", "remove"):
        raise InvalidParameterError(f"operation must be 'add' or 'remove', got {operation!r}.")
    if isinstance(requirement_list, str) or not isinstance(requirement_list, (list, tuple)) \
            or not all(isinstance(r, str) and r.strip() for r in requirement_list):
        raise InvalidParameterError("requirement_list must be a list of requirement strings, like ['pandas==2.2'].")
    for r in requirement_list:
        if not _REQUIREMENT_RE.match(r.strip()):
            raise InvalidParameterError(
                f"'{r}' is not a pip requirement: write a name with optional extras, versions and markers, "
                f"like 'pandas>=2.0' or 'scikit-learn[all]==1.5; python_version>\"3.9\"'.")


def default_conda_env(requirements: Sequence[str]) -> dict:
    """The conda environment mlnb writes as conda.yaml for pip ``requirements`` (MLflow's layout:
    conda-forge, this Python, this pip, then the requirements)."""
    pip_v = installed_version("pip")
    return {
        "channels": ["conda-forge"],
        "dependencies": [f"python={platform.python_version()}", f"pip<={pip_v}" if pip_v else "pip",
                         {"pip": list(requirements)}],
        "name": "mlflow-env",
    }


def update_model_requirements(model_uri: str | os.PathLike, operation: str, requirement_list: Sequence[str]) -> None:
    """Add (or replace, by name) or remove pip requirements of a saved model, in requirements.txt
    and in conda.yaml's pip list. Local models only (a path or ``file://``)."""
    import yaml

    from mlnb.models.uri import local_path, scheme_of

    check_requirement_update(operation, requirement_list)
    if scheme_of(os.fspath(model_uri)) not in ("", "file"):
        raise InvalidParameterError(
            f"update_model_requirements changes a model in place, so it takes a local path or file:// URI; "
            f"got '{model_uri}'. Download the model (mlnb.artifacts.download_artifacts), update it, log it again.")
    model_dir = local_path(model_uri)
    names = {requirement_name(r) for r in requirement_list}
    current = read_requirements(model_dir)
    kept = [r for r in current if requirement_name(r) not in names]
    updated = kept + list(requirement_list) if operation == "add" else kept
    (model_dir / REQUIREMENTS_FILE).write_text("".join(f"{r}\n" for r in updated), encoding="utf-8")
    conda_file = model_dir / CONDA_FILE
    if conda_file.is_file():
        conda = yaml.safe_load(conda_file.read_text(encoding="utf-8")) or {}
        deps = [d for d in conda.get("dependencies") or [] if not (isinstance(d, dict) and "pip" in d)]
        conda["dependencies"] = [*deps, {"pip": updated}]
        conda_file.write_text(yaml.safe_dump(conda, default_flow_style=False), encoding="utf-8")
