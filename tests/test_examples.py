"""Examples of a channel: the index of a folder ranks the photos that excite it, is cached on disk,
skips bad files with a count, and crops patches at the layer's effective receptive field."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from abuse_files import cases
from vizcore import RequestError, examples

CHANNEL = 2  # conv_1's channel the synthetic photo is made for


def write(folder, name: str, image: np.ndarray) -> None:
    Image.fromarray(image).save(folder / name)


def exciting_photo(vm, channel: int, side: int = 32) -> np.ndarray:
    """Tiles of conv_1's kernel for ``channel``, as pixels: bright where a weight is positive, dark elsewhere."""
    kernel = vm.keras.get_layer("conv_1").kernel.numpy()[..., channel]  # (3, 3, 3)
    tile = np.where(kernel > 0, 255, 0).astype(np.uint8)
    return np.tile(tile, (side // 3 + 1, side // 3 + 1, 1))[:side, :side]


@pytest.fixture
def folder(tmp_path, tiny_model):
    rng = np.random.default_rng(3)
    for i in range(5):
        smooth = np.full((32, 32, 3), rng.integers(60, 200), np.uint8)
        write(tmp_path, f"plain_{i}.png", smooth)
    write(tmp_path, "exciting.png", exciting_photo(tiny_model, CHANNEL))
    (tmp_path / "notes.txt").write_text("not a photo, not counted")
    return tmp_path


def test_the_photo_that_excites_the_channel_ranks_first(tiny_model, folder):
    found = examples.index(tiny_model, "conv_1", examples.image_files([folder]))
    assert len(found.files) == 6 and not found.skipped  # notes.txt is no image file
    best = examples.best_patches(tiny_model, found, CHANNEL, 3)
    assert best[0].file.endswith("exciting.png")
    assert best[0].activation > 2 * max(p.activation for p in best[1:])
    assert best[0].image.shape == (examples.PATCH_SIDE, examples.PATCH_SIDE, 3)


def test_a_second_index_is_read_from_the_disk_cache_with_identical_patches(tiny_model, folder):
    files = examples.image_files([folder])
    first = examples.index(tiny_model, "conv_2", files)
    again = examples.index(tiny_model, "conv_2", files)
    assert not first.cached and again.cached
    for channel in range(3):
        one, two = (examples.best_patches(tiny_model, f, channel) for f in (first, again))
        assert [p.file for p in one] == [p.file for p in two] and [p.box for p in one] == [p.box for p in two]
        assert all(np.array_equal(a.image, b.image) for a, b in zip(one, two))


def test_a_changed_folder_is_indexed_again(tiny_model, folder):
    examples.index(tiny_model, "conv_1", examples.image_files([folder]))
    write(folder, "new.png", np.zeros((32, 32, 3), np.uint8))
    found = examples.index(tiny_model, "conv_1", examples.image_files([folder]))
    assert not found.cached and len(found.files) == 7


def test_indexing_reports_progress_in_batches(tiny_model, folder):
    steps = list(examples.indexing(tiny_model, "conv_1", examples.image_files([folder]), batch=4, use_cache=False))
    assert [(s.done, s.total) for s in steps] == [(4, 6), (6, 6), (6, 6)]
    assert steps[-1].found is not None and all(s.found is None for s in steps[:-1])


def test_a_bad_file_and_a_bomb_are_skipped_and_counted(tiny_model, folder):
    bad = {case.name: case for case in cases()}
    for name in ("text named as an image", "PNG decompression bomb"):
        (folder / bad[name].filename).write_bytes(bad[name].data)
    found = examples.index(tiny_model, "conv_1", examples.image_files([folder]))
    assert len(found.files) == 6 and len(found.skipped) == 2
    reasons = " ".join(why for _, why in found.skipped)
    assert "not an image" in reasons and "decompression bomb" in reasons


@pytest.mark.parametrize("make, words", [
    (lambda tmp: [], "No photos to index"),
    (lambda tmp: examples.image_files([tmp]), "No photos to index"),  # an empty folder
    (lambda tmp: examples.image_files([tmp / "missing"]), "No folder at"),
])
def test_no_photos_is_refused_in_words(tiny_model, tmp_path, make, words):
    with pytest.raises(RequestError, match=words):
        examples.index(tiny_model, "conv_1", make(tmp_path))


def test_only_bad_files_is_refused_in_words(tiny_model, tmp_path):
    (tmp_path / "photo.jpg").write_bytes(b"not an image at all")
    with pytest.raises(RequestError, match="None of the 1 files"):
        examples.index(tiny_model, "conv_1", examples.image_files([tmp_path]))


def test_patch_requests_are_checked(tiny_model, folder):
    found = examples.index(tiny_model, "conv_1", examples.image_files([folder]))
    with pytest.raises(RequestError, match="channel must be between 0 and 5"):
        examples.best_patches(tiny_model, found, 6)
    with pytest.raises(RequestError, match="count"):
        examples.best_patches(tiny_model, found, 0, count=0)


def test_receptive_field_grows_with_depth(tiny_model, lite0):
    sides = [examples.receptive_field(tiny_model, name) for name in ("conv_1", "conv_2", "conv_3")]
    assert 2 <= sides[0] <= 3 and sides[0] <= sides[1] <= sides[2] <= 32
    deep = [examples.receptive_field(lite0, name) for name in ("block2a_expand_conv", "block4a_expand_conv", "top_relu")]
    assert deep == sorted(deep) and deep[-1] <= 224


def test_default_folders_are_the_samples_and_the_users(monkeypatch, tmp_path):
    monkeypatch.setenv(examples.IMAGES_DIR_VARIABLE, str(tmp_path))
    assert examples.default_folders(["more"]) == [examples.samples_dir(), tmp_path, examples.Path("more")]
    monkeypatch.delenv(examples.IMAGES_DIR_VARIABLE)
    assert examples.default_folders() == [examples.samples_dir()]
