"""MaCo's transparency map drawn on its picture: where the picture mattered to the objective.

Fel et al. ("Unlocking feature visualization for deeper networks with magnitude constrained
optimization", NeurIPS 2023, Sec. 3.2) accumulate the absolute gradient of the objective with
respect to the picture over the optimisation (:mod:`vizcore.ascent` does, per image) and show the
picture with that map as its opacity: what the objective never looked at fades away.
"""

from __future__ import annotations

import numpy as np

TOP_PERCENTILE = 99.0  # the map is scaled so that this percentile is fully opaque
BACKGROUND = 255  # what a transparent part shows (white)


def opacity(transparency: np.ndarray) -> np.ndarray:
    """Maps (N, h, w) of accumulated |gradient| → opacity in [0, 1], each scaled by its ``TOP_PERCENTILE``."""
    maps = np.asarray(transparency, np.float32)
    top = np.percentile(maps.reshape(len(maps), -1), TOP_PERCENTILE, axis=1)[:, None, None]
    return np.clip(maps / np.maximum(top, np.finfo(np.float32).tiny), 0.0, 1.0)


def with_transparency(images: np.ndarray, transparency: np.ndarray) -> np.ndarray:
    """uint8 pictures (N, h, w, 3) composited on white with their :func:`opacity` as alpha."""
    alpha = opacity(transparency)[..., None]
    return np.round(images * alpha + BACKGROUND * (1 - alpha)).astype(np.uint8)
