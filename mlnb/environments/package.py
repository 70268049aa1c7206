"""mlnb's own code, carried into a restored environment or a container without the network.

A restored environment holds the model's requirements and mlnb's dependencies; mlnb's code comes
from the running installation. :func:`code_dir` copies the package once per content digest into
the cache (immutable afterwards, so servers already running from an older copy are untouched) and
the environment's interpreter gets it on ``PYTHONPATH``. :func:`write_wheel` packs the same files
into a pure-Python wheel, for images that ``pip install`` mlnb.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import mlnb

_SKIP_DIRS = {"__pycache__"}
_SKIP_SUFFIXES = (".pyc", ".pyo")


def package_root() -> Path:
    """The folder of the running ``mlnb`` package."""
    return Path(mlnb.__file__).resolve().parent


def package_files() -> list[Path]:
    """mlnb's files (relative to the package folder), without bytecode, sorted."""
    root = package_root()
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        out += [(Path(folder) / f).relative_to(root) for f in files if not f.endswith(_SKIP_SUFFIXES)]
    return sorted(out)


def package_digest() -> str:
    """A digest of mlnb's code: changes whenever a file of the package does."""
    root = package_root()
    h = hashlib.sha256()
    for rel in package_files():
        h.update(str(rel).encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    return h.hexdigest()[:16]


def code_dir(cache_root: Path) -> Path:
    """A folder holding a copy of this mlnb (``<it>/mlnb/...``), made once per digest, atomically."""
    final = cache_root / "mlnb" / package_digest()
    if (final / "mlnb" / "__init__.py").is_file():
        os.utime(final)
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
    try:
        root = package_root()
        for rel in package_files():
            (tmp / "mlnb" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / rel, tmp / "mlnb" / rel)
        os.rename(tmp, final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (final / "mlnb" / "__init__.py").is_file():  # another process won the race otherwise
            raise
    return final


def _metadata_text() -> str:
    import importlib.metadata as md

    from mlnb.version import VERSION

    lines = ["Metadata-Version: 2.1", "Name: mlnb", f"Version: {VERSION}", "Requires-Python: >=3.10"]
    try:
        meta = md.metadata("mlnb")
        lines += [f"Provides-Extra: {e}" for e in meta.get_all("Provides-Extra") or []]
        lines += [f"Requires-Dist: {r}" for r in meta.get_all("Requires-Dist") or []]
    except md.PackageNotFoundError:
        from mlnb.errors import EnvironmentRestoreError

        raise EnvironmentRestoreError("mlnb's package metadata is missing, so its dependencies are unknown; "
                                      "install mlnb with pip (pip install 'mlnb[serve]') first.") from None
    return "\n".join(lines) + "\n"


def wheel_name() -> str:
    from mlnb.version import VERSION

    return f"mlnb-{VERSION}-py3-none-any.whl"


def write_wheel(folder: str | os.PathLike) -> Path:
    """Write a wheel of the running mlnb into ``folder`` (its dependencies and extras as installed
    metadata declares them, the ``mlnb`` command included); return its path."""
    from mlnb.version import VERSION

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    info = f"mlnb-{VERSION}.dist-info"
    entries: list[tuple[str, bytes]] = [(f"mlnb/{rel.as_posix()}", (package_root() / rel).read_bytes())
                                        for rel in package_files()]
    entries += [(f"{info}/METADATA", _metadata_text().encode()),
                (f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: mlnb\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
                (f"{info}/entry_points.txt", b"[console_scripts]\nmlnb = mlnb.cli:main\n"),
                (f"{info}/top_level.txt", b"mlnb\n")]
    record = "".join(
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for name, data in entries) + f"{info}/RECORD,,\n"
    target = folder / wheel_name()
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".mlnb-wheel-")
    with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in [*entries, (f"{info}/RECORD", record.encode())]:
            zf.writestr(name, data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    return target


__all__ = ["package_root", "package_files", "package_digest", "code_dir", "write_wheel", "wheel_name"]
