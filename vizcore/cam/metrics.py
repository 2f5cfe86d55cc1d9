"""How far to trust a map: faithfulness (a deletion test) and the ranking of layers by it.

Metrics depend on the core (:mod:`vizcore.cam.core`), never the reverse.
"""

from __future__ import annotations

from typing import NamedTuple

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import numpy as np
import tensorflow as tf
from PIL import Image, ImageFilter

from ..checks import rgb_image, whole_number
from ..errors import RequestError
from ..models import VizModel
from .core import DEFAULT_METHOD, CamResult, checked_class, compiled_view, default_layer, heatmap, spatial_layers

FAITHFULNESS_FRACTIONS = (0.025, 0.05, 0.1, 0.2)  # shares of the photo removed, hottest first
FAITHFULNESS_RANDOM_DRAWS = 4  # random removals averaged per fraction
FAITHFULNESS_GRID = 14  # pixels are removed in FAITHFULNESS_GRID² patches (16 px at 224)
FAITHFULNESS_BLUR = 0.12  # removed patches are replaced by the photo blurred by this share of its side


class Faithfulness(NamedTuple):
    """How much the map's hottest pixels matter to the model, compared with random ones."""

    score: float  # mean of (cam drop − random drop), drops clipped to [0, 1]: > 0 beats chance
    probability: float  # the class probability on the untouched photo
    fractions: tuple[float, ...]  # shares of the photo removed
    cam_drops: tuple[float, ...]  # relative probability drop removing the hottest patches (< 0: it rose)
    random_drops: tuple[float, ...]  # ... removing as many random patches (mean of draws)


# --- faithfulness ------------------------------------------------------------------------------


def faithfulness(
    vm: VizModel,
    image,
    heatmap_or_result,
    class_index: int | None = None,
    *,
    fractions: tuple[float, ...] = FAITHFULNESS_FRACTIONS,
    random_draws: int = FAITHFULNESS_RANDOM_DRAWS,
    seed: int = 0,
    lower: bool | None = None,
) -> Faithfulness:
    """Deletion test (Petsiuk et al., 2018; ROAD, Rong et al., 2022): how much the class
    probability drops when the map's hottest patches are removed, minus the drop for as many
    random patches. Removed patches take the blurred photo's pixels; one batched forward pass.

    Args:
        image: the RGB uint8 photo the map explains.
        heatmap_or_result: a CamResult, or a 2-D map of any size (higher = more important).
        class_index: the class (taken from the CamResult when given one).
        fractions: shares of the photo removed; random_draws: random removals per share.

    Returns:
        Faithfulness; ``score`` in [−1, 1], above 0 the map finds pixels that matter more than chance.
    """
    if isinstance(heatmap_or_result, CamResult):
        class_index = heatmap_or_result.class_index if class_index is None else class_index
        lower = heatmap_or_result.lower if lower is None else lower
        heatmap_or_result = heatmap_or_result.heatmap
    class_index = checked_class(vm, class_index)
    if class_index < 0:
        raise RequestError("faithfulness needs the class the heatmap explains (class_index).")
    _check_fractions(fractions, random_draws)
    photo = vm.resize_for_input(rgb_image(image))
    masks, rng = [], np.random.default_rng(seed)
    ranking = _patch_ranking(np.asarray(heatmap_or_result, np.float32))
    for fraction in fractions:
        count = max(1, round(fraction * ranking.size))
        masks.append(ranking[:count])
        masks += [rng.permutation(ranking.size)[:count] for _ in range(random_draws)]
    batch = _with_patches_removed(photo, masks)
    probabilities = _class_probabilities(vm, batch, class_index, -1.0 if lower else 1.0)
    return _faithfulness_from(probabilities, fractions, random_draws)


def _check_fractions(fractions, random_draws) -> None:
    if not fractions or not all(0.0 < f < 1.0 for f in fractions):
        raise RequestError(f"fractions must be shares strictly between 0 and 1, got {fractions!r}.")
    if random_draws < 1:
        raise RequestError(f"random_draws must be at least 1, got {random_draws!r}.")


def _patch_ranking(heatmap: np.ndarray) -> np.ndarray:
    """Patch numbers (row-major on the FAITHFULNESS_GRID² grid), hottest first (mean heat per patch)."""
    if heatmap.ndim != 2 or not np.all(np.isfinite(heatmap)):
        raise RequestError(f"A heatmap is a finite 2-D array, got shape {heatmap.shape}.")
    side = FAITHFULNESS_GRID
    patches = np.asarray(Image.fromarray(heatmap, mode="F").resize((side, side), Image.Resampling.BOX))
    return np.argsort(-patches.ravel(), kind="stable")


def _with_patches_removed(photo: np.ndarray, masks: list[np.ndarray]) -> np.ndarray:
    """The photo, then one copy per mask with those patches replaced by the blurred photo."""
    height, width = photo.shape[:2]
    blurred = np.asarray(
        Image.fromarray(photo).filter(ImageFilter.GaussianBlur(FAITHFULNESS_BLUR * max(height, width)))
    )
    rows = np.minimum(np.arange(height) * FAITHFULNESS_GRID // height, FAITHFULNESS_GRID - 1)
    cols = np.minimum(np.arange(width) * FAITHFULNESS_GRID // width, FAITHFULNESS_GRID - 1)
    patch_of_pixel = rows[:, None] * FAITHFULNESS_GRID + cols[None, :]
    copies = [photo]
    for removed in masks:
        hidden = np.isin(patch_of_pixel, removed)[..., None]
        copies.append(np.where(hidden, blurred, photo))
    return np.stack(copies)


def _class_probabilities(vm: VizModel, batch: np.ndarray, class_index: int, sign: float = 1.0) -> np.ndarray:
    """The class's probability (a regression output's signed value) for each photo, in one forward pass."""
    view = compiled_view(vm, default_layer(vm))
    return view.class_probabilities(
        tf.constant(vm.preprocess(batch)), tf.constant(class_index, tf.int32), tf.constant(sign, tf.float32)
    ).numpy()


def _faithfulness_from(probabilities: np.ndarray, fractions, random_draws: int) -> Faithfulness:
    """Relative drops per fraction from [photo, (cam, random × draws) per fraction]."""
    original = float(probabilities[0])
    drops = (original - probabilities[1:].reshape(len(fractions), 1 + random_draws)) / max(abs(original), 1e-12)
    cam_drops, random_drops = drops[:, 0], drops[:, 1:].mean(axis=1)
    lost = np.clip(drops, 0.0, 1.0)  # a gain in confidence counts as no loss, so the score stays in [−1, 1]
    score = float(np.mean(lost[:, 0] - lost[:, 1:].mean(axis=1)))
    return Faithfulness(
        score, float(probabilities[0]), tuple(fractions), tuple(map(float, cam_drops)), tuple(map(float, random_drops))
    )


# --- which layer? ------------------------------------------------------------------------------

RANKED_LAYERS = 4  # the last this-many spatial layers are ranked
PADDING_KINDS = ("ZeroPadding2D", "Cropping2D")  # change the map's size by a pixel or two: not a stage


class LayerScore(NamedTuple):
    layer: str
    faithfulness: float
    result: CamResult


def rank_layers(
    vm: VizModel,
    image,
    *,
    class_index: int | None = None,
    method: str = DEFAULT_METHOD,
    count: int = RANKED_LAYERS,
    lower: bool = False,
    top_k: int | None = None,
) -> list[LayerScore]:
    """The last ``count`` spatial layers, each scored by the faithfulness of its map for this photo
    and class (see :func:`faithfulness`), best first.

    Only layers whose maps differ in size from the layer after them are kept (a ReLU or a
    BatchNormalization just after a convolution gives nearly the same map), so the ranking compares
    stages of the network, not neighbours.
    """
    whole_number("count", count, 1)
    layers = _stage_ends(vm)[-count:]
    scores = []
    for layer in layers:
        result = heatmap(vm, image, class_index=class_index, method=method, layer=layer, lower=lower, top_k=top_k)
        scores.append(LayerScore(layer, faithfulness(vm, image, result).score, result))
    return sorted(scores, key=lambda item: -item.faithfulness)


def _stage_ends(vm: VizModel) -> list[str]:
    """The last spatial layer of each feature-map size (the end of each stage), input to output."""
    layers = [layer for layer in spatial_layers(vm) if vm.layer(layer).kind not in PADDING_KINDS]
    sizes = [vm.layer_size(layer) for layer in layers]
    ends = [layer for layer, size, following in zip(layers, sizes, sizes[1:] + [None]) if size != following]
    if len(ends) < RANKED_LAYERS:  # few stages: rank the last layers themselves
        return layers
    return ends
