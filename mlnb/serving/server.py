"""Running the scoring app under uvicorn, in one process or several.

With one worker the app runs in this process on the model already loaded. With several, uvicorn
starts worker processes that each load the model once from a local path (a ``runs:/`` or
``s3://`` model is downloaded once, here, before they start). Readiness is announced only when
``/ping`` answers, so the printed curl example works when it appears.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.request
from typing import Any, Callable

from mlnb.serving.app import ScoringApp
from mlnb.serving.limits import Limits

_ENV = "MLNB_SERVING_CONFIG"  # JSON {model, limits} handed to worker processes
_ANY = ("0.0.0.0", "::", "")


def app_from_env() -> ScoringApp:
    """uvicorn's factory in worker processes: load the model named in the environment."""
    from mlnb.serving.scoring import load

    conf = json.loads(os.environ[_ENV])
    log_to_stderr()
    return ScoringApp(load(conf["model"]), Limits(**conf["limits"]), own_process=True)


def uvicorn_config(app: Any, host: str, port: int, limits: Limits | None = None, **kwargs: Any):
    """A uvicorn Config tuned for scoring and holding ``limits``: fastest loop and parser, no access log."""
    return _uvicorn().Config(app, host=host, port=port, **uvicorn_options(limits or Limits()), **kwargs)


def uvicorn_options(limits: Limits) -> dict:
    """uvicorn's options for these limits: its own where it has them, mlnb's head-limited protocol for the rest."""
    from mlnb.errors import require

    require("httptools", "serve", "Serving a model with header limits")
    from mlnb.serving.protocol import protocol_factory

    return dict(access_log=False, log_level="warning", server_header=False, date_header=False, proxy_headers=False,
                http=protocol_factory(limits), timeout_keep_alive=limits.keep_alive,
                limit_concurrency=limits.max_connections)


def _uvicorn():
    from mlnb.errors import require

    return require("uvicorn", "serve", "Serving a model")


def log_to_stderr() -> None:
    """Send the server's own log (model failures with their stack traces) to stderr, once."""
    logger = logging.getLogger("mlnb.serving")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def server_url(host: str, port: int) -> str:
    """The URL clients on this machine use for a server bound to ``host:port``."""
    if host in _ANY:
        host = "127.0.0.1"
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


def reachable_urls(host: str, port: int) -> list[str]:
    """The URLs a server bound to ``host`` answers on: this machine's addresses for 0.0.0.0 or ::."""
    if host not in _ANY:
        return [server_url(host, port)]
    return [server_url(address, port) for address in local_addresses(ipv6=host == "::")]


def local_addresses(ipv6: bool = False) -> list[str]:
    """This machine's IP addresses, loopback first (IPv4, and IPv6 when ``ipv6``)."""
    import socket

    found = {"127.0.0.1"} | ({"::1"} if ipv6 else set())
    families = (socket.AF_INET, socket.AF_INET6) if ipv6 else (socket.AF_INET,)
    try:
        for family, *_, sockaddr in socket.getaddrinfo(socket.gethostname(), None):
            if family in families:
                found.add(sockaddr[0].split("%")[0])
    except OSError:
        pass
    for family, probe in ((socket.AF_INET, ("192.0.2.1", 9)), (socket.AF_INET6, ("2001:db8::1", 9))):
        if family not in families:
            continue
        try:  # the address of the default route; a UDP connect sends nothing
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect(probe)
                found.add(s.getsockname()[0])
        except OSError:
            pass
    return sorted(found, key=lambda a: (not a.startswith(("127.", "::1")), ":" in a, a))


def network_warning(host: str) -> str | None:
    """One line saying that a server bound to ``host`` is reachable from the network, or None."""
    if host in _ANY:
        return (f"Warning: bound to {host or '0.0.0.0'}, so anyone who can reach this machine over the network "
                f"can call this model (there is no authentication); use -h 127.0.0.1 to serve this machine only.")
    return None


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
        workers: int = 1, limits: Limits | None = None, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted. ``model`` is loaded; several workers reload it from ``local_model_path``."""
    uvicorn = _uvicorn()
    limits = limits or Limits()
    log_to_stderr()
    url = server_url(host, port)
    if on_ready is not None:
        threading.Thread(
            target=lambda: wait_until_ready(url, float("inf")) and on_ready(url), daemon=True).start()
    if workers > 1:
        os.environ[_ENV] = json.dumps({"model": str(local_model_path), "limits": limits.to_dict()})
        uvicorn.run("mlnb.serving.server:app_from_env", factory=True, host=host, port=port, workers=workers,
                    **uvicorn_options(limits))
    else:
        app = ScoringApp(model, limits, own_process=True)
        uvicorn.Server(uvicorn_config(app, host, port, limits)).run()


__all__ = ["run", "server_url", "reachable_urls", "local_addresses", "network_warning", "app_from_env",
           "uvicorn_config", "uvicorn_options", "wait_until_ready", "log_to_stderr"]
