"""Argument checks shared by every part of the engine: each raises the user-facing error with the
value it received, so the page, the CLI and the tests see the same words.

* :func:`whole_number` — an int (never a bool or a float such as 2.5) within a range;
* :func:`positive_number` / :func:`number_in` — finite real numbers;
* :func:`rgb_image` — RGB uint8 (H, W, 3); grey (H, W) or (H, W, 1) is expanded to RGB;
* :func:`class_index` — an index within a model's classes (or outputs).
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ImageArgumentError, RequestError
from .images import MIN_SIDE


def whole_number(name: str, value, low: int, high: int | None = None, why: str = "") -> int:
    """``value`` as an int if it is a whole number in [low, high]; RequestError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise RequestError(f"{name} must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        reason = f" ({why})" if why else ""
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise RequestError(f"{name} must be {bounds}{reason}, got {value}")
    return int(value)


def is_real(value) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float, np.integer, np.floating))
        and math.isfinite(float(value))
    )


def positive_number(name: str, value, what: str = "a positive number") -> float:
    """``value`` as a float if it is finite and > 0; RequestError otherwise."""
    if not is_real(value) or value <= 0:
        raise RequestError(f"{name} must be {what}, got {value!r}")
    return float(value)


def number_in(name: str, value, low: float, high: float) -> float:
    """``value`` as a float if it is finite and in [low, high]; RequestError otherwise."""
    if not is_real(value) or not low <= float(value) <= high:
        raise RequestError(f"{name} must be between {low:g} and {high:g}, got {value!r}")
    return float(value)


def rgb_image(image) -> np.ndarray:
    """RGB uint8 (H, W, 3) of at least MIN_SIDE px a side; grey (H, W) or (H, W, 1) is expanded to RGB.

    Raises:
        ImageArgumentError (an ImageError and a RequestError): another shape or dtype, or too small.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ImageArgumentError(
            f"Expected an RGB image of shape (H, W, 3), got shape {array.shape}; decode files with vizcore.load_image."
        )
    if array.dtype != np.uint8:
        raise ImageArgumentError(
            f"Expected uint8 pixels (0–255), got {array.dtype}: an RGB uint8 image (H, W, 3), "
            "as vizcore.load_image gives."
        )
    if min(array.shape[:2]) < MIN_SIDE:
        raise ImageArgumentError(
            f"The image is only {array.shape[1]}×{array.shape[0]} pixels; "
            f"it needs at least {MIN_SIDE} pixels on each side."
        )
    return array


def class_index(vm, index) -> int:
    """An index within ``vm``'s classes (or outputs); ModelError if the model has nothing to explain."""
    vm.require_head()
    classes = vm.classes
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < classes:
        raise RequestError(f"class index {index!r} out of range: {vm.name} has {classes} classes (0 to {classes - 1}).")
    return int(index)
