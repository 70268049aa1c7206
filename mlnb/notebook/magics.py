"""IPython magics: ``%%autolog``, ``%load_model`` and ``%mlnb``.

Loading is cheap (IPython is already imported in a kernel; nothing else is), and every magic
imports what it needs when it runs. Docstrings are the ``%magic?`` help. A wrong argument prints
the magic's usage; a failure prints one line saying what was tried, not a traceback.
"""

from __future__ import annotations

import sys

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from mlnb.errors import MlnbError

LINE_MAGICS = ("load_model", "mlnb")
CELL_MAGICS = ("autolog",)


class MagicFailed(MlnbError):
    """A magic could not do its work; IPython shows the message alone, without a traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31m{self}\x1b[0m"]


def _args(magic, line: str):
    """Parse a magic's line; on a bad argument raise UsageError carrying the full usage."""
    try:
        return parse_argstring(magic, line)
    except UsageError as exc:
        raise UsageError(f"{exc}\n{_usage(magic)}") from None


def _usage(magic) -> str:
    """The magic's usage as typed (``%%autolog ...``) and where its help is."""
    usage = magic.parser.format_usage().replace("::", "").strip()
    return f"{usage}\nSee {usage.split()[0]}? for help."


def _parse_tags(pairs: list[str], usage: str) -> dict[str, str]:
    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--tags takes KEY=VALUE pairs, got {pair!r}.\n{usage}")
        tags[key] = value
    return tags


def _describe_uri(uri: str) -> str:
    """Where a model URI was looked for, in words (for error messages)."""
    from pathlib import Path

    from mlnb.models.uri import scheme_of

    scheme = scheme_of(uri)
    if scheme in ("", "file"):
        return f"the local path '{Path(uri.removeprefix('file://')).expanduser().absolute()}'"
    if scheme == "runs":
        from mlnb.tracking.store import get_tracking_uri

        return f"a run's artifacts in the tracking store '{get_tracking_uri()}'"
    if scheme == "models":
        from mlnb.tracking.registry_store import get_registry_uri

        return f"the model registry '{get_registry_uri()}'"
    return f"a {scheme}:// location"


class _AutologState:
    """Turns autologging on for one cell and puts the previous settings back afterwards."""

    def __init__(self, log_models: bool) -> None:
        from mlnb import autologging

        self.previous = {name: autologging.get_autologging_config(name) for name in autologging.INTEGRATIONS}
        autologging.autolog(log_models=log_models, silent=False)

    def restore(self) -> None:
        from mlnb import autologging

        for name, config in self.previous.items():
            module = sys.modules.get(autologging.INTEGRATIONS.get(name, ""))
            if module is None:
                continue  # never enabled, before or during the cell
            if config is None:
                module.autolog(disable=True)
            else:
                module.autolog(**config)


@magics_class
class MlnbMagics(Magics):
    """mlnb's magics."""

    @magic_arguments()
    @argument("--experiment", "-e", metavar="NAME", help="Log into this experiment (created if missing).")
    @argument("--run-name", "-n", metavar="NAME", help="Name of the run.")
    @argument("--no-models", action="store_true", help="Do not log the fitted models.")
    @argument("--tags", "-t", nargs="+", default=[], metavar="KEY=VALUE", help="Tags to set on the run.")
    @cell_magic
    def autolog(self, line: str, cell: str):
        """Run the cell with autologging, inside one run, and show the run's card.

        Every fit in the cell logs its params, metrics and model into the same run (the second
        and later estimators under their own prefixes). The run ends FINISHED, or FAILED if the
        cell raises, or KILLED if it is interrupted. The cell's output is kept.

        Example::

            %%autolog --experiment iris --run-name forest --tags team=ml stage=dev
            model = RandomForestClassifier().fit(X, y)
        """
        args = _args(self.autolog, line)
        tags = _parse_tags(args.tags, _usage(self.autolog))
        from mlnb.cards import RunCard
        from mlnb.tracking import fluent
        from mlnb.tracking.entities import FAILED, FINISHED, KILLED

        try:
            if args.experiment:
                fluent.set_experiment(args.experiment)
            state = _AutologState(log_models=not args.no_models)
        except MlnbError as exc:
            raise MagicFailed(f"%%autolog could not start: {exc}") from None
        nested = fluent.active_run() is not None
        try:
            active = fluent.start_run(run_name=args.run_name, tags=tags or None, nested=nested)
            run_id = active.info.run_id
            result = self.shell.run_cell(cell, store_history=False)
        finally:
            state.restore()
        error = result.error_in_exec or result.error_before_exec
        status = FINISHED if error is None else KILLED if isinstance(error, KeyboardInterrupt) else FAILED
        fluent.end_run(status)
        from IPython.display import display

        display(RunCard(fluent.get_run(run_id)))
        if error is not None:
            raise MagicFailed(f"The cell raised {type(error).__name__}; run {run_id} ended {status}.")

    @magic_arguments()
    @argument("uri", help="A model URI: runs:/<run_id>/<name>, models:/<name>@<alias>, a path, file://, s3://...")
    @argument("--flavor", "-f", metavar="NAME",
              help="Load with this flavor's loader (e.g. sklearn for the estimator itself); default: pyfunc.")
    @line_magic
    def load_model(self, line: str):
        """Load a model and return it: ``m = %load_model runs:/<run_id>/model``.

        Without ``--flavor`` the model is a generic predictor (``m.predict(data)``) whose display is
        a model card (flavor, signature, size, source run, requirements). With ``--flavor sklearn``
        (or another flavor) it is the library's own object.
        """
        args = _args(self.load_model, line)
        uri = args.uri.strip("'\"")
        try:
            if args.flavor in (None, "pyfunc", "python_function"):
                from mlnb.pyfunc import load_model

                return load_model(uri)
            from mlnb.flavors import get_flavor

            return get_flavor(args.flavor).load().load_model(uri)
        except MlnbError as exc:
            raise MagicFailed(f"%load_model could not load '{uri}' (tried {_describe_uri(uri)}): {exc}") from None

    @magic_arguments()
    @argument("command", nargs="?", default="", help="runs: open the run browser.")
    @argument("--experiment", "-e", metavar="NAME", help="The experiment to show first.")
    @argument("--filter", metavar="FILTER", help="A search_runs filter string, quoted.")
    @line_magic
    def mlnb(self, line: str):
        """mlnb in the notebook. ``%mlnb runs`` opens the run browser over the tracking store.

        Example: ``%mlnb runs --experiment iris --filter "metrics.accuracy > 0.9"``
        """
        args = _args(self.mlnb, line)
        if args.command != "runs":
            raise UsageError(f"Unknown command {args.command!r}; the commands are: runs.\n{_usage(self.mlnb)}")
        from mlnb.notebook.browser import runs

        try:
            return runs(experiment=args.experiment, filter_string=(args.filter or "").strip("'\""))
        except MlnbError as exc:
            raise MagicFailed(f"%mlnb runs: {exc}") from None


# a cell magic's usage names it as it is typed: IPython writes "%" before the parser's prog
MlnbMagics.autolog.parser.prog = "%autolog"


def load_ipython_extension(ipython) -> None:
    """Register the magics (idempotent: loading twice changes nothing)."""
    ipython.register_magics(MlnbMagics)


def unload_ipython_extension(ipython) -> None:
    """Remove the magics ``load_ipython_extension`` registered."""
    manager = ipython.magics_manager
    for kind, names in (("line", LINE_MAGICS), ("cell", CELL_MAGICS)):
        for name in names:
            manager.magics[kind].pop(name, None)
    manager.registry.pop(MlnbMagics.__name__, None)
