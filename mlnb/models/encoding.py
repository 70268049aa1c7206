"""JSON for the values models take and return: the one ``default`` hook that ``json.dumps`` (input
examples) and orjson (the scoring server's responses) call for what they cannot write themselves.

NumPy scalars and arrays, dates and times (ISO 8601), bytes (base64), sets, and pandas' values:
frames and series as MLflow's list of row objects, ``NaT``/``NA`` as ``null``, timedeltas as text.
pandas is never imported here: a pandas value can only exist once pandas is.
"""

from __future__ import annotations

import base64
import datetime
import sys
from typing import Any

import numpy as np


def records(frame: Any) -> list[dict[str, Any]]:
    """A DataFrame (or Series) as a list of ``{column: value}`` rows, MLflow's response shape."""
    if hasattr(frame, "to_frame") and not hasattr(frame, "columns"):
        frame = frame.to_frame()
    labels = list(frame.columns)
    columns = [frame.iloc[:, i].tolist() for i in range(frame.shape[1])]
    return [dict(zip(labels, row)) for row in zip(*columns)]


def json_default(obj: Any) -> Any:
    """A JSON-writable stand-in for ``obj``; TypeError naming the type when there is none."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    pd = sys.modules.get("pandas")
    if pd is not None and (obj is pd.NaT or obj is pd.NA):  # NaT is a datetime too: checked first
        return None
    if isinstance(obj, (datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, (bytes, bytearray)):
        return base64.b64encode(obj).decode("ascii")
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if pd is not None:
        if isinstance(obj, (pd.DataFrame, pd.Series)):
            return records(obj)
        if isinstance(obj, pd.Timedelta):
            return str(obj)
    raise TypeError(f"Cannot write a {type(obj).__name__} as JSON")
