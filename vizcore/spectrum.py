"""The magnitude spectrum of natural photos: what MaCo holds fixed while it optimises the phase.

MaCo (Fel et al., "Unlocking feature visualization for deeper networks with magnitude constrained
optimization", NeurIPS 2023, Sec. 3, Eq. 3) makes an image as ``irfft2(|F| · exp(i·φ))`` with the
magnitude ``|F|`` the average Fourier magnitude of natural images and only the phase φ optimised.
Here ``|F|`` is computed from a folder of photos (the bundled samples by default, the CLI's
``--images``, the audited folder), per colour channel of the decorrelated colour basis that
:mod:`vizcore.param` recorrelates (the square root of ImageNet's colour correlation), at the side of
the picture to be made:

* each photo is centre-cropped to a square, resized to the side, made grey for a one-channel model,
  its mean removed, its colours decorrelated, and its ``|rfft2|`` averaged over the photos;
* with fewer than ``MIN_PHOTOS`` photos, an average is a poor estimate, so a smooth power law
  ``|F|(f) = A_c / f^α_c`` (natural images' 1/f law; Field, 1987) is fitted per channel to the
  photos' radial average (α = 1 and equal channels when there is no photo at all).

A spectrum is cached in memory and on disk, keyed by the photos (path, size, modification time),
the side and grey or colour, so a folder is read once.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from .errors import ImageError
from .examples import IMAGES_DIR_VARIABLE, image_files, samples_dir
from .images import load_image
from .models import weights_cache_dir
from .param import COLOR_CORRELATION

FORMAT = 1  # bump whenever what a stored spectrum holds changes
MIN_PHOTOS = 16  # fewer photos than this: a smooth 1/f fit instead of their average
MAX_PHOTOS = 256  # photos read from a folder (evenly spread over it), to bound the time
DEFAULT_DECAY = 1.0  # α of the 1/f law without any photo
FIT_BANDS = 12  # logarithmic frequency bands the 1/f law is fitted over
KEPT = 16  # spectra kept in memory

_MEMORY: dict[str, Spectrum] = {}
_LOCK = threading.Lock()


class Spectrum(NamedTuple):
    """A magnitude spectrum for pictures of one side, in the decorrelated colour basis."""

    magnitude: np.ndarray  # float32 (3, side, side // 2 + 1): |rfft2| per decorrelated channel
    photos: int  # photos it was computed from
    fitted: bool  # True: a 1/f power law fitted to the photos, not their average
    digest: str  # what it was computed from (photos, side, grey), for cache keys

    @property
    def side(self) -> int:
        return int(self.magnitude.shape[1])


def photo_folder(folder: str | os.PathLike | None = None) -> Path:
    """The folder a spectrum comes from: ``folder`` if given, else ``$VIZCORE_IMAGES_DIR`` if set, else
    the bundled samples."""
    if folder:
        return Path(folder)
    return Path(os.environ[IMAGES_DIR_VARIABLE]) if os.environ.get(IMAGES_DIR_VARIABLE) else samples_dir()


def folder_spectrum(folder: str | os.PathLike | None, side: int, *, grey: bool = False) -> Spectrum:
    """:func:`natural_spectrum` of the image files in :func:`photo_folder` (``folder``).

    Raises:
        RequestError: the folder does not exist.
    """
    return natural_spectrum(image_files([photo_folder(folder)]), side, grey=grey)


def natural_spectrum(files: Sequence[str | os.PathLike], side: int, *, grey: bool = False) -> Spectrum:
    """The magnitude spectrum of ``files`` at ``side`` px (see the module docstring), cached.

    Unreadable files are skipped. Raises nothing for an empty list: that gives the plain 1/f law.
    """
    chosen = _spread([str(Path(file)) for file in files], MAX_PHOTOS)
    digest = _digest(chosen, side, grey)
    with _LOCK:
        if digest in _MEMORY:
            return _MEMORY[digest]
    spectrum = _load(digest) or _computed(chosen, side, grey, digest)
    with _LOCK:
        _MEMORY[digest] = spectrum
        while len(_MEMORY) > KEPT:
            _MEMORY.pop(next(iter(_MEMORY)))
    return spectrum


def _computed(files: list[str], side: int, grey: bool, digest: str) -> Spectrum:
    magnitudes = [photo_magnitude(photo, side) for photo in _photos(files, side, grey)]
    if len(magnitudes) >= MIN_PHOTOS:
        spectrum = Spectrum(np.mean(magnitudes, axis=0).astype(np.float32), len(magnitudes), False, digest)
    else:
        spectrum = Spectrum(fitted_magnitude(magnitudes, side), len(magnitudes), True, digest)
    _store(spectrum)
    return spectrum


def photo_magnitude(photo: np.ndarray, side: int) -> np.ndarray:
    """|rfft2| (3, side, side // 2 + 1) of one float RGB photo (side, side, 3) in [0, 1], its mean
    removed and its colours in the decorrelated basis (the inverse of ``param.decorrelate_colors``)."""
    decorrelated = (photo - photo.mean(axis=(0, 1))) @ np.linalg.inv(COLOR_CORRELATION.T)
    return np.abs(np.fft.rfft2(np.transpose(decorrelated, (2, 0, 1)), s=(side, side))).astype(np.float32)


def frequencies(side: int) -> np.ndarray:
    """|f| in cycles per picture at each (row, column) of an rfft2 layout (side, side // 2 + 1)."""
    fy = np.fft.fftfreq(side)[:, None] * side
    fx = np.fft.rfftfreq(side)[None, :] * side
    return np.sqrt(fx**2 + fy**2)


def fitted_magnitude(magnitudes: Sequence[np.ndarray], side: int) -> np.ndarray:
    """A smooth power law A_c / f^α_c per channel (Field, 1987: natural images fall as about 1/f),
    fitted by least squares in log-log to the photos' mean magnitude averaged in ``FIT_BANDS``
    logarithmic frequency bands (so every octave counts alike, not the many highest frequencies);
    at f = 0 (the mean, removed from each photo) the value at f = 1. Without photos: 1/f everywhere."""
    f = frequencies(side)
    edges = np.geomspace(1.0, max(f.max(), 2.0) + 1e-6, FIT_BANDS + 1)
    power_law = np.empty((3, *f.shape), np.float32)
    for channel in range(3):
        decay, amplitude = DEFAULT_DECAY, 1.0
        if magnitudes:
            mean = np.mean([m[channel] for m in magnitudes], axis=0)
            bands = [(f >= low) & (f < high) & (mean > 0) for low, high in zip(edges[:-1], edges[1:])]
            points = np.array([(np.log(f[b]).mean(), np.log(mean[b]).mean()) for b in bands if b.any()])
            if len(points) >= 2:
                slope, intercept = np.polyfit(points[:, 0], points[:, 1], 1)
                decay, amplitude = -float(slope), float(np.exp(intercept))
        power_law[channel] = amplitude / np.maximum(f, 1.0) ** decay
    return power_law


def _photos(files: list[str], side: int, grey: bool):
    """Each readable file as a float RGB square (side, side, 3) in [0, 1] (grey: its channel mean)."""
    for file in files:
        try:
            photo = load_image(file)
        except ImageError:
            continue
        yield square(photo, side, grey)


def square(photo: np.ndarray, side: int, grey: bool = False) -> np.ndarray:
    """The photo's centre square resized to ``side`` (bicubic), float in [0, 1]; grey repeated on 3 channels."""
    height, width = photo.shape[:2]
    edge = min(height, width)
    top, left = (height - edge) // 2, (width - edge) // 2
    crop = Image.fromarray(photo[top : top + edge, left : left + edge])
    array = np.asarray(crop.resize((side, side), Image.Resampling.BICUBIC), np.float32) / 255.0
    return np.repeat(array.mean(axis=-1, keepdims=True), 3, axis=-1) if grey else array


def _spread(files: list[str], most: int) -> list[str]:
    """At most ``most`` of the files, evenly spread over the sorted list."""
    files = sorted(files)
    if len(files) <= most:
        return files
    return [files[int(i)] for i in np.linspace(0, len(files) - 1, most)]


def _digest(files: list[str], side: int, grey: bool) -> str:
    photos = []
    for file in files:
        try:
            stat = Path(file).stat()
            photos.append([str(Path(file).resolve()), stat.st_size, stat.st_mtime_ns])
        except OSError:
            photos.append([file, -1, -1])
    text = json.dumps([FORMAT, MIN_PHOTOS, side, grey, photos])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _path(digest: str) -> Path:
    return weights_cache_dir() / "spectra" / f"{digest}.npz"


def _store(spectrum: Spectrum) -> None:
    path = _path(spectrum.digest)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.npz")
        with open(partial, "wb") as file:
            np.savez(file, magnitude=spectrum.magnitude, photos=spectrum.photos, fitted=spectrum.fitted)
        os.replace(partial, path)
    except OSError:  # a read-only cache: computed again next time
        pass


def _load(digest: str) -> Spectrum | None:
    try:
        with np.load(_path(digest), allow_pickle=False) as stored:
            return Spectrum(stored["magnitude"], int(stored["photos"]), bool(stored["fitted"]), digest)
    except (OSError, ValueError, KeyError, EOFError):
        return None
