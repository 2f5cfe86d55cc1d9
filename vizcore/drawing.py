"""Drawing: what the engine's arrays look like to a person, and their files.

Heatmaps coloured through matplotlib colormaps and blended over photos, filter images tiled into
a grid, small images enlarged without blur, PNG and animated GIF bytes. Pages and the CLI both
draw through here; nothing here computes a map or an image of the model's.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import matplotlib
import numpy as np
from PIL import Image

from .checks import number_in, rgb_image
from .errors import RequestError

COLORMAPS = ("jet", "turbo", "inferno", "viridis", "magma", "plasma", "coolwarm")  # offered by the page
GIF_SIDE = 400  # longer side of the animated GIF's frames
GIF_FRAMES = 60  # at most this many frames in the GIF (evenly subsampled)


# --- heatmaps ----------------------------------------------------------------------------------


def colorize(heatmap: np.ndarray, cmap: str = "jet") -> np.ndarray:
    """A [0, 1] map as RGB uint8 through a matplotlib colormap."""
    colormap = _colormap(cmap)
    values = np.clip(np.nan_to_num(np.asarray(heatmap, np.float32)), 0.0, 1.0)
    return (colormap(values)[..., :3] * 255.0 + 0.5).astype(np.uint8)


def overlay(image: np.ndarray, heatmap: np.ndarray, cmap: str = "jet", alpha: float = 0.4) -> np.ndarray:
    """The photo with the colorized heatmap blended on top: (1 − alpha) · photo + alpha · colors.

    A heatmap of another size is resized to the photo. Returns RGB uint8 of the photo's size.
    """
    image = rgb_image(image)
    check_overlay(cmap, alpha)
    heatmap = np.asarray(heatmap, np.float32)
    if heatmap.ndim != 2:
        raise RequestError(f"A heatmap is 2-D (H, W), got shape {heatmap.shape}.")
    colors = colorize(resized_map(np.clip(heatmap, 0, 1), image.shape[:2]), cmap).astype(np.float32)
    return np.clip((1.0 - alpha) * image + alpha * colors + 0.5, 0, 255).astype(np.uint8)


def check_overlay(cmap: str, alpha: float) -> None:
    """RequestError unless ``cmap`` is a matplotlib colormap and 0 <= alpha <= 1."""
    _colormap(cmap)
    number_in("alpha (opacity)", alpha, 0.0, 1.0)


def _colormap(name: str):
    try:
        return matplotlib.colormaps[name]
    except KeyError:
        raise RequestError(
            f"Unknown colormap {name!r}: try one of {', '.join(COLORMAPS)} (any matplotlib colormap works)."
        ) from None


def resized_map(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A float map resized bilinearly to (height, width) with Pillow, clipped to [0, 1]."""
    height, width = size
    if values.shape == (height, width):
        return values.astype(np.float32)
    resized = Image.fromarray(values.astype(np.float32), mode="F").resize((width, height), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


# --- filter images -----------------------------------------------------------------------------


def grid(images: np.ndarray, cols: int = 8, margin: int = 5, background: int = 0) -> np.ndarray:
    """Tile images (N, h, w, 3) row by row, ``cols`` per row, ``margin`` px apart (Keras example).

    Returns:
        uint8 (rows·h + (rows−1)·margin, cols·w + (cols−1)·margin, 3); fewer columns if N < cols.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[0] == 0:
        raise RequestError(f"grid needs a batch of images (N, h, w, 3), got shape {images.shape}")
    if cols < 1 or margin < 0:
        raise RequestError(f"grid needs cols >= 1 and margin >= 0, got cols={cols}, margin={margin}")
    count, height, width, channels = images.shape
    cols = min(cols, count)
    rows = math.ceil(count / cols)
    canvas = np.full(
        (rows * height + (rows - 1) * margin, cols * width + (cols - 1) * margin, channels), background, np.uint8
    )
    for index, image in enumerate(images):
        top, left = (index // cols) * (height + margin), (index % cols) * (width + margin)
        canvas[top : top + height, left : left + width] = image
    return canvas


def enlarged(image: np.ndarray, factor: int) -> np.ndarray:
    """``image`` made ``factor`` times larger with no blur (each pixel a block: Pillow NEAREST)."""
    if factor <= 1:
        return image
    height, width = image.shape[:2]
    return np.asarray(Image.fromarray(image).resize((width * factor, height * factor), Image.Resampling.NEAREST))


# --- files -------------------------------------------------------------------------------------


def png_bytes(image: np.ndarray) -> bytes:
    """An RGB uint8 image as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def animation_gif(
    frames: Sequence[np.ndarray], *, max_side: int = GIF_SIDE, max_frames: int = GIF_FRAMES, duration_ms: int = 80
) -> bytes:
    """An animated GIF (looping, the last frame held) of RGB uint8 frames, subsampled and downscaled."""
    if not frames:
        raise RequestError("There are no frames to animate yet: run the dream first.")
    keep = np.unique(np.round(np.linspace(0, len(frames) - 1, min(len(frames), max_frames))).astype(int))
    images = [
        Image.fromarray(gif_thumbnail(frames[i], max_side)).quantize(  # fast; Pillow's default takes ~1 s a frame
            256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
        )
        for i in keep
    ]
    durations = [duration_ms] * (len(images) - 1) + [max(1500, duration_ms)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    return buffer.getvalue()


class GifFrames:
    """The frames kept for a run's GIF: the start, every ``stride``-th step (about GIF_FRAMES), the latest.

    Thumbnails only, so a long run at full size does not pile up in memory.
    """

    def __init__(self, start: np.ndarray, total_steps: int):
        self.stride = max(1, math.ceil(total_steps / GIF_FRAMES))
        self.kept, self.count = [gif_thumbnail(start)], 0
        self.latest: np.ndarray | None = None

    def add(self, image: np.ndarray) -> None:
        self.count += 1
        if self.count % self.stride == 0:
            self.kept.append(gif_thumbnail(image))
        self.latest = None if self.count % self.stride == 0 else image

    def frames(self) -> list[np.ndarray]:
        return self.kept + ([gif_thumbnail(self.latest)] if self.latest is not None else [])

    def gif(self) -> bytes:
        return animation_gif(self.frames())


def gif_thumbnail(image: np.ndarray, max_side: int = GIF_SIDE) -> np.ndarray:
    """A frame shrunk to at most ``max_side`` a side, to keep for the GIF (unchanged if small)."""
    if max(image.shape[:2]) <= max_side:
        return image
    picture = Image.fromarray(image)
    picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return np.asarray(picture)
