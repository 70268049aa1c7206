"""Running the scoring app under uvicorn, in one process or several.

With one worker the app runs in this process on the model already loaded. With several, uvicorn
starts worker processes that each load the model once from a local path (a ``runs:/`` or
``s3://`` model is downloaded once, here, before they start). Readiness is announced only when
``/ping`` answers, so the printed curl example works when it appears.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from typing import Any, Callable

from mlnb.serving.app import DEFAULT_MAX_BODY, DEFAULT_TIMEOUT, ScoringApp

_ENV = "MLNB_SERVING_CONFIG"  # JSON {model, timeout, max_body} handed to worker processes


def app_from_env() -> ScoringApp:
    """uvicorn's factory in worker processes: load the model named in the environment."""
    from mlnb.serving.scoring import load

    conf = json.loads(os.environ[_ENV])
    return ScoringApp(load(conf["model"]), timeout=conf["timeout"], max_body=conf["max_body"], own_process=True)


def uvicorn_config(app: Any, host: str, port: int, **kwargs: Any):
    """A uvicorn Config tuned for scoring: fastest available loop and parser, no access log."""
    from mlnb.errors import require

    uvicorn = require("uvicorn", "serve", "Serving a model")
    return uvicorn.Config(app, host=host, port=port, **_OPTIONS, **kwargs)


_OPTIONS = dict(access_log=False, log_level="warning", server_header=False, date_header=False, timeout_keep_alive=30)


def server_url(host: str, port: int) -> str:
    """The URL clients on this machine use for a server bound to ``host:port``."""
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}"


def wait_until_ready(url: str, deadline: float, alive: Callable[[], bool] = lambda: True) -> bool:
    """Poll ``url/ping`` until it answers 200, the deadline passes or ``alive()`` turns false."""
    while time.monotonic() < deadline and alive():
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.05)
    return False


def run(model: Any, local_model_path: str | None = None, host: str = "127.0.0.1", port: int = 5000,
        workers: int = 1, timeout: float = DEFAULT_TIMEOUT, max_body: int = DEFAULT_MAX_BODY,
        on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted. ``model`` is loaded; several workers reload it from ``local_model_path``."""
    import uvicorn

    url = server_url(host, port)
    if on_ready is not None:
        threading.Thread(
            target=lambda: wait_until_ready(url, float("inf")) and on_ready(url), daemon=True).start()
    if workers > 1:
        os.environ[_ENV] = json.dumps({"model": str(local_model_path), "timeout": timeout, "max_body": max_body})
        uvicorn.run("mlnb.serving.server:app_from_env", factory=True, host=host, port=port, workers=workers,
                    **_OPTIONS)
    else:
        app = ScoringApp(model, timeout=timeout, max_body=max_body, own_process=True)
        uvicorn.Server(uvicorn_config(app, host, port)).run()


__all__ = ["run", "server_url", "app_from_env", "uvicorn_config", "wait_until_ready"]
