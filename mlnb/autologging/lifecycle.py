"""The life of one logged fit, for integrations that patch one training call (statsmodels, Lightning;
Keras, whose hook does more around the call, uses :func:`training` and :func:`end`).

:func:`logged_fit` holds the rules every integration keeps: only the outermost call logs (nested and
suspended calls, and autolog's own, run straight through), an active run is reused unless
``exclusive`` (a run is started otherwise, tagged ``mlflow.autologging``), what was gathered is
written even when the training fails, and a run autolog started ends FINISHED, FAILED (the training
raised) or KILLED (interrupted). Every logging step runs under :func:`patching.guard`: one warning
at the end of the fit, never a broken fit.
"""

from __future__ import annotations

from typing import Any, Callable

from mlnb.autologging import patching
from mlnb.autologging.session import FitRun


def logged_fit(
    integration: str,
    exclusive: bool,
    extra_tags: dict | None,
    owner: Any,
    call: Callable[..., Any],
    args: tuple,
    kwargs: dict,
    before: Callable[[FitRun], Any],
    after: Callable[[FitRun, Any, Any], None],
) -> Any:
    """Run ``call(*args, **kwargs)``, the training of ``owner`` (whose class names the fit), logging it.

    ``before(run)`` runs first (its result, or None when it failed, goes to ``after``);
    ``after(run, result, prepared)`` runs once the training returned. Both run guarded.
    """
    st = patching.state
    if st.depth or st.busy or patching.is_suspended():
        return patching.call_nested(call, args, kwargs)
    st.depth = 1
    try:
        with patching.one_warning(integration):
            run = patching.guard(integration, "start a run", FitRun.open, integration, owner, exclusive, extra_tags)
            if run is None:
                return call(*args, **kwargs)
            name = type(owner).__name__
            prepared = patching.guard(integration, f"prepare to log the fit of {name}", before, run)
            result = training(integration, run, call, args, kwargs)
            patching.guard(integration, f"log the fit of {name}", after, run, result, prepared)
            end(integration, run, "FINISHED")
            return result
    finally:
        st.depth = 0


def training(integration: str, run: FitRun, call: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """Run the user's training; if it raises, write what was gathered and end the run FAILED
    (KILLED when interrupted), and let the exception go on."""
    try:
        return call(*args, **kwargs)
    except KeyboardInterrupt:
        end(integration, run, "KILLED")
        raise
    except BaseException:
        end(integration, run, "FAILED")
        raise


def end(integration: str, run: FitRun, status: str) -> None:
    """Write what ``run`` gathered, then end it with ``status`` if autolog started it."""
    patching.guard(integration, "write the run", run.flush)
    patching.guard(integration, "end the run", run.end, status)


__all__ = ["logged_fit", "training", "end"]
