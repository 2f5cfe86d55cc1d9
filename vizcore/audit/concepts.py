"""Concepts: a class's activations factorised into parts a person can read (CRAFT).

CRAFT (Fel et al., 2023, "CRAFT: Concept Recursive Activation FacTorization for Explainability",
CVPR): crops of the class's photos give activations A (n, C) ≥ 0 at a layer; non-negative matrix
factorisation A ≈ U W (Sec. 3.1, Eq. 1) gives a bank W (k, C) ≥ 0 of k concepts and U (n, k) ≥ 0,
how much of each concept each crop holds; each concept gets an importance for the class score
(Sec. 3.2) and is shown by its top crops and by feature visualisation of its direction W_i.

Here:

* **Crops.** A cell of the layer's grid of a photo seen whole is the activation of the crop its
  receptive field covers (measured, :func:`receptive_field`), with the photo around it: one pass a
  photo instead of one a crop. Activations are clipped at 0 (after a ReLU nothing changes).
* **Streaming.** One pass over the class's photos, in batches, writes every cell's activation and
  the gradient of the class's pre-softmax score to ``activations.npy`` and ``gradients.npy``
  (memory-mapped, float32) in ``AUDIT_DIR/concepts/…``; everything after reads them in chunks: the
  NMF (scikit-learn) is fitted on at most :data:`FIT_ROWS` cells (a seeded sample), every cell is
  then projected on the bank (non-negative least squares, W fixed).
* **Importance: a gradient estimate, not CRAFT's Sobol indices.** Δ_i = Σ_cells U[cell, i] · (W_i ·
  ∂score/∂A[cell]) is the first-order change of the class's score when concept i is removed from a
  photo (gradient × input in concept space; exact when the layer feeds a global average pooling and
  the Dense of the logits), averaged over the class's photos. ``importance_method`` says so.
* **Stability.** The factorisation fitted again with other seeds; concepts matched by the Hungarian
  assignment (scipy.optimize.linear_sum_assignment) on the cosine of their directions; the mean
  cosine of the matched pairs.

Results are cached beside the activations (``k{K}-seed{S}.npz``/``.json``): the same class, layer,
k and seed are read back, and give the same concepts.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import numpy as np
import tensorflow as tf

from .. import cam, scheduler
from ..checks import whole_number
from ..errors import ImageError, RequestError
from ..images import load_image
from ..models import VizModel, model_fingerprint
from . import store
from .strategies import class_index

DEFAULT_CONCEPTS = 8  # k, as CRAFT's examples
MAX_CONCEPTS = 32
FIT_ROWS = 20_000  # cells the factorisation is fitted on (a seeded sample of the class's cells)
CHUNK_ROWS = 8_192  # cells read from disk at a time after the pass
BATCH = 16  # photos per forward and backward pass
TOP_CROPS = 6  # crops shown per concept
OTHER_SEEDS = 2  # factorisations with other seeds, for the stability
FIELD_SHARE = 0.01  # the receptive field: where the gradient exceeds this share of its peak
IMPORTANCE_METHOD = "gradient"  # Δ_i = Σ U_i · (W_i · ∂score/∂A): see the module docstring
FOLDER = "concepts"  # in the audit folder


class Progress(NamedTuple):
    """Where a concepts run stands."""

    stage: str  # "activations", "factorising", "crops", "done"
    done: int
    total: int


@dataclass
class Concept:
    """One concept of a class: its direction in the layer's activation space and what shows it."""

    number: int  # 0 is the most important (the largest |importance|)
    importance: float  # mean first-order score lost when it is removed (see IMPORTANCE_METHOD); < 0: it lowers it
    share: float  # importance / Σ |importances|
    direction: np.ndarray  # (C,) its row of the bank, unit length
    top_crops: list[dict]  # {"file", "box": [left, top, right, bottom] in the photo's pixels, "weight"}
    stability: float | None  # its matched cosine with the other seeds' concepts, averaged


@dataclass
class Concepts:
    """A class's concepts, most important first."""

    class_name: str
    class_number: int
    layer: str
    seed: int
    photos: int
    cells: int
    receptive_field: int  # px at the model's input size: a crop's side
    concepts: list[Concept] = field(default_factory=list)
    importance_method: str = IMPORTANCE_METHOD
    cached: bool = False
    source: str | None = None  # the cached .json it was written to or read from

    @property
    def bank(self) -> np.ndarray:
        """The concepts' directions (k, C), in order."""
        return np.stack([concept.direction for concept in self.concepts])

    @property
    def stability(self) -> float | None:
        values = [concept.stability for concept in self.concepts if concept.stability is not None]
        return float(np.mean(values)) if values else None

    def to_json(self) -> dict:
        """What `vizcore concepts --json` prints."""
        return {
            "class": self.class_name,
            "layer": self.layer,
            "seed": self.seed,
            "photos": self.photos,
            "crops": self.cells,
            "crop_side": self.receptive_field,
            "importance_method": "gradient × concept: first-order score lost when the concept is removed"
            if self.importance_method == IMPORTANCE_METHOD
            else self.importance_method,
            "stability": self.stability,
            "stability_method": f"Hungarian matching across {OTHER_SEEDS} other seeds, mean cosine",
            "concepts": [_concept_json(concept) for concept in self.concepts],
        }


def _concept_json(concept: Concept) -> dict:
    return {
        "concept": concept.number,
        "importance": concept.importance,
        "share": concept.share,
        "stability": concept.stability,
        "top_crops": concept.top_crops,
    }


# --- the crops: activations and gradients of every cell, streamed to disk ------------------------


def receptive_field(vm: VizModel, layer: str) -> int:
    """The side (px, at the model's input size) of the input region a central cell of ``layer`` sees:
    the rows and columns where the gradient of that cell's activations with respect to the input
    exceeds FIELD_SHARE of its peak (an empirical receptive field, Luo et al., 2016)."""
    height, width = vm.input_size
    image = tf.constant(np.random.default_rng(0).uniform(0, 255, (1, height, width, 3)), tf.float32)
    model = cam.compiled_view(vm, layer).model
    with tf.GradientTape() as tape:
        tape.watch(image)
        acts = model(vm.preprocess(image), training=False)[0]
        centre = tf.reduce_sum(acts[0, acts.shape[1] // 2, acts.shape[2] // 2, :])
    gradient = tape.gradient(centre, image)
    reach = np.abs(gradient.numpy()[0]).sum(axis=-1) if gradient is not None else np.ones((height, width))
    seen = reach > FIELD_SHARE * reach.max()
    rows, cols = np.flatnonzero(seen.any(axis=1)), np.flatnonzero(seen.any(axis=0))
    side = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) if len(rows) else max(height, width)
    return int(min(max(side, height // acts.shape[1]), max(height, width)))


def class_photos(out: Path, class_number: int, by: str = "true") -> list[str]:
    """The class's audited photos (paths relative to the audited folder), in path order."""
    table = store.read_merged(out, ["path", "error", "true_index", "pred_index"]).to_pydict()
    column = "true_index" if by == "true" else "pred_index"
    return [path for path, error, index in zip(table["path"], table["error"], table[column])
            if error is None and index == class_number]  # fmt: skip


def crops_folder(out: Path, vm: VizModel, layer: str, class_number: int, by: str) -> Path:
    """Where a class's streamed activations live: keyed by the model, the layer, the class and the photos."""
    key = hashlib.sha256(f"{model_fingerprint(vm)}|{layer}|{class_number}|{by}".encode()).hexdigest()[:16]
    return out / FOLDER / f"{class_number}-{by}-{key}"


def stream_crops(
    vm: VizModel, layer: str, class_number: int, root: Path, paths: Sequence[str], folder: Path, batch: int = BATCH
) -> Iterator[Progress]:
    """One forward and backward pass over the photos, in batches: every cell's activations (clipped at 0)
    and the gradient of the class's pre-softmax score, written to ``folder`` as they come. A folder
    already complete for these photos is kept (``meta.json`` is written last)."""
    meta_path = folder / "meta.json"
    if _fresh(folder, paths):
        yield Progress("activations", len(paths), len(paths))
        return
    folder.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)  # other photos' crops: they and the concepts found from them go
    for stale in folder.glob("k*-seed*.*"):
        stale.unlink()
    view = cam.compiled_view(vm, layer)
    arrays = None
    kept: list[str] = []
    yield Progress("activations", 0, len(paths))
    for start in range(0, len(paths), batch):
        scheduler.checkpoint()  # in a page's turn of the run queue: Stop ends the run here
        photos, names = _loaded(vm, root, paths[start : start + batch])
        if len(photos):
            acts, grads, _, _ = view.activations_and_gradients(vm.preprocess(photos), class_number, 1.0)
            arrays = arrays or _open_arrays(folder, len(paths), acts.shape[1:])
            at = len(kept)
            arrays[0][at : at + len(photos)] = np.maximum(acts.numpy(), 0.0)
            arrays[1][at : at + len(photos)] = grads.numpy()
            kept += names
        yield Progress("activations", min(start + batch, len(paths)), len(paths))
    if arrays is None:
        raise RequestError("None of the class's photos could be read again from the audited folder.")
    for array in arrays:
        array.flush()
    meta = {"listed": list(paths), "readable": kept, "grid": list(arrays[0].shape[1:3]), "layer": layer,
            "receptive_field": receptive_field(vm, layer), "input_size": list(vm.input_size)}  # fmt: skip
    meta_path.write_text(json.dumps(meta))  # last: the folder is complete (unreadable photos' rows stay unused)


def _open_arrays(folder: Path, photos: int, shape) -> tuple[np.memmap, np.memmap]:
    shape = (photos, *[int(size) for size in shape])
    return tuple(  # type: ignore[return-value]
        np.lib.format.open_memmap(folder / name, mode="w+", dtype=np.float32, shape=shape)
        for name in ("activations.npy", "gradients.npy")
    )


def _loaded(vm: VizModel, root: Path, paths: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    photos, names = [], []
    for path in paths:
        try:
            photos.append(vm.resize_for_input(load_image(root / path)))
            names.append(path)
        except ImageError:
            continue
    return (np.stack(photos) if photos else np.zeros((0, 1, 1, 3), np.uint8)), names


@dataclass(frozen=True)
class Crops:
    """A class's streamed cells, read from disk."""

    folder: Path
    paths: list[str]  # photos with rows in the arrays, in row order
    grid: tuple[int, int]
    receptive_field: int
    input_size: tuple[int, int]

    @classmethod
    def read(cls, folder: Path) -> Crops:
        meta = json.loads((folder / "meta.json").read_text())
        return cls(folder, meta["readable"], tuple(meta["grid"]), meta["receptive_field"],
                   tuple(meta["input_size"]))  # fmt: skip

    def array(self, name: str) -> np.ndarray:
        """``activations`` or ``gradients``, (photos, h·w, C), memory-mapped; only the rows of readable photos."""
        values = np.load(self.folder / f"{name}.npy", mmap_mode="r")
        return values[: len(self.paths)].reshape(len(self.paths), self.grid[0] * self.grid[1], -1)

    def box(self, photo: int, cell: int, photo_size: tuple[int, int]) -> list[int]:
        """The crop of a cell: a square of the receptive field's side centred on the cell, in the photo's pixels."""
        row, col = divmod(cell, self.grid[1])
        height, width = photo_size
        scale_y, scale_x = height / self.input_size[0], width / self.input_size[1]
        centre_y, centre_x = (row + 0.5) * height / self.grid[0], (col + 0.5) * width / self.grid[1]
        half_y, half_x = self.receptive_field * scale_y / 2, self.receptive_field * scale_x / 2
        return [max(0, round(centre_x - half_x)), max(0, round(centre_y - half_y)),
                min(width, round(centre_x + half_x)), min(height, round(centre_y + half_y))]  # fmt: skip


# --- the method: factorise, project, match, rank -------------------------------------------------


def factorise(activations: np.ndarray, concepts: int, seed: int = 0) -> np.ndarray:
    """The concept bank W (k, C) ≥ 0 of A ≈ U W (CRAFT Eq. 1; scikit-learn NMF, Frobenius loss, random
    initialisation from ``seed``: another seed, another local optimum)."""
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning

    model = NMF(concepts, init="random", random_state=seed, max_iter=400, tol=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 400 iterations: close enough to rank and show
        model.fit(np.asarray(activations, np.float32))
    return model.components_.astype(np.float32)


def coefficients(activations: np.ndarray, bank: np.ndarray) -> np.ndarray:
    """U ≥ 0 (n, k) of activations (n, C) on a fixed bank (k, C): argmin ||A − U W||² (NNLS, scikit-learn)."""
    from sklearn.decomposition import non_negative_factorization
    from sklearn.exceptions import ConvergenceWarning

    activations = np.asarray(activations, np.float32)
    if not len(activations):
        return np.zeros((0, len(bank)), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        found, _, _ = non_negative_factorization(activations, H=np.asarray(bank, np.float32),
                                                 n_components=len(bank), init="custom", update_H=False,
                                                 max_iter=400)  # fmt: skip
    return found.astype(np.float32)


def matched_cosines(bank: np.ndarray, other: np.ndarray) -> np.ndarray:
    """For each row of ``bank``, the cosine with the row of ``other`` the Hungarian assignment pairs it with
    (the pairing of largest total cosine; Kuhn 1955, scipy.optimize.linear_sum_assignment)."""
    from scipy.optimize import linear_sum_assignment

    cosine = _unit(bank) @ _unit(other).T
    rows, cols = linear_sum_assignment(-cosine)
    matched = np.zeros(len(bank))
    matched[rows] = cosine[rows, cols]
    return matched


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, np.float64)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def score_lost(coefficients_of_photo: np.ndarray, gradients: np.ndarray, bank: np.ndarray) -> np.ndarray:
    """Δ_i = Σ_cells U[cell, i] · (W_i · ∂score/∂A[cell]): the first-order change of the score when concept
    i (its part U_i W_i of the activations) is removed from a photo's cells (n_cells, ·) → (k,)."""
    return np.einsum("ck,kd,cd->k", coefficients_of_photo, bank, gradients)


def fit_sample(crops: Crops, seed: int, rows: int = FIT_ROWS) -> np.ndarray:
    """At most ``rows`` cells' activations (a sample seeded by ``seed``), in memory, less those with none."""
    acts = crops.array("activations")
    photos, cells = acts.shape[:2]
    total = photos * cells
    chosen = np.sort(np.random.default_rng(seed).choice(total, min(rows, total), replace=False))
    sample = np.asarray(acts.reshape(total, -1)[chosen])
    return sample[sample.sum(axis=1) > 0]


def photo_chunks(crops: Crops) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(first photo, activations, gradients) of the stored photos, CHUNK_ROWS cells at a time."""
    acts, grads = crops.array("activations"), crops.array("gradients")
    step = max(1, CHUNK_ROWS // acts.shape[1])
    for start in range(0, acts.shape[0], step):
        yield start, np.asarray(acts[start : start + step]), np.asarray(grads[start : start + step])


def rank_and_show(crops: Crops, bank: np.ndarray, photo_sizes: Sequence[tuple[int, int]]) -> tuple:
    """Per concept: its mean score lost over the photos (importance) and its top crops (photo, cell, weight)."""
    concepts = len(bank)
    lost = np.zeros(concepts)
    best: list[list[tuple[float, int, int]]] = [[] for _ in range(concepts)]
    for start, acts, grads in photo_chunks(crops):
        photos, cells = acts.shape[:2]
        weights = coefficients(acts.reshape(photos * cells, -1), bank).reshape(photos, cells, concepts)
        for offset in range(photos):
            lost += score_lost(weights[offset], grads[offset], bank)
            for number in range(concepts):  # a photo's best cell, once a photo per concept
                cell = int(np.argmax(weights[offset, :, number]))
                best[number].append((float(weights[offset, cell, number]), start + offset, cell))
    tops = []
    for number in range(concepts):
        chosen = sorted(best[number], reverse=True)[:TOP_CROPS]
        tops.append([{"file": crops.paths[photo], "box": crops.box(photo, cell, photo_sizes[photo]),
                      "weight": round(weight, 6)} for weight, photo, cell in chosen])  # fmt: skip
    return lost / max(len(crops.paths), 1), tops


def concepts_of(crops: Crops, class_name: str, class_number: int, layer: str, concepts: int, seed: int,
                photo_sizes: Sequence[tuple[int, int]]) -> Concepts:  # fmt: skip
    """CRAFT on stored crops: the bank, the importances, the top crops and the stability, most important first."""
    sample = fit_sample(crops, seed)
    if len(sample) < concepts:
        raise RequestError(f"Class {class_name!r} has {len(sample)} active crops at {layer}; "
                           f"{concepts} concepts need at least as many.")  # fmt: skip
    bank = factorise(sample, concepts, seed)
    others = [factorise(fit_sample(crops, seed + 1 + at), concepts, seed + 1 + at) for at in range(OTHER_SEEDS)]
    stability = np.mean([matched_cosines(bank, other) for other in others], axis=0) if others else None
    importance, tops = rank_and_show(crops, bank, photo_sizes)
    total = float(np.abs(importance).sum()) or 1.0
    order = np.argsort(-np.abs(importance), kind="stable")  # the largest change of the score first
    found = [Concept(rank, float(importance[at]), float(importance[at] / total),
                     (_unit(bank[at : at + 1])[0]).astype(np.float32), tops[at],
                     float(stability[at]) if stability is not None else None)
             for rank, at in enumerate(order)]  # fmt: skip
    cells = len(crops.paths) * crops.grid[0] * crops.grid[1]
    return Concepts(class_name, class_number, layer, seed, len(crops.paths), cells, crops.receptive_field, found)


# --- the run, cached with the audit --------------------------------------------------------------


def _resolved(vm: VizModel, out: Path, class_name: str | int, concepts: int, by: str, layer: str | None):
    """(manifest, class number, layer, crops folder) of a request, checked."""
    manifest = store.read_manifest(out)
    assert manifest is not None
    if manifest.get("fingerprint") != model_fingerprint(vm):
        raise RequestError(f"{str(out)!r} is an audit of {manifest.get('model')!r}, not of {vm.name!r}: "
                           "give the model that was audited.")  # fmt: skip
    whole_number("concepts", concepts, 2, MAX_CONCEPTS)
    number = class_index(manifest, class_name)
    layer = cam.core.target_layer(vm, layer or manifest["settings"]["layer"])
    return manifest, number, layer, crops_folder(out, vm, layer, number, by)


def stored_concepts(
    vm: VizModel, out: str | Path, class_name: str | int, *, concepts: int = DEFAULT_CONCEPTS, seed: int = 0,
    by: str = "true", layer: str | None = None,
) -> Concepts | None:  # fmt: skip
    """The concepts :func:`find_concepts` cached for these settings, or None."""
    _, number, _, folder = _resolved(vm, Path(out), class_name, concepts, by, layer)
    result = folder / f"k{concepts}-seed{seed}.json"
    return read_concepts(result) if result.is_file() and _fresh(folder, class_photos(Path(out), number, by)) else None


def _fresh(folder: Path, paths: Sequence[str]) -> bool:
    """Whether the folder's streamed crops are of these photos (an audit rerun over a changed folder: not)."""
    meta = folder / "meta.json"
    return meta.is_file() and json.loads(meta.read_text()).get("listed") == list(paths)


def find_concepts(
    vm: VizModel, out: str | Path, class_name: str | int, *, concepts: int = DEFAULT_CONCEPTS, seed: int = 0,
    by: str = "true", layer: str | None = None, batch: int = BATCH,
) -> Iterator[Progress | Concepts]:  # fmt: skip
    """CRAFT for one class of an audit folder (Fel et al., 2023): stream the crops' activations, factorise,
    rank, show. Yields Progress, then the Concepts last (read from the cache when computed before).

    Raises:
        RequestError: not a merged audit folder, an audit of another model, an unknown class, too few crops.
    """
    out = Path(out)
    manifest, number, layer, folder = _resolved(vm, out, class_name, concepts, by, layer)
    paths = class_photos(out, number, by)
    if not paths:
        raise RequestError(f"No audited photo is {by} class {manifest['classes'][number]!r}.")
    result = folder / f"k{concepts}-seed{seed}.json"
    if result.is_file() and _fresh(folder, paths):
        yield read_concepts(result)
        return
    yield from stream_crops(vm, layer, number, Path(manifest["root"]), paths, folder, batch)
    crops = Crops.read(folder)
    yield Progress("factorising", 0, 1)
    sizes = [_photo_size(Path(manifest["root"]) / path) for path in crops.paths]
    found = concepts_of(crops, manifest["classes"][number], number, layer, concepts, seed, sizes)
    write_concepts(found, result)
    yield Progress("done", 1, 1)
    yield found


def _photo_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.height, image.width
    except OSError:
        return (1, 1)


def write_concepts(found: Concepts, path: Path) -> None:
    """The concepts as JSON (what the CLI prints) and their bank as .npz beside it, each written whole."""
    partial = path.with_name(f".{os.getpid()}.{path.stem}.npz")
    np.savez(partial, bank=found.bank)
    os.replace(partial, path.with_suffix(".npz"))
    payload = {**found.to_json(), "class_number": found.class_number, "cells": found.cells,
               "receptive_field": found.receptive_field}  # fmt: skip
    partial = path.with_name(f".{os.getpid()}.{path.name}")
    partial.write_text(json.dumps(payload, indent=1))
    os.replace(partial, path)
    found.source = str(path)


def read_concepts(path: Path) -> Concepts:
    """Concepts written by :func:`write_concepts`."""
    payload = json.loads(path.read_text())
    bank = np.load(path.with_suffix(".npz"))["bank"]
    found = [Concept(item["concept"], item["importance"], item["share"], bank[at], item["top_crops"],
                     item["stability"]) for at, item in enumerate(payload["concepts"])]  # fmt: skip
    return Concepts(payload["class"], payload["class_number"], payload["layer"], payload["seed"], payload["photos"],
                    payload["cells"], payload["receptive_field"], found, IMPORTANCE_METHOD, cached=True,
                    source=str(path))  # fmt: skip


# --- a photo's concepts, and the concepts' pictures ----------------------------------------------


class PhotoConcepts(NamedTuple):
    """The concepts on one photo."""

    maps: np.ndarray  # (k, h, w): each concept's coefficient on the layer's grid, scaled to [0, 1] together
    score_lost: np.ndarray  # (k,): first-order score lost when the concept is removed from this photo
    shares: np.ndarray  # (k,): score_lost / Σ |score_lost|


def photo_concepts(vm: VizModel, found: Concepts, photo: np.ndarray) -> PhotoConcepts:
    """Where each of the class's concepts is on a photo (uint8, any size), and its share of the class's score."""
    view = cam.compiled_view(vm, found.layer)
    inputs = vm.preprocess(vm.resize_for_input(photo))
    acts, grads, _, _ = view.activations_and_gradients(inputs, found.class_number, 1.0)
    height, width, channels = acts.shape[1:]
    cells = np.maximum(acts.numpy()[0], 0.0).reshape(height * width, channels)
    weights = coefficients(cells, found.bank)
    lost = score_lost(weights, grads.numpy()[0].reshape(height * width, channels), found.bank)
    maps = weights.T.reshape(len(found.bank), height, width)
    return PhotoConcepts(maps / max(float(maps.max()), 1e-12), lost, lost / (float(np.abs(lost).sum()) or 1.0))


def picture_objective(found: Concepts):
    """The ``direction`` objective of every concept, one image each (Olah et al., 2017, "direction")."""
    from .. import objectives

    return objectives.direction(found.layer, found.bank)


def direction_activation(vm: VizModel, layer: str, images: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Image i's activation on direction i: the mean over the layer's positions of A · direction_i, as the
    ``direction`` objective measures it (images uint8, resized to the model's input)."""
    resized = np.stack([vm.resize_for_input(np.asarray(image, np.uint8)) for image in images])
    acts = cam.compiled_view(vm, layer).model(vm.preprocess(resized), training=False)[0]
    return np.einsum("nhwc,nc->n", acts.numpy(), np.asarray(directions, np.float32)) / np.prod(acts.shape[1:3])


def picture_request(vm: VizModel, found: Concepts, *, steps: int | None = None, size: int | None = None,
                    seed: int = 0):  # fmt: skip
    """The run that draws every concept's feature picture: robust ascent (Lucid's Fourier parameterisation
    and transforms) on its ``direction``, one image a concept; run it with :func:`vizcore.filters.run`.

    The pictures are made at the model's input side (224 px for Lite0) unless ``size`` says otherwise:
    the size its crops are measured at, and shown at (a 128 px picture measured after upscaling to 224
    reads about a third lower)."""
    from ..requests import objective_request

    size = size or max(vm.input_size)
    return objective_request(vm, picture_objective(found), mode="robust", steps=steps, size=size, seed=seed)


def store_pictures(found: Concepts, images: np.ndarray, activations: np.ndarray) -> None:
    """Keep the concepts' feature pictures (uint8, one a concept) and their activations beside the concepts."""
    if found.source is None:
        raise RequestError("These concepts are not stored with an audit; find them with find_concepts first.")
    path = Path(found.source).with_suffix(".pictures.npz")
    partial = path.with_name(f".{os.getpid()}.{path.name}")
    with open(partial, "wb") as file:
        np.savez(file, images=np.asarray(images, np.uint8), activations=np.asarray(activations, np.float32))
    os.replace(partial, path)


def stored_pictures(found: Concepts) -> tuple[np.ndarray, np.ndarray] | None:
    """(images, activations) kept by :func:`store_pictures`, or None."""
    path = Path(found.source).with_suffix(".pictures.npz") if found.source else None
    if path is None or not path.is_file():
        return None
    with np.load(path) as stored:
        return stored["images"], stored["activations"]


# --- the photo at hand: which page audit holds it, and its class's stored concepts --------------


class AuditedPhoto(NamedTuple):
    """Where a photo was audited."""

    out: Path  # the audit folder
    path: str  # the photo's path in the audited folder
    true_index: int | None
    pred_index: int | None


def audit_of_photo(vm: VizModel, digest: str, audits: Path | None = None) -> AuditedPhoto | None:
    """The audit by ``vm`` (among the page's audits, ``audits``: default the cache's) whose rows hold a photo
    with these bytes (``digest``: sha256 hex of the file, or its first 32 digits), the latest first; None if none."""
    from ..models import weights_cache_dir

    folder = audits if audits is not None else weights_cache_dir() / "audits"
    fingerprint, wanted = model_fingerprint(vm), digest[:32]
    found = sorted(folder.glob(f"*/{store.MERGED}"), key=lambda path: -path.stat().st_mtime) if folder.is_dir() else []
    for merged in found:
        manifest = store.read_manifest(merged.parent, required=False)
        if not manifest or manifest.get("fingerprint") != fingerprint:
            continue
        rows = store.read_merged(merged.parent, ["path", "digest", "true_index", "pred_index"]).to_pydict()
        for at, known in enumerate(rows["digest"]):
            if known == wanted:
                return AuditedPhoto(merged.parent, rows["path"][at], rows["true_index"][at], rows["pred_index"][at])
    return None


def stored_for_class(vm: VizModel, out: Path, class_number: int, by: str = "true") -> list[Concepts]:
    """Every set of concepts cached for a class of an audit, at the audit's layer, most recent first."""
    manifest = store.read_manifest(out)
    assert manifest is not None
    layer = cam.core.target_layer(vm, manifest["settings"]["layer"])
    folder = crops_folder(out, vm, layer, class_number, by)
    if not _fresh(folder, class_photos(out, class_number, by)):
        return []
    results = sorted(folder.glob("k*-seed*.json"), key=lambda path: -path.stat().st_mtime)
    return [read_concepts(path) for path in results]
