"""Bytecode for a new environment, compiled in parallel before its first use.

A fresh environment has no ``.pyc`` files, so the first server started in it compiles every module
it imports (scikit-learn, SciPy, pandas, NumPy: seconds of one core). Compiling whole packages is
slower still: most of their modules are never imported. So while the installer runs, this
interpreter lists the module files that serving the model imports (a child process imports mlnb's
server, the model's flavor and the modules its pickles name from the packages it requires, never the
model itself); once the
environment is installed, the files of that list it holds are compiled by its own interpreter,
split across the CPUs. Bytecode is only an optimisation: any failure is logged and the module
compiles on first import as before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from mlnb.environments import installers

#: what every restored server imports besides the model's libraries
SERVER_MODULES = ("mlnb.cli", "mlnb.serving.server", "mlnb.serving.app", "mlnb.serving.protocol",
                  "mlnb.serving.scoring", "mlnb.pyfunc", "numpy", "pandas", "uvicorn.main", "uvicorn.server",
                  "uvicorn.loops.auto", "uvicorn.loops.uvloop", "uvicorn.protocols.http.httptools_impl",
                  "uvicorn.lifespan.on")
#: at most this many bytes of at most this many model files are read for the modules a pickle names
_PICKLE_BYTES, _PICKLE_FILES = 8 << 20, 32
#: seconds the listing may take (from its start: it overlaps the installer) and the compiling
_LIST_TIMEOUT, _COMPILE_TIMEOUT = 60.0, 300.0

#: a compiling worker, run by the environment's interpreter: the files listed in argv[1] that have no
#: bytecode, each recorded under the path it will have once argv[2] (the folder built) is renamed argv[3]
_COMPILE = """
import os, py_compile, sys
from importlib.util import cache_from_source
built, final = sys.argv[2], sys.argv[3]
failed = 0
for path in open(sys.argv[1], encoding="utf-8").read().splitlines():
    named = final + path[len(built):] if path.startswith(built + os.sep) else path
    try:
        if not os.path.exists(cache_from_source(path)):
            py_compile.compile(path, dfile=named, doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    except Exception:
        failed += 1
print(failed)
"""


class ModuleLister:
    """A child process of this interpreter that lists the module files serving a model imports.

    Made before installing, it runs meanwhile; ``files()`` then gives the paths relative to the
    folder on ``sys.path`` each came from (``sklearn/base.py``, ``mlnb/cli.py``)."""

    def __init__(self, model_path: Path | None, out: Path) -> None:
        self.out = out
        self.started = time.monotonic()
        here = str(Path(__file__).resolve().parents[2])  # the folder holding this mlnb, not the working folder
        code = (f"import sys; sys.path[:] = [{here!r}, *(p for p in sys.path if p)]; "
                "from mlnb.environments.bytecode import main; main()")
        args = [sys.executable, "-c", code, str(out), str(model_path or "")]
        self.proc: subprocess.Popen | None = None
        try:
            if sys.executable:  # not when Python is embedded without one
                self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL)
        except OSError:
            pass

    def files(self, log: Callable[[str], None] | None = None) -> list[str]:
        """The relative paths listed; empty (said with ``log``) when listing failed or took too long."""
        try:
            if self.proc is None:
                raise OSError("cannot start this Python")
            self.proc.wait(timeout=max(1.0, _LIST_TIMEOUT - (time.monotonic() - self.started)))
            return [str(p) for p in json.loads(self.out.read_text(encoding="utf-8"))]
        except (subprocess.TimeoutExpired, OSError, ValueError) as exc:
            if log is not None:
                why = f"it took over {_LIST_TIMEOUT:.0f} s" if isinstance(exc, subprocess.TimeoutExpired) else exc
                log(f"Could not list the modules to precompile ({why}); they compile when first imported.")
            return []
        finally:
            self.stop()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def site_packages(root: Path) -> list[Path]:
    """The site-packages folders of the virtual environment at ``root``."""
    return sorted([*root.glob("lib/python*/site-packages"), *root.glob("Lib/site-packages")])


def compile_listed(root: Path, relative: list[str], code: Path | None = None, *, final: Path | None = None,
                   log: Callable[[str], None] | None = None) -> int:
    """Compile, with the interpreter of the environment at ``root`` and one process per CPU, the
    files of ``relative`` found in its site-packages or in ``code`` (a folder holding mlnb) that have
    no bytecode yet. Their code names the paths they will have when ``root`` is renamed ``final``.
    Return how many have bytecode; failures are logged (with ``log``), never raised."""
    bases = [*site_packages(root), *([code] if code is not None else [])]
    found: dict[Path, None] = {}
    for rel in relative:
        for base in bases:
            if rel.endswith(".py") and (base / rel).is_file():
                found[base / rel] = None
                break
    return _compile_files(installers.env_python(root), list(found), root, final or root, log=log)


def _compile_files(python: Path, files: list[Path], built: Path, final: Path, *,
                   log: Callable[[str], None] | None = None) -> int:
    """Compile ``files`` with ``python``, split by size across one process per CPU this process may use."""
    if not files:
        return 0
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    workers = max(1, min(cpus, 8, len(files)))
    shares: list[list[Path]] = [[] for _ in range(workers)]
    loads = [0] * workers
    sized = []
    for path in files:
        try:
            sized.append((path.stat().st_size, path))
        except OSError:
            continue
    for size, path in sorted(sized, key=lambda item: item[0], reverse=True):  # biggest first, to the lightest share
        least = loads.index(min(loads))
        shares[least].append(path)
        loads[least] += size
    failed, procs = 0, []
    with tempfile.TemporaryDirectory(prefix="mlnb-compile-") as tmp:
        try:
            for i, share in enumerate(shares):
                listing = Path(tmp) / f"{i}.txt"
                listing.write_text("".join(f"{p}\n" for p in share), encoding="utf-8")
                command = [str(python), "-I", "-c", _COMPILE, str(listing), str(built), str(final)]
                procs.append((subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                               stderr=subprocess.DEVNULL, text=True), len(share)))
            deadline = time.monotonic() + _COMPILE_TIMEOUT
            for proc, count in procs:
                try:
                    out, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
                    failed += int(out.strip().splitlines()[-1]) if proc.returncode == 0 else count
                except (subprocess.TimeoutExpired, ValueError, IndexError):
                    failed += count
        except OSError:
            failed = len(sized)
        finally:
            for proc, _ in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    failed += len(files) - len(sized)
    if failed and log is not None:
        log(f"Could not precompile {failed} of {len(files)} modules of the environment; they compile when first "
            f"imported.")
    return len(files) - failed


def modules_to_import(model_path: Path | None) -> list[str]:
    """What serving the model imports: mlnb's server, the model's flavors and their libraries, and the
    modules its pickles name (read, not loaded) of those packages and of its requirements."""
    names = list(SERVER_MODULES)
    if model_path is None:
        return names
    from mlnb.flavors import flavor_for_loader, get_flavor
    from mlnb.models.mlmodel import safe_yaml

    try:
        data = safe_yaml((model_path / "MLmodel").read_text(encoding="utf-8"))
        flavors = data.get("flavors") or {} if isinstance(data, dict) else {}
    except Exception:  # no or a bad MLmodel: loading will say so
        flavors = {}
    for name, conf in flavors.items() if isinstance(flavors, dict) else ():
        found = []
        try:
            found.append(get_flavor(str(name)))
        except Exception:
            pass
        loader = conf.get("loader_module") if isinstance(conf, dict) else None
        if isinstance(loader, str) and flavor_for_loader(loader) is not None:
            found.append(flavor_for_loader(loader))
        for flavor in found:
            names += [flavor.module, *([flavor.library] if flavor.library else [])]
    # a pickle may name any module: only those of the packages above and of the model's requirements are imported
    pickled = pickled_modules(model_path)
    allowed = {n.split(".")[0] for n in names}
    if any(n.split(".")[0] not in allowed for n in pickled):
        allowed |= _requirement_packages(model_path)
    return list(dict.fromkeys(names + [n for n in pickled if n.split(".")[0] in allowed]))


def _requirement_packages(model_path: Path) -> set[str]:
    """The top-level import names of the model's requirements: their names, and the packages their
    distributions installed here hold."""
    import importlib.metadata as md

    from mlnb.models.environment import read_requirements, requirement_name

    try:
        wanted = {requirement_name(r) for r in read_requirements(model_path) if not r.startswith("-")}
    except Exception:  # an unreadable requirements.txt: installing will say so
        return set()
    out = {name.replace("-", "_") for name in wanted}
    for top, dists in md.packages_distributions().items():
        if any(requirement_name(d) in wanted for d in dists):
            out.add(top)
    return out


def pickled_modules(model_path: Path) -> list[str]:
    """The third-party modules the pickle files of the model name, read with :mod:`pickletools`
    (which runs nothing): at most ``_PICKLE_BYTES`` of each of at most ``_PICKLE_FILES`` files."""
    names: set[str] = set()
    scanned = 0
    for path in sorted(model_path.rglob("*"))[:_PICKLE_FILES * 32]:  # a folder of many files: the first ones
        if scanned >= _PICKLE_FILES:
            break
        try:
            if not path.is_file():
                continue
            with open(path, "rb") as handle:
                if handle.read(1) != b"\x80":  # not a pickle of protocol 2 or later
                    continue
                head = b"\x80" + handle.read(_PICKLE_BYTES - 1)
        except OSError:
            continue
        scanned += 1
        names |= _pickle_globals(head)
    stdlib = getattr(sys, "stdlib_module_names", frozenset())
    return sorted(n for n in names if all(part.isidentifier() for part in n.split("."))
                  and n.split(".")[0] not in {*stdlib, "__main__", "builtins", "__builtin__", "copy_reg"})


_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"}
_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}
_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}


def _pickle_globals(data: bytes) -> set[str]:
    """The modules of the globals (GLOBAL, STACK_GLOBAL) a pickle names; a truncated one gives those read."""
    import pickletools

    names: set[str] = set()
    strings: list[str | None] = []  # the strings pushed, by a string opcode or from the memo
    memo: dict[int, str | None] = {}
    top: str | None = None  # the string on top of the stack when the previous opcode pushed one
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name == "GLOBAL" and isinstance(arg, str):
                names.add(arg.split(" ")[0])
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2 and strings[-2]:
                names.add(str(strings[-2]))
            elif op.name == "MEMOIZE" or op.name in _PUT_OPS:
                memo[len(memo) if op.name == "MEMOIZE" else int(arg)] = top
                continue  # the stack is unchanged
            elif op.name in _GET_OPS:
                strings.append(memo.get(int(arg)))
            elif op.name in _STRING_OPS and isinstance(arg, str):
                strings.append(arg)
            top = strings[-1] if op.name in _STRING_OPS or op.name in _GET_OPS else None
    except Exception:  # truncated, or not a pickle after all
        pass
    return names


def imported_files(names: list[str]) -> list[str]:
    """Import ``names`` (failures ignored) and return the ``.py`` files of every third-party module
    then loaded, relative to the ``sys.path`` folder each came from."""
    import importlib
    import warnings

    warnings.simplefilter("ignore")
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException:  # a module that fails to import here may still be fine in the environment
            pass
    stdlib = getattr(sys, "stdlib_module_names", frozenset())
    folders = sorted({os.path.abspath(p) for p in sys.path if p}, key=len, reverse=True)
    out = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or not file.endswith(".py") or name.split(".")[0] in stdlib:
            continue
        file = os.path.abspath(file)
        for folder in folders:
            if file.startswith(folder + os.sep):
                out.append(os.path.relpath(file, folder))
                break
    return sorted(set(out))


def main() -> None:
    """The listing child: ``<out.json> <model path or "">``."""
    out, model = Path(sys.argv[1]), sys.argv[2]
    files = imported_files(modules_to_import(Path(model) if model else None))
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(files), encoding="utf-8")
    os.replace(tmp, out)
    sys.stdout.flush()
    os._exit(0)  # without waiting for threads the imported libraries started


__all__ = ["ModuleLister", "compile_listed", "site_packages", "modules_to_import", "SERVER_MODULES"]
