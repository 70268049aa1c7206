"""What this mlnb is: its own version and the MLflow release whose format, protocol and API it speaks.

``mlnb.__version__`` is mlnb's version. Code that checks MLflow's version to choose an API
(``Version(mlflow.__version__) >= Version("2.0")``) should read ``mlnb.__mlflow_version__``.
"""

from __future__ import annotations

from mlnb.models.mlmodel import MLFLOW_FORMAT_VERSION

VERSION = "0.1.0"
MLFLOW_VERSION = MLFLOW_FORMAT_VERSION
__mlflow_version__ = MLFLOW_VERSION
__summary__ = (f"mlnb {VERSION}: a model's life in a Jupyter notebook, speaking MLflow {MLFLOW_VERSION}'s "
               f"model format, scoring protocol and Python API")

__all__ = ["VERSION", "MLFLOW_VERSION"]
