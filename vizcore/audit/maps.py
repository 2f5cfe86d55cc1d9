"""Simple statistics of a class activation map (h, w) in [0, 1], on the layer's grid.

The map is read as a distribution of mass p = m / Σm over its cells:

* centre of mass: (row, column) of Σ p · cell centre, as shares of the height and width (0.5 is the middle);
* border share: the mass on the outermost ring of cells; a map that looks at the photo's edges
  (background, a watermark, a frame) rather than at a centred object has a high one;
* entropy: −Σ p log p over log(cells), in [0, 1]; 0 is one hot cell, 1 a uniform map.

A map with no mass (all zeros) has none of them: NaN.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class MapStats(NamedTuple):
    centre_row: float  # share of the height, 0 top, 1 bottom
    centre_col: float  # share of the width, 0 left, 1 right
    border_share: float  # share of the mass on the outer ring of cells
    entropy: float  # normalised Shannon entropy in [0, 1]


NO_MASS = MapStats(float("nan"), float("nan"), float("nan"), float("nan"))


def map_stats(grid: np.ndarray) -> MapStats:
    """Centre of mass, border share and entropy of one map (h, w); NaN for a map with no mass."""
    grid = np.asarray(grid, np.float64)
    if grid.ndim != 2:
        raise ValueError(f"a map is 2-D (h, w), got shape {grid.shape}")
    total = grid.sum()
    if not total > 0:
        return NO_MASS
    mass = grid / total
    height, width = grid.shape
    rows = (np.arange(height) + 0.5) / height
    cols = (np.arange(width) + 0.5) / width
    return MapStats(float(mass.sum(axis=1) @ rows), float(mass.sum(axis=0) @ cols), border_share(mass), entropy(mass))


def border_share(mass: np.ndarray) -> float:
    """Share of a distribution's mass on its outermost ring of cells (all of it for a grid 2 cells thin)."""
    inner = mass[1:-1, 1:-1]
    return float(1.0 - inner.sum())


def entropy(mass: np.ndarray) -> float:
    """Shannon entropy of a distribution over cells, divided by log(cells): in [0, 1]."""
    cells = mass.size
    if cells < 2:
        return 0.0
    positive = mass[mass > 0]
    return float(-(positive * np.log(positive)).sum() / np.log(cells))
