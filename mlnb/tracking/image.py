"""Images for ``log_image`` and ``log_table``: MLflow's ``Image`` and the conversion of arrays to pictures.

An array is HxW, HxWx1, HxWx3 or HxWx4, of floats in [0, 1] or integers in [0, 255]; anything
else is refused with a clear error rather than guessed at. Pillow is imported only when used.
"""

from __future__ import annotations

import os
from typing import Any

from mlnb.errors import InvalidParameterError, require


def to_pil_image(image: Any) -> Any:
    """A PIL image from a PIL image, an :class:`Image`, a numpy array or a nested list of pixels."""
    pil = require("PIL.Image", "evaluate", "images")
    if isinstance(image, pil.Image):
        return image
    if callable(getattr(image, "to_pil", None)):   # mlnb's Image, or MLflow's
        return image.to_pil()
    import numpy as np

    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise InvalidParameterError(f"An image has shape HxW, HxWx1, HxWx3 or HxWx4; got {list(arr.shape)}.")
    if arr.dtype.kind == "f":
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise InvalidParameterError("A floating-point image must hold values in [0, 1].")
        arr = (arr * 255).round()
    elif arr.dtype.kind in "iu" and arr.size and (arr.min() < 0 or arr.max() > 255):
        raise InvalidParameterError("An integer image must hold values in [0, 255].")
    elif arr.dtype.kind not in "fiub":
        raise InvalidParameterError(f"An image holds numbers, got values of type {arr.dtype}.")
    arr = arr.astype(np.uint8)
    return pil.fromarray(arr.squeeze(axis=2) if arr.ndim == 3 and arr.shape[2] == 1 else arr)


class Image:
    """An image (a numpy array, a PIL image, a nested list of pixels or the path of an image file)
    to log with ``log_image`` or as a cell of ``log_table`` (MLflow's ``mlflow.Image``)."""

    def __init__(self, image: Any) -> None:
        if isinstance(image, (str, os.PathLike)):
            pil = require("PIL.Image", "evaluate", "images")
            try:
                with pil.open(image) as opened:
                    self.image = opened.copy()
            except (OSError, pil.UnidentifiedImageError) as exc:
                raise InvalidParameterError(f"Cannot read an image from '{os.fspath(image)}': {exc}") from None
        elif isinstance(image, (list, tuple)) or hasattr(image, "__array__") or hasattr(image, "mode"):
            self.image = to_pil_image(image)
        else:
            raise InvalidParameterError(
                f"Image takes a numpy array, a PIL image or the path of an image file, got {type(image).__name__}.")
        self.size = self.image.size

    def to_pil(self) -> Any:
        """The PIL image."""
        return self.image

    def to_array(self) -> Any:
        """The pixels as a numpy array."""
        import numpy as np

        return np.array(self.image)

    def to_list(self) -> list:
        """The pixels as a flat list (one value or tuple per pixel)."""
        return list(self.image.getdata())

    def save(self, path: str | os.PathLike, **kwargs: Any) -> None:
        """Write the image to ``path`` (the format follows its suffix)."""
        self.image.save(path, **kwargs)

    def resize(self, size: tuple[int, int]) -> "Image":
        """A resized copy."""
        return Image(self.image.resize(size))


__all__ = ["Image", "to_pil_image"]
