"""The bad-input corpus: files a careless or hostile user might give, made in the test.

Each case is (name, filename, bytes, expected) where expected is either a phrase the error
message must contain, or a (height, width) the decoded image must have.
"""
from __future__ import annotations

import io
import zipfile
from typing import NamedTuple

import numpy as np
from PIL import Image


class Case(NamedTuple):
    name: str
    filename: str
    data: bytes
    expected: str | tuple[int, int]  # error phrase, or decoded (height, width)


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _photo(width: int = 320, height: int = 240) -> Image.Image:
    rng = np.random.default_rng(0)
    ramp = np.tile(np.linspace(0, 255, width, dtype=np.uint8), (height, 1))
    noise = rng.integers(0, 40, (height, width), dtype=np.uint8)
    return Image.fromarray(np.dstack([ramp, 255 - ramp, noise]))


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    return buffer.getvalue()


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (40, 30), colour) for colour in ("red", "green", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def _exif_rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90° clockwise
    return _encode(_photo(), "JPEG", exif=exif)


def cases() -> list[Case]:
    jpeg = _encode(_photo(), "JPEG")
    return [
        Case("text named as an image", "photo.jpg", b"this is not an image at all\n" * 10, "not an image"),
        Case("empty file", "empty.png", b"", "empty"),
        Case("truncated JPEG", "cut.jpg", jpeg[: len(jpeg) // 3], "truncated"),
        Case("PNG decompression bomb", "bomb.png", _encode(Image.new("1", (40000, 40000)), "PNG", optimize=True),
             "decompression bomb"),
        Case("16-bit PNG", "deep.png", _encode(Image.fromarray(np.asarray(_photo().convert("L"), np.uint16) * 257), "PNG"),
             (240, 320)),
        Case("CMYK JPEG", "cmyk.jpg", _encode(_photo().convert("CMYK"), "JPEG"), (240, 320)),
        Case("palette PNG", "palette.png", _encode(_photo().convert("P"), "PNG"), (240, 320)),
        Case("RGBA PNG", "alpha.png", _encode(_photo().convert("RGBA"), "PNG"), (240, 320)),
        Case("animated GIF", "anim.gif", _animated_gif(), (30, 40)),
        Case("EXIF-rotated JPEG", "rotated.jpg", _exif_rotated_jpeg(), (320, 240)),
        Case("6000×4000 JPEG", "huge.jpg", _encode(_photo(6000, 4000), "JPEG", quality=60), (1365, 2048)),
        Case("5×7-pixel image", "tiny.png", _encode(_photo(5, 7), "PNG"), "only 5×7 pixels"),
        Case("SVG named as an image", "vector.png", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
             "not an image"),
        Case("HTML named as an image", "page.jpg", b"<!doctype html><html><body>hi</body></html>", "not an image"),
        Case("zip named as an image", "archive.jpg", _zip_bytes(), "not an image"),
    ]
