"""The two ways mlnb builds an environment: ``uv`` (fast, finds interpreters) and ``virtualenv``
(the standard library's venv plus pip, always available).

Each installer makes a virtual environment at a given (temporary) folder and installs a
requirements file into it. Where packages come from is the installer's usual configuration
(pip.conf, ``PIP_INDEX_URL``, ``UV_INDEX_URL``...); ``MLNB_ENV_FIND_LINKS`` adds a folder of wheels and
``MLNB_ENV_NO_INDEX=1`` uses only that folder (an offline machine, a test suite).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

from mlnb.errors import EnvironmentRestoreError

MANAGERS = ("uv", "virtualenv")


def uv_binary() -> str | None:
    """The ``uv`` executable: the one the ``uv`` package installed beside this Python, else on PATH."""
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def default_manager() -> str:
    """``uv`` when it is installed, else ``virtualenv``."""
    return "uv" if uv_binary() else "virtualenv"


def index_args() -> list[str]:
    """``--no-index`` / ``--find-links`` from MLNB_ENV_NO_INDEX / MLNB_ENV_FIND_LINKS (both tools take them)."""
    args = []
    if os.environ.get("MLNB_ENV_NO_INDEX", "").lower() in ("1", "true", "yes"):
        args.append("--no-index")
    for folder in filter(None, os.environ.get("MLNB_ENV_FIND_LINKS", "").split(os.pathsep)):
        args += ["--find-links", folder]
    return args


def env_python(root: Path) -> Path:
    """The interpreter of the virtual environment at ``root``."""
    return root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def find_interpreter(manager: str, python: str) -> str | None:
    """An installed interpreter for Python ``python`` (major.minor), or None. uv searches every
    interpreter it knows (without downloading one); virtualenv looks at this one and ``pythonX.Y`` on PATH."""
    if python == ".".join(platform.python_version_tuple()[:2]):
        return sys.executable
    if manager == "uv":
        uv = uv_binary()
        done = subprocess.run([uv, "python", "find", "--no-python-downloads", python], capture_output=True, text=True,
                              env=_quiet_env()) if uv else None
        return done.stdout.strip() or None if done is not None and done.returncode == 0 else None
    return shutil.which(f"python{python}")


#: uv's network settings unless the user set them: an unreachable index fails in seconds, not minutes
_UV_NETWORK_DEFAULTS = {"UV_HTTP_CONNECT_TIMEOUT": "5", "UV_HTTP_RETRIES": "2"}


def _quiet_env() -> dict:
    env = {**_UV_NETWORK_DEFAULTS, **os.environ}
    env.update(UV_PYTHON_DOWNLOADS="never", PIP_DISABLE_PIP_VERSION_CHECK="1", UV_NO_PROGRESS="1")
    return env


def create(manager: str, interpreter: str, root: Path, requirements: Path, constraints: Path | None) -> None:
    """Make a virtual environment at ``root`` with ``interpreter`` and install ``requirements`` into it."""
    if manager == "uv":
        uv = uv_binary()
        if uv is None:
            raise EnvironmentRestoreError("--env-manager uv needs uv; install it with: pip install 'mlnb[env]' "
                                          "(or use --env-manager virtualenv).")
        _run([uv, "venv", "--quiet", "--relocatable", "--python", interpreter, str(root)], "uv venv")
        install = [uv, "pip", "install", "--quiet", "--python", str(env_python(root))]
        tool = "uv"
    elif manager == "virtualenv":
        _run([interpreter, "-m", "venv", str(root)], "python -m venv")
        install = [str(env_python(root)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        tool = "pip"
    else:
        raise EnvironmentRestoreError(f"Unknown environment manager {manager!r}; use one of {', '.join(MANAGERS)}.")
    install += [*index_args(), "-r", str(requirements)] + (["-c", str(constraints)] if constraints else [])
    done = subprocess.run(install, capture_output=True, text=True, env=_quiet_env())
    if done.returncode != 0:
        raise InstallError(tool, done.stderr.strip() or done.stdout.strip())


class InstallError(Exception):
    """An installer refused the requirements; ``output`` is its own explanation."""

    def __init__(self, tool: str, output: str) -> None:
        super().__init__(output)
        self.tool = tool
        self.output = output

    def culprits(self, requirements: list[str]) -> list[str]:
        """The requirement lines the installer's explanation names (the first it names, when it names several)."""
        from mlnb.models.environment import requirement_name

        text = self.output.lower().replace("_", "-")
        named = []
        for req in requirements:
            name = requirement_name(req)
            if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text):
                named.append((text.find(name), req))
        return [req for _, req in sorted(named)]

    def unreachable(self) -> bool:
        """True when the installer failed because it could not reach the package index."""
        text = self.output.lower()
        return any(sign in text for sign in _NETWORK_FAILURES)

    def reason(self, limit: int = 900) -> str:
        """The installer's explanation, with progress lines and decorations left out."""
        lines = [ln.strip(" ×╰─▶│") for ln in self.output.splitlines()]
        lines = [ln for ln in lines if ln and not ln.lower().startswith(("looking in", "processing", "collecting"))]
        text = " ".join(lines)
        return text if len(text) <= limit else text[:limit] + "..."


#: words uv and pip use when the index cannot be reached (connection refused, DNS, timeouts, offline)
_NETWORK_FAILURES = ("error sending request", "tcp connect error", "dns error", "failed to lookup address",
                     "connection refused", "network is unreachable", "operation timed out",
                     "newconnectionerror", "connecttimeouterror", "failed to establish a new connection",
                     "temporary failure in name resolution", "could not fetch url", "read timed out",
                     "network connectivity is disabled")


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, env=_quiet_env())
    if done.returncode != 0:
        raise EnvironmentRestoreError(f"{what} failed: {(done.stderr or done.stdout).strip()[:600]}")


__all__ = ["MANAGERS", "uv_binary", "default_manager", "index_args", "env_python", "find_interpreter", "create",
           "InstallError"]
