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

Three modes (:data:`MODES`):

* ``classic``: the Keras example "Visualizing what convnets learn" (Chollet): a noisy grey
  start, gradient ascent with an L2-normalised gradient of step ``lr``, a channel loss that leaves
  out a 2-px border of the feature map, and deprocessing to centre, std 0.15, clip, crop 25 px.
* ``robust``: Lucid (Olah et al., "Feature Visualization", Distill 2017): the image is
  parameterised as a decorrelated-colour 1/f spectrum (:mod:`vizcore.param`), randomly padded,
  jittered, scaled and rotated every step (:mod:`vizcore.transforms`) and optimised with Adam;
  for the first steps ReLU gradients are redirected so filters dead at the start can come alive;
* ``maco``: robust mode's other picture, MaCo (Fel et al., NeurIPS 2023): a natural photos' fixed
  magnitude spectrum, only the phase optimised through random crops with noise
  (:func:`vizcore.step_rules.maco`); its frames carry a transparency map (``FilterFrame.transparency``).

A filter is *dead* when its activation has no gradient with respect to the image at the start
(it never fires on grey noise); ``FilterFrame.dead`` says which ones still are.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import numpy as np

from . import ascent, objectives, step_rules
from .ascent import INDICES  # noqa: F401 (re-exported)
from .live import LiveSettings
from .models import VizModel
from .param import IMAGES, SPECTRUM, deprocess  # noqa: F401 (re-exported)
from .requests import (  # noqa: F401  (a request's names, re-exported for the callers of this module)
    CLASSIC,
    CROP,
    DIVERSE_COUNT,
    DIVERSITY,
    FEATURE_BORDER,
    MACO_LR,
    MACO_STEPS,
    MAX_IMAGES,
    MAX_SEED,
    MAX_SIZE,
    MAX_STEPS,
    MIN_SIZE,
    MIN_TILE,
    MIX_COUNT,
    MODES,
    ROBUST_LR,
    ROBUST_SIZE_AT_224,
    ROBUST_STEPS,
    AscentSettings,
    FilterRequest,
    channel_border,
    check_filters,
    crop_for,
    filter_request,
    objective_request,
    parse_filters,
    robust_size,
    settings,
    small_model_side,
)
from .step_rules import CHUNK_PIXELS, RELU_OVERRIDE_STEPS  # noqa: F401 (re-exported)


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
    transparency: np.ndarray | None = None  # maco: float32 (N, h, w), the transparency map (see ascent.Frame)

    @property
    def done(self) -> bool:
        return self.step >= self.steps


# --- runs ------------------------------------------------------------------------------------


def run(vm: VizModel, request: FilterRequest, live: LiveSettings | None = None) -> Iterator[FilterFrame]:
    """Climb a checked request's objective, all its images in one batch, yielding frames as they improve.

    Image i starts from the seed (run seed, ``request.plan.image_seeds[i]``), so a filter's image is
    the same whichever other filters share its batch. ``live``: the run's live settings, begun with
    the request's lr: ``live.update(lr=…)`` while the run streams changes the step size from the
    next step on (``live.changes`` records it). The loop waits for its turn and ends when the run is
    stopped (``vizcore.scheduler.checkpoint`` between chunks).

    Yields:
        FilterFrame after steps ``every``, ``2·every``, … and the last.
    """
    plan = request.plan
    ascent_settings = request.settings._replace(seed=ascent.run_seed(request.settings))
    seeds = np.array([(ascent_settings.seed, index) for index in plan.image_seeds], np.int32)
    method = step_rules.method_for(vm, ascent_settings, request.photos)
    frames = ascent.climb(
        vm, plan.objective, method, ascent_settings, seeds,
        every=request.every, chunk_size=request.chunk_size, report=plan.report, live=live,
    )  # fmt: skip
    return (FilterFrame(*frame[:7], filters=plan.labels, transparency=frame.transparency) for frame in frames)


def visualize(vm: VizModel, layer: str, filters: Sequence[int], *, live: LiveSettings | None = None, **options):
    """One image per filter of ``layer`` (image i maximises filter ``filters[i]``), all in one batch.

    ``options``: mode (``classic`` or ``robust``, see the module docstring), steps, lr, size (None:
    the mode's defaults, :func:`settings`), seed (the same seed gives the same images; None draws
    one), every (a frame every ``every`` steps and after the last), chunk_size (images per compiled
    step; None bounds it by ``CHUNK_PIXELS``). Raises RequestError, before any work, on a bad request.
    """
    return run(vm, filter_request(vm, "filters", layer, filters, **options), live)


def neurons(vm: VizModel, layer: str, filters: Sequence[int], *, x: int | None = None, y: int | None = None,
            live: LiveSettings | None = None, **options) -> Iterator[FilterFrame]:  # fmt: skip
    """One image per filter maximising its neuron at (x, y) of the layer's map (the centre by default)."""
    return run(vm, filter_request(vm, "neurons", layer, filters, x=x, y=y, **options), live)


def classes(vm: VizModel, class_indices: Sequence[int], *, per_class: int = 1, live: LiveSettings | None = None,
            **options) -> Iterator[FilterFrame]:  # fmt: skip
    """``per_class`` images of each class, each maximising the class's pre-softmax score (different seeds)."""
    return run(vm, filter_request(vm, "classes", "", class_indices, count=per_class, **options), live)


def diverse(vm: VizModel, layer: str, filter_index: int, *, count: int = DIVERSE_COUNT, weight: float = DIVERSITY,
            live: LiveSettings | None = None, **options) -> Iterator[FilterFrame]:  # fmt: skip
    """``count`` images of one filter pushed apart by Lucid's diversity term of weight ``weight``.

    ``activations`` stay the filter's mean activation (the diversity term is left out of it)."""
    request = filter_request(vm, "diverse", layer, (filter_index,), count=count, diversity=weight, **options)
    return run(vm, request, live)


def mix(vm: VizModel, layer: str, first: int, second: int, *, count: int = MIX_COUNT,
        live: LiveSettings | None = None, **options) -> Iterator[FilterFrame]:  # fmt: skip
    """A row of ``count`` images from filter ``first`` to filter ``second`` (Lucid's channel_interpolate):
    image i maximises ``(1 − t)·first + t·second`` with t from 0 to 1, every image from the same start."""
    return run(vm, filter_request(vm, "mix", layer, (first, second), count=count, **options), live)


def visualize_objective(vm: VizModel, objective: objectives.Objective, labels: Sequence[int] | None = None, *,
                        live: LiveSettings | None = None, **options) -> Iterator[FilterFrame]:  # fmt: skip
    """Climb any objective (see :func:`vizcore.requests.objective_request` for ``options``)."""
    return run(vm, objective_request(vm, objective, labels, **options), live)


def prepare(vm: VizModel, layer: str, mode: str = "classic") -> None:
    """Trace and instantiate the compiled steps for ``layer`` ahead of a run.

    Takes a second or more once per model, layer and mode; a run started afterwards streams its
    first frame without that delay. Safe to call from a background thread.
    """
    vm.layer(layer)
    ascent_settings = settings(vm, mode)
    objective = objectives.channel(layer, [0], border=channel_border(mode)).checked(vm)
    ascent.prepare(vm, objective, step_rules.method_for(vm, ascent_settings), ascent_settings.size)


def settling_from(vm: VizModel, mode: str, steps: int) -> int | None:
    """The first step of a run whose transforms only shift the image (robust mode's second half), or
    None. The score a step records jumps there: it is then measured on a nearly unmoved image."""
    method = step_rules.method_for(vm, settings(vm, mode, steps=steps))
    return next((step for step in range(1, steps + 1) if method.settles(step, steps)), None)


def mean_activations(features, filters, border: int = 0):
    """Mean of channel ``filters[i]`` over image i's feature map (N, h, w, C), minus ``border`` px."""
    return objectives.channel_score(features, filters, border)
