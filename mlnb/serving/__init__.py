"""The scoring server: any model as a REST API speaking MLflow's scoring protocol.

``mlnb.serving.serve(model)`` starts it in the background from a notebook;
``mlnb models serve -m URI`` from a shell; ``create_app(model)`` gives the ASGI app itself.
uvicorn is imported only when a server starts.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "serve": "mlnb.serving.background",
    "ServingHandle": "mlnb.serving.background",
    "create_app": "mlnb.serving.app",
    "ScoringApp": "mlnb.serving.app",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mlnb.serving' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
