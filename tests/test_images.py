import io

import numpy as np
import pytest
from PIL import Image

import vizcore
from vizcore import images


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _gradient(width=64, height=48) -> Image.Image:
    """A red ramp on a fixed green and blue: enough structure to notice a wrong conversion."""
    ramp = np.tile(np.linspace(0, 255, width).astype(np.uint8), (height, 1))
    return Image.fromarray(np.dstack([ramp, np.full_like(ramp, 60), np.full_like(ramp, 200)]))


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "I", "1"])
def test_every_mode_becomes_rgb(mode):
    source = _gradient()
    converted = source.convert(mode) if mode != "I;16" else Image.fromarray(
        np.asarray(source.convert("L"), np.uint16) * 257)
    fmt = "TIFF" if mode in ("CMYK", "I;16", "I") else "PNG"
    array = vizcore.load_image(_encode(converted, fmt))
    assert array.dtype == np.uint8 and array.shape == (48, 64, 3)
    assert array.max() > 100  # not black: 16-bit is rescaled, not clipped


def test_extension_is_never_trusted(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(_encode(_gradient(), "PNG"))
    assert vizcore.load_image(path).shape == (48, 64, 3)
    (tmp_path / "page.jpg").write_bytes(b"<html><body>not an image</body></html>")
    with pytest.raises(vizcore.ImageError, match="not an image"):
        vizcore.load_image(tmp_path / "page.jpg")


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    array = vizcore.load_image(_encode(_gradient(), "JPEG", exif=exif))
    assert array.shape == (64, 48, 3)


def test_animation_gives_first_frame():
    frames = [Image.new("RGB", (20, 20), colour) for colour in ("red", "blue")]
    data = io.BytesIO()
    frames[0].save(data, "GIF", save_all=True, append_images=frames[1:])
    array = vizcore.load_image(data.getvalue())
    assert array[10, 10, 0] > 200 and array[10, 10, 2] < 50


def test_transparency_is_composited_on_white():
    rgba = Image.new("RGBA", (16, 16), (255, 0, 0, 0))
    assert (vizcore.load_image(_encode(rgba, "PNG")) == 255).all()


def test_large_images_are_downscaled():
    big = Image.new("RGB", (6000, 4000), (10, 120, 30))
    array = vizcore.load_image(_encode(big, "JPEG", quality=70))
    assert array.shape == (1365, 2048, 3)


def test_decompression_bomb_is_refused_before_decoding():
    tiny = Image.new("1", (40000, 40000))
    data = _encode(tiny, "PNG", optimize=True)
    assert len(data) < 1_000_000
    with pytest.raises(vizcore.ImageError, match="40000×40000.*decompression bomb"):
        vizcore.load_image(data)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"PK\x03\x04" + b"\0" * 100, "not an image"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "not an image"),
])
def test_bad_bytes(data, message):
    with pytest.raises(vizcore.ImageError, match=message):
        vizcore.load_image(data)


def test_truncated_jpeg():
    data = _encode(_gradient(640, 480), "JPEG")
    with pytest.raises(vizcore.ImageError, match="truncated"):
        vizcore.load_image(data[: len(data) // 3])


def test_too_small_and_too_large(monkeypatch):
    with pytest.raises(vizcore.ImageError, match="5×7"):
        vizcore.load_image(_encode(Image.new("RGB", (5, 7)), "PNG"))
    monkeypatch.setattr(images, "MAX_FILE_BYTES", 100)
    with pytest.raises(vizcore.ImageError, match="limit"):
        vizcore.load_image(_encode(_gradient(), "PNG"))


def test_missing_file(tmp_path):
    with pytest.raises(vizcore.ImageError, match="No image file"):
        vizcore.load_image(tmp_path / "nope.png")


def test_a_large_jpeg_decodes_in_draft_mode_at_a_fraction_of_its_size(monkeypatch):
    from PIL import ImageFile

    decoded = []
    load = ImageFile.ImageFile.load

    def spy(self):
        decoded.append(self.size)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    exif = Image.Exif()
    exif[0x0112] = 6  # a phone's portrait photo: rotated on display, after the draft
    data = _encode(Image.new("RGB", (4000, 3000), (90, 160, 30)), "JPEG", exif=exif)
    array = vizcore.load_image(data, max_side=448)
    assert array.shape == (448, 336, 3)  # portrait: the EXIF rotation applied
    assert decoded and max(decoded[0]) == 1000  # libjpeg decoded it at 1/4 (1000×750), not 4000×3000
    decoded.clear()
    vizcore.load_image(data)  # 2048 px: half size would be smaller, so it decodes whole
    assert max(decoded[0]) == 4000
