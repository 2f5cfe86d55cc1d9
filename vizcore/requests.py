"""A Filters request as one value: what to grow and how, checked once against the model.

Pages, the CLI, the atlas, the Why page's features and the benches build a :class:`FilterRequest`
with :func:`filter_request` (a grid of filters, neurons, classes, a diverse set or a mix) or
:func:`objective_request` (any objective, e.g. an expression), and every layer below takes it as it
is: nothing is checked or resolved again. A request is frozen and hashable (its objective, made
from its fields, compares by them), so it keys caches and links.

The settings of the climb (:class:`AscentSettings`: mode, steps, learning rate, size and seed)
resolve each mode's defaults for the model:

* ``classic``: the Keras example "Visualizing what convnets learn" (Chollet): 30 steps of lr 10 at
  180 px, cropped by 25 px a side once finished;
* ``robust``: Lucid (Olah et al., "Feature Visualization", Distill 2017): Adam at ``ROBUST_LR`` for
  ``ROBUST_STEPS`` steps at about 128 px for a 224-px model;
* ``maco``: MaCo (Fel et al., NeurIPS 2023): the phase of a natural magnitude spectrum, Adam at
  ``MACO_LR`` for ``MACO_STEPS`` steps, at the robust size (a request's ``photos`` folder gives the
  spectrum; :mod:`vizcore.spectrum`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import objectives
from .checks import positive_number, whole_number
from .errors import RequestError
from .models import VizModel

MODES = ("classic", "robust", "maco")
CLASSIC = dict(steps=30, lr=10.0, size=180)  # the Keras example's settings
ROBUST_STEPS = 96  # with ROBUST_LR and a settling end, the activation Lucid's rate reaches in 256 steps
ROBUST_LR = 0.1  # Adam step on the spectrum (Lucid's default is 0.05, for 512 steps)
ROBUST_SIZE_AT_224 = 128  # robust image side for a 224-px model; scaled with the model's input size
MACO_STEPS = 192  # MaCo: Adam steps on the phase (4 crops a step; bench, Lite2 top-5: 128 steps 0.90, 192: 0.95)
MACO_LR = 0.2  # MaCo: Adam's step on the standardised phase
CROP = 25  # classic: pixels cropped from each side of the finished image
FEATURE_BORDER = 2  # classic: feature-map border left out of a channel's mean
MIN_TILE = 16  # smallest finished image side
MIN_SIZE = {"classic": 2 * CROP + MIN_TILE, "robust": 32, "maco": 32}
MAX_SIZE = 512  # largest image side
MAX_STEPS = 2000  # more than this is a typo, not a plan
MAX_SEED = 2**31 - 1
DIVERSITY = 8.0  # weight of the diversity term (per image: minus its mean cosine to the others' Gram matrices)
DIVERSE_COUNT = 4  # images of one filter in a diverse set
MIX_COUNT = 5  # images in a mix's row
MAX_IMAGES = 256  # images in one request of neurons, classes, diverse sets or mixes
SHOWS = ("filters", "neurons", "classes", "diverse", "mix", "objective")  # what a request grows


class AscentSettings(NamedTuple):
    """A run's parameters once defaults are resolved and checked (made once, passed on as a value)."""

    mode: str
    steps: int
    lr: float
    size: int
    seed: int | None


def settings(
    vm: VizModel,
    mode: str = "classic",
    *,
    steps: int | None = None,
    lr: float | None = None,
    size: int | None = None,
    seed: int | None = None,
) -> AscentSettings:
    """Resolve the mode's defaults for this model and check every value.

    Classic defaults are the Keras example's (30 steps, lr 10, 180 px); robust defaults are
    Adam at ``ROBUST_LR`` for ``ROBUST_STEPS`` steps with about 128 px for a 224-px model. A model
    that takes only small fixed inputs (28, 32, 64 px) gets its images at its own size.

    Raises:
        RequestError: unknown mode, steps ≤ 0 or > MAX_STEPS, lr ≤ 0, size out of range, bad seed.
    """
    if mode not in MODES:
        raise RequestError(f"Unknown mode {mode!r}: use one of {', '.join(MODES)}.")
    defaults = mode_defaults(vm, mode)
    own_side = small_model_side(vm)
    steps = whole_number("steps", defaults["steps"] if steps is None else steps, 1, MAX_STEPS)
    lr = positive_number("lr (learning rate)", defaults["lr"] if lr is None else lr)
    size = int((own_side or defaults["size"]) if size is None else size)
    if size != own_side:
        whole_number(
            "size",
            size,
            MIN_SIZE[mode],
            MAX_SIZE,
            why=f"{mode} mode" + (f" crops {CROP} px from each side" if mode == "classic" else ""),
        )
    if seed is not None:
        whole_number("seed", seed, 0, MAX_SEED)
    return AscentSettings(mode, steps, lr, size, None if seed is None else int(seed))


def mode_defaults(vm: VizModel, mode: str) -> dict:
    """A mode's steps, lr and size for this model."""
    if mode == "classic":
        return CLASSIC
    if mode == "maco":
        return dict(steps=MACO_STEPS, lr=MACO_LR, size=robust_size(vm))
    return dict(steps=ROBUST_STEPS, lr=ROBUST_LR, size=robust_size(vm))


def small_model_side(vm: VizModel) -> int | None:
    """The side of a model that takes only small fixed square-ish inputs (28, 32, 64 px), else None.

    Its images are made at that size (classic mode then crops nothing)."""
    if vm.fixed_size and max(vm.input_size) < min(CLASSIC["size"], MIN_SIZE["classic"] + 2 * CROP):
        return int(max(vm.input_size))
    return None


def crop_for(size: int) -> int:
    """Classic mode's crop: CROP px a side, none for images smaller than MIN_SIZE (a small model's own size)."""
    return CROP if size >= MIN_SIZE["classic"] else 0


def robust_size(vm: VizModel) -> int:
    """About 128 px for a 224-px model, in proportion for others, a multiple of 8 (at least 32)."""
    return max(MIN_SIZE["robust"], int(8 * round(ROBUST_SIZE_AT_224 * max(vm.input_size) / 224 / 8)))


def run_seed(ascent_settings: AscentSettings) -> int:
    """The settings' seed, or a fresh random one."""
    if ascent_settings.seed is not None:
        return ascent_settings.seed
    return int(np.random.default_rng().integers(MAX_SEED))


def channel_border(mode: str) -> int:
    """Feature-map px a channel's mean leaves out: the Keras example's 2 in classic mode, none in robust."""
    return FEATURE_BORDER if mode == "classic" else 0


# --- the request ---------------------------------------------------------------------------------


class Plan(NamedTuple):
    """What the loop climbs for a request, checked against the model."""

    objective: objectives.Objective
    labels: tuple[int, ...]  # what image i is made for: a filter, a class, a position in a row
    image_seeds: tuple[int, ...]  # image i starts from the seed (run seed, image_seeds[i])
    report: objectives.Objective | None  # what the final frame measures instead (None: the objective)


@dataclass(frozen=True)
class FilterRequest:
    """One Filters run: what to grow (``show``, ``layer``, ``indices`` and the show's own numbers) and
    how (``settings``), checked once. Make it with :func:`filter_request` or :func:`objective_request`.

    indices: filters (filters, neurons), classes (classes), (filter,) (diverse), (first, second) (mix),
        the labels of an objective's images (objective).
    count: images per class (classes), images (diverse, mix, objective).
    every, chunk_size: a frame every ``every`` steps; images per compiled step (None: bounded by pixels).
    """

    show: str
    layer: str  # "" for classes and objectives
    indices: tuple[int, ...]
    settings: AscentSettings
    count: int = 1
    diversity: float = DIVERSITY
    x: int | None = None
    y: int | None = None
    every: int = 1
    chunk_size: int | None = None
    expression: objectives.Objective | None = None  # show "objective": the objective itself (compared by identity)
    plan: Plan = field(default=None, compare=False, repr=False)  # type: ignore[assignment]
    photos: str | None = None  # maco: the folder of its magnitude spectrum (None: vizcore.spectrum.photo_folder)

    @property
    def images(self) -> int:
        """How many images the run makes."""
        return len(self.plan.labels)


def filter_request(
    vm: VizModel,
    show: str = "filters",
    layer: str = "",
    indices: Sequence[int] | int = (),
    *,
    mode: str = "classic",
    steps: int | None = None,
    lr: float | None = None,
    size: int | None = None,
    seed: int | None = None,
    count: int | None = None,
    diversity: float = DIVERSITY,
    x: int | None = None,
    y: int | None = None,
    every: int = 1,
    chunk_size: int | None = None,
    photos: str | None = None,
) -> FilterRequest:
    """Check a request against the model, once: the layer, the indices, the show's numbers, the settings.

    show: ``filters`` (image i maximises filter ``indices[i]``), ``neurons`` (its neuron at (x, y),
    the centre by default), ``classes`` (``count`` images of each class in ``indices``, default 1),
    ``diverse`` (``count`` images of filter ``indices[0]`` pushed apart by Lucid's diversity term of
    weight ``diversity``) or ``mix`` (a row of ``count`` images from filter ``indices[0]`` to ``indices[1]``).

    ``photos``: maco mode's folder of photos for its magnitude spectrum (ignored by the other modes).

    Raises:
        RequestError: an unknown show, layer or mode, an index out of range, a bad number, a missing folder.
    """
    if show not in PLANS:
        raise RequestError(f"Unknown request {show!r}: use one of {', '.join(PLANS)}.")
    ascent_settings = settings(vm, mode, steps=steps, lr=lr, size=size, seed=seed)
    every, chunk_size = _checked_pace(every, chunk_size)
    shown = PLANS[show](vm, layer, indices, mode, count, diversity, x, y)
    plan = shown.plan._replace(objective=shown.plan.objective.checked(vm))
    return FilterRequest(
        show, layer if show != "classes" else "", shown.indices, ascent_settings, shown.images,
        float(diversity), x, y, every, chunk_size, None, plan, checked_photos(photos, mode),
    )  # fmt: skip


def objective_request(
    vm: VizModel,
    objective: objectives.Objective,
    labels: Sequence[int] | None = None,
    *,
    image_seeds: Sequence[int] | None = None,
    report: objectives.Objective | None = None,
    count: int | None = None,
    mode: str = "classic",
    steps: int | None = None,
    lr: float | None = None,
    size: int | None = None,
    seed: int | None = None,
    every: int = 1,
    chunk_size: int | None = None,
    photos: str | None = None,
) -> FilterRequest:
    """A request to climb any objective: one image per row of the objective (or ``count`` images when
    it has one row). Image i starts from the seed (seed, ``image_seeds[i]``) (default: its label).
    ``report``, if given, is what the final frame's ``activations`` and ``initial`` measure (e.g. the
    goal without the diversity term that pushed its images apart).

    Raises:
        RequestError: an objective the model cannot answer, bad settings.
    """
    ascent_settings = settings(vm, mode, steps=steps, lr=lr, size=size, seed=seed)
    every, chunk_size = _checked_pace(every, chunk_size)
    objective = objective.checked(vm)
    rows = objective.rows()
    count = whole_number("images", count, 1, MAX_IMAGES) if count is not None else rows
    if rows not in (1, count):
        raise RequestError(f"The objective sets apart {rows} images but {count} were asked for.")
    labels = tuple(int(label) for label in labels) if labels is not None else tuple(range(count))
    seeds = tuple(int(seed) for seed in image_seeds) if image_seeds is not None else labels
    plan = Plan(objective, labels, seeds, report.checked(vm) if report is not None else None)
    return FilterRequest(
        "objective", "", labels, ascent_settings, count, DIVERSITY, None, None, every, chunk_size, objective, plan,
        checked_photos(photos, mode),
    )  # fmt: skip


class _Shown(NamedTuple):
    plan: Plan
    indices: tuple[int, ...]
    images: int  # the request's count: images per class, images of a diverse set or a mix


def _filters(vm, layer, indices, mode, count, diversity, x, y) -> _Shown:
    filters = check_filters(vm, layer, indices)
    plan = Plan(objectives.channel(layer, filters, border=channel_border(mode)), filters, filters, None)
    return _Shown(plan, filters, len(filters))


def _neurons(vm, layer, indices, mode, count, diversity, x, y) -> _Shown:
    filters = check_filters(vm, layer, indices)
    return _Shown(Plan(objectives.neuron(layer, filters, x, y), filters, filters, None), filters, len(filters))


def _classes(vm, layer, indices, mode, count, diversity, x, y) -> _Shown:
    wanted = _whole_numbers("class", indices)
    per_class = whole_number("images per class", 1 if count is None else count, 1, MAX_IMAGES)
    chosen = tuple(index for index in wanted for _ in range(per_class))
    _not_too_many(len(chosen))
    plan = Plan(objectives.class_logit(chosen), chosen, tuple(range(len(chosen))), None)
    return _Shown(plan, wanted, per_class)


def _diverse(vm, layer, indices, mode, count, diversity, x, y) -> _Shown:
    (first, *_) = _given(indices)
    (filter_index,) = check_filters(vm, layer, [first])
    count = whole_number("images", DIVERSE_COUNT if count is None else count, 2, MAX_IMAGES)
    if isinstance(diversity, bool) or not np.isfinite(diversity) or diversity < 0:
        raise RequestError(f"The diversity weight must be zero or positive, got {diversity!r}")
    goal = objectives.channel(layer, filter_index, border=channel_border(mode))
    objective = goal + diversity * objectives.diversity(layer)
    plan = Plan(objective, (filter_index,) * count, tuple(range(count)), goal.checked(vm))
    return _Shown(plan, (filter_index,), count)


def _mix(vm, layer, indices, mode, count, diversity, x, y) -> _Shown:
    given = _given(indices)
    if len(given) != 2:
        raise RequestError(f"A mix runs from one filter to another: give two filters, got {len(given)}.")
    first, second = check_filters(vm, layer, given)
    count = whole_number("images", MIX_COUNT if count is None else count, 2, MAX_IMAGES)
    objective = objectives.channel_interpolate(layer, first, layer, second, count, border=channel_border(mode))
    return _Shown(Plan(objective, tuple(range(count)), (0,) * count, None), (first, second), count)


PLANS = {"filters": _filters, "neurons": _neurons, "classes": _classes, "diverse": _diverse, "mix": _mix}


# --- checks --------------------------------------------------------------------------------------


def check_filters(vm: VizModel, layer: str, filters: Sequence[int] | int) -> tuple[int, ...]:
    """The filter indices, checked against the layer's channel count.

    Raises:
        RequestError: unknown or non-4-D layer, no filters, an index that is not in the layer.
    """
    channels = vm.layer(layer).channels
    requested = _given(filters)
    if not requested:
        raise RequestError("No filters requested: give at least one filter index.")
    for index in requested:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise RequestError(f"Filter indices must be whole numbers, got {index!r}")
        if not 0 <= index < channels:
            raise RequestError(f"Filter {index} out of range: layer {layer} has {channels} filters (0–{channels - 1}).")
    return tuple(int(index) for index in requested)


def checked_photos(photos: str | os.PathLike | None, mode: str) -> str | None:
    """Maco's folder of photos as a resolved path (None: the default folder; other modes: None).

    Raises:
        RequestError: no folder there.
    """
    if mode != "maco" or not photos:
        return None
    folder = Path(photos).expanduser()
    if not folder.is_dir():
        raise RequestError(f"No folder at {str(photos)!r} to take the photos' spectrum from.")
    return str(folder.resolve())


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


def _given(values) -> tuple:
    return (values,) if isinstance(values, (int, np.integer)) else tuple(values)


def _whole_numbers(name: str, values) -> tuple[int, ...]:
    values = _given(values)
    if not values:
        raise RequestError(f"No {name} requested: give at least one.")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise RequestError(f"{name.capitalize()} indices must be whole numbers, got {value!r}")
    return tuple(int(value) for value in values)


def _not_too_many(count: int) -> None:
    if count > MAX_IMAGES:
        raise RequestError(f"{count} images asked for: at most {MAX_IMAGES} in one run.")


def _checked_pace(every, chunk_size) -> tuple[int, int | None]:
    every = whole_number("every", every, 1, MAX_STEPS)
    return every, (whole_number("chunk_size", chunk_size, 1, 100_000) if chunk_size is not None else None)
