"""Diagnostic plots as matplotlib Figures, drawn without pyplot and rendered once to PNG bytes.

Figures are made with ``matplotlib.figure.Figure`` and saved with the Agg renderer, so plotting
never touches pyplot's global state or the notebook's backend, and leaves no figure open. Each
function takes plain arrays and returns a Figure; ``render_png`` turns it into PNG bytes.
Names of the artifacts are MLflow's where MLflow draws the plot.
"""

from __future__ import annotations

import io
import math
from typing import Any, Callable, Sequence

import numpy as np

#: Figures are laid out in inches at this resolution (font sizes, margins)...
DPI = 100
#: ...and rendered at this one: 1.5 pixels per layout pixel, so a plot stretched to fill a wide panel
#: (the evaluation panel shows each at the panel's width) stays sharp, at about twice the bytes.
RENDER_DPI = 150
#: Above this many classes the confusion matrix numbers only the diagonal and cells >= 0.1
#: (every number is a text object, and matplotlib draws text slowly).
ANNOTATE_ALL_MAX_CLASSES = 12
#: Above this many classes only every k-th class is named on the axes.
TICK_LABEL_MAX = 60


def _figure(width: float = 7.0, height: float = 4.2):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    return fig, fig.add_subplot(1, 1, 1)


def render_png(fig, dpi: int | None = None) -> bytes:
    """PNG bytes of ``fig`` (Agg renderer). Figures made here set their margins from their label
    lengths (``_margins``), so rendering is one draw; other figures get a tight bounding box."""
    buf = io.BytesIO()
    tight = None if getattr(fig, "fixed_layout", False) else "tight"
    fig.savefig(buf, format="png", dpi=dpi or RENDER_DPI, bbox_inches=tight)
    return buf.getvalue()


_CHAR_IN = 0.075  # width of one tick-label character at font size 9, in inches


def _margins(fig, left_chars: int = 6, bottom_chars: int = 0, right_in: float = 0.25, top_in: float = 0.4,
             rotated: bool = False):
    """Place the axes by label lengths instead of a second, measuring draw (``bbox_inches='tight'``)."""
    w, h = fig.get_size_inches()
    left = 0.55 + _CHAR_IN * left_chars
    bottom = 0.55 + (_CHAR_IN * bottom_chars * (0.75 if rotated else 0.0))
    fig.subplots_adjust(left=min(left / w, 0.6), right=1 - right_in / w, bottom=min(bottom / h, 0.5), top=1 - top_in / h)
    fig.fixed_layout = True


def _title(ax, title: str, width: int = 58) -> float:
    """Set a title wrapped to lines that fit the figure; returns the top margin (inches) it needs."""
    import textwrap

    lines = textwrap.wrap(title, width) or [""]
    ax.set_title("\n".join(lines))
    return 0.25 + 0.22 * len(lines)


def _label(v: Any, limit: int = 18) -> str:
    s = str(v)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _diagonal(ax, points=((0, 1), (0, 1))):
    ax.plot(*points, color="gray", alpha=0.4, linestyle="--", linewidth=1)


# -- one API, two backends: matplotlib figures (evaluate), Pillow PNGs (autolog, ~1 ms each) ---
BACKENDS = ("matplotlib", "pillow")


def fast_backend_available() -> bool:
    """True when the ``pillow`` backend can draw (Pillow is installed)."""
    import importlib.util

    return importlib.util.find_spec("PIL") is not None


def _backend(name: str):
    if name not in BACKENDS:
        raise ValueError(f"Unknown plot backend {name!r}; use one of {BACKENDS}.")
    if name == "pillow":
        from mlnb.evaluation import pillow_plots

        return pillow_plots
    return None


def confusion_matrix_png(labels: Sequence[Any], matrix: np.ndarray, backend: str = "matplotlib") -> bytes:
    """PNG of a confusion matrix (rows: true labels, columns: predicted), normalized over rows."""
    fast = _backend(backend)
    if fast is not None:
        return fast.confusion_matrix_png(labels, matrix)
    return render_png(_confusion_figure(_row_normalized(np.asarray(matrix, dtype=float)), list(labels)))


def roc_curve_png(fpr: np.ndarray, tpr: np.ndarray, auc: float, backend: str = "matplotlib") -> bytes:
    """PNG of one ROC curve with its AUC in the title."""
    return _one_curve_png(backend, "roc_curve_png", (fpr, tpr, auc), f"ROC curve (AUC = {auc:.3f})",
                          "False Positive Rate", "True Positive Rate", chance=True)


def precision_recall_png(recall: np.ndarray, precision: np.ndarray, ap: float, backend: str = "matplotlib") -> bytes:
    """PNG of one precision-recall curve with its average precision in the title."""
    return _one_curve_png(backend, "precision_recall_png", (recall, precision, ap),
                          f"Precision recall curve (AP = {ap:.3f})", "Recall", "Precision", chance=False)


def feature_importance_png(names: Sequence[Any], values: np.ndarray, title: str, backend: str = "matplotlib") -> bytes:
    """PNG of one importance value per feature as horizontal bars, largest on top."""
    fast = _backend(backend)
    if fast is not None:
        return fast.feature_importance_png(names, values, title)
    values = np.asarray(values, dtype=float)
    order = np.argsort(values)[::-1][:20][::-1]
    fig, ax = _figure(6.0, max(3.0, 0.3 * len(order) + 1.2))
    ax.barh(range(len(order)), values[order], height=0.7)
    shown = [_label(names[i]) for i in order]
    ax.set_yticks(range(len(order)), shown, fontsize=9)
    ax.set_title(title)
    _margins(fig, left_chars=max(map(len, shown), default=4) - 4)
    return render_png(fig)


def _one_curve_png(backend: str, name: str, args: tuple, title: str, xlabel: str, ylabel: str, chance: bool) -> bytes:
    """The fast backend's function ``name``, or the curve ``args[:2]`` drawn with matplotlib."""
    fast = _backend(backend)
    if fast is not None:
        return getattr(fast, name)(*args)
    fig, ax = _curves_axes(title, xlabel, ylabel)
    ax.plot(args[0], args[1], drawstyle="steps-post", linewidth=1.2)
    if chance:
        _diagonal(ax)
    _margins(fig, left_chars=4)
    return render_png(fig)


def _row_normalized(cm: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.nan_to_num(cm / cm.sum(axis=1, keepdims=True))


# -- classifiers -----------------------------------------------------------------------------
def confusion_matrix(y, y_pred, labels: Sequence[Any], sample_weight=None):
    """Row-normalized confusion matrix, readable from 2 to hundreds of classes."""
    from sklearn.metrics import confusion_matrix as sk_cm

    labels = list(labels)
    cm = sk_cm(y, y_pred, labels=labels, sample_weight=sample_weight, normalize="true")
    return _confusion_figure(cm, labels)


def _confusion_figure(cm: np.ndarray, labels: list):
    n = len(labels)
    side = min(max(4.5, 0.32 * n + 2.5), 18.0)
    fig, ax = _figure(side + 1.0, side)
    im = ax.imshow(cm, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    step = max(1, math.ceil(n / TICK_LABEL_MAX))
    ticks = np.arange(0, n, step)
    names = [_label(labels[i]) for i in ticks]
    tick_size = max(6, min(10, int(200 / max(n / step, 1))))
    ax.set_xticks(ticks, names, rotation=45 if n > 6 or max(map(len, names)) > 4 else 0,
                  ha="right" if n > 6 else "center", fontsize=tick_size)
    ax.set_yticks(ticks, names, fontsize=tick_size)
    if n <= 60:
        size = max(5, min(10, int(150 / n)))
        cells = np.ndindex(cm.shape) if n <= ANNOTATE_ALL_MAX_CLASSES else zip(*np.nonzero(
            (cm >= 0.1) | np.eye(n, dtype=bool)))
        for i, j in cells:
            v = cm[i, j]
            ax.text(j, i, f"{v:.2f}" if v else "0", ha="center", va="center", fontsize=size,
                    color="white" if v > 0.5 else "black")
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    longest = max(map(len, names))
    _margins(fig, left_chars=longest * tick_size / 9, bottom_chars=longest * tick_size / 9, right_in=1.0,
             rotated=n > 6 or longest > 4)
    title = "Normalized confusion matrix"
    if step > 1:
        title += f" ({n} classes, every {step}th named)"
    ax.set_title(title)
    return fig


def _curves_axes(title: str, xlabel: str, ylabel: str):
    fig, ax = _figure()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.grid(alpha=0.3)
    return fig, ax


def _legend(ax, n: int, labels: Sequence[str] = ()):
    fig = ax.figure
    if n <= 3:
        ax.legend(loc="best", fontsize=10)
        _margins(fig, left_chars=4)
    else:
        longest = max((len(t) for t in labels), default=10)
        extra = min(0.55 * 7 / 72 * longest + 0.6, 4.0)
        fig.set_size_inches(7.0 + extra, 4.2)
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=10)
        _margins(fig, left_chars=4, right_in=extra + 0.1)


def _score_curves(y_bin_columns: list[tuple[str, np.ndarray, np.ndarray]], sample_weight, pos_label, title: str,
                  axes: tuple[str, str], points: Callable, area: str, diagonal) -> Any:
    """One figure of curves, one per ``(name, y_is_positive, score)``: ``points(yb, score, weight)``
    gives the (x, y) of a curve and the area shown in its legend entry as ``<name><area>=<value>``."""
    suffix = f" (Positive label: {pos_label})" if pos_label is not None else ""
    fig, ax = _curves_axes(title, axes[0] + suffix, axes[1] + suffix)
    for name, yb, score in y_bin_columns:
        x, y, value = points(yb, score, sample_weight)
        ax.plot(x, y, drawstyle="steps-post", linewidth=1.2, label=f"{name}{area}={value:.3f}")
    _diagonal(ax, diagonal)
    _legend(ax, len(y_bin_columns), [f"{n}{area}=0.000" for n, _, _ in y_bin_columns])
    return fig


def _roc_points(yb: np.ndarray, score: np.ndarray, sample_weight) -> tuple[np.ndarray, np.ndarray, float]:
    from mlnb.evaluation import scores

    fpr, tpr, _ = scores.roc_curve(yb, score, 1, sample_weight)
    return fpr, tpr, scores.roc_area(fpr, tpr)


def _precision_recall_points(yb: np.ndarray, score: np.ndarray, sample_weight) -> tuple[np.ndarray, np.ndarray, float]:
    from mlnb.evaluation import scores

    precision, recall, _ = scores.precision_recall_curve(yb, score, 1, sample_weight)
    return recall, precision, scores.step_area(precision, recall)


def roc_curve(y_bin_columns: list[tuple[str, np.ndarray, np.ndarray]], sample_weight=None, pos_label=None):
    """ROC curves: one per ``(name, y_is_positive, score)``, with the AUC in the legend."""
    return _score_curves(y_bin_columns, sample_weight, pos_label, "ROC curve",
                         ("False Positive Rate", "True Positive Rate"), _roc_points, "AUC", ((0, 1), (0, 1)))


def precision_recall_curve(y_bin_columns: list[tuple[str, np.ndarray, np.ndarray]], sample_weight=None,
                           pos_label=None):
    """Precision-recall curves, average precision in the legend (as MLflow)."""
    return _score_curves(y_bin_columns, sample_weight, pos_label, "Precision recall curve", ("Recall", "Precision"),
                         _precision_recall_points, "AP", ((0, 1), (1, 0)))


def lift_curve(y, proba_by_class: list[tuple[Any, np.ndarray]], pos_label=None):
    """Lift of each class's score over random ordering (binary classifiers)."""
    fig, ax = _figure()
    y = np.asarray(y)
    n = len(y)
    pct = np.arange(1, n + 1) / n
    for label, score in proba_by_class:
        hits = (y == label)[np.argsort(-np.asarray(score), kind="stable")]
        total = hits.sum()
        if not total:
            continue
        gains = np.cumsum(hits) / total
        name = f"Class {label}" + (" (positive)" if pos_label is not None and label == pos_label else "")
        ax.plot(pct, gains / pct, linewidth=2, label=name)
    ax.plot([0, 1], [1, 1], "k--", linewidth=1.5, label="Baseline")
    ax.set_title("Lift Curve")
    ax.set_xlabel("Percentage of sample")
    ax.set_ylabel("Lift")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=10)
    _margins(fig, left_chars=4)
    return fig


def calibration_curve(columns: list[tuple[str, np.ndarray, np.ndarray]], n_bins: int = 10,
                      title: str = "Classifier Calibration"):
    """Reliability diagram: fraction of positives per bin of predicted probability."""
    from sklearn.calibration import calibration_curve as sk_cal

    fig, ax = _curves_axes(title, "Mean Predicted Probability", "Fraction of True Positives")
    for name, yb, prob in columns:
        frac, mean_pred = sk_cal(yb, np.clip(prob, 0.0, 1.0), n_bins=n_bins)
        ax.plot(mean_pred, frac, marker="o", markersize=3, linewidth=1.2, label=name)
    ax.plot([0, 1], [0, 1], linestyle=":", color="black", label="Perfect Calibration")
    _legend(ax, len(columns) + 1, [n for n, _, _ in columns] + ["Perfect Calibration"])
    return fig


# -- regressors ------------------------------------------------------------------------------
def _scatter_sample(n: int, limit: int = 5000) -> np.ndarray:
    return np.arange(n) if n <= limit else np.random.default_rng(0).choice(n, limit, replace=False)


def residuals(y, y_pred):
    """Residuals (actual - predicted) against predictions, with their distribution."""
    from matplotlib.gridspec import GridSpec
    from matplotlib.figure import Figure

    y, y_pred = np.asarray(y, dtype=float), np.asarray(y_pred, dtype=float)
    res = y - y_pred
    idx = _scatter_sample(len(y))
    fig = Figure(figsize=(7.0, 4.0), dpi=DPI)
    gs = GridSpec(1, 2, width_ratios=[4, 1], wspace=0.05, figure=fig, left=0.12, right=0.97, bottom=0.13, top=0.91)
    fig.fixed_layout = True
    ax, hist = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])
    ax.scatter(y_pred[idx], res[idx], s=6, alpha=0.4, linewidths=0)
    ax.axhline(0.0, color="gray", linestyle="--", linewidth=1)
    ax.set_xlabel("Predicted value")
    ax.set_ylabel("Residual (actual - predicted)")
    ax.set_title("Residuals")
    ax.grid(alpha=0.3)
    hist.hist(res, bins=40, orientation="horizontal", alpha=0.7)
    hist.set_ylim(ax.get_ylim())
    hist.tick_params(labelleft=False)
    hist.locator_params(axis="x", nbins=2)
    hist.set_xlabel("Count")
    return fig


def predicted_vs_actual(y, y_pred):
    """Predictions against true values with the identity line."""
    y, y_pred = np.asarray(y, dtype=float), np.asarray(y_pred, dtype=float)
    idx = _scatter_sample(len(y))
    fig, ax = _figure(5.0, 5.0)
    ax.scatter(y[idx], y_pred[idx], s=6, alpha=0.4, linewidths=0)
    lo = float(min(y.min(), y_pred.min()))
    hi = float(max(y.max(), y_pred.max()))
    ax.plot([lo, hi], [lo, hi], color="gray", linestyle="--", linewidth=1)
    ax.set_xlabel("Actual value")
    ax.set_ylabel("Predicted value")
    ax.set_title("Predicted vs actual")
    ax.grid(alpha=0.3)
    _margins(fig, left_chars=7)
    return fig


# -- SHAP ------------------------------------------------------------------------------------
def _top_features(values: np.ndarray, names: Sequence[str], max_display: int):
    importance = np.abs(values).mean(axis=0)
    order = np.argsort(importance)[::-1][:max_display]
    return order[::-1], [names[i] for i in order[::-1]]  # most important at the top


def _swarm_offsets(x: np.ndarray, nbins: int = 100) -> np.ndarray:
    """Vertical offsets that spread points with similar values apart (a beeswarm layout)."""
    n = len(x)
    if n == 0:
        return np.zeros(0)
    span = x.max() - x.min()
    bins = np.zeros(n, dtype=int) if span == 0 else np.minimum(((x - x.min()) / span * nbins).astype(int), nbins - 1)
    order = np.argsort(bins, kind="stable")
    sorted_bins = bins[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_bins)) + 1]
    rank = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    offsets = np.empty(n)
    offsets[order] = np.ceil(rank / 2.0) * np.where(rank % 2 == 0, 1.0, -1.0)
    peak = np.abs(offsets).max()
    return offsets * (0.4 / peak) if peak else offsets


def _color_values(column: np.ndarray) -> np.ndarray | None:
    try:
        v = np.asarray(column, dtype=float)
    except (TypeError, ValueError):
        return None
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return None
    lo, hi = np.nanpercentile(finite, [5, 95])
    if hi <= lo:
        lo, hi = finite.min(), finite.max()
    return np.clip((v - lo) / (hi - lo), 0, 1) if hi > lo else np.full(len(v), 0.5)


def shap_beeswarm(values: np.ndarray, data: np.ndarray, names: Sequence[str], max_display: int = 20,
                  title: str = "SHAP values"):
    """One row of points per feature: SHAP value on x, feature value as colour."""
    order, labels = _top_features(values, names, max_display)
    fig, ax = _figure(7.0, max(3.0, 0.38 * len(order) + 1.5))
    cmap = "coolwarm"
    mappable = None
    for row, j in enumerate(order):
        x = values[:, j]
        y = row + _swarm_offsets(x)
        colors = _color_values(data[:, j]) if data is not None else None
        if colors is None:
            ax.scatter(x, y, s=8, color="#888888", alpha=0.8, linewidths=0)
        else:
            mappable = ax.scatter(x, y, s=8, c=colors, cmap=cmap, vmin=0, vmax=1, alpha=0.8,
                                  linewidths=0)
    ax.axvline(0.0, color="#999999", linewidth=0.8)
    ax.set_yticks(range(len(order)), labels, fontsize=9)
    ax.set_ylim(-0.6, len(order) - 0.4)
    ax.set_xlabel("SHAP value (impact on model output)")
    top = _title(ax, title)
    _margins(fig, left_chars=max(map(len, labels)) - 4, right_in=1.1 if mappable is not None else 0.3, top_in=top)
    if mappable is not None:
        pos = ax.get_position()
        cax = fig.add_axes([pos.x1 + 0.02, pos.y0, 0.015, pos.height])
        bar = fig.colorbar(mappable, cax=cax, ticks=[0, 1])
        bar.set_ticklabels(["Low", "High"])
        bar.set_label("Feature value")
        bar.outline.set_visible(False)
    return fig


def shap_summary(values: np.ndarray, names: Sequence[str], max_display: int = 20,
                 title: str = "SHAP summary"):
    """The distribution of each feature's SHAP values (violins), most important first."""
    order, labels = _top_features(values, names, max_display)
    fig, ax = _figure(7.0, max(3.0, 0.38 * len(order) + 1.5))
    data = [values[:, j] for j in order]
    varied = [k for k, d in enumerate(data) if np.ptp(d) > 0]
    if varied:
        import matplotlib

        sideways = ({"orientation": "horizontal"} if tuple(map(int, matplotlib.__version__.split(".")[:2])) >= (3, 10)
                    else {"vert": False})
        parts = ax.violinplot([data[k] for k in varied], positions=varied, widths=0.8, showextrema=False,
                              **sideways)
        for body in parts["bodies"]:
            body.set_alpha(0.6)
    for k, d in enumerate(data):
        ax.plot([np.percentile(d, 25), np.percentile(d, 75)], [k, k], color="black", linewidth=2)
        ax.plot([np.median(d)], [k], marker="o", color="white", markeredgecolor="black", markersize=4)
    ax.axvline(0.0, color="#999999", linewidth=0.8)
    ax.set_yticks(range(len(order)), labels, fontsize=9)
    ax.set_xlabel("SHAP value (median and quartiles marked)")
    _margins(fig, left_chars=max(map(len, labels)) - 4, top_in=_title(ax, title))
    return fig


def shap_feature_importance(values: np.ndarray, names: Sequence[str], max_display: int = 20,
                            class_names: Sequence[str] | None = None, title: str = "Feature importance"):
    """Mean |SHAP| per feature; for several classes (values 3-D) one stacked segment per class."""
    per_class = values if values.ndim == 3 else values[:, :, None]
    total = np.abs(per_class).mean(axis=0)           # features x classes
    if total.shape[1] > 10:                          # too many classes to tell apart by colour
        title = f"{title} (summed over {total.shape[1]} classes)"
        total, class_names = total.sum(axis=1, keepdims=True), None
    order = np.argsort(total.sum(axis=1))[::-1][:max_display][::-1]
    fig, ax = _figure(7.0, max(3.0, 0.38 * len(order) + 1.5))
    left = np.zeros(len(order))
    for c in range(total.shape[1]):
        widths = total[order, c]
        label = None if class_names is None else f"Class {class_names[c]}"
        ax.barh(range(len(order)), widths, left=left, label=label, height=0.7)
        left += widths
    if total.shape[1] == 1:
        for k, v in enumerate(left):
            ax.text(v, k, f" {v:.3g}", va="center", fontsize=9)
        ax.set_xlim(0, float(left.max()) * 1.18 if left.max() > 0 else 1.0)   # labels inside the frame
    elif class_names is not None:
        ax.legend(loc="lower right", fontsize=10)
    shown = [names[i] for i in order]
    ax.set_yticks(range(len(order)), shown, fontsize=9)
    ax.set_xlabel("mean(|SHAP value|)")
    _margins(fig, left_chars=max(map(len, shown)) - 4, right_in=0.3, top_in=_title(ax, title))
    return fig
