"""Sanity checks for maps (Adebayo et al., 2018, "Sanity Checks for Saliency Maps"): does a map
depend on the model and the class it claims to explain?

The cascading model-parameter randomisation test: the weights of a *copy* of the model are
re-drawn stage by stage from the output back (the head, then the top convolution, then the last
block, ...), the map is made again on the copy after each stage and compared with the original by
Spearman's rank correlation and SSIM. A map that barely changes when the model it explains is
random shows the photo, not the model: it fails. A map that is uniform (the same value everywhere)
on the model or at any stage has no order of pixels to compare, so Spearman's correlation is
undefined there: the check is then inconclusive, neither passed nor failed, and says which map was
uniform. The model passed in is never touched; its copy is made once per model (a clone with the
same weights) and reset to them before each check.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable
from typing import NamedTuple

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import keras
import numpy as np
from PIL import Image

from .. import graph
from ..cache import PerModel
from ..checks import whole_number
from ..errors import ModelError
from ..models import VizModel
from .core import explain
from .request import CamRequest

SANITY_STAGES = 3  # stages randomised by default: for Lite0 the head, the top convolution, block 7
PASS_SPEARMAN = 0.5  # a map passes when its rank correlation with the original falls below this
SAME_CLASS_SPEARMAN = 0.7  # class check: maps of two classes at least this alike ignore the class
SSIM_SIGMA = 1.5  # SSIM's Gaussian window (Wang et al., 2004): σ in pixels ...
SSIM_RADIUS = 5  # ... and its half-width (an 11 × 11 window)
SSIM_K1, SSIM_K2 = 0.01, 0.03  # SSIM's stabilising constants, times the maps' range (1)
UNIFORM_SPREAD = 1e-6  # a map whose values span less than this share of its largest one is uniform
PASSED, FAILED, INCONCLUSIVE = "passed", "failed", "inconclusive"  # a SanityReport's outcomes

Explainer = Callable[[VizModel, np.ndarray, int], np.ndarray]  # (model, photo, class) → a 2-D map


class SanityStage(NamedTuple):
    """The map after one more stage of the model was randomised, compared with the original."""

    randomised_from: str  # this layer and every layer with weights after it hold random weights
    layers: tuple[str, ...]  # the layers this stage randomised, input to output
    heatmap: np.ndarray  # float (H, W): the map on the randomised copy
    spearman: float  # rank correlation with the original map (1: the same order); nan when a map is uniform
    ssim: float  # structural similarity with the original map (1: identical)
    uniform: bool  # this map is the same value everywhere (or not numbers): it has no order to compare


class ClassCheck(NamedTuple):
    """The map of another class (drawn at random), compared with the explained class's map."""

    class_index: int
    label: str
    heatmap: np.ndarray
    spearman: float  # nan when either map is uniform
    ssim: float
    depends_on_class: bool | None  # False: the two maps are alike, the map ignores which class it explains;
    # None: either map is uniform, so there is no order to compare


class SanityReport(NamedTuple):
    class_index: int
    original: np.ndarray  # the map on the model itself
    stages: tuple[SanityStage, ...]  # from the output back
    outcome: str  # PASSED, FAILED, or INCONCLUSIVE: the original or a stage's map is uniform
    passed: bool  # outcome is PASSED: the map changed (Spearman < PASS_SPEARMAN) once the model was randomised
    verdict: str  # the outcome in words, with its reason
    class_check: ClassCheck | None  # None for a model with one output


def cam_explainer(request: CamRequest) -> Explainer:
    """The request's map (its method, layer and options) for any model and class, as a sanity check's explainer."""

    def explain_class(vm: VizModel, image: np.ndarray, class_index: int) -> np.ndarray:
        return explain(vm, request.but(vm, class_index=class_index)).heatmap

    return explain_class


def sanity_check(
    vm: VizModel,
    request: CamRequest,
    *,
    stages: int = SANITY_STAGES,
    seed: int = 0,
    explainer: Explainer | None = None,
) -> SanityReport:
    """Cascading model-parameter randomisation (Adebayo et al., 2018, Sec. 3.1) and the class check.

    Args:
        request: the photo, the class (−1: the top-1) and the map's method, layer and options.
        stages: how many stages to randomise, from the output back (see :func:`weight_stages`).
        seed: the random weights' and the random class's generator.
        explainer: any map maker (model, photo, class) → 2-D map instead of the request's CAM method.

    Returns:
        A SanityReport, stages from the output back; inconclusive when the original map or a stage's
        map is uniform.

    Raises:
        RequestError: bad arguments. ModelError: a model that cannot be copied (subclassed).
    """
    image = request.photo
    explain_class = explainer or cam_explainer(request)
    class_index = _explained_class(vm, request)
    groups = weight_stages(vm)
    stages = whole_number("stages", stages, 1, len(groups), why=f"{vm.name} has {len(groups)} stages with weights")
    rng = np.random.default_rng(seed)
    original = np.asarray(explain_class(vm, image, class_index), np.float32)
    results = []
    copy = _copies.get(vm, "copy", lambda: _RandomisableCopy(vm))
    with copy.lock:
        copy.reset()
        for group in groups[:stages]:
            copy.randomise(group, rng)
            randomised = np.asarray(explain_class(copy.vm, image, class_index), np.float32)
            rank, structure = _similarity(vm, original, randomised)
            results.append(SanityStage(group[0], group, randomised, rank, structure, is_uniform(randomised)))
        copy.reset()
    outcome = _outcome(original, results)
    check = _class_check(vm, image, class_index, original, explain_class, rng)
    verdict = _verdict(outcome, results, is_uniform(original))
    return SanityReport(class_index, original, tuple(results), outcome, outcome == PASSED, verdict, check)


def weight_stages(vm: VizModel) -> list[tuple[str, ...]]:
    """Layers with weights in stages from the output back: neighbours whose names share a block
    (``block7a_...`` and ``block7b_...``: block7; ``top_conv``, ``top_bn``: top), each input to output."""
    weighted = [path for path, layer in graph.walk(vm.keras) if getattr(layer, "weights", None)]
    groups: list[tuple[str, list[str]]] = []
    for path in reversed(weighted):
        block = _block(path)
        if groups and groups[-1][0] == block:
            groups[-1][1].insert(0, path)
        else:
            groups.append((block, [path]))
    if not groups:
        raise ModelError(f"{vm.name} has no layer with weights to randomise.")
    return [tuple(paths) for _, paths in groups]


def _block(path: str) -> str:
    """The block a layer belongs to: its nesting and its name's first word with any number."""
    parent, _, name = path.rpartition(graph.SEPARATOR)
    match = re.match(r"[A-Za-z]+_?\d*", name)
    return f"{parent}/{(match.group(0) if match else name).rstrip('_')}"


def _explained_class(vm: VizModel, request: CamRequest) -> int:
    if request.class_index >= 0:
        return request.class_index
    return vm.predict(request.photo, top=1)[0].index


# --- the copy of the model --------------------------------------------------------------------------

_copies = PerModel(1)  # one randomisable copy per model, dropped with it


class _RandomisableCopy:
    """A clone of a model with its own weights, reset to the model's before each use (under ``lock``)."""

    def __init__(self, vm: VizModel):
        try:
            model = keras.models.clone_model(vm.keras)
        except Exception as error:  # subclassed models, layers without a config
            raise ModelError(f"{vm.name} cannot be copied for the sanity check: {error}".rstrip(".") + ".") from None
        self.vm = dataclasses.replace(vm, keras=model, _lock=threading.Lock())
        self.source = vm
        self.layers: dict[str, keras.layers.Layer] = dict(graph.walk(model))
        self.lock = threading.Lock()

    def reset(self) -> None:
        """The model's own weights again (read from it, never written to it)."""
        self.vm.keras.set_weights(self.source.keras.get_weights())

    def randomise(self, paths, rng: np.random.Generator) -> None:
        """Re-draw each trainable weight of these layers from a Gaussian with its trained mean and spread
        (Adebayo et al. re-initialise; this keeps activations at their usual scale). BatchNorm's
        moving statistics are kept."""
        for path in paths:
            for variable in self.layers[path].trainable_weights:
                trained = np.asarray(variable.numpy())
                variable.assign(rng.normal(trained.mean(), trained.std(), trained.shape).astype(trained.dtype))


# --- comparing maps ---------------------------------------------------------------------------------


def _similarity(vm: VizModel, original: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """(Spearman, SSIM) of two maps resized to the model's input size; Spearman is nan (undefined)
    when either map is uniform."""
    a, b = (_resized(m, vm.input_size) for m in (original, other))
    rank = float("nan") if is_uniform(original) or is_uniform(other) else spearman(a, b)
    return rank, ssim(a, b)


def is_uniform(values: np.ndarray) -> bool:
    """The map has no order of pixels: the same value everywhere (to ``UNIFORM_SPREAD`` of its largest
    value, so a map of tiny raw gradients still counts), or values that are not numbers."""
    values = np.asarray(values, np.float64)
    if values.size == 0 or not np.all(np.isfinite(values)):
        return True
    return bool(np.ptp(values) <= UNIFORM_SPREAD * np.max(np.abs(values)))


def _resized(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    height, width = size
    return np.asarray(Image.fromarray(np.asarray(values, np.float32), mode="F").resize((width, height)))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (Pearson's r of the ranks, ties given their mean rank); 0 if a map is flat."""
    ranks_a, ranks_b = _ranks(a), _ranks(b)
    ranks_a, ranks_b = ranks_a - ranks_a.mean(), ranks_b - ranks_b.mean()
    spread = np.sqrt(np.sum(ranks_a**2) * np.sum(ranks_b**2))
    return float(np.sum(ranks_a * ranks_b) / spread) if spread > 0 else 0.0


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of the flattened values, ties sharing their mean rank."""
    _, inverse, counts = np.unique(np.ravel(values), return_inverse=True, return_counts=True)
    mean_ranks = np.cumsum(counts) - (counts - 1) / 2.0
    return mean_ranks[inverse.ravel()]


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Mean structural similarity (Wang et al., 2004, Eq. 13 and Sec. III-C): local means, variances and
    covariance under an 11 × 11 Gaussian window (σ 1.5), C1 = (K1 L)², C2 = (K2 L)², L = ``data_range``;
    averaged over the positions where the window fits."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mean_a, mean_b = _window_mean(a), _window_mean(b)
    var_a = _window_mean(a * a) - mean_a**2
    var_b = _window_mean(b * b) - mean_b**2
    covariance = _window_mean(a * b) - mean_a * mean_b
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    index = ((2 * mean_a * mean_b + c1) * (2 * covariance + c2)) / ((mean_a**2 + mean_b**2 + c1) * (var_a + var_b + c2))
    return float(index.mean())


def _window_mean(values: np.ndarray) -> np.ndarray:
    """Gaussian-weighted local means, separable, where the window fits (it shrinks for tiny maps)."""
    radius = min(SSIM_RADIUS, (min(values.shape) - 1) // 2)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / SSIM_SIGMA) ** 2)
    taps /= taps.sum()
    rows = np.lib.stride_tricks.sliding_window_view(values, taps.size, axis=0) @ taps
    return np.lib.stride_tricks.sliding_window_view(rows, taps.size, axis=1) @ taps


# --- the class check and the verdict ------------------------------------------------------------------


def _class_check(vm, image, class_index: int, original, explain: Explainer, rng) -> ClassCheck | None:
    """The map of a random other class against this one's (Adebayo et al., 2018, Sec. 5: data randomisation's
    cheap cousin: an explanation of one class should not be the explanation of any class)."""
    if vm.classes < 2:
        return None
    other = int(rng.choice([index for index in range(vm.classes) if index != class_index]))
    other_map = np.asarray(explain(vm, image, other), np.float32)
    rank, structure = _similarity(vm, original, other_map)
    depends = None if np.isnan(rank) else bool(rank < SAME_CLASS_SPEARMAN)
    return ClassCheck(other, vm.label(other), other_map, rank, structure, depends)


def _outcome(original: np.ndarray, stages: list[SanityStage]) -> str:
    """Inconclusive when any map is uniform (Spearman undefined); else the deepest stage decides."""
    if is_uniform(original) or any(stage.uniform for stage in stages):
        return INCONCLUSIVE
    return PASSED if stages[-1].spearman < PASS_SPEARMAN else FAILED


def _verdict(outcome: str, stages: list[SanityStage], original_uniform: bool) -> str:
    deepest = stages[-1]
    if original_uniform:
        return (
            "Inconclusive: the map on the model as trained is uniform (the same value everywhere), so it has no "
            "order of pixels for a randomised model to keep or change and Spearman's correlation is undefined. "
            "Explain a class the model believes in, or try another method or layer."
        )
    if outcome == INCONCLUSIVE:
        uniform = " and from ".join(stage.randomised_from for stage in stages if stage.uniform)
        return (
            f"Inconclusive: with the weights from {uniform} to the output randomised, the map is uniform (the same "
            "value everywhere). It has no order of pixels to compare with the original, so Spearman's correlation "
            "is undefined: a blank map shows that this randomised model points nowhere, not whether the method "
            "follows the model or the photo. Try another method or layer."
        )
    numbers = f"Spearman {deepest.spearman:.2f}, SSIM {deepest.ssim:.2f} with the original"
    if outcome == PASSED:
        return (
            f"Passed: with the weights from {deepest.randomised_from} to the output randomised, the map changes "
            f"({numbers}): it depends on what the model learned."
        )
    return (
        f"Failed: with the weights from {deepest.randomised_from} to the output randomised, the map barely "
        f"changes ({numbers}): it shows the photo more than the model; do not read it as the model's reasons."
    )
