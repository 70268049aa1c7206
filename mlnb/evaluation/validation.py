"""Model validation: metric thresholds, alone or against a baseline model (MLflow's semantics).

``MetricThreshold(threshold, min_absolute_change, min_relative_change, greater_is_better)`` states
what a metric must reach; :func:`validate_evaluation_results` checks every threshold and raises one
:class:`~mlnb.errors.ModelValidationFailedError` listing every failed check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from mlnb.errors import InvalidParameterError, ModelValidationFailedError


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class MetricThreshold:
    """What a metric must reach: an absolute ``threshold`` and/or a minimum change over a baseline.

    ``min_relative_change`` is a fraction of the baseline's magnitude (0.05 = 5 % better)."""

    def __init__(self, threshold: float | None = None, min_absolute_change: float | None = None,
                 min_relative_change: float | None = None, greater_is_better: bool | None = None) -> None:
        if threshold is not None and not _number(threshold):
            raise InvalidParameterError("MetricThreshold: threshold must be a number.")
        if min_absolute_change is not None and (not _number(min_absolute_change) or min_absolute_change <= 0):
            raise InvalidParameterError("MetricThreshold: min_absolute_change must be a positive number.")
        if min_relative_change is not None and (not _number(min_relative_change) or not 0 <= min_relative_change <= 1):
            raise InvalidParameterError("MetricThreshold: min_relative_change must be a number between 0 and 1.")
        if not isinstance(greater_is_better, bool):
            raise InvalidParameterError("MetricThreshold: greater_is_better must be True or False.")
        if threshold is None and min_absolute_change is None and min_relative_change is None:
            raise InvalidParameterError(
                "MetricThreshold: give at least one of threshold, min_absolute_change, min_relative_change."
            )
        self.threshold = threshold
        self.min_absolute_change = min_absolute_change
        self.min_relative_change = min_relative_change
        self.greater_is_better = greater_is_better

    def __repr__(self) -> str:
        parts = [f"{k}={getattr(self, k)!r}" for k in ("threshold", "min_absolute_change", "min_relative_change")
                 if getattr(self, k) is not None]
        return f"MetricThreshold({', '.join(parts)}, greater_is_better={self.greater_is_better})"

    def __str__(self) -> str:
        return repr(self)


@dataclass
class Failure:
    """One failed check of one metric."""

    metric: str
    check: str            # "missing", "missing_baseline", "threshold", "min_absolute_change", "min_relative_change"
    message: str


def _check(name: str, t: MetricThreshold, value: float | None, base: float | None, has_baseline: bool) -> list[Failure]:
    if value is None:
        return [Failure(name, "missing", f"{name}: not in the candidate's metrics.")]
    better = (lambda a, b: a >= b) if t.greater_is_better else (lambda a, b: a <= b)
    sign = 1 if t.greater_is_better else -1
    word = ">=" if t.greater_is_better else "<="
    out = []
    if t.threshold is not None and not better(value, t.threshold):
        out.append(Failure(name, "threshold", f"{name} = {value:.6g}, must be {word} {t.threshold:.6g}."))
    if t.min_absolute_change is None and t.min_relative_change is None:
        return out
    if base is None:
        why = "no baseline was given" if not has_baseline else "the baseline has no such metric"
        out.append(Failure(name, "missing_baseline", f"{name}: a change over the baseline is required but {why}."))
        return out
    if t.min_absolute_change is not None:
        target = base + sign * t.min_absolute_change
        if not better(value, target):
            out.append(Failure(name, "min_absolute_change",
                               f"{name} = {value:.6g}, must be {word} baseline {base:.6g} "
                               f"{'+' if sign > 0 else '-'} {t.min_absolute_change:.6g} = {target:.6g}."))
    if t.min_relative_change is not None:
        if base == 0:
            ok = better(value, base + sign * 1e-10) and value != base
            rel_msg = f"{name} = {value:.6g} must improve on a baseline of 0."
        else:
            change = sign * (value - base) / abs(base)
            ok = change >= t.min_relative_change
            rel_msg = (f"{name} = {value:.6g} changed {change:+.2%} over baseline {base:.6g}, "
                       f"needs {t.min_relative_change:.2%} for the better.")
        if not ok:
            out.append(Failure(name, "min_relative_change", rel_msg))
    return out


def check_thresholds(thresholds: Mapping[str, MetricThreshold], metrics: Mapping[str, float],
                     baseline_metrics: Mapping[str, float] | None = None) -> list[Failure]:
    """Every failed check, in the order of ``thresholds`` (an empty list when all pass)."""
    if not isinstance(thresholds, Mapping) or not all(
            isinstance(k, str) and isinstance(v, MetricThreshold) for k, v in thresholds.items()):
        raise InvalidParameterError("validation thresholds must be a dict of metric name -> MetricThreshold.")
    base = baseline_metrics or {}
    failures: list[Failure] = []
    for name, t in thresholds.items():
        failures += _check(name, t, metrics.get(name), base.get(name), baseline_metrics is not None)
    return failures


def validate_evaluation_results(validation_thresholds: Mapping[str, MetricThreshold], candidate_result: Any,
                                baseline_result: Any = None) -> None:
    """MLflow's ``validate_evaluation_results``: raise if the candidate misses any threshold."""
    base = None if baseline_result is None else baseline_result.metrics
    failures = check_thresholds(validation_thresholds, candidate_result.metrics, base)
    if failures:
        raise_failures(failures, candidate_result)


def raise_failures(failures: list[Failure], result: Any = None) -> None:
    """Raise ModelValidationFailedError listing every failed threshold."""
    lines = "\n".join(f"  - {f.message}" for f in failures)
    names = sorted({f.metric for f in failures})
    raise ModelValidationFailedError(
        f"Model validation failed on {len(names)} metric(s) ({', '.join(names)}):\n{lines}",
        failures=failures, result=result,
    )
