"""Safe patching, in one place: install wrappers, restore the originals exactly, never break a fit.

Every patch records the owner, the attribute name and the raw object found in the owner's own
``__dict__`` (or that there was none), so ``unpatch`` puts back the very same object, or removes
the attribute again so the inherited one shows through. Wrappers keep the original's
``__module__``/``__qualname__`` (or name the namespace they were installed in), so pickle and
cloudpickle still find patched functions by reference.

Fits nest (a pipeline fits its steps, a search fits many candidates): a thread-local depth counter
lets only the outermost fit log. Logging runs under :func:`guard`, which turns any failure into one
concise :class:`AutologWarning` and lets the user's code go on.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.abc
import inspect
import sys
import threading
import types
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator

_MISSING = object()


class AutologWarning(UserWarning):
    """Autolog could not record something; the user's fit, predict or metric call still succeeded."""


@dataclass(frozen=True)
class Patch:
    """One replaced attribute: where it was, what was there, and what replaced it."""
    owner: Any          # class or module
    name: str
    original: Any       # the raw object in ``owner.__dict__``, or _MISSING when it was inherited
    wrapper: Any


_PATCHES: dict[str, list[Patch]] = {}


class _State(threading.local):
    depth = 0           # fits in progress on this thread
    busy = False        # autolog's own code is running (its predict/metric calls must not log)
    pending: list[str] | None = None   # failures gathered for one combined warning


state = _State()
_suspended = 0          # > 0 while cross-validation helpers run (any thread)
_silent: dict[str, bool] = {}


def is_patched(integration: str) -> bool:
    """True while ``integration`` has patches in place."""
    return bool(_PATCHES.get(integration))


def patches(integration: str) -> list[Patch]:
    """The patches ``integration`` has in place, oldest first."""
    return list(_PATCHES.get(integration, ()))


def replace_attribute(integration: str, owner: Any, name: str, wrapper: Any) -> None:
    """Set ``owner.name`` to ``wrapper``, remembering what was there (or that it was inherited) so
    :func:`unpatch` restores exactly that."""
    raw = owner.__dict__.get(name, _MISSING) if hasattr(owner, "__dict__") else _MISSING
    setattr(owner, name, wrapper)
    _PATCHES.setdefault(integration, []).append(Patch(owner, name, raw, wrapper))


def unpatch(integration: str) -> None:
    """Restore every attribute ``integration`` patched, newest first, exactly as it was."""
    for p in reversed(_PATCHES.pop(integration, [])):
        if p.original is _MISSING:
            with contextlib.suppress(AttributeError):
                delattr(p.owner, p.name)
        else:
            setattr(p.owner, p.name, p.original)
    _silent.pop(integration, None)
    for name in list(_waiting):
        _waiting[name] = [w for w in _waiting[name] if w[0] != integration]
        if not _waiting[name]:
            del _waiting[name]


def original_of(obj: Any) -> Any:
    """The unpatched callable behind a wrapper (or ``obj`` itself)."""
    return getattr(obj, "__mlnb_original__", obj)


def patch_method(integration: str, cls: type, name: str, hook: Callable) -> None:
    """Wrap ``cls.<name>`` (defined on ``cls`` itself) so calls go to ``hook(self, call, args, kwargs)``.

    ``call(*args, **kwargs)`` runs the original bound to ``self``. Plain functions get a function
    wrapper; descriptors (``available_if``, properties) get a descriptor wrapper, so ``hasattr``
    answers as before.
    """
    raw = cls.__dict__[name]
    if getattr(raw, "__mlnb_original__", None) is not None:
        return  # already ours
    if isinstance(raw, types.FunctionType):
        @functools.wraps(raw)
        def wrapper(self, *args, **kwargs):
            return hook(self, types.MethodType(raw, self), args, kwargs)

        wrapper.__mlnb_original__ = raw
    elif hasattr(raw, "__get__") and not isinstance(raw, (staticmethod, classmethod)):
        wrapper = _DescriptorWrapper(raw, hook)
    else:
        return
    replace_attribute(integration, cls, name, wrapper)


class _DescriptorWrapper:
    """Wraps a descriptor: binding asks the original first (it may say the method is unavailable)."""

    def __init__(self, raw: Any, hook: Callable) -> None:
        self.__mlnb_original__ = raw
        self._hook = hook
        functools.update_wrapper(self, raw, updated=())

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        bound = self.__mlnb_original__.__get__(obj, owner)
        if obj is None:
            return bound
        hook = self._hook

        @functools.wraps(bound)
        def call(*args, **kwargs):
            return hook(obj, bound, args, kwargs)

        return call


def subclasses(base: type) -> list[type]:
    """``base`` and every class deriving from it (at any depth) defined so far, ``base`` first."""
    found, stack = [base], [base]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in found:
                found.append(sub)
                stack.append(sub)
    return found


def patch_function(integration: str, modules: list[types.ModuleType], name: str, hook: Callable) -> None:
    """Replace function ``name`` in each of ``modules`` (where it is the same object) with one wrapper.

    ``hook(original, args, kwargs)`` is called instead. If the function's home module is not among
    ``modules``, the wrapper takes the first module as its ``__module__`` so pickle finds it there.
    """
    original = getattr(modules[0], name, None)
    if original is None or getattr(original, "__mlnb_original__", None) is not None or not callable(original):
        return

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        return hook(original, args, kwargs)

    wrapper.__mlnb_original__ = original
    owners = [m for m in modules if getattr(m, name, None) is original]
    if original.__module__ not in {m.__name__ for m in owners}:
        wrapper.__module__ = owners[0].__name__
        wrapper.__qualname__ = name
    for m in owners:
        replace_attribute(integration, m, name, wrapper)


# -- patching a library when it is imported ------------------------------------------------------
_waiting: dict[str, list[tuple[str, Callable[[types.ModuleType], None]]]] = {}


def when_imported(integration: str, module: str, install: Callable[[types.ModuleType], None]) -> None:
    """Call ``install(module)`` now if ``module`` is imported, else right after its import finishes
    (:func:`unpatch` of ``integration`` cancels the wait). So ``mlnb.autolog()`` imports no library
    the user has not imported; a failing ``install`` is one warning, never a failed import."""
    if module in sys.modules:
        _install_guarded(integration, install, sys.modules[module])
        return
    _waiting.setdefault(module, []).append((integration, install))
    if _watcher not in sys.meta_path:
        sys.meta_path.insert(0, _watcher)


def _install_guarded(integration: str, install: Callable, module: types.ModuleType) -> None:
    try:
        install(module)
    except Exception as exc:   # the user's import must go on
        warn(integration, f"could not patch {module.__name__} ({type(exc).__name__}: {_first_line(exc)})")


class _ImportWatcher(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for a module someone waits for, it wraps the loader the other finders
    return, so the waiting installs run once the module has executed."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in _waiting:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _NotifyingLoader(spec.loader)
                return spec
        return None


class _NotifyingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__spec__.loader = module.__loader__ = self.loader   # the module keeps its own loader
        self.loader.exec_module(module)
        for integration, install in _waiting.pop(module.__name__, ()):
            _install_guarded(integration, install, module)


_watcher = _ImportWatcher()


def set_silent(integration: str, silent: bool) -> None:
    """Silence (or restore) the warnings ``integration`` emits."""
    _silent[integration] = silent


def warn(integration: str, message: str) -> None:
    """One concise warning, unless the integration was enabled with ``silent=True``."""
    if not _silent.get(integration, False):
        warnings.warn(f"mlnb autolog: {message}", AutologWarning, stacklevel=_user_stacklevel())


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution`` (a pip name), read without importing it; None if unknown."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def version_supported(integration: str, version: str | None, tested: tuple[str, str], disable_if_not: bool) -> bool:
    """Whether autolog turns on for ``integration``'s library at ``version``, tested in
    ``[tested[0], tested[1])``: outside that range, one warning, and False only when
    ``disable_if_not`` (MLflow's ``disable_for_unsupported_versions``). An unknown version is trusted."""
    def parts(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in (v.split("+")[0].split(".") + ["0", "0"])[:3] if p.isdigit())

    if version is None or parts(tested[0]) <= parts(version) < parts(tested[1]):
        return True
    warn(integration, f"{integration} {version} is outside the versions autolog is tested with ({tested[0]} to "
                      f"before {tested[1]}); " + ("autolog stays off." if disable_if_not else "it may miss some values."))
    return not disable_if_not


def _user_stacklevel() -> int:
    """Stack level of the first frame outside mlnb and the patched library (the user's call)."""
    frame, level = inspect.currentframe(), 1
    while frame is not None:
        mod = frame.f_globals.get("__name__", "")
        if not (mod.startswith(("mlnb.", "sklearn.")) or mod in ("mlnb", "sklearn", "warnings", "contextlib")):
            return level - 1
        frame, level = frame.f_back, level + 1
    return 2


def call_nested(call: Callable, args: tuple, kwargs: dict) -> Any:
    """Call a patched function without logging it: inside a logged fit it counts as a nested fit."""
    if not state.depth:
        return call(*args, **kwargs)
    state.depth += 1
    try:
        return call(*args, **kwargs)
    finally:
        state.depth -= 1


@contextlib.contextmanager
def busy() -> Iterator[None]:
    """Mark autolog's own work on this thread (its predict and metric calls are not logged)."""
    prev, state.busy = state.busy, True
    try:
        yield
    finally:
        state.busy = prev


@contextlib.contextmanager
def suspended() -> Iterator[None]:
    """No fit logs while the block runs (cross-validation helpers, on any thread)."""
    global _suspended
    _suspended += 1
    try:
        yield
    finally:
        _suspended -= 1


def is_suspended() -> bool:
    """True inside :func:`suspended`: patched functions call straight through."""
    return _suspended > 0


@contextlib.contextmanager
def one_warning(integration: str) -> Iterator[None]:
    """Gather the failures of every :func:`guard` inside the block into one warning at its end."""
    if state.pending is not None:
        yield
        return
    state.pending = []
    try:
        yield
    finally:
        failures, state.pending = state.pending, None
        if failures:
            warn(integration, "; ".join(dict.fromkeys(failures)))


def guard(integration: str, what: str, fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Run autolog's ``fn`` quietly; on failure note (or warn) what failed and why, and return None."""
    try:
        with busy(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    except Exception as exc:  # autolog must never break the user's code
        failure = f"could not {what} ({type(exc).__name__}: {_first_line(exc)})"
        if state.pending is not None:
            state.pending.append(failure)
        else:
            warn(integration, failure)
        return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""
