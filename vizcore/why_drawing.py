"""The Why view drawn with matplotlib: one RGB uint8 image of a :class:`vizcore.why.Why`.

The photo with the class's heatmap and the score in numbers, then one row per top channel: its
feature visualisation, where it fired and where it counted over the photo (as in Olah et al., "The
Building Blocks of Interpretability", Distill 2018), its share of the score as a bar, and its best
example patches. Nothing here computes an attribution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .drawing import overlay
from .why import Channel, Why

FIRED_CMAP = "viridis"  # a channel's activation over the photo
COUNTED_CMAP = "inferno"  # a channel's contribution over the photo: dark where it added nothing, bright on dark themes
RAISING_COLOR = "#ff6d3a"  # the share bar of a channel that raises the score
LOWERING_COLOR = "#3a8dff"  # ... and of one that lowers it


def panel(
    why: Why,
    photo: np.ndarray,
    *,
    heatmap: np.ndarray | None = None,
    features: Mapping[int, np.ndarray] | None = None,
    examples: Mapping[int, Sequence[np.ndarray]] | None = None,
    title: str | None = None,
    cmap: str = "jet",
) -> np.ndarray:
    """The Why view as one RGB uint8 image: the photo with the class's heatmap, then a row per
    top channel: its feature image, its activation map and its contribution map over the photo,
    its share as a bar, its best example patches."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows, patches = why.channels, max((len(v) for v in (examples or {}).values()), default=0)
    columns = 4 + patches
    figure = Figure(figsize=(1.7 * columns + 1.2, 1.7 * (len(rows) + 1.6)), dpi=100)
    FigureCanvasAgg(figure)
    figure.subplots_adjust(left=0.02, right=0.98, top=0.97, bottom=0.03)
    grid = figure.add_gridspec(len(rows) + 1, columns, height_ratios=[1.6] + [1] * len(rows), hspace=0.35)
    top_axis = figure.add_subplot(grid[0, :2])
    top_axis.imshow(overlay(photo, heatmap if heatmap is not None else why.contribution_map(), cmap=cmap))
    top_axis.set_axis_off()
    text = figure.add_subplot(grid[0, 2:])
    text.set_axis_off()
    text.text(0, 0.5, title or _summary(why), va="center", fontsize=10, wrap=True)
    biggest = max((abs(c.share) for c in rows), default=1.0) or 1.0
    for row, channel in enumerate(rows, start=1):
        _panel_row(figure, grid, row, channel, why, photo, (features or {}).get(channel.channel), examples, biggest)
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()  # type: ignore[attr-defined]


def _panel_row(figure, grid, row, channel: Channel, why: Why, photo, feature, examples, biggest) -> None:
    cells = [figure.add_subplot(grid[row, column]) for column in range(grid.ncols)]
    if feature is not None:
        cells[0].imshow(feature)
    cells[0].set_title(f"channel {channel.channel}", fontsize=8)
    cells[1].imshow(overlay(photo, why.activation_map(channel.channel), cmap=FIRED_CMAP, alpha=0.6))
    cells[1].set_title("where it fired", fontsize=8)
    cells[2].imshow(overlay(photo, why.counted_map(channel.channel), cmap=COUNTED_CMAP, alpha=0.6))
    cells[2].set_title("where it counted", fontsize=8)
    cells[3].barh([0], [channel.share], color=RAISING_COLOR if channel.share >= 0 else LOWERING_COLOR)
    cells[3].set_xlim(-biggest if why.negative else 0, biggest)
    cells[3].set_ylim(-1, 1)
    cells[3].set_title(f"{channel.share:+.1%} of the score", fontsize=8)
    cells[3].set_yticks([])
    cells[3].tick_params(labelsize=6)
    for cell, patch in zip(cells[4:], (examples or {}).get(channel.channel, [])):
        cell.imshow(patch)
    for cell in cells[:3] + cells[4:]:
        cell.set_axis_off()


def _summary(why: Why) -> str:
    what = f"{why.label} (class {why.class_index})"
    if why.contrast_index is not None:
        what = f"why {what}\nrather than {why.contrast_label} (class {why.contrast_index})"
    total = f"logit {why.logit:+.3f}" + (
        f" = channels {np.sum(why.contributions):+.3f} + bias {why.bias:+.3f}" if why.bias is not None else ""
    )
    return f"{what}\nlayer {why.layer}\n{total}"
