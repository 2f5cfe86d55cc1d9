"""What a heatmap explains and how it is drawn: the values the Heatmaps page reads its widgets into,
and the trust panel (``ui.trust``) keys its caches on."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from vizcore import cam, drawing
from vizcore.cam.request import probed_channels


@dataclass(frozen=True)
class HeatmapSettings:
    """What a map explains and how it is made: everything but its colours (``cam.heatmap``'s keywords)."""
    class_index: int
    method: str                # a key of cam.METHODS
    layer: str | None          # None: the automatic layer
    top_k: int | None          # Score-CAM's channels (None: every one); the other methods take none
    augment: bool              # test-time augmentation
    eigen_smooth: bool
    lower: bool                # a regression output: explain what lowers it, not what raises it

    def for_method(self, method: str) -> HeatmapSettings:
        """These settings with another method (and top_k only if it probes channels, so maps share the cache)."""
        return replace(self, method=method, top_k=probed_channels(cam.METHODS[method], self.top_k))


@dataclass(frozen=True)
class OverlayStyle:
    """How a map is drawn over the photo."""
    cmap: str      # a matplotlib colormap
    alpha: float   # the map's opacity

    def over(self, photo: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
        return drawing.overlay(photo, heatmap, cmap=self.cmap, alpha=self.alpha)
