"""How far to trust a map: faithfulness, deletion, insertion and ROAD, and rankings by them.

Every metric changes the photo where the map is hottest (or coldest), runs the changed copies
through the model in batched forward passes and reads the explained class's probability (a
regression output's signed value). Deletion and insertion work on a grid of patches, blurred away or
added back; ROAD (Rong et al., 2022) removes pixels and fills them by noisy linear imputation, so
the shape of the removed region tells the model nothing. Metrics depend on the core
(:mod:`vizcore.cam.core`), never the reverse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import numpy as np
import tensorflow as tf
from PIL import Image, ImageFilter

from .. import scheduler
from ..checks import whole_number
from ..errors import RequestError
from ..models import VizModel
from .core import CamResult, compiled_view, default_layer, explain
from .methods import METHODS
from .request import CamRequest, checked_method, spatial_layers

FAITHFULNESS_FRACTIONS = (0.025, 0.05, 0.1, 0.2)  # shares of the photo removed, hottest first
FAITHFULNESS_RANDOM_DRAWS = 4  # random removals averaged per fraction
FAITHFULNESS_GRID = 14  # pixels are removed in FAITHFULNESS_GRID² patches (16 px at 224)
FAITHFULNESS_BLUR = 0.12  # removed patches are replaced by the photo blurred by this share of its side
CURVE_STEPS = 10  # deletion and insertion: the photo with 0, 1/10, ..., all of its patches changed
ROAD_PERCENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)  # ROAD: shares of the pixels removed, in %
ROAD_NOISE = 0.6  # std of the noise on imputed pixels (0–255): ROAD's 0.01 in ImageNet-normalised units
IMPUTE_DIRECT_PIXELS = 256  # a grid this small (16×16) is imputed by an exact dense solve
IMPUTE_ITERATIONS = (6, 12, 24, 40)  # conjugate-gradient steps at the full size, 1/2, 1/4, 1/8 and below
METRIC_BATCH = 32  # changed photos per forward pass


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
    result: CamResult,
    *,
    fractions: tuple[float, ...] = FAITHFULNESS_FRACTIONS,
    random_draws: int = FAITHFULNESS_RANDOM_DRAWS,
    seed: int = 0,
) -> Faithfulness:
    """Deletion test (Petsiuk et al., 2018; ROAD, Rong et al., 2022): how much the class
    probability drops when the map's hottest patches are removed, minus the drop for as many
    random patches. Removed patches take the blurred photo's pixels; one batched forward pass.

    Args:
        result: the map, its class and its photo (:func:`vizcore.cam.explain`, or :func:`given_map`).
        fractions: shares of the photo removed; random_draws: random removals per share.

    Returns:
        Faithfulness; ``score`` in [−1, 1], above 0 the map finds pixels that matter more than chance.
    """
    photo, heat, class_index, lower = _photo_map_and_class(result)
    _check_fractions(fractions, random_draws)
    masks, rng = [], np.random.default_rng(seed)
    ranking = _patch_ranking(heat)
    for fraction in fractions:
        count = max(1, round(fraction * ranking.size))
        masks.append(ranking[:count])
        masks += [rng.permutation(ranking.size)[:count] for _ in range(random_draws)]
    batch = _with_patches_removed(photo, masks)
    probabilities = _class_probabilities(vm, batch, class_index, -1.0 if lower else 1.0)
    return _faithfulness_from(probabilities, fractions, random_draws)


def _photo_map_and_class(result: CamResult):
    """(the photo at the model's size, float32 map, class index, lower) of a result, checked when it was made."""
    if not isinstance(result, CamResult) or result.request is None:
        raise RequestError("A trust metric takes the CamResult of a map (vizcore.cam.explain or cam.given_map).")
    return result.request.inputs, np.asarray(result.heatmap, np.float32), result.class_index, result.lower


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


def _blurred(photo: np.ndarray) -> np.ndarray:
    """The photo blurred by FAITHFULNESS_BLUR of its longer side: what a removed patch shows."""
    radius = FAITHFULNESS_BLUR * max(photo.shape[:2])
    return np.asarray(Image.fromarray(photo).filter(ImageFilter.GaussianBlur(radius)))


def _patch_of_pixel(height: int, width: int) -> np.ndarray:
    """(height, width) patch numbers, row-major on the FAITHFULNESS_GRID² grid."""
    rows = np.minimum(np.arange(height) * FAITHFULNESS_GRID // height, FAITHFULNESS_GRID - 1)
    cols = np.minimum(np.arange(width) * FAITHFULNESS_GRID // width, FAITHFULNESS_GRID - 1)
    return rows[:, None] * FAITHFULNESS_GRID + cols[None, :]


def _with_patches_removed(photo: np.ndarray, masks: list[np.ndarray], keep_only: bool = False) -> np.ndarray:
    """The photo, then one copy per mask with those patches replaced by the blurred photo
    (``keep_only``: every other patch replaced instead, as insertion adds patches back)."""
    blurred, patch_of_pixel = _blurred(photo), _patch_of_pixel(*photo.shape[:2])
    copies = [photo]
    for patches in masks:
        hidden = np.isin(patch_of_pixel, patches, invert=keep_only)[..., None]
        copies.append(np.where(hidden, blurred, photo))
    return np.stack(copies)


def _class_probabilities(vm: VizModel, batch: np.ndarray, class_index: int, sign: float = 1.0) -> np.ndarray:
    """The class's probability (a regression output's signed value) per photo, METRIC_BATCH photos a pass."""
    view = compiled_view(vm, default_layer(vm))
    index, signed = tf.constant(class_index, tf.int32), tf.constant(sign, tf.float32)
    parts = []
    for start in range(0, len(batch), METRIC_BATCH):
        scheduler.checkpoint()  # a follow-up gives way to other users' maps; a ranking, to short work
        images = tf.constant(vm.preprocess(batch[start : start + METRIC_BATCH]))
        parts.append(view.class_probabilities(images, index, signed).numpy().astype(np.float64))
    return np.concatenate(parts)


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


# --- deletion, insertion and ROAD ----------------------------------------------------------------


class Curve(NamedTuple):
    """The class probability as a growing share of the photo's patches is changed, hottest first."""

    fractions: tuple[float, ...]  # share of the patches changed, 0 → 1
    scores: tuple[float, ...]  # the class probability (a regression's signed value) at each share
    auc: float  # area under the curve over shares 0 → 1 (trapezoid rule)


class Road(NamedTuple):
    """ROAD (Rong et al., 2022): probability changes as pixels are removed and imputed."""

    percentiles: tuple[int, ...]  # shares of the pixels removed, in %
    probability: float  # the class probability on the untouched photo
    morf: tuple[float, ...]  # change of the probability removing the most relevant pixels first (< 0: it fell)
    lerf: tuple[float, ...]  # ... removing the least relevant first
    combined: float  # (mean LeRF change − mean MoRF change) / 2: higher is better, > 0 beats the reversed map


class TrustMetrics(NamedTuple):
    """Every metric of one map, from one batched run (:func:`trust_metrics`)."""

    deletion: Curve  # lower AUC is better: the probability falls fast as the hot patches go
    insertion: Curve  # higher AUC is better: it comes back fast as they return
    road: Road  # higher ``combined`` is better


class _Probe(NamedTuple):
    """Changed photos to run through the model, and how their probabilities make a metric."""

    images: np.ndarray  # float32 (N, H, W, 3), pixels 0–255
    finish: Callable[[np.ndarray], Curve | Road]


def deletion(vm: VizModel, result: CamResult, *, steps: int = CURVE_STEPS) -> Curve:
    """Deletion (Petsiuk et al., 2018, "RISE", Sec. 4.1): the class probability as the map's hottest
    patches are blurred away, none → all of them in ``steps`` steps; its AUC, lower is better.

    Args:
        result: the map, its class and its photo (:func:`vizcore.cam.explain`, or :func:`given_map`).
        steps: shares of the patches measured after the untouched photo.

    Returns:
        A Curve; ``auc`` is in probability units (in [0, 1] for a classifier).
    """
    steps = whole_number("steps", steps, 1)
    probes = _run(vm, result, lambda p, h: [_curve(p, h, steps)])
    return probes[0]


def insertion(vm: VizModel, result: CamResult, *, steps: int = CURVE_STEPS) -> Curve:
    """Insertion (Petsiuk et al., 2018, Sec. 4.1): the class probability as the map's hottest patches
    are added back to the blurred photo, none → all in ``steps`` steps; its AUC, higher is better.
    Arguments as :func:`deletion`."""
    steps = whole_number("steps", steps, 1)
    probes = _run(vm, result, lambda p, h: [_curve(p, h, steps, True)])
    return probes[0]


def road(
    vm: VizModel,
    result: CamResult,
    *,
    percentiles: Sequence[int] = ROAD_PERCENTILES,
    noise: float = ROAD_NOISE,
    seed: int = 0,
) -> Road:
    """ROAD, "remove and debias" (Rong et al., 2022, Sec. 4): at each percentile p, the p % most
    relevant pixels (MoRF) or the p % least relevant (LeRF) are removed and filled by the noisy
    linear imputer; the score is (mean LeRF change − mean MoRF change) / 2, as pytorch-grad-cam's
    ``ROADCombined``. Changes are of the class probability against the untouched photo.

    Args:
        percentiles: shares of the pixels removed, in % (each strictly between 0 and 100).
        noise: std of the Gaussian noise added to imputed pixels (0–255 scale); seed: its generator's.
        Others as :func:`deletion`.

    Returns:
        A Road; ``combined`` is in probability units, higher is better.
    """
    percentiles = _checked_road(percentiles, noise)
    rng = np.random.default_rng(seed)
    probe = lambda p, h: [_road(p, h, percentiles, noise, rng)]  # noqa: E731
    return _run(vm, result, probe)[0]


def trust_metrics(
    vm: VizModel,
    result: CamResult,
    *,
    steps: int = CURVE_STEPS,
    percentiles: Sequence[int] = ROAD_PERCENTILES,
    noise: float = ROAD_NOISE,
    seed: int = 0,
) -> TrustMetrics:
    """Deletion, insertion and ROAD of one map, their changed photos run in one batched series of
    forward passes (see :func:`deletion`, :func:`insertion`, :func:`road` for the arguments)."""
    steps, percentiles = whole_number("steps", steps, 1), _checked_road(percentiles, noise)
    rng = np.random.default_rng(seed)

    def probes(photo, heat):
        return [
            _curve(photo, heat, steps),
            _curve(photo, heat, steps, True),
            _road(photo, heat, percentiles, noise, rng),
        ]

    deleted, inserted, removed = _run(vm, result, probes)
    return TrustMetrics(deleted, inserted, removed)


def _run(vm: VizModel, result: CamResult, build) -> list:
    """Build the probes on the result's photo at the model's size, run them in one series."""
    photo, heat, class_index, lower = _photo_map_and_class(result)
    probes = build(photo, heat)
    batch = np.concatenate([probe.images for probe in probes])
    probabilities = _class_probabilities(vm, batch, class_index, -1.0 if lower else 1.0)
    ends = np.cumsum([len(probe.images) for probe in probes])
    return [probe.finish(part) for probe, part in zip(probes, np.split(probabilities, ends[:-1]))]


def _checked_road(percentiles, noise) -> tuple[int, ...]:
    if not len(percentiles) or not all(0 < p < 100 for p in percentiles):
        raise RequestError(f"ROAD percentiles must lie strictly between 0 and 100, got {tuple(percentiles)!r}.")
    if not noise >= 0:
        raise RequestError(f"ROAD noise must be 0 or more, got {noise!r}.")
    return tuple(int(p) for p in percentiles)


def _curve(photo: np.ndarray, heat: np.ndarray, steps: int, insert: bool = False) -> _Probe:
    """Deletion (blur the hottest patches) or insertion (sharpen them in the blurred photo) at shares 0 → 1."""
    ranking = _patch_ranking(heat)
    fractions = np.linspace(0.0, 1.0, steps + 1)
    masks = [ranking[: round(fraction * ranking.size)] for fraction in fractions]
    images = _with_patches_removed(photo, masks, keep_only=insert)[1:].astype(np.float32)
    return _Probe(images, lambda scores: _curve_from(fractions, scores))


def _curve_from(fractions: np.ndarray, scores: np.ndarray) -> Curve:
    auc = float(np.sum((scores[1:] + scores[:-1]) / 2 * np.diff(fractions)))
    return Curve(tuple(map(float, fractions)), tuple(map(float, scores)), auc)


def _road(photo: np.ndarray, heat: np.ndarray, percentiles: tuple[int, ...], noise: float, rng) -> _Probe:
    """The photo, then MoRF and LeRF removals at each percentile, imputed (ROAD, Rong et al., 2022)."""
    height, width = photo.shape[:2]
    relevance = np.asarray(Image.fromarray(heat, mode="F").resize((width, height), Image.Resampling.BILINEAR))
    most_first = np.argsort(-relevance.ravel(), kind="stable")
    removed = np.zeros((2 * len(percentiles), height * width), bool)
    for row, (order, percentile) in enumerate((o, p) for o in (most_first, most_first[::-1]) for p in percentiles):
        removed[row, order[: round(percentile / 100 * order.size)]] = True
    imputed = noisy_linear_imputation(photo, removed.reshape(-1, height, width), noise, rng)
    images = np.concatenate([photo[None].astype(np.float32), imputed])
    return _Probe(images, lambda scores: _road_from(percentiles, scores))


def _road_from(percentiles: tuple[int, ...], scores: np.ndarray) -> Road:
    changes = scores[1:] - scores[0]
    morf, lerf = changes[: len(percentiles)], changes[len(percentiles) :]
    combined = float((lerf.mean() - morf.mean()) / 2)
    return Road(percentiles, float(scores[0]), tuple(map(float, morf)), tuple(map(float, lerf)), combined)


# --- the noisy linear imputer --------------------------------------------------------------------

NEIGHBOURS = (((-1, -1), 1 / 12), ((-1, 0), 1 / 6), ((-1, 1), 1 / 12), ((0, -1), 1 / 6),
              ((0, 1), 1 / 6), ((1, -1), 1 / 12), ((1, 0), 1 / 6), ((1, 1), 1 / 12))  # fmt: skip


def noisy_linear_imputation(photo: np.ndarray, removed: np.ndarray, noise: float = ROAD_NOISE, rng=None) -> np.ndarray:
    """ROAD's noisy linear imputer (Rong et al., 2022, Eq. 3): each removed pixel is the weighted mean
    of its 8 neighbours (1/6 beside, 1/12 diagonal, those inside the photo), known pixels fixed, plus
    Gaussian noise of std ``noise``.

    The linear system is solved coarse to fine: each level's solution, upsampled, starts a few
    conjugate-gradient steps (IMPUTE_ITERATIONS) on the next; grids up to IMPUTE_DIRECT_PIXELS are
    solved exactly. At 224 px the imputed pixels are within about 2 grey levels of the exact solution.

    Args:
        photo: (H, W, 3) pixels 0–255. removed: bool (N, H, W), one mask per copy; each keeps a pixel.

    Returns:
        float32 (N, H, W, 3): the copies, imputed, clipped to 0–255.
    """
    removed = np.asarray(removed, bool)
    pixels = np.repeat(np.asarray(photo, np.float32)[None], len(removed), axis=0)
    filled = _harmonic_fill(pixels, removed)
    if noise > 0:
        rng = np.random.default_rng(0) if rng is None else rng
        filled += removed[..., None] * rng.normal(0.0, noise, filled.shape).astype(np.float32)
    return np.clip(filled, 0.0, 255.0)


def _neighbour_sum(values: np.ndarray) -> np.ndarray:
    """Σ_neighbours weight · value over NEIGHBOURS (zero outside), as (1,2,1)⊗(1,2,1) − 4·centre, / 12."""
    padded = np.pad(values, ((0, 0), (1, 1), (1, 1), (0, 0)))
    rows = padded[:, :-2] + 2 * padded[:, 1:-1] + padded[:, 2:]
    return (rows[:, :, :-2] + 2 * rows[:, :, 1:-1] + rows[:, :, 2:] - 4 * values) * np.float32(1 / 12)


def _harmonic_fill(pixels: np.ndarray, removed: np.ndarray, level: int = 0) -> np.ndarray:
    """Removed pixels of (N, H, W, C) set to the weighted mean of their neighbours (the linear system)."""
    count, height, width, channels = pixels.shape
    if height * width <= IMPUTE_DIRECT_PIXELS:
        return _exact_fill(pixels, removed)
    known = np.pad(~removed, ((0, 0), (0, height % 2), (0, width % 2)), mode="edge").astype(np.float32)
    padded = np.pad(pixels, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge") * known[..., None]
    half = (count, known.shape[1] // 2, 2, known.shape[2] // 2, 2)
    known_sum = known.reshape(half).sum(axis=(2, 4))
    coarse = padded.reshape(*half, channels).sum(axis=(2, 4)) / np.maximum(known_sum, 1)[..., None]
    guess = _harmonic_fill(coarse, known_sum == 0, level + 1).repeat(2, axis=1).repeat(2, axis=2)
    return _conjugate_gradients(pixels, removed, guess[:, :height, :width], IMPUTE_ITERATIONS[min(level, 3)])


def _conjugate_gradients(pixels, removed, guess, iterations: int) -> np.ndarray:
    """``iterations`` CG steps on (S − W_uu) x_u = W_uk x_k per copy and channel, from ``guess``."""
    inside = removed[..., None].astype(np.float32)
    weight_sums = _neighbour_sum(np.ones((1, *pixels.shape[1:3], 1), np.float32))

    def system(values):
        return inside * (weight_sums * values - _neighbour_sum(inside * values))

    solution = inside * guess
    residual = inside * _neighbour_sum((1 - inside) * pixels) - system(solution)
    direction, norm = residual.copy(), np.sum(residual * residual, axis=(1, 2), keepdims=True)
    for _ in range(iterations):
        product = system(direction)
        step = norm / np.maximum(np.sum(direction * product, axis=(1, 2), keepdims=True), 1e-30)
        solution += step * direction
        residual -= step * product
        new_norm = np.sum(residual * residual, axis=(1, 2), keepdims=True)
        direction = residual + new_norm / np.maximum(norm, 1e-30) * direction
        norm = new_norm
    return np.where(removed[..., None], solution, pixels)


def _exact_fill(pixels: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """The linear system solved densely, one copy at a time (small grids only)."""
    count, height, width, channels = pixels.shape
    weights = neighbour_weights(height, width)
    filled = pixels.reshape(count, height * width, channels).astype(np.float64)
    for copy, mask in zip(filled, removed.reshape(count, -1)):
        unknown, known = np.flatnonzero(mask), np.flatnonzero(~mask)
        if unknown.size and known.size:
            system = np.diag(weights[unknown].sum(axis=1)) - weights[np.ix_(unknown, unknown)]
            copy[unknown] = np.linalg.solve(system, weights[np.ix_(unknown, known)] @ copy[known])
    return filled.reshape(pixels.shape).astype(np.float32)


def neighbour_weights(height: int, width: int) -> np.ndarray:
    """(P, P) weights W[i, j] of pixel j in pixel i's mean, P = height · width (NEIGHBOURS)."""
    rows, cols = np.divmod(np.arange(height * width), width)
    weights = np.zeros((height * width, height * width))
    for (dy, dx), weight in NEIGHBOURS:
        inside = (rows + dy >= 0) & (rows + dy < height) & (cols + dx >= 0) & (cols + dx < width)
        weights[np.flatnonzero(inside), ((rows + dy) * width + cols + dx)[inside]] = weight
    return weights


# --- which layer? ------------------------------------------------------------------------------

RANKED_LAYERS = 4  # the last this-many spatial layers are ranked
PADDING_KINDS = ("ZeroPadding2D", "Cropping2D")  # change the map's size by a pixel or two: not a stage


class LayerScore(NamedTuple):
    layer: str
    faithfulness: float
    result: CamResult


def rank_layers(vm: VizModel, request: CamRequest, *, count: int = RANKED_LAYERS) -> list[LayerScore]:
    """The last ``count`` spatial layers, each scored by the faithfulness of its map for the request's
    photo, class and method (see :func:`faithfulness`), best first.

    Only layers whose maps differ in size from the layer after them are kept (a ReLU or a
    BatchNormalization just after a convolution gives nearly the same map), so the ranking compares
    stages of the network, not neighbours.
    """
    whole_number("count", count, 1)
    layers = _stage_ends(vm)[-count:]
    scores = []
    for layer in layers:
        result = explain(vm, request.but(vm, layer=layer))
        scores.append(LayerScore(layer, faithfulness(vm, result).score, result))
    return sorted(scores, key=lambda item: -item.faithfulness)


def _stage_ends(vm: VizModel) -> list[str]:
    """The last spatial layer of each feature-map size (the end of each stage), input to output."""
    layers = [layer for layer in spatial_layers(vm) if vm.layer(layer).kind not in PADDING_KINDS]
    sizes = [vm.layer_size(layer) for layer in layers]
    ends = [layer for layer, size, following in zip(layers, sizes, sizes[1:] + [None]) if size != following]
    if len(ends) < RANKED_LAYERS:  # few stages: rank the last layers themselves
        return layers
    return ends


# --- which method and layer? ---------------------------------------------------------------------

RANKED_MAP_LAYERS = 3  # rank_maps: every method on the last this-many stages


class RankedMap(NamedTuple):
    """One method on one layer, scored for a photo and class."""

    method: str
    layer: str
    road: float  # ROAD combined, higher is better
    insertion: float  # insertion AUC, higher is better
    deletion: float  # deletion AUC, lower is better
    result: CamResult

    @property
    def score(self) -> float:
        """ROAD combined + (insertion AUC − deletion AUC): the ranking's key, higher is better."""
        return self.road + self.insertion - self.deletion


def ranking_layers(vm: VizModel, count: int = RANKED_MAP_LAYERS) -> list[str]:
    """The layers rank_maps tries: the ends of the last ``count`` stages (see :func:`rank_layers`)."""
    return _stage_ends(vm)[-whole_number("count", count, 1) :]


def score_maps(
    vm: VizModel,
    request: CamRequest,
    *,
    methods: Sequence[str] | None = None,
    layers: Sequence[str] | None = None,
    full: bool = False,
    seed: int = 0,
) -> Iterator[RankedMap]:
    """Every method × layer's map for the request's photo and class with its :func:`trust_metrics`,
    yielded as each is done (method by method; a page draws progress). The top-1 class is fixed by
    the first map. A long run: it waits for short work between maps and ends there if stopped.

    Args:
        methods: keys of METHODS (default all); layers: default :func:`ranking_layers`.
        full: methods that probe channels probe every one (else their ``channel_budget``: Faster Score-CAM).
    """
    methods = [checked_method(name).name for name in (METHODS if methods is None else methods)]
    layers = ranking_layers(vm) if layers is None else list(layers)
    for method in methods:
        for layer in layers:
            scheduler.checkpoint()  # a ranking is a long run: it gives way to short work between maps
            top_k = None if full else METHODS[method].channel_budget
            result = explain(vm, request.but(vm, method=method, layer=layer, top_k=top_k))
            request = request.but(vm, class_index=result.class_index)
            metrics = trust_metrics(vm, result, seed=seed)
            yield RankedMap(
                method, result.layer, metrics.road.combined, metrics.insertion.auc, metrics.deletion.auc, result
            )


def rank_maps(vm: VizModel, request: CamRequest, **options) -> list[RankedMap]:
    """:func:`score_maps` (same keywords), best first by ROAD combined + insertion − deletion."""
    return ranked(score_maps(vm, request, **options))


def ranked(maps) -> list[RankedMap]:
    """Scored maps, best first (the highest :attr:`RankedMap.score`)."""
    return sorted(maps, key=lambda item: -item.score)
