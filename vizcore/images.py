"""Image intake: any user file in, a safe RGB uint8 (H, W, 3) array out.

The content is sniffed by Pillow (the extension is never trusted), the EXIF orientation is
applied, every mode is converted to RGB (transparency is composited on white), animations give
their first frame, decompression bombs and oversized files are refused before decoding, and
images whose longer side exceeds ``MAX_SIDE`` are downscaled. Every failure raises
:class:`ImageError` with a message meant for the user.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

MAX_FILE_BYTES = 40 * 1024 * 1024  # refuse files larger than this before reading them
MAX_PIXELS = 60_000_000  # refuse images declaring more pixels (decompression bombs)
MAX_SIDE = 2048  # downscale so that the longer side is at most this
MIN_SIDE = 8  # smaller images carry too little to look at


def load_image(source: bytes | str | os.PathLike, *, max_side: int = MAX_SIDE) -> np.ndarray:
    """Decode a user's image safely.

    Args:
        source: the file's bytes, or a path to it.
        max_side: the longer side is downscaled to at most this many pixels.

    Returns:
        RGB uint8 array of shape (H, W, 3).

    Raises:
        ImageError: the file is missing, empty, too large, not an image, truncated or a bomb.
    """
    data = _read_bytes(source)
    image = _open_checked(data)
    try:
        image.seek(0)  # first frame of animations
        _draft(image, max_side)  # before orienting: a rotated copy is decoded whole
        image = _oriented(image)
        image = _downscaled(image, max_side)
        rgb = _to_rgb(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ImageError(f"The image could not be decoded; the file may be truncated or damaged ({error}).") from None
    array = np.asarray(rgb, dtype=np.uint8)
    if min(array.shape[:2]) < MIN_SIDE:
        raise ImageError(
            f"The image is only {array.shape[1]}×{array.shape[0]} pixels; "
            f"it needs at least {MIN_SIDE} pixels on each side."
        )
    return np.ascontiguousarray(array)


def _read_bytes(source) -> bytes:
    """Read bytes from a path or pass bytes through, enforcing the size cap."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"No image file at {path}.")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ImageError(_too_large_message(path.stat().st_size))
        data = path.read_bytes()
    if not data:
        raise ImageError("The file is empty.")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(_too_large_message(len(data)))
    return data


def _too_large_message(size: int) -> str:
    return (
        f"The file is {size / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES / 2**20:.0f} MB. "
        "Please upload a smaller image."
    )


def _open_checked(data: bytes) -> Image.Image:
    """Open lazily (header only) and refuse non-images and bombs before decoding pixels."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError):
            image = None
        except (OSError, SyntaxError, ValueError) as error:
            raise ImageError(f"The file could not be read as an image ({error}).") from None
    if image is None:
        width, height = _declared_size(data)
        if width * height > MAX_PIXELS:
            raise ImageError(_bomb_message(width, height))
        raise ImageError("This file is not an image Pillow can read (JPEG, PNG, GIF, WebP, BMP, TIFF, ...).")
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageError(_bomb_message(width, height))
    return image


def _declared_size(data: bytes) -> tuple[int, int]:
    """The size a PNG header declares, for messages about files Pillow refused to open."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return 0, 0


def _bomb_message(width: int, height: int) -> str:
    return (
        f"The image declares {width}×{height} pixels, more than the {MAX_PIXELS / 1e6:.0f} million "
        "allowed; it may be a decompression bomb and was not decoded."
    )


def _oriented(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag, as cameras and phones expect."""
    return ImageOps.exif_transpose(image)


def _draft(image: Image.Image, max_side: int) -> None:
    """A large JPEG decodes at the smallest of 1/2, 1/4 or 1/8 of its size that is still larger than
    ``max_side`` (Pillow's draft mode: libjpeg scales in the DCT, 5–20× faster than decoding whole)."""
    if image.format == "JPEG" and max(image.size) > max_side:
        image.draft("RGB", (max_side, max_side))


def _downscaled(image: Image.Image, max_side: int) -> Image.Image:
    """Shrink so the longer side is at most ``max_side``."""
    if max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = _to_rgb(image)
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB; transparency is composited on white."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") else max(255.0, float(values.max()))
        image = Image.fromarray(np.clip(values / top * 255.0, 0, 255).astype(np.uint8), "L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
