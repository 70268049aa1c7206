"""The fast backend of :mod:`mlnb.evaluation.plots`: small PNGs drawn with Pillow.

Drawn with Pillow's primitives on a palette image rather than with matplotlib: a figure costs about
a millisecond instead of the 70-110 ms matplotlib needs here, which is what lets autolog stay on
for every fit. Reached through ``plots.confusion_matrix_png(..., backend="pillow")`` and its
siblings; when Pillow is not installed (it comes with matplotlib), ``plots.fast_backend_available()``
is False and autolog draws nothing.
"""

from __future__ import annotations

import functools
import io
from typing import Any, Sequence

import numpy as np

WIDTH, HEIGHT = 420, 330
LEFT, TOP, RIGHT, BOTTOM = 62, 28, 18, 44
WHITE, BLACK, GRID, LINE, CHANCE = 0, 1, 2, 3, 4
RAMP = 5            # palette index of the lightest of the heat-map shades
SHADES = 32


@functools.lru_cache(maxsize=1)
def _palette() -> list[int]:
    light, dark = np.array([247, 251, 255]), np.array([8, 48, 107])  # matplotlib's "Blues" ends
    ramp = [light + (dark - light) * i / (SHADES - 1) for i in range(SHADES)]
    colors = [(255, 255, 255), (0, 0, 0), (225, 225, 225), (31, 119, 180), (150, 150, 150), *ramp]
    return [int(c) for rgb in colors for c in rgb]


@functools.lru_cache(maxsize=2)
def _font(size: int = 11):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


@functools.lru_cache(maxsize=1024)
def _stamp(text: str, size: int, anchor: str):
    """``text`` rendered once as a 1-bit mask (a palette image draws text unsmoothed), and the mask's
    offset from the anchor point: repeated labels cost a paste instead of a FreeType layout."""
    from PIL import Image, ImageDraw

    font = _font(size)
    left, top, right, bottom = font.getbbox(text, mode="1", anchor=anchor)
    mask = Image.new("1", (max(right - left, 1), max(bottom - top, 1)), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, fill=1, font=font, anchor=anchor)
    return mask, left, top


@functools.lru_cache(maxsize=64)
def _advance(char: str, size: int) -> float:
    return _font(size).getlength(char, mode="1")


_NUMERIC = frozenset("0123456789.-+e")


def _text(img, xy: tuple[float, float], text: str, fill: int, size: int = 11, anchor: str = "la") -> None:
    """Draw ``text`` as ``ImageDraw.text`` would (anchors as Pillow's), from cached stamps. A number
    (a value label, new on every fit) is put together from its characters' stamps when it is anchored
    at the font's middle or baseline (a ``t`` or ``b`` anchor is the string's own top or bottom)."""
    x, y = xy
    if len(text) > 1 and anchor[1] in "ms" and _NUMERIC.issuperset(text):
        width = sum(_advance(c, size) for c in text)
        x -= {"l": 0.0, "m": width / 2, "r": width}.get(anchor[0], 0.0)
        for c in text:
            _put(img, x, y, c, fill, size, "l" + anchor[1])
            x += _advance(c, size)
        return
    _put(img, x, y, text, fill, size, anchor)


def _put(img, x: float, y: float, text: str, fill: int, size: int, anchor: str) -> None:
    mask, left, top = _stamp(text, size, anchor)
    img.paste(fill, (round(x) + left, round(y) + top), mask)


def _canvas(title: str | None):
    from PIL import Image, ImageDraw

    img = Image.new("P", (WIDTH, HEIGHT), WHITE)
    img.putpalette(_palette())
    if title:
        _text(img, (WIDTH // 2, 6), title, BLACK, 12, "mt")
    return img, ImageDraw.Draw(img)


@functools.lru_cache(maxsize=8)
def _titled(title: str):
    """A blank canvas with ``title``: drawn once, copied for every plot of that name."""
    return _canvas(title)[0]


def _copy(background):
    from PIL import ImageDraw

    img = background.copy()
    return img, ImageDraw.Draw(img)


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def _short(label: Any, n: int = 10) -> str:
    s = str(label)
    return s if len(s) <= n else s[: n - 1] + "…"


def _matrix_geometry(k: int) -> tuple[float, float, float]:
    side = min(WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM)
    return side, side / k, LEFT + (WIDTH - LEFT - RIGHT - side) / 2


@functools.lru_cache(maxsize=16)
def _matrix_frame(labels: tuple[str, ...]):
    """Title, class labels and axis names: the same for every fit on these classes."""
    img = _canvas("Normalized confusion matrix")[0]
    side, cell, x0 = _matrix_geometry(len(labels))
    if len(labels) <= 20:
        for i, label in enumerate(labels):
            c = i * cell + cell / 2
            _text(img, (x0 - 4, TOP + c), _short(label, 8), BLACK, anchor="rm")
            _text(img, (x0 + c, TOP + side + 4), _short(label, 8), BLACK, anchor="mt")
    _text(img, (x0 + side / 2, HEIGHT - 4), "Predicted label", BLACK, anchor="mb")
    _text(img, (4, TOP + side / 2), "True", BLACK, anchor="lm")
    return img


def confusion_matrix_png(labels: Sequence[Any], matrix: np.ndarray) -> bytes:
    """The confusion matrix normalized over true labels (rows), as MLflow draws it."""
    img, draw = _copy(_matrix_frame(tuple(str(label) for label in labels)))
    with np.errstate(divide="ignore", invalid="ignore"):
        norm = np.nan_to_num(matrix / matrix.sum(axis=1, keepdims=True))
    k = len(labels)
    side, cell, x0 = _matrix_geometry(k)
    for i in range(k):
        for j in range(k):
            v = float(norm[i, j])
            box = [x0 + j * cell, TOP + i * cell, x0 + (j + 1) * cell - 1, TOP + (i + 1) * cell - 1]
            draw.rectangle(box, fill=RAMP + round(v * (SHADES - 1)))
            if k <= 12:
                _text(img, ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), f"{v:.2f}",
                      WHITE if v > 0.5 else BLACK, anchor="mm")
    return _png(img)


@functools.lru_cache(maxsize=4)
def _axes_frame(xlabel: str, ylabel: str, chance: bool):
    """Grid, ticks and axis names of a unit-square plot: drawn once, copied for every curve."""
    img, draw = _canvas(None)
    w, h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    for t in np.linspace(0, 1, 6):
        gx, gy = LEFT + t * w, TOP + (1 - t) * h
        draw.line([(gx, TOP), (gx, TOP + h)], fill=GRID)
        draw.line([(LEFT, gy), (LEFT + w, gy)], fill=GRID)
        _text(img, (gx, TOP + h + 4), f"{t:.1f}", BLACK, anchor="mt")
        _text(img, (LEFT - 4, gy), f"{t:.1f}", BLACK, anchor="rm")
    draw.rectangle([LEFT, TOP, LEFT + w, TOP + h], outline=BLACK)
    if chance:
        draw.line([(LEFT, TOP + h), (LEFT + w, TOP)], fill=CHANCE)
    _text(img, (LEFT + w / 2, HEIGHT - 4), xlabel, BLACK, anchor="mb")
    _text(img, (4, TOP - 4), ylabel, BLACK, anchor="ls")
    return img


def _curve_png(title: str, x: np.ndarray, y: np.ndarray, xlabel: str, ylabel: str, chance: bool) -> bytes:
    img, draw = _copy(_axes_frame(xlabel, ylabel, chance))
    _text(img, (WIDTH // 2, 6), title, BLACK, 12, "mt")
    w, h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    points = np.c_[LEFT + np.asarray(x) * w, TOP + (1 - np.asarray(y)) * h]
    if len(points) > 2 * w:  # more points than pixels: keep every n-th, and the last
        points = np.r_[points[:: len(points) // w], points[-1:]]
    draw.line([tuple(p) for p in points.tolist()], fill=LINE, width=2)
    return _png(img)


def roc_curve_png(fpr: np.ndarray, tpr: np.ndarray, auc: float) -> bytes:
    """A ROC curve with its AUC in the title."""
    return _curve_png(f"ROC curve (AUC = {auc:.3f})", fpr, tpr, "False Positive Rate", "True Positive Rate", True)


def precision_recall_png(recall: np.ndarray, precision: np.ndarray, ap: float) -> bytes:
    """A precision-recall curve with its average precision in the title."""
    return _curve_png(f"Precision recall curve (AP = {ap:.3f})", recall, precision, "Recall", "Precision", False)


def feature_importance_png(names: Sequence[Any], values: np.ndarray, title: str) -> bytes:
    """Horizontal bars, largest on top (the feature importance autolog logs for boosted trees)."""
    img, draw = _copy(_titled(title))
    values = np.asarray(values, dtype=float)
    order = np.argsort(values)[::-1][:20]
    top = values[order[0]] if len(order) and values[order[0]] > 0 else 1.0
    x0, width = LEFT + 40, WIDTH - LEFT - 40 - RIGHT - 30
    row = (HEIGHT - TOP - 12) / max(len(order), 1)
    for k, i in enumerate(order):
        y = TOP + k * row
        _text(img, (x0 - 4, y + row / 2), _short(names[i], 14), BLACK, anchor="rm")
        draw.rectangle([x0, y + row * 0.15, x0 + max(1.0, width * values[i] / top), y + row * 0.85], fill=LINE)
        _text(img, (x0 + width * values[i] / top + 3, y + row / 2), f"{values[i]:.3g}", BLACK, anchor="lm")
    return _png(img)
