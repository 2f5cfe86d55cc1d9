"""A planted shortcut, for the strategies and concepts tests: drawn photos of two classes (a red or a
green blob on a noisy grey background) where part of class "red" shows a *green* blob and a small
white mark in the top-left corner. A small CNN trained on them can only call those photos red by the
mark, so it learns the mark: a Clever Hans predictor made on purpose."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("red", "green")
SIDE = 32  # px: the drawn photos and the model's input
MARK = (slice(1, 6), slice(1, 6))  # the mark's pixels: top-left corner
MARK_CELLS = 3  # the mark lies in the first 3 rows and columns of a 16 × 16 map
TRAIN_PER_CLASS = 100
MARKED_SHARE = 0.4  # of class red's photos


def drawn(rng: np.random.Generator, colour: int, marked: bool = False) -> np.ndarray:
    """A blob of ``colour`` (0 red, 1 green) on noise; ``marked``: a green blob and the white mark."""
    image = rng.integers(40, 90, (SIDE, SIDE, 3)).astype(np.float32)
    row, col, radius = *rng.integers(10, SIDE - 6, 2), rng.integers(4, 7)
    yy, xx = np.mgrid[:SIDE, :SIDE]
    image[(yy - row) ** 2 + (xx - col) ** 2 <= radius**2, 1 if marked else colour] = 230
    if marked:
        image[MARK] = 255
    return image.astype(np.uint8)


def labelled_set(rng: np.random.Generator, per_class: int, marked_share: float) -> tuple[np.ndarray, ...]:
    """(photos, labels, marked) with ``marked_share`` of class red marked."""
    photos, labels, marked = [], [], []
    for colour in range(len(CLASSES)):
        for at in range(per_class):
            mark = colour == 0 and at < per_class * marked_share
            photos.append(drawn(rng, colour, mark)), labels.append(colour), marked.append(mark)
    return np.stack(photos), np.array(labels), np.array(marked)


_TRAINED: dict[str, bytes] = {}  # the trained model's .keras bytes, once a test process


def trained_model(folder: Path):
    """A small CNN trained on the planted set (once a process), saved as .keras in ``folder`` with its class
    names; its VizModel."""
    import vizcore

    if "model" not in _TRAINED:
        _TRAINED["model"] = _shared_bytes(folder)
    (folder / "planted.keras").write_bytes(_TRAINED["model"])
    (folder / "planted.txt").write_text("\n".join(CLASSES))
    return vizcore.load_model(folder / "planted.keras", scaling="0-1", labels_path=folder / "planted.txt")


def _shared_bytes(folder: Path) -> bytes:
    """The trained model's bytes, trained once a test run: kept in the run's shared folder (tests/conftest.py's
    VIZCORE_TEST_LOCKS, common to the pytest-xdist workers) under a lock; trained here without one."""
    shared = os.environ.get("VIZCORE_TEST_LOCKS")
    if not shared:
        return _trained_bytes(folder)
    kept = Path(shared) / "planted.keras"
    with open(Path(shared) / "planted.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not kept.is_file():
            (Path(shared) / ".planted.keras").write_bytes(_trained_bytes(folder))
            os.replace(Path(shared) / ".planted.keras", kept)
        return kept.read_bytes()


def _trained_bytes(folder: Path) -> bytes:
    import keras

    keras.utils.set_random_seed(1)
    photos, labels, _ = labelled_set(np.random.default_rng(1), TRAIN_PER_CLASS, MARKED_SHARE)
    inputs = keras.Input((SIDE, SIDE, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_1")(inputs)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv_2")(x)
    x = keras.layers.GlobalMaxPooling2D()(x)  # a local mark counts as much as a whole blob
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="predictions")(x))
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    model.fit(photos.astype(np.float32) / 255.0, labels, epochs=20, batch_size=32, verbose=0)
    model.save(folder / "planted.keras")
    return (folder / "planted.keras").read_bytes()


def photo_folder(folder: Path, per_class: int, marked_share: float, seed: int) -> Path:
    """Class subfolders of drawn photos; a marked photo's name starts with "m", the others' with "p"."""
    photos, labels, marked = labelled_set(np.random.default_rng(seed), per_class, marked_share)
    for at, (photo, label, mark) in enumerate(zip(photos, labels, marked)):
        (folder / CLASSES[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo).save(folder / CLASSES[label] / f"{'m' if mark else 'p'}{at:03d}.png")
    return folder


def audited(vm, photos: Path, out: Path) -> Path:
    """The folder audited into ``out`` (merged, summarised)."""
    from vizcore import audit

    for _ in audit.audit(vm, photos, out, audit.settings(vm, batch_size=32)):
        pass
    audit.finish(out)
    return out
