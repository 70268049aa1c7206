"""The cache of restored environments: one virtual environment per :class:`EnvironmentSpec` key.

An entry is built in a temporary folder beside the cache, checked, stamped with a marker file and
only then renamed into place, so a half-built environment is never used; an entry without a valid
marker (an interrupted build, a deleted interpreter) is rebuilt. A file lock per key (``fcntl``)
makes two processes that prepare the same environment build it once: the second waits, then uses it.
The marker's modification time records the last use, which ``prune`` reads.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from mlnb.environments import bytecode, installers
from mlnb.environments.spec import EnvironmentSpec, spec_of
from mlnb.errors import EnvironmentRestoreError, InvalidParameterError

MARKER = "mlnb-environment.json"
_DAY = 86400.0


def cache_root() -> Path:
    """Where environments are cached: ``MLNB_ENV_CACHE``, else ``$XDG_CACHE_HOME/mlnb/environments``
    (``~/.cache/mlnb/environments``)."""
    given = os.environ.get("MLNB_ENV_CACHE")
    if given:
        return Path(given).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mlnb" / "environments"


@dataclass(frozen=True)
class Environment:
    """A restored environment, ready to run mlnb: ``python`` with mlnb's code on its path."""

    root: Path
    spec: EnvironmentSpec
    manager: str
    code: Path

    @property
    def python(self) -> Path:
        return installers.env_python(self.root)

    def environ(self, base: dict | None = None, extra: dict | None = None) -> dict[str, str]:
        """Process environment variables that run ``python`` as this environment, with this mlnb."""
        env = dict(os.environ if base is None else base)
        # bytecode is written on first import (only the modules the model uses), so let Python write it
        for name in ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONDONTWRITEBYTECODE"):
            env.pop(name, None)
        env.update(extra or {})
        env.update(PYTHONPATH=str(self.code), VIRTUAL_ENV=str(self.root), PYTHONNOUSERSITE="1",
                   MLNB_RESTORED_ENV=self.spec.key,
                   PATH=str(self.python.parent) + os.pathsep + env.get("PATH", ""))
        return env

    def mlnb_command(self, *args: str) -> list[str]:
        """The command line that runs ``mlnb <args>`` in this environment."""
        safe_path = ["-P"] if tuple(map(int, self.spec.python.split("."))) >= (3, 11) else []  # not the cwd's mlnb
        return [str(self.python), *safe_path, "-m", "mlnb.cli", *args]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepare(model_path: str | os.PathLike, env_manager: str | None = None, *, allow_python_mismatch: bool = False,
            extra_requirements: list[str] | None = None, install_mlflow: bool = False,
            cache: str | os.PathLike | None = None, log: Callable[[str], None] = _stderr) -> Environment:
    """The restored environment of the model saved at ``model_path``, built now unless cached.

    ``env_manager`` is ``"uv"`` or ``"virtualenv"`` (default: uv when installed). The model's Python
    version must have an installed interpreter; with ``allow_python_mismatch`` this one is used
    instead, with a warning. Raises :class:`~mlnb.errors.EnvironmentRestoreError` naming the
    requirement that cannot be installed and the installer's reason.
    """
    manager = env_manager or installers.default_manager()
    if manager not in installers.MANAGERS:
        raise InvalidParameterError(f"env_manager must be one of {', '.join(installers.MANAGERS)} to restore an "
                                    f"environment, got {manager!r}.")
    path = Path(model_path)
    spec = spec_of(path, extra_requirements, install_mlflow)
    interpreter = installers.find_interpreter(manager, spec.python)
    if interpreter is None:
        here = ".".join(map(str, sys.version_info[:2]))
        if not allow_python_mismatch:
            raise EnvironmentRestoreError(
                f"The model at '{path}' was saved with Python {spec.python} and no Python {spec.python} interpreter "
                f"is installed here{' (uv found none)' if manager == 'uv' else ''}. Install one (for example "
                f"`uv python install {spec.python}`), pass --allow-python-mismatch (allow_python_mismatch=True) "
                f"to restore it with Python {here}, or run it in the current environment with --env-manager local.")
        message = (f"The model at '{path}' was saved with Python {spec.python}; running it with Python {here} "
                   f"because no Python {spec.python} is installed. Its predictions may differ.")
        warnings.warn(message, stacklevel=2)
        log(f"Warning: {message}")
        spec, interpreter = spec.with_python(here), sys.executable
    root = Path(cache) if cache is not None else cache_root()
    from mlnb.environments.package import code_dir

    code = code_dir(root)
    env_root = build(spec, manager, interpreter, root, log=log, model_path=path, code=code)
    return Environment(env_root, spec, manager, code)


def entry_path(spec: EnvironmentSpec, cache: str | os.PathLike | None = None) -> Path:
    """Where the environment for ``spec`` lives (built or not)."""
    return (Path(cache) if cache is not None else cache_root()) / "envs" / spec.key


def is_valid(root: Path, key: str) -> bool:
    """True when ``root`` is a complete environment for ``key``: marker present and matching, interpreter there."""
    try:
        marker = json.loads((root / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("key") == key and installers.env_python(root).exists()


@contextlib.contextmanager
def _locked(lock_file: Path, on_wait: Callable[[], None] | None = None, wait: bool = True) -> Iterator[bool]:
    import fcntl

    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                yield False
                return
            if on_wait is not None:
                on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(spec: EnvironmentSpec, manager: str, interpreter: str, cache: Path, *,
          log: Callable[[str], None] = _stderr, model_path: Path | None = None, code: Path | None = None) -> Path:
    """The folder of the environment for ``spec``: the cached one when valid, else built atomically,
    with bytecode for the modules serving ``model_path`` imports (and for those of mlnb's ``code``
    folder, see :mod:`mlnb.environments.bytecode`)."""
    final = cache / "envs" / spec.key
    if is_valid(final, spec.key):
        os.utime(final / MARKER)
        return final
    with _locked(cache / "locks" / f"{spec.key}.lock",
                 on_wait=lambda: log(f"Waiting for another process that is building the environment {spec.key}...")):
        if is_valid(final, spec.key):  # built by the process we waited for
            os.utime(final / MARKER)
            return final
        if final.exists():
            log(f"The cached environment {final} is incomplete or corrupt; rebuilding it.")
            shutil.rmtree(final)
        for stale in final.parent.glob(f".tmp-{spec.key}-*"):  # left by an interrupted build (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        final.parent.mkdir(parents=True, exist_ok=True)
        log(f"Restoring the model's environment with {manager} (Python {spec.python}, "
            f"{len(spec.requirements)} requirements) into {final} ...")
        started = time.monotonic()
        staging = Path(tempfile.mkdtemp(prefix=f".tmp-{spec.key}-", dir=final.parent))
        try:
            _build_into(staging, final, spec, manager, interpreter, model_path, code, log)
            os.rename(staging / "env", final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log(f"Environment ready in {time.monotonic() - started:.1f}s.")
    return final


def _build_into(staging: Path, final: Path, spec: EnvironmentSpec, manager: str, interpreter: str,
                model_path: Path | None, code: Path | None, log: Callable[[str], None]) -> None:
    """Build the environment for ``spec`` at ``staging/env``, to be renamed ``final``."""
    requirements = staging / "requirements.txt"
    requirements.write_text("".join(f"{r}\n" for r in spec.install_lines()), encoding="utf-8")
    constraints = None
    if spec.constraints:
        constraints = staging / "constraints.txt"
        constraints.write_text("".join(f"{c}\n" for c in spec.constraints), encoding="utf-8")
    root = staging / "env"
    lister = bytecode.ModuleLister(model_path, staging / "modules.json")  # runs while the installer does
    try:
        try:
            installers.create(manager, interpreter, root, requirements, constraints)
        except installers.InstallError as exc:
            raise EnvironmentRestoreError(_install_failure(exc, spec, model_path)) from None
        _verify(root, spec)
        listed = lister.files(log)
    finally:
        lister.stop()
    bytecode.compile_listed(root, listed, code, final=final, log=log)
    marker = {**spec.to_dict(), "manager": manager, "created": time.time()}
    (root / MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")


def _install_failure(exc: installers.InstallError, spec: EnvironmentSpec, model_path: Path | None) -> str:
    where = f" of the model at '{model_path}'" if model_path is not None else ""
    if exc.unreachable():
        return (f"Cannot restore the environment{where}: the package index cannot be reached. {exc.tool} says: "
                f"{exc.reason()} Run the model in the current environment with --env-manager local "
                f"(env_manager='local'), or give mlnb a folder of wheels with MLNB_ENV_FIND_LINKS "
                f"(and MLNB_ENV_NO_INDEX=1 to use only that folder).")
    named = exc.culprits(list(spec.requirements)) or exc.culprits(list(spec.runtime))
    what = (f"the requirement '{named[0]}' cannot be installed" if named
            else f"its requirements ({', '.join(spec.requirements) or 'none'}) cannot be installed")
    return (f"Cannot restore the environment{where}: {what}. {exc.tool} says: {exc.reason()} "
            f"Correct the model's requirements (mlnb.models.update_model_requirements), or serve it in the "
            f"current environment with --env-manager local.")


_CHECK = """
import importlib.metadata as md, json, platform, sys
names = json.loads(sys.argv[1])
missing = []
for name in names:
    try:
        md.distribution(name)
    except md.PackageNotFoundError:
        missing.append(name)
print(json.dumps({"python": platform.python_version(), "missing": missing}))
"""


def _verify(root: Path, spec: EnvironmentSpec) -> None:
    """Check the new environment runs and holds every named requirement (lines with an environment
    marker, a URL or a path are left to the installer)."""
    from mlnb.models.environment import requirement_name

    names = sorted({requirement_name(r) for r in spec.install_lines()
                    if ";" not in r and "@" not in r and not r.startswith(("-", ".", "/"))})
    done = subprocess.run([str(installers.env_python(root)), "-I", "-c", _CHECK, json.dumps(names)],
                          capture_output=True, text=True)
    try:
        found = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise EnvironmentRestoreError(f"The new environment at {root} does not run: {done.stderr.strip()[:600]}") from None
    if found["missing"]:
        raise EnvironmentRestoreError(f"The new environment lacks {', '.join(found['missing'])} after installing; "
                                      f"the installer reported success, so check its configuration (index, wheels).")


def entries(cache: str | os.PathLike | None = None) -> list[dict]:
    """The cached environments: each marker's content plus ``path`` and ``last_used`` (epoch seconds)."""
    root = (Path(cache) if cache is not None else cache_root()) / "envs"
    out = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.name.startswith("."):
            continue
        try:
            marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
            last_used = (folder / MARKER).stat().st_mtime
        except (OSError, ValueError):
            marker, last_used = {"key": folder.name, "corrupt": True}, folder.stat().st_mtime
        out.append({**marker, "path": str(folder), "last_used": last_used})
    return out


def prune(days: float, cache: str | os.PathLike | None = None) -> list[Path]:
    """Remove environments (and copies of mlnb's code) unused for ``days`` days; return what was removed.
    An environment being built or used for a build right now is kept."""
    root = Path(cache) if cache is not None else cache_root()
    cutoff = time.time() - days * _DAY
    removed = []
    for entry in entries(root):
        folder = Path(entry["path"])
        if entry["last_used"] >= cutoff:
            continue
        with _locked(root / "locks" / f"{folder.name}.lock", wait=False) as got:
            if got:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    for folder in [*(root / "envs").glob(".tmp-*"), *(root / "mlnb").glob("*")]:
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def size_on_disk(folder: str | os.PathLike) -> int:
    """Bytes a folder occupies on disk, counting each hard-linked file once."""
    seen, total = set(), 0
    for dirpath, _, files in os.walk(folder):
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


__all__ = ["Environment", "prepare", "build", "cache_root", "entry_path", "is_valid", "entries", "prune",
           "size_on_disk", "MARKER"]
