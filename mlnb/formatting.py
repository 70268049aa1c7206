"""How mlnb writes numbers, times, durations and sizes for people: one format everywhere.

Tables, cards, the evaluation panel and the run browser all call these, so a metric reads the same
in each: four significant digits (more only when the integer part needs them), thousands
separators, no exponent between 0.0001 and 10^15, and a blank where a value is missing.
"""

from __future__ import annotations

import datetime
import math
import numbers
from typing import Any

SIGNIFICANT = 4


def format_number(value: Any, digits: int = SIGNIFICANT) -> str:
    """``value`` as short text: ``0.9123``, ``20,240``, ``1.235e-05``; blank for None and NaN.

    Integers keep every digit (with separators); floats keep ``digits`` significant digits but never
    round away their integer part; values outside [1e-4, 1e15) use an exponent. Non-numbers are
    returned as ``str(value)``.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if not isinstance(value, numbers.Real):
        return str(value)
    x = float(value)
    if math.isnan(x):
        return ""
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    size = abs(x)
    if size == 0:
        return "0"
    if size >= 1e15 or size < 1e-4:
        return f"{x:.{digits - 1}e}"
    if x.is_integer():
        return f"{int(x):,}"
    decimals = max(0, digits - 1 - math.floor(math.log10(size)))
    text = f"{x:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_time(ms: int | None) -> str:
    """Epoch milliseconds as local ``YYYY-MM-DD HH:MM:SS`` (empty for None)."""
    if not ms:
        return ""
    return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def format_duration(start_ms: int | None, end_ms: int | None) -> str:
    """A run's duration as ``1.2s``, ``3m 4s`` or ``1h 2m``; empty while it has no end."""
    if not start_ms or not end_ms:
        return ""
    s = max(0.0, (end_ms - start_ms) / 1000)
    if s < 60:
        return f"{s:.1f}s"
    if s < 3600:
        return f"{int(s // 60)}m {int(s % 60)}s"
    return f"{int(s // 3600)}h {int(s % 3600 // 60)}m"


def format_size(n: int) -> str:
    """A byte count in B, KB, MB or GB."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


__all__ = ["format_number", "format_time", "format_duration", "format_size"]
