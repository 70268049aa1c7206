"""Fixtures and helpers shared by the autolog tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def autolog():
    """Enable sklearn autolog for one test (options via the returned function); always disabled after."""
    import mlnb.autologging as mlnb_autologging
    import mlnb.autologging.sklearn as integration
    from mlnb.autologging import post_training, session

    def enable(**options):
        integration.autolog(**options)

    yield enable
    mlnb_autologging.autolog(disable=True)   # every integration: a test may have enabled them all
    post_training._forget()
    session._forget()


def runs(**kw):
    """All runs of the default experiment, oldest first."""
    import mlnb

    return sorted(mlnb.search_runs(output_format="list", **kw), key=lambda r: r.info.start_time)


def only_run():
    found = runs()
    assert len(found) == 1, [r.info.run_name for r in found]
    return found[0]


def artifacts(run_id: str, path: str | None = None) -> set[str]:
    from mlnb.tracking.client import MlnbClient

    return {f.path for f in MlnbClient().list_artifacts(run_id, path)}


def run_autolog_cell(source: str, **names):
    """Run ``source`` (a cell starting with ``%%autolog``) in a real IPython shell with ``names`` defined;
    return IPython's result. The extension is unloaded and the shell reset afterwards."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "mlnb")
    shell.user_ns.update(names)
    try:
        with capture_output():
            return shell.run_cell(source)
    finally:
        shell.run_line_magic("unload_ext", "mlnb")
        shell.reset(new_session=False)
