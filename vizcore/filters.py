"""What a layer's filters, a neuron, a class respond to: feature visualisation, one batch at a time.

Every request here is an objective (:mod:`vizcore.objectives`) climbed by the one ascent loop
(:mod:`vizcore.ascent`), all images of a request in one compiled batch (split into chunks so memory
stays bounded, every chunk moving one step before the next step starts, so the batch grows
together). Each function is a generator of :class:`FilterFrame`; none touches a UI, so the page,
the CLI and the tests share them.

* :func:`visualize`: one image per filter of a layer (image i maximises filter ``filters[i]``);
* :func:`neurons`: the same for one neuron of each filter (a position of its map, the centre by default);
* :func:`classes`: "what the model thinks a … looks like": images maximising a class's logit;
* :func:`diverse`: several images of one filter that differ from each other (Lucid's diversity);
* :func:`mix`: a row from one channel to another (Lucid's ``channel_interpolate``);
* :func:`visualize_objective`: any objective, e.g. ``channel(l, 12) + 0.5 * channel(l, 40)``.

Two modes (:data:`MODES`):

* ``classic``: the Keras example "Visualizing what convnets learn" (Chollet): a noisy grey
  start, gradient ascent with an L2-normalised gradient of step ``lr``, a channel loss that leaves
  out a 2-px border of the feature map, and deprocessing to centre, std 0.15, clip, crop 25 px.
* ``robust``: Lucid (Olah et al., "Feature Visualization", Distill 2017): the image is
  parameterised as a decorrelated-colour 1/f spectrum (:mod:`vizcore.param`), randomly padded,
  jittered, scaled and rotated every step (:mod:`vizcore.transforms`) and optimised with Adam;
  for the first steps ReLU gradients are redirected so filters dead at the start can come alive.

A filter is *dead* when its activation has no gradient with respect to the image at the start
(it never fires on grey noise); ``FilterFrame.dead`` says which ones still are.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import numpy as np

from . import ascent, objectives
from .ascent import (  # noqa: F401  (the settings and limits live with the loop; re-exported for callers)
    CHUNK_PIXELS,
    CLASSIC,
    CROP,
    FEATURE_BORDER,
    IMAGES,
    INDICES,
    MAX_SEED,
    MAX_SIZE,
    MAX_STEPS,
    MIN_SIZE,
    MIN_TILE,
    MODES,
    RELU_OVERRIDE_STEPS,
    ROBUST_LR,
    ROBUST_SIZE_AT_224,
    ROBUST_STEPS,
    SPECTRUM,
    AscentSettings,
    crop_for,
    deprocess,
    robust_size,
    settings,
    small_model_side,
)
from .checks import whole_number
from .errors import RequestError
from .live import LiveSettings
from .models import VizModel

DIVERSITY = 8.0  # weight of the diversity term (per image: minus its mean cosine to the others' Gram matrices)
DIVERSE_COUNT = 4  # images of one filter in a diverse set
MIX_COUNT = 5  # images in a mix's row
MAX_IMAGES = 256  # images in one request of neurons, classes, diverse sets or mixes


class FilterFrame(NamedTuple):
    """One streamed state of a run.

    images: uint8 (N, h, w, 3), image i made for ``filters[i]`` (a channel, a class, a row position).
    activations: float32 (N,), each image's objective (for filters: the filter's mean activation)
        at the last step; in the final frame, measured on the finished image.
    dead: bool (N,), images whose objective had no gradient at the start and still has none.
    history: float32 (step, N), the objective at every step so far (the activation curves;
        in robust mode measured on the transformed image the step optimised).
    initial: float32 (N,), each objective on its starting image, measured like the final
        ``activations``; in the final frame only (None before).
    filters: what image i was made for: a filter index, a class index, a position in a row.
    """

    step: int
    steps: int
    images: np.ndarray
    activations: np.ndarray
    dead: np.ndarray
    history: np.ndarray
    initial: np.ndarray | None
    filters: tuple[int, ...]
    cached: bool = False

    @property
    def done(self) -> bool:
        return self.step >= self.steps


# --- requests --------------------------------------------------------------------------------


def check_filters(vm: VizModel, layer: str, filters: Sequence[int]) -> tuple[int, ...]:
    """The filter indices, checked against the layer's channel count.

    Raises:
        RequestError: unknown or non-4-D layer, no filters, an index that is not in the layer.
    """
    channels = vm.layer(layer).channels
    requested = tuple(filters) if not isinstance(filters, (int, np.integer)) else (filters,)
    if not requested:
        raise RequestError("No filters requested: give at least one filter index.")
    for index in requested:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise RequestError(f"Filter indices must be whole numbers, got {index!r}")
        if not 0 <= index < channels:
            raise RequestError(f"Filter {index} out of range: layer {layer} has {channels} filters (0–{channels - 1}).")
    return tuple(int(index) for index in requested)


def parse_filters(text: str) -> list[int]:
    """``"0-7, 12, 20-23"`` → [0, 1, …, 7, 12, 20, …, 23]. Raises RequestError if unreadable."""
    indices: list[int] = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        first, dash, last = part.partition("-")
        try:
            low, high = int(first), int(last) if dash else int(first)
        except ValueError:
            raise RequestError(f"Cannot read filters {text!r}: use indices and ranges like 0-7,12") from None
        if high < low:
            raise RequestError(f"Filter range {part!r} runs backwards: write {high}-{low}")
        if high - low >= 100_000:
            raise RequestError(f"Filter range {part!r} is too long")
        indices.extend(range(low, high + 1))
    if not indices:
        raise RequestError(f"No filters in {text!r}: use indices and ranges like 0-7,12")
    return indices


def channel_border(mode: str) -> int:
    """Feature-map px a channel's mean leaves out: the Keras example's 2 in classic mode, none in robust."""
    return FEATURE_BORDER if mode == "classic" else 0


# --- runs ------------------------------------------------------------------------------------


def visualize(
    vm: VizModel,
    layer: str,
    filters: Sequence[int],
    *,
    steps: int | None = None,
    lr: float | None = None,
    size: int | None = None,
    mode: str = "classic",
    seed: int | None = None,
    every: int = 1,
    chunk_size: int | None = None,
    live: LiveSettings | None = None,
) -> Iterator[FilterFrame]:
    """Optimise one image per filter, all in one batch, yielding frames as they improve.

    Args:
        vm: the model.
        layer: a layer with 4-D output (``vm.conv_layers()``).
        filters: channel indices; image i maximises filter ``filters[i]``.
        steps, lr, size: per mode, None takes the defaults of :func:`settings`.
        mode: ``"classic"`` or ``"robust"`` (see the module docstring).
        seed: the same seed gives the same images; None draws one.
        every: yield a frame every ``every`` steps (and always after the last).
        chunk_size: images per compiled step; None bounds it by ``CHUNK_PIXELS``.
        live: the run's live settings (its lr), begun with ``lr``: ``live.update(lr=…)`` while the
            run streams changes the step size from the next step on (``live.changes`` records it).

    Yields:
        FilterFrame after steps ``every``, ``2·every``, … and the last.

    Raises:
        RequestError: bad layer, filters or parameters (checked before any work).
    """
    filters = check_filters(vm, layer, filters)
    objective = objectives.channel(layer, filters, border=channel_border(mode))
    return visualize_objective(
        vm,
        objective,
        filters,
        steps=steps,
        lr=lr,
        size=size,
        mode=mode,
        seed=seed,
        every=every,
        chunk_size=chunk_size,
        live=live,
    )


def neurons(
    vm: VizModel, layer: str, filters: Sequence[int], *, x: int | None = None, y: int | None = None, **options
) -> Iterator[FilterFrame]:
    """One image per filter maximising its neuron at (x, y) of the layer's map (the centre by default).

    ``options`` as :func:`visualize` (steps, lr, size, mode, seed, every, chunk_size)."""
    filters = check_filters(vm, layer, filters)
    return visualize_objective(vm, objectives.neuron(layer, filters, x, y), filters, **options)


def classes(vm: VizModel, class_indices: Sequence[int], *, per_class: int = 1, **options) -> Iterator[FilterFrame]:
    """``per_class`` images of each class, each maximising the class's pre-softmax score (different seeds).

    ``options`` as :func:`visualize`. Raises RequestError without a classifier head or for a class
    out of range."""
    wanted = _whole_numbers("class", class_indices)
    whole_number("images per class", per_class, 1, MAX_IMAGES)
    chosen = tuple(index for index in wanted for _ in range(per_class))
    _not_too_many(len(chosen))
    return visualize_objective(vm, objectives.class_logit(chosen), chosen, image_seeds=range(len(chosen)), **options)


def diverse(
    vm: VizModel,
    layer: str,
    filter_index: int,
    *,
    count: int = DIVERSE_COUNT,
    weight: float = DIVERSITY,
    **options,
) -> Iterator[FilterFrame]:
    """``count`` images of one filter pushed apart by Lucid's diversity term of weight ``weight``.

    ``activations`` stay the filter's mean activation (the diversity term is left out of it)."""
    (filter_index,) = check_filters(vm, layer, [filter_index])
    whole_number("images", count, 2, MAX_IMAGES)
    if isinstance(weight, bool) or not np.isfinite(weight) or weight < 0:
        raise RequestError(f"The diversity weight must be zero or positive, got {weight!r}")
    mode = options.get("mode", "classic")
    goal = objectives.channel(layer, filter_index, border=channel_border(mode))
    objective = goal + weight * objectives.diversity(layer)
    labels = (filter_index,) * count
    return visualize_objective(vm, objective, labels, image_seeds=range(count), report=goal, **options)


def mix(
    vm: VizModel, layer: str, first: int, second: int, *, count: int = MIX_COUNT, **options
) -> Iterator[FilterFrame]:
    """A row of ``count`` images from filter ``first`` to filter ``second`` (Lucid's channel_interpolate):
    image i maximises ``(1 − t)·first + t·second`` with t from 0 to 1, every image from the same start."""
    first, second = check_filters(vm, layer, [first, second])
    whole_number("images", count, 2, MAX_IMAGES)
    mode = options.get("mode", "classic")
    objective = objectives.channel_interpolate(layer, first, layer, second, count, border=channel_border(mode))
    return visualize_objective(vm, objective, tuple(range(count)), image_seeds=[0] * count, **options)


def visualize_objective(
    vm: VizModel,
    objective: objectives.Objective,
    labels: Sequence[int] | None = None,
    *,
    image_seeds: Sequence[int] | None = None,
    report: objectives.Objective | None = None,
    steps: int | None = None,
    lr: float | None = None,
    size: int | None = None,
    mode: str = "classic",
    seed: int | None = None,
    every: int = 1,
    chunk_size: int | None = None,
    count: int | None = None,
    live: LiveSettings | None = None,
) -> Iterator[FilterFrame]:
    """Climb any objective; one image per row of the objective (or ``count`` images when it has one row).

    Image i starts from the seed (seed, ``image_seeds[i]``) (default: its label), so a filter's image
    is the same whichever other filters share its batch. ``report``, if given, is the objective the
    final frame's ``activations`` and ``initial`` measure (e.g. the channel without the diversity term).
    ``live``: the run's live lr, as in :func:`visualize`.

    Raises:
        RequestError: a bad objective (checked against the model), bad settings, before any work.
    """
    objective = objective.checked(vm)
    rows = objective.rows()
    count = whole_number("images", count, 1, MAX_IMAGES) if count is not None else rows
    if rows not in (1, count):
        raise RequestError(f"The objective sets apart {rows} images but {count} were asked for.")
    labels = tuple(labels) if labels is not None else tuple(range(count))
    image_seeds = tuple(image_seeds) if image_seeds is not None else labels
    ascent_settings = settings(vm, mode, steps=steps, lr=lr, size=size, seed=seed)
    whole_number("every", every, 1, MAX_STEPS)
    if chunk_size is not None:
        whole_number("chunk_size", chunk_size, 1, 100_000)
    ascent_settings = ascent_settings._replace(seed=ascent.run_seed(ascent_settings))
    seeds = np.array([(ascent_settings.seed, index) for index in image_seeds], np.int32)
    method = ascent.method_for(vm, ascent_settings)
    report = report.checked(vm) if report is not None else None
    frames = ascent.climb(
        vm, objective, method, ascent_settings, seeds, every=every, chunk_size=chunk_size, report=report, live=live
    )
    return (FilterFrame(*frame, filters=labels) for frame in frames)


def prepare(vm: VizModel, layer: str, mode: str = "classic") -> None:
    """Trace and instantiate the compiled steps for ``layer`` ahead of a run.

    Takes a second or more once per model, layer and mode; a run started afterwards streams its
    first frame without that delay. Safe to call from a background thread.
    """
    vm.layer(layer)
    ascent_settings = settings(vm, mode)
    objective = objectives.channel(layer, [0], border=channel_border(mode)).checked(vm)
    ascent.prepare(vm, objective, ascent.method_for(vm, ascent_settings), ascent_settings.size)


def settling_from(vm: VizModel, mode: str, steps: int) -> int | None:
    """The first step of a run whose transforms only shift the image (robust mode's second half), or
    None. The score a step records jumps there: it is then measured on a nearly unmoved image."""
    method = ascent.method_for(vm, settings(vm, mode, steps=steps))
    return next((step for step in range(1, steps + 1) if method.settles(step, steps)), None)


def mean_activations(features, filters, border: int = 0):
    """Mean of channel ``filters[i]`` over image i's feature map (N, h, w, C), minus ``border`` px."""
    return objectives.channel_score(features, filters, border)


def _whole_numbers(name: str, values) -> tuple[int, ...]:
    values = (values,) if isinstance(values, (int, np.integer)) else tuple(values)
    if not values:
        raise RequestError(f"No {name} requested: give at least one.")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise RequestError(f"{name.capitalize()} indices must be whole numbers, got {value!r}")
    return tuple(int(value) for value in values)


def _not_too_many(count: int) -> None:
    if count > MAX_IMAGES:
        raise RequestError(f"{count} images asked for: at most {MAX_IMAGES} in one run.")
