"""How plausible a finished feature picture is, measured two ways (Fel et al., "Unlocking feature
visualization for deeper networks with magnitude constrained optimization", NeurIPS 2023, Sec. 4):

* **against real photos**: the picture's activation over the best natural photo's, from a folder of
  photos (the bundled samples, ``$VIZCORE_IMAGES_DIR``, ``--images``). For a channel it compares
  peaks (the largest activation over the map, both at the model's input size), the best photo's read
  from :mod:`vizcore.examples`' index of that folder; for a class, pre-softmax scores. Above 1: the
  picture excites the unit more than any photo of the folder does;
* **transferability** (for class pictures): whether other models call the picture by its class, top-1
  and top-5 (the paper's Table 2). The bundled EfficientNet-Lites share ImageNet's labels, so a Lite0
  class picture is judged by Lite1 and Lite2 (:data:`JUDGES`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import numpy as np

from . import examples, heads
from .errors import ImageError, RequestError
from .models import VizModel

JUDGES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")  # share ImageNet's 1000 labels
TOP = 5  # transferability: "called by its class" within this many predictions
MAX_PHOTOS = 64  # class scores: photos of the folder scored, at most
BATCH = 16  # pictures through the extractor at once (a grid of 64 early-layer maps at 224 px is ~0.5 GB)


class Transfer(NamedTuple):
    """How one judge model calls a set of class pictures."""

    judge: str
    top1: int  # pictures it calls by their class first
    top5: int  # pictures whose class is among its TOP predictions
    pictures: int


def transfer_counts(judge: str, classes: Sequence[int], rankings: Sequence[Sequence[int]]) -> Transfer:
    """Count the pictures a judge calls by their class: ``rankings[i]`` is its classes for picture i,
    most probable first (at least ``TOP`` of them). Raises RequestError on a length mismatch."""
    if len(classes) != len(rankings):
        raise RequestError(f"{len(classes)} classes but {len(rankings)} rankings")
    top1 = sum(bool(ranked) and ranked[0] == index for index, ranked in zip(classes, rankings))
    top5 = sum(index in list(ranked)[:TOP] for index, ranked in zip(classes, rankings))
    return Transfer(judge, int(top1), int(top5), len(classes))


def transfer(judges: Sequence[VizModel], classes: Sequence[int], pictures: np.ndarray) -> list[Transfer]:
    """How each judge calls the class pictures (uint8 (N, h, w, 3), picture i made for ``classes[i]``)."""
    return [transfer_counts(vm.name, classes, rankings(vm, pictures)) for vm in judges]


def rankings(judge: VizModel, pictures: np.ndarray) -> list[list[int]]:
    """Each picture's ``TOP`` classes by ``judge``, most probable first, all pictures in one pass (as
    :meth:`VizModel.predict` ranks one picture: the displayed probabilities, ties in class order)."""
    inputs = judge.preprocess(np.stack([judge.resize_for_input(picture) for picture in pictures]))
    shown = np.asarray(judge.require_head().display(judge.scores(inputs)))
    return [[int(index) for index in heads.top(row, TOP)] for row in shown]


def calls(judge: VizModel, classes: Sequence[int], pictures: np.ndarray) -> list[Transfer]:
    """For each picture i alone: does ``judge`` call it by ``classes[i]``, first (top1 1) and within its
    top 5 (top5 1)? The paper's transferability (Fel et al., 2023, Table 2) per picture, in one pass."""
    ranked = rankings(judge, pictures)
    if len(classes) != len(ranked):
        raise RequestError(f"{len(classes)} classes but {len(ranked)} pictures")
    return [transfer_counts(judge.name, [index], [ranking]) for index, ranking in zip(classes, ranked)]


def judges_for(vm: VizModel) -> tuple[str, ...]:
    """The bundled models that judge ``vm``'s class pictures: the other Lites, when ``vm`` is one."""
    return tuple(name for name in JUDGES if name != vm.name) if vm.name in JUDGES else ()


def peaks(vm: VizModel, layer: str, pictures: np.ndarray) -> np.ndarray:
    """Float (N, C): each picture's largest activation of every channel of ``layer`` over its map, in one
    pass (``BATCH`` pictures at a time), each resized to the model's input as :mod:`vizcore.examples` sees photos."""
    extractor = examples.compiled_extractor(vm, layer)
    found = []
    for start in range(0, len(pictures), BATCH):
        chunk = pictures[start : start + BATCH]
        outputs = extractor(vm.preprocess(np.stack([vm.resize_for_input(picture) for picture in chunk])))
        maps = np.asarray(outputs[0] if isinstance(outputs, (list, tuple)) else outputs)
        found.append(maps.reshape(len(chunk), -1, maps.shape[-1]).max(axis=1))
    return np.concatenate(found)


def peak(vm: VizModel, layer: str, channel: int, pictures: np.ndarray) -> np.ndarray:
    """Each picture's largest activation of ``channel`` over the layer's map (see :func:`peaks`)."""
    return peaks(vm, layer, pictures)[:, channel]


def channel_ratio(vm: VizModel, layer: str, channel: int, pictures: np.ndarray, found: examples.ExampleIndex):
    """Each picture's peak of ``channel`` over the best photo's in the index ``found`` (None: no photo fires)."""
    best = float(found.peaks[:, channel].max()) if len(found.peaks) else 0.0
    return peak(vm, layer, channel, pictures) / best if best > 0 else None


def channel_ratios(
    vm: VizModel, layer: str, channels: Sequence[int], pictures: np.ndarray, found: examples.ExampleIndex
) -> np.ndarray:
    """Picture i's peak of ``channels[i]`` over the best photo's peak of that channel (Fel et al., 2023,
    Sec. 4: a picture's activation relative to natural images'), every picture in one pass.

    Args:
        channels: the channel each picture was made for (a grid's filters), one per picture.
        pictures: uint8 (N, h, w, 3).
        found: the example folder's index of ``layer`` (its peaks of every channel on every photo).

    Returns:
        float (N,): 1.0 is as strong as the folder's best photo; NaN where no photo fires the channel.

    Raises:
        RequestError: not one channel per picture.
    """
    if len(channels) != len(pictures):
        raise RequestError(f"{len(channels)} channels but {len(pictures)} pictures")
    picked = np.asarray(channels, dtype=int)
    best = found.peaks[:, picked].max(axis=0) if len(found.peaks) else np.zeros(len(picked))
    mine = peaks(vm, layer, pictures)[np.arange(len(picked)), picked]
    return np.where(best > 0, mine / np.where(best > 0, best, 1.0), np.nan)


def photo_scores(vm: VizModel, files: Sequence[str | os.PathLike]) -> np.ndarray | None:
    """Float (photos, classes): the pre-softmax scores of the folder's first ``MAX_PHOTOS`` readable
    photos, in one pass (None: none could be read)."""
    photos = []
    for file in list(files)[:MAX_PHOTOS]:
        try:
            photos.append(examples.model_view(vm, str(file)))
        except ImageError:
            continue
    return np.asarray(vm.scores(vm.preprocess(np.stack(photos)))) if photos else None


def picture_scores(vm: VizModel, pictures: np.ndarray) -> np.ndarray:
    """Float (N, classes): the pictures' pre-softmax scores at the model's input size, in one pass."""
    return np.asarray(vm.scores(vm.preprocess(np.stack([vm.resize_for_input(p) for p in pictures]))))


def best_of_class(scored: np.ndarray | None, classes: Sequence[int] | np.ndarray) -> np.ndarray:
    """Float (len(classes),): each class's highest score among the photos that show it, i.e. that the
    model puts it in its top ``TOP`` for; 0 where none does (a photo of something else scores a class
    low, and a picture over it would read thousands of percent)."""
    picked = np.asarray(classes, dtype=int)
    if scored is None or not len(scored):
        return np.zeros(len(picked))
    kth = np.sort(scored, axis=1)[:, -min(TOP, scored.shape[1])][:, None]  # each photo's TOP-th score
    chosen = scored[:, picked]
    return np.where(chosen >= kth, chosen, -np.inf).max(axis=0).clip(min=0.0)


def class_ratio(vm: VizModel, class_index: int, pictures: np.ndarray, files: Sequence[str | os.PathLike]):
    """Each picture's class score over the highest score of that class on the photos that show it
    (:func:`best_of_class`; None: no photo shows it, or none scores it above 0)."""
    best = float(best_of_class(photo_scores(vm, files), [class_index])[0])
    return picture_scores(vm, pictures)[:, class_index] / best if best > 0 else None


def class_ratios(
    vm: VizModel, classes: Sequence[int], pictures: np.ndarray, files: Sequence[str | os.PathLike]
) -> np.ndarray:
    """Picture i's score of ``classes[i]`` over the highest score of that class on the folder's photos
    that show it (:func:`best_of_class`; Fel et al., 2023, Sec. 4), the photos and the pictures each
    scored in one pass.

    Returns:
        float (N,): 1.0 is as high as the folder's best photo of the class; NaN where no photo shows it.

    Raises:
        RequestError: not one class per picture.
    """
    if len(classes) != len(pictures):
        raise RequestError(f"{len(classes)} classes but {len(pictures)} pictures")
    picked = np.asarray(classes, dtype=int)
    best = best_of_class(photo_scores(vm, files), picked)
    mine = picture_scores(vm, pictures)[np.arange(len(picked)), picked]
    return np.where(best > 0, mine / np.where(best > 0, best, 1.0), np.nan)
