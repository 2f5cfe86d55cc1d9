"""Real examples of a channel: the patches of a folder of photos that excite it most.

Indexing runs every photo (resized to the model's input, as the model sees it to predict) through
the layer in batches and keeps, per photo and channel, the channel's peak activation and where it
is. An index is stored on disk under ``weights_cache_dir() / "examples"``, keyed by the model
(:func:`vizcore.models.model_fingerprint`), the layer and the photos (each file's path, size and
modification time), so a folder indexed once answers at once. Files that are not images, are
broken or too big (``vizcore.load_image`` refuses bombs before decoding) are skipped and counted.

A channel's best examples (:func:`best_patches`) are the photos of highest peak, each cropped to
a square around the peak as large as the layer's *effective receptive field* (Luo et al., 2016):
the centred square that holds ``RECEPTIVE_MASS`` of the input gradient of the layer's centre
position (its theoretical field is often the whole photo).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import numpy as np
import tensorflow as tf
from PIL import Image

from . import scheduler
from .cache import PerModel
from .checks import whole_number
from .errors import ImageError, RequestError
from .images import load_image
from .models import VizModel, model_fingerprint, weights_cache_dir

FORMAT = 1  # bump whenever what an index stores changes
BATCH = 16  # photos run through the layer at once
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")  # files a folder offers
IMAGES_DIR_VARIABLE = "VIZCORE_IMAGES_DIR"  # the user's folder of example photos
RECEPTIVE_MASS = 0.8  # share of the centre position's input gradient inside the effective receptive field
RECEPTIVE_DRAWS = 4  # random inputs the effective receptive field is averaged over
DEFAULT_PATCHES = 4  # example patches per channel
MAX_AUDITED = 1000  # photos of an audited folder indexed at most (spread evenly): about 30 s on 2 cores
PATCH_SIDE = 96  # px, each patch is resized to this square

_EXTRACTORS = PerModel(8)  # (model, layer) → its compiled extractor
_FIELDS = PerModel(32)  # (model, layer) → effective receptive field side, in input pixels
_PHOTOS: dict[tuple[str, int, int], np.ndarray] = {}  # decoded photos at the model's size, a few kept
_PHOTOS_KEPT = 64
_LOCK = threading.Lock()


def samples_dir() -> Path:
    """The bundled sample photos."""
    return Path(__file__).resolve().parent.parent / "assets" / "samples"


def image_files(folders: Iterable[str | os.PathLike]) -> list[Path]:
    """The image files (by suffix) in the folders, not in subfolders, sorted; missing folders give RequestError."""
    files: list[Path] = []
    for folder in folders:
        path = Path(folder)
        if not path.is_dir():
            raise RequestError(f"No folder at {str(path)!r} to take example photos from.")
        files += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    return files


def default_folders(extra: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """The bundled samples, ``$VIZCORE_IMAGES_DIR`` if set, and ``extra`` (the CLI's ``--images``)."""
    folders = [samples_dir()]
    if os.environ.get(IMAGES_DIR_VARIABLE):
        folders.append(Path(os.environ[IMAGES_DIR_VARIABLE]))
    return folders + [Path(folder) for folder in extra]


# --- the index ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ExampleIndex:
    """Per photo and channel of one layer: the channel's peak activation and where it is."""

    model: str
    layer: str
    files: tuple[str, ...]  # the photos indexed, in order
    peaks: np.ndarray  # float32 (N, C): each channel's largest activation on each photo
    where: np.ndarray  # int32 (N, C, 2): (y, x) of that peak on the layer's grid
    means: np.ndarray  # float32 (N, C): each channel's mean activation on each photo (breaks ties of peaks)
    grid: tuple[int, int]  # (h, w) of the layer's grid at the model's input size
    skipped: tuple[tuple[str, str], ...]  # (file, why) of the files that could not be used
    cached: bool = False

    def ranked(self, channel: int, count: int = DEFAULT_PATCHES) -> list[int]:
        """The photos (indices into ``files``) where ``channel`` fires (peak > 0), highest peak first."""
        order = np.lexsort((-self.means[:, channel], -self.peaks[:, channel]))  # a saturated peak (ReLU6) ties
        return [int(i) for i in order[:count] if self.peaks[i, channel] > 0]


class Progress(NamedTuple):
    """A step of indexing: ``done`` of ``total`` photos; ``found`` (the index) in the last one only."""

    done: int
    total: int
    found: ExampleIndex | None = None


class Patch(NamedTuple):
    """A crop of a photo where a channel fired most."""

    image: np.ndarray  # uint8 (PATCH_SIDE, PATCH_SIDE, 3)
    file: str
    activation: float  # the channel's peak on that photo
    box: tuple[int, int, int, int]  # (top, left, bottom, right) in the photo as the model sees it


def indexing(
    vm: VizModel, layer: str, files: Sequence[str | os.PathLike], *, batch: int = BATCH, use_cache: bool = True
) -> Iterator[Progress]:
    """Index ``files`` for ``layer``'s channels, yielding progress after each batch; the stored index
    when there is one (a single final Progress).

    The loop may wait or be cancelled: before every batch it calls :func:`vizcore.scheduler.checkpoint`,
    which in a long run's turn waits while short work is in flight and raises
    :class:`vizcore.scheduler.Cancelled` once the run was stopped (elsewhere it does nothing).

    Raises:
        RequestError: no files, an unknown layer, batch < 1.
    """
    layer = vm.layer(layer).name
    batch = whole_number("batch", batch, 1)
    names = [str(Path(f)) for f in files]
    if not names:
        raise RequestError("No photos to index: the folders hold no image files (jpg, png, webp, gif, bmp, tiff).")
    path = index_path(vm, layer, names)
    stored = load_index(path) if use_cache else None
    if stored is not None:
        yield Progress(len(names), len(names), stored)
        return
    yield from _indexed(vm, layer, names, batch, path)


def index(vm: VizModel, layer: str, files: Sequence[str | os.PathLike], **options) -> ExampleIndex:
    """:func:`indexing` run to its end: the index."""
    for progress in indexing(vm, layer, files, **options):
        if progress.found is not None:
            return progress.found
    raise AssertionError("indexing ended without an index")


def _indexed(vm: VizModel, layer: str, files: list[str], batch: int, path: Path) -> Iterator[Progress]:
    extractor = compiled_extractor(vm, layer)
    kept, peaks, where, means, skipped = [], [], [], [], []
    grid = (0, 0)
    for start in range(0, len(files), batch):
        scheduler.checkpoint()  # give way to short work; end here if the run was stopped
        photos = []
        for file in files[start : start + batch]:
            try:
                photos.append(model_view(vm, file))
                kept.append(file)
            except ImageError as error:
                skipped.append((file, str(error)))
        if photos:
            acts = _activations(extractor, vm.preprocess(np.stack(photos)))
            grid = acts.shape[1:3]
            flat = acts.reshape(acts.shape[0], -1, acts.shape[-1])
            best = np.argmax(flat, axis=1)
            peaks.append(np.take_along_axis(flat, best[:, None], axis=1)[:, 0])
            where.append(np.stack(np.unravel_index(best, grid), axis=-1).astype(np.int32))
            means.append(flat.mean(axis=1))
        yield Progress(min(start + batch, len(files)), len(files))
    if not kept:
        raise RequestError(f"None of the {len(files)} files could be used as a photo ({skipped[0][1]}).")
    found = ExampleIndex(
        vm.name,
        layer,
        tuple(kept),
        np.concatenate(peaks),
        np.concatenate(where),
        np.concatenate(means),
        (int(grid[0]), int(grid[1])),
        tuple(skipped),
    )
    save_index(path, found)
    yield Progress(len(files), len(files), found)


def compiled_extractor(vm: VizModel, layer: str):
    """Model inputs (N, H, W, 3) at the model's size → the layer's activations, compiled once per
    (model, layer): a compiled pass frees each intermediate map as it goes, an eager one keeps them all."""
    height, width = vm.input_size

    def build():
        extractor = vm.extractor([layer])
        signature = [tf.TensorSpec((None, height, width, 3), tf.float32)]
        return tf.function(lambda inputs: extractor(inputs, training=False), input_signature=signature, autograph=False)

    return _EXTRACTORS.get(vm, layer, build)


def _activations(extractor, inputs: np.ndarray) -> np.ndarray:
    outputs = extractor(tf.constant(inputs))
    return np.asarray(outputs[0] if isinstance(outputs, (list, tuple)) else outputs, np.float32)


def model_view(vm: VizModel, file: str) -> np.ndarray:
    """The photo in ``file`` as the model sees it to predict: uint8 at its input size (a few kept decoded)."""
    stat = Path(file).stat() if Path(file).is_file() else None
    key = (str(Path(file).resolve()), stat.st_size if stat else -1, stat.st_mtime_ns if stat else -1)
    with _LOCK:
        cached = _PHOTOS.get(key)
    if cached is not None and cached.shape[:2] == vm.input_size:
        return cached
    photo = vm.resize_for_input(load_image(file))
    with _LOCK:
        _PHOTOS[key] = photo
        while len(_PHOTOS) > _PHOTOS_KEPT:
            _PHOTOS.pop(next(iter(_PHOTOS)))
    return photo


# --- the disk cache ----------------------------------------------------------------------------


def index_path(vm: VizModel, layer: str, files: Sequence[str]) -> Path:
    """Where the index of these photos for this model and layer is stored."""
    photos = [_identity(file) for file in files]
    request = json.dumps([FORMAT, model_fingerprint(vm), layer, list(vm.input_size), photos])
    key = hashlib.sha256(request.encode()).hexdigest()[:24]
    return weights_cache_dir() / "examples" / model_fingerprint(vm) / f"{key}.npz"


def _identity(file: str) -> list:
    """What changes when a file does: its absolute path, size and modification time."""
    path = Path(file)
    try:
        stat = path.stat()
        return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]
    except OSError:
        return [str(path), -1, -1]


def save_index(path: Path, found: ExampleIndex) -> None:
    """Store an index (to a temporary file, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.npz")
    about = {"model": found.model, "layer": found.layer, "files": found.files, "grid": found.grid}
    with open(partial, "wb") as file:
        np.savez_compressed(
            file,
            about=json.dumps(about | {"skipped": found.skipped}),
            peaks=found.peaks,
            where=found.where,
            means=found.means,
        )
    os.replace(partial, path)


def load_index(path: Path) -> ExampleIndex | None:
    """The stored index (``cached=True``), or None when it is missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            about = json.loads(str(stored["about"]))
            peaks, where, means = stored["peaks"], stored["where"], stored["means"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # missing, half-written or corrupt: a miss
        return None
    skipped = tuple((str(file), str(why)) for file, why in about["skipped"])
    grid = (int(about["grid"][0]), int(about["grid"][1]))
    return ExampleIndex(about["model"], about["layer"], tuple(about["files"]), peaks, where, means, grid, skipped, True)


# --- patches -----------------------------------------------------------------------------------


def best_patches(vm: VizModel, found: ExampleIndex, channel: int, count: int = DEFAULT_PATCHES) -> list[Patch]:
    """The ``count`` photos where ``channel`` peaks highest, each cropped around its peak to the
    layer's effective receptive field, best first.

    Raises:
        RequestError: channel out of the layer's range, count < 1.
    """
    channels = found.peaks.shape[1]
    channel = whole_number("channel", channel, 0, channels - 1, why=f"{found.layer} has {channels} channels")
    count = whole_number("count", count, 1)
    side = receptive_field(vm, found.layer)
    patches = []
    for photo_index in found.ranked(channel, count):
        file = found.files[photo_index]
        try:
            photo = model_view(vm, file)
        except ImageError:  # changed or removed since it was indexed
            continue
        box = _box(found.where[photo_index, channel], found.grid, photo.shape[:2], side)
        top, left, bottom, right = box
        crop = Image.fromarray(photo[top:bottom, left:right]).resize((PATCH_SIDE, PATCH_SIDE), Image.Resampling.BICUBIC)
        patches.append(Patch(np.asarray(crop), file, float(found.peaks[photo_index, channel]), box))
    return patches


def _box(cell, grid: tuple[int, int], size: tuple[int, int], side: int) -> tuple[int, int, int, int]:
    """A side × side square centred on the grid cell's centre, moved inside the photo."""
    box = []
    for c, g, s in zip(cell, grid, size):
        extent = min(side, s)
        centre = (int(c) + 0.5) * s / g
        start = int(np.clip(round(centre - extent / 2), 0, s - extent))
        box.append((start, start + extent))
    (top, bottom), (left, right) = box
    return top, left, bottom, right


def receptive_field(vm: VizModel, layer: str) -> int:
    """The side, in input pixels, of the layer's effective receptive field (Luo et al., 2016):
    the centred square holding ``RECEPTIVE_MASS`` of |∂(centre position, all channels)/∂input|,
    averaged over a few random inputs; at least one grid cell."""
    name = vm.layer(layer).name
    return _FIELDS.get(vm, name, lambda: _measured_field(vm, name))


def _measured_field(vm: VizModel, layer: str) -> int:
    height, width = vm.input_size
    extractor = vm.extractor([layer])
    inputs = tf.Variable(
        vm.preprocess(np.random.default_rng(0).integers(0, 256, (RECEPTIVE_DRAWS, height, width, 3), np.uint8))
    )
    with tf.GradientTape() as tape:
        outputs = extractor(inputs, training=False)
        acts = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
        centre = tf.reduce_sum(acts[:, acts.shape[1] // 2, acts.shape[2] // 2, :])
    gradient = np.abs(tape.gradient(centre, inputs).numpy()).sum(axis=(0, 3))
    cell = int(np.ceil(max(height / acts.shape[1], width / acts.shape[2])))
    total = float(gradient.sum())
    if total <= 0:
        return max(cell, 1)
    cy = int(round(float(np.arange(height) @ gradient.sum(axis=1)) / total))  # the gradient's centre of mass
    cx = int(round(float(np.arange(width) @ gradient.sum(axis=0)) / total))
    for half in range(max(height, width)):
        inside = gradient[max(cy - half, 0) : cy + half + 1, max(cx - half, 0) : cx + half + 1].sum()
        if inside >= RECEPTIVE_MASS * total:
            return int(min(max(2 * half + 1, cell), max(height, width)))
    return int(max(height, width))
