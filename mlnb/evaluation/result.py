"""EvaluationResult: what evaluate() returns, and how it shows itself in a notebook.

Displayed in a notebook, a result is the evaluation panel (``text/html``: headline metrics, then
tabs for the metric table and each plot, with the plots as embedded PNG images; see
:mod:`mlnb.evaluation.html`) and ``text/plain``. Neither needs a kernel or a widget manager, so a
saved notebook shows the same panel when reopened, in nbconvert's HTML and on GitHub.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mlnb.formatting import format_number

#: Built-in metrics where lower is better (for the colour of baseline deltas).
LOWER_IS_BETTER = {
    "mean_absolute_error", "mean_squared_error", "root_mean_squared_error", "max_error",
    "mean_absolute_percentage_error", "log_loss", "false_positives", "false_negatives",
}


@dataclass
class EvaluationArtifact:
    """One logged artifact: its ``uri`` in the run, its local file, and its ``content``."""

    uri: str
    path: Path | None               # a local copy when the run's artifacts are on this machine
    kind: str                       # "image", "csv", "json", "npy", "file"
    data: Any = None                # PNG bytes for images, a DataFrame for CSV tables

    @property
    def content(self) -> Any:
        """The artifact's value: a DataFrame (csv), parsed JSON, an array (npy), else the file's bytes."""
        if self.data is None:
            if self.kind == "csv":
                self.data = pd.read_csv(self.path)
            elif self.kind == "json":
                import json

                self.data = json.loads(Path(self.path).read_text())
            elif self.kind == "npy":
                import numpy as np

                self.data = np.load(self.path, allow_pickle=False)
            else:
                self.data = Path(self.path).read_bytes()
        return self.data

    def __repr__(self) -> str:
        return f"EvaluationArtifact(uri={self.uri!r})"


@dataclass
class EvaluationResult:
    """Metrics, artifacts and tables of one evaluation, and the run they were logged to."""

    metrics: dict[str, float]
    artifacts: dict[str, EvaluationArtifact] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    run_id: str | None = None
    model_type: str = ""
    model_name: str = ""
    baseline_metrics: dict[str, float] | None = None
    explanation: Any = None                     # mlnb.evaluation.explain.Explanation
    notes: list[str] = field(default_factory=list)  # what was skipped and why
    greater_is_better: dict[str, bool] = field(default_factory=dict)

    @property
    def baseline_deltas(self) -> dict[str, float]:
        """candidate - baseline, for every metric both have."""
        base = self.baseline_metrics or {}
        return {k: v - base[k] for k, v in self.metrics.items()
                if k in base and isinstance(v, (int, float)) and isinstance(base[k], (int, float))}

    def greater_is_better_for(self, name: str) -> bool:
        """Whether a higher value of metric ``name`` is better (built-ins known, extras declared)."""
        if name in self.greater_is_better:
            return self.greater_is_better[name]
        base = name.split("/")[0]
        return not any(base.endswith(m) for m in LOWER_IS_BETTER)

    @property
    def images(self) -> dict[str, bytes]:
        """Artifact name -> PNG bytes, in display order."""
        return {k: a.content for k, a in self.artifacts.items() if a.kind == "image"}

    def metrics_frame(self) -> pd.DataFrame:
        """The metric table shown in the widget: value, and baseline and delta when present."""
        rows = []
        base = self.baseline_metrics
        deltas = self.baseline_deltas
        for k, v in self.metrics.items():
            row = {"metric": k, "value": v}
            if base is not None:
                row["baseline"] = base.get(k)
                row["delta"] = deltas.get(k)
            rows.append(row)
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        head = f"EvaluationResult({self.model_type or 'model'}"
        head += f", run_id={self.run_id!r})" if self.run_id else ")"
        from mlnb.evaluation.html import ordered_metrics

        deltas = self.baseline_deltas
        lines = [head]
        for k in ordered_metrics(self.metrics):
            d = ""
            if k in deltas:
                d = f"  ({'+' if deltas[k] > 0 else ''}{format_number(deltas[k])} vs baseline)"
            lines.append(f"  {k}: {format_number(self.metrics[k])}{d}")
        if self.artifacts:
            lines.append(f"  artifacts: {', '.join(self.artifacts)}")
        if self.explanation is not None:
            lines.append(f"  {self.explanation.summary()}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from mlnb.evaluation.html import result_html

        return result_html(self)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        return {"text/plain": repr(self), "text/html": self._repr_html_()}

    def save(self, path: str | os.PathLike) -> None:
        """Write the result to the directory ``path``, atomically, in MLflow's layout: MLflow's
        ``EvaluationResult.load`` reads it, and :meth:`load` reads MLflow's saved results."""
        from mlnb.evaluation.persistence import save_result

        save_result(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "EvaluationResult":
        """Read a result written by :meth:`save` or by MLflow's ``EvaluationResult.save``."""
        from mlnb.evaluation.persistence import load_result

        return load_result(path, cls, EvaluationArtifact)
