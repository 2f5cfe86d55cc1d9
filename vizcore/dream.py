"""DeepDream: gradient ascent on a photo so that a mix of layers sees more of what excites it.

``dream(vm, image, layers)`` takes an RGB uint8 image (H, W, 3) and a layer mix
``{layer name: weight}`` and returns an iterator of :class:`DreamFrame`; each frame's image is
RGB uint8 of shape (H, W, 3), whatever the octave. It follows the Keras DeepDream example
(Chollet): the loss is the weighted sum of mean squared activations over non-border pixels, the
gradient is normalised by its mean absolute value, and octaves go from small to full size with
the detail lost by shrinking re-injected at each upscale. Large photos can be dreamed in tiles with
a random roll (the TensorFlow DeepDream tutorial): the network's memory is then bounded by the
tile, leaving only a few float copies of the photo itself.

The image is optimised in the model's input space; ``lr`` is measured in half the input range, so
lr 0.01 means the same on a model that takes −1…1 and on one that takes 0…255 (caffe).
Validation happens when ``dream`` is called, before the first frame: bad requests raise
:class:`RequestError` with the received value in the message.

A dream can be tweaked while it runs: given a :class:`vizcore.live.LiveSettings`, the loop reads
the learning rate, the layer mix, the steps per octave, the octave scale and the jitter before
every step, so a change takes effect at the next step, on the image reached so far, and is recorded
with that step (``live.changes``).

A dream climbs with the ascent engine (:mod:`vizcore.ascent`): a photo parameterisation
(:class:`vizcore.param.Photo`), the ``mean_abs`` step rule (:mod:`vizcore.step_rules`, also for
tiles, on NumPy) and the dream objective; its compiled passes live in ascent's per-model cache
(:func:`vizcore.ascent.compiled`), one dreamer per layer set.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import keras
import numpy as np
import tensorflow as tf

from . import ascent, objectives, scheduler, step_rules
from .checks import is_real, positive_number, rgb_image, whole_number
from .errors import RequestError
from .live import LiveSettings
from .models import SCALINGS, VizModel, no_spatial_layer_message
from .param import Photo
from .registry import MODELS

STEPS = 20  # gradient ascent steps per octave
LR = 0.01  # step size, in half the model's input range (the Keras example's 0.01 on −1…1)
OCTAVES = 3  # number of scales, smallest first
OCTAVE_SCALE = 1.4  # size ratio between successive octaves
BORDER = 2  # feature-map pixels left out of the loss on each side (they dream edge artefacts)
NOISE_SIZE = (448, 448)  # (height, width) of a noise start: large enough for three octaves of every default mix
NOISE_AMPLITUDE = (4.0, 2.0)  # grey levels of a noise start's soft blobs and grain: faint noise dreams cleanest
AUTO_TILE = 512  # the tile side auto_tile picks for photos whose longer side exceeds AUTO_TILE_ABOVE
AUTO_TILE_ABOVE = 1024  # px
JITTER = 0  # px: the largest random roll of the image before each step (0: none, as the Keras example)
MAX_JITTER = 512  # px (the TensorFlow tutorial rolls by up to 512)
LIVE = ("layers", "lr", "steps", "octave_scale", "jitter")  # what a running dream reads before each step

# The registry's default mix per model (vizcore.registry: ModelSpec.dream_layers, with why they dream well).
DEFAULT_LAYERS: dict[str, dict[str, float]] = {spec.name: dict(spec.dream_layers) for spec in MODELS.values()}


class DreamFrame(NamedTuple):
    """One view of a running dream."""

    octave: int  # 1 is the smallest scale, ``octaves`` the input's size
    step: int  # ascent steps done in this octave (1-based)
    image: np.ndarray  # RGB uint8 at the input's size, the detail of later octaves already added
    loss: float  # the dream loss before this step's update
    steps: int = 0  # steps of this octave, as this step had them (a live change may alter them)
    taken: int = 0  # steps taken in all octaves so far, this one included


# --- the mix and the request -----------------------------------------------------------------


def default_layers(vm: VizModel) -> dict[str, float]:
    """The layer mix that dreams well on ``vm``: its registry default; for a user's model with a
    keras.applications base nested inside, that base's mix (its layers found by their inner names);
    else three middle-to-deep layers."""
    names = {info.name for info in vm.conv_layers()}
    mix = DEFAULT_LAYERS.get(vm.name, {})
    if mix and all(name in names for name in mix):
        return dict(mix)
    for mix in DEFAULT_LAYERS.values():
        paths = {name: _inner_path(names, name) for name in mix}
        if all(paths.values()):
            return {str(paths[name]): weight for name, weight in mix.items()}
    layers = [info.name for info in vm.conv_layers()]
    if not layers:
        raise RequestError(no_spatial_layer_message(vm))
    picks = dict.fromkeys(layers[min(len(layers) - 1, int(len(layers) * f))] for f in (0.5, 0.65, 0.8))
    return {name: weight for name, weight in zip(picks, (1.0, 1.5, 2.0))}


def _inner_path(paths: set[str], name: str) -> str | None:
    """The one path that ends in ``/name`` (a layer of a nested base), else None."""
    matches = [path for path in paths if path.endswith("/" + name)]
    return matches[0] if len(matches) == 1 else None


def parse_layer_mix(text: str) -> dict[str, float]:
    """``"block4c_add:1.0,block5c_add:1.5"`` → a mix; a name without ``:weight`` gets 1.0."""
    mix: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, weight = item.partition(":")
        try:
            mix[name.strip()] = float(weight) if weight.strip() else 1.0
        except ValueError:
            raise RequestError(
                f"Layer weight {weight!r} for {name!r} is not a number (write the mix as LAYER:WEIGHT,LAYER:WEIGHT)."
            ) from None
    return mix


def check_mix(vm: VizModel, layers: Mapping[str, float]) -> tuple[tuple[str, ...], np.ndarray]:
    """Validate a layer mix; returns the layer names and their weights (zero weights dropped)."""
    if not layers:
        raise RequestError("The layer mix is empty: pick at least one layer to dream with.")
    for name, weight in layers.items():
        vm.layer(name)  # unknown or non-spatial layers raise RequestError
        if not math.isfinite(weight) or weight < 0:
            raise RequestError(f"Layer weight {weight} for {name} must be zero or positive.")
    names = sorted(vm.layer(name).name for name, weight in layers.items() if weight > 0)  # one compiled step per set
    if not names:
        raise RequestError(f"Every layer weight is zero ({', '.join(layers)}): give one a positive weight.")
    weights = {vm.layer(name).name: weight for name, weight in layers.items()}
    return tuple(names), np.array([weights[name] for name in names], np.float32)


def check_settings(
    *,
    steps: int,
    lr: float,
    octaves: int,
    octave_scale: float,
    max_loss: float | None,
    tile: int | None,
    every: int,
    jitter: int = JITTER,
) -> None:
    """Raise RequestError for settings out of range, echoing the value received."""
    whole_number("steps", steps, 1)
    whole_number("jitter", jitter, 0, MAX_JITTER, why="pixels")
    positive_number("lr (learning rate)", lr, "positive")
    whole_number("octaves", octaves, 1)
    if not is_real(octave_scale) or octave_scale <= 1:
        raise RequestError(f"octave scale must be greater than 1, got {octave_scale!r}")
    if max_loss is not None:
        positive_number("max loss", max_loss, "positive (or left out)")
    if tile is not None:
        whole_number("tile", tile, 1, why="a number of pixels")
    whole_number("every", every, 1)


def octave_shapes(size: tuple[int, int], octaves: int, octave_scale: float) -> list[tuple[int, int]]:
    """(height, width) of each octave, smallest first, the last one ``size`` (the Keras example)."""
    return [octave_shape(size, octaves, octave, octave_scale) for octave in range(1, octaves + 1)]


def octave_shape(size: tuple[int, int], octaves: int, octave: int, octave_scale: float) -> tuple[int, int]:
    """(height, width) of octave ``octave`` (1 the smallest) of ``octaves``."""
    shrink = octave_scale ** (octaves - octave)
    return int(size[0] / shrink), int(size[1] / shrink)


# --- compiled steps --------------------------------------------------------------------------


def dream_objective(names: Sequence[str], weights: Sequence[float] | np.ndarray) -> objectives.Objective:
    """Σ_l w_l · mean(a_l²) over each map's non-border pixels (the Keras DeepDream loss)."""
    terms = [float(weight) * objectives.deepdream(name, border=BORDER) for name, weight in zip(names, weights)]
    return functools.reduce(lambda total, term: total + term, terms)


class _Dreamer:
    """The compiled steps for one model and one ordered set of layers (weights are run-time inputs):
    the ascent engine's step on a photo (:class:`vizcore.param.Photo`, the ``mean_abs`` step rule)
    with the dream objective, plus the frame it streams."""

    def __init__(self, vm: VizModel, names: tuple[str, ...]):
        self.extractor = vm.extractor(list(names))  # any input size, unless a layer needs the model's own
        self.fixed_size = (
            tuple(self.extractor.inputs[0].shape[1:3]) if None not in self.extractor.inputs[0].shape[1:3] else None
        )
        photo = Photo(vm.scaling)
        self.low, self.high = photo.low, photo.high
        self.half_range = photo.half_range  # the unit of lr
        self.frame = _frame_function(vm)
        self.min_side: int | None = None  # filled by minimum_side
        self.names = names
        self.objective = dream_objective(names, [1.0] * len(names))
        self.engine = ascent.engine(vm, step_rules.Method(photo, "mean_abs"), self.objective)
        self.gradients = _loss_and_gradient(self.engine.gradient())
        image, detail = tf.TensorSpec((1, None, None, 3), tf.float32), tf.TensorSpec((None, None, 3), tf.float32)
        weights, scalar = self.engine.signature, tf.TensorSpec((), tf.float32)
        inverse = SCALINGS[vm.scaling].inverse
        # Wrapped in partial: TF counts retracings per code object, and every dreamer traces once.
        self.step = tf.function(
            functools.partial(_Dreamer._step, self), input_signature=[image, weights, scalar], autograph=False
        )
        self.step_and_frame = tf.function(  # one call per streamed step: the step, then its frame
            functools.partial(_Dreamer._step_and_frame, self, inverse=inverse),
            input_signature=[image, weights, scalar, detail],
            autograph=False,
        )

    def weights(self, weights: np.ndarray) -> list[tf.Tensor]:
        """The run-time inputs of the mix's weights, in the order of its layers."""
        return dream_objective(self.names, weights).arguments()

    def _step(self, image, weights, lr):
        """One ascent step (the Keras example's gradient_ascent_step, kept in the valid input range)."""
        image, _, scores, _, _ = self.engine.python_step(image, (), 0.0, lr, _NO_SEED, weights)
        return scores[0], image

    def _step_and_frame(self, image, weights, lr, detail, *, inverse):
        loss, image = self._step(image, weights, lr)
        return loss, image, _frame(image, detail, inverse)

    def tiled_gradients(self, image: np.ndarray, weights: list[tf.Tensor], layout) -> tuple[float, np.ndarray]:
        """Mean tile loss and the raw gradient of a (1, H, W, 3) array, tile by tile (the TF tutorial).

        The tiles are cut from the image rolled by ``shift`` (wrapping around), so their seams move
        at every step; the roll is done by indexing, never by copying the image. Each tile's
        gradient is one compiled call, added back in place, so memory beyond two copies of the
        image is bounded by the tile. Overlapping tiles are averaged.
        """
        tile_size, starts_y, starts_x, shift = layout
        height, width = image.shape[1:3]
        gradients = np.zeros_like(image)
        coverage, losses = np.zeros((height, width, 1), np.float32), []
        for y, x in itertools.product(starts_y, starts_x):
            window = np.ix_(
                (np.arange(y, y + tile_size[0]) - shift[0]) % height,
                (np.arange(x, x + tile_size[1]) - shift[1]) % width,
            )
            loss, tile_gradients = self.gradients(image[0][window][None], weights)
            gradients[0][window] += tile_gradients.numpy()[0]
            coverage[window] += 1.0
            losses.append(float(loss))
        gradients /= coverage
        return float(np.mean(losses)), gradients

    def tiled_step(self, image: np.ndarray, weights: list[tf.Tensor], lr: float, layout) -> tuple[float, np.ndarray]:
        """One ascent step on tiles (the ``mean_abs`` rule on the whole gradient), updating ``image`` in place."""
        loss, gradients = self.tiled_gradients(image, weights, layout)
        step_rules.mean_abs_step_in_place(image, gradients, lr)
        np.clip(image, self.low, self.high, out=image)
        return loss, image


def _loss_and_gradient(gradient):
    """The engine's (scores, gradient) of a batch of one as (loss, gradient)."""

    def loss_and_gradient(image, weights):
        scores, gradients = gradient(image, weights)
        return scores[0], gradients

    return loss_and_gradient


_NO_SEED = tf.zeros([2], tf.int32)  # a photo is dreamed without random transforms


def _frame(image: tf.Tensor, detail: tf.Tensor, inverse) -> tf.Tensor:
    """RGB uint8 at the detail's size: the octave's image upscaled plus the detail it lacks.

    An empty detail means the image is at full size already: it is only deprocessed.
    """
    full = tf.cond(
        tf.size(detail) > 0, lambda: tf.image.resize(image, tf.shape(detail)[:2])[0] + detail, lambda: image[0]
    )
    return tf.saturate_cast(tf.round(inverse(full)), tf.uint8)


def _frame_function(vm: VizModel):
    """The compiled frame conversion of a model's input scaling (shared by every mix), in ascent's cache."""
    inverse = SCALINGS[vm.scaling].inverse

    def build():
        return tf.function(
            lambda image, detail: _frame(image, detail, inverse),
            input_signature=[tf.TensorSpec((1, None, None, 3), tf.float32), tf.TensorSpec((None, None, 3), tf.float32)],
            autograph=False,
        )

    return ascent.compiled(vm, ("dream frame",), build)


def _dreamer(vm: VizModel, names: tuple[str, ...]) -> _Dreamer:
    """One compiled dreamer per model and layer set, shared by every caller: an entry of ascent's
    per-model cache of compiled functions (the recent ones are kept)."""
    return ascent.compiled(vm, ("dreamer", names), lambda: _Dreamer(vm, names))


# --- tiles and sizes -------------------------------------------------------------------------


def tile_layout(size: tuple[int, int], tile: int | None, rng: np.random.Generator):
    """Tile (height, width), tile starts along y and x, and a random roll for an image of ``size``.

    Tiles all have the same size and spread evenly (overlapping a little when the side is no
    multiple of the tile). Only axes cut into several tiles are rolled: an image that fits one
    tile has no seams to hide and is dreamed exactly as without tiling.
    """
    tile_size, starts, shift = [], [], []
    for side in size:
        side_tile = min(tile or side, side)
        count = math.ceil(side / side_tile)
        tile_size.append(side_tile)
        starts.append(np.round(np.linspace(0, side - side_tile, count)).astype(np.int32))
        shift.append(int(rng.integers(side)) if count > 1 else 0)
    return tuple(tile_size), starts[0], starts[1], tuple(shift)


def auto_tile(size: tuple[int, int]) -> int | None:
    """A tile side for a photo of ``size`` (height, width): AUTO_TILE above AUTO_TILE_ABOVE pixels, else none."""
    return AUTO_TILE if max(size) > AUTO_TILE_ABOVE else None


def _map_sizes(extractor: keras.Model, size: tuple[int, int]) -> list[tuple[int, int]] | None:
    """Each layer's feature-map (height, width) for an input of ``size``; None if it cannot run."""
    try:
        shapes = extractor.compute_output_shape((1, *size, 3))
    except (ValueError, TypeError):
        return None
    shapes = shapes if isinstance(shapes, list) else [shapes]
    return [tuple(shape[1:3]) for shape in shapes]


def _fits(extractor: keras.Model, size: tuple[int, int]) -> bool:
    """Every layer keeps at least one pixel inside its border at this input size."""
    sizes = _map_sizes(extractor, size)
    return sizes is not None and all(min(map_size) > 2 * BORDER for map_size in sizes)


def minimum_side(vm: VizModel, names: Sequence[str]) -> int:
    """The smallest square input on which every layer of the mix has non-border pixels."""
    dreamer = _dreamer(vm, tuple(names))
    if dreamer.min_side is None and dreamer.fixed_size is not None:  # the mix only runs at the model's size
        if not _fits(dreamer.extractor, dreamer.fixed_size):
            raise RequestError(f"Layers {', '.join(names)} of {vm.name} have no spatial extent to dream on.")
        dreamer.min_side = min(dreamer.fixed_size)
    if dreamer.min_side is None:
        low, high = 1, 4096
        if not _fits(dreamer.extractor, (high, high)):
            raise RequestError(f"Layers {', '.join(names)} of {vm.name} have no spatial extent to dream on.")
        while low < high:
            middle = (low + high) // 2
            low, high = (low, middle) if _fits(dreamer.extractor, (middle, middle)) else (middle + 1, high)
        dreamer.min_side = low
    return dreamer.min_side


def check_size(
    vm: VizModel, names: Sequence[str], size: tuple[int, int], octaves: int, octave_scale: float, tile: int | None
) -> None:
    """RequestError if the smallest octave (or the tile) is too small for the mix's deepest layer."""
    smallest = octave_shapes(size, octaves, octave_scale)[0]
    need = minimum_side(vm, names)
    if tile is not None and tile < need:
        raise RequestError(
            f"tile {tile} is too small for layers {', '.join(names)}: use tiles of at least {need} pixels."
        )
    if min(smallest) < need:
        photo = math.ceil(need * octave_scale ** (octaves - 1))
        raise RequestError(
            f"The photo is {size[1]}×{size[0]} pixels, too small for {octaves} octaves at scale "
            f"{octave_scale:g}: the smallest octave ({smallest[1]}×{smallest[0]}) must be at least {need} "
            f"pixels a side for layers {', '.join(names)}. Use fewer octaves, a smaller octave scale, "
            f"shallower layers or a photo of at least {photo} pixels a side."
        )


# --- the dream -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DreamRequest:
    """A dream, checked once: the photo (at the size it is dreamed), the layer mix and the settings.
    Frozen and hashable (the photo by its digest); :func:`run` takes it as it is."""

    digest: str
    layers: tuple[tuple[str, float], ...]  # (layer, weight ≥ 0), the mix
    steps: int = STEPS
    lr: float = LR
    octaves: int = OCTAVES
    octave_scale: float = OCTAVE_SCALE
    max_loss: float | None = None
    tile: int | None = None
    seed: int | None = None
    every: int = 1
    jitter: int = JITTER
    photo: np.ndarray = field(compare=False, repr=False, default_factory=lambda: np.zeros((0, 0, 3), np.uint8))
    resolved: tuple[tuple[str, ...], tuple[float, ...]] = field(compare=False, repr=False, default=((), ()))
    # the mix's layers as the model names them (nested paths) and their weights: what the loop dreams with

    @property
    def mix(self) -> dict[str, float]:
        return dict(self.layers)


def dream_request(
    vm: VizModel,
    image: np.ndarray,
    layers: Mapping[str, float],
    *,
    steps: int = STEPS,
    lr: float = LR,
    octaves: int = OCTAVES,
    octave_scale: float = OCTAVE_SCALE,
    max_loss: float | None = None,
    tile: int | None = None,
    seed: int | None = None,
    every: int = 1,
    jitter: int = JITTER,
) -> DreamRequest:
    """Check a dream once: the photo (resized to the model's size when a layer of the mix takes no
    other), the mix and the settings; :func:`dream` says what each means.

    Raises:
        RequestError: unknown layer, empty mix, negative weight, lr ≤ 0, steps < 1, octave
            scale ≤ 1, jitter out of range, or a photo (or tile) too small for the octaves and layers.
    """
    names, weights = check_mix(vm, layers)
    check_settings(
        steps=steps, lr=lr, octaves=octaves, octave_scale=octave_scale, max_loss=max_loss, tile=tile, every=every,
        jitter=jitter,
    )  # fmt: skip
    photo = _at_fixed_size(vm, _dreamer(vm, names), rgb_image(image), octaves, tile)
    _check_photo_size(vm, names, photo.shape[:2], octaves, octave_scale, tile)
    photo = np.array(photo, copy=True)
    photo.flags.writeable = False
    digest = hashlib.sha256(repr(photo.shape).encode() + photo.tobytes()).hexdigest()
    mix = tuple((name, float(weight)) for name, weight in dict(layers).items())  # as given: the live updates' names
    resolved = (tuple(names), tuple(float(weight) for weight in weights))
    return DreamRequest(
        digest, mix, steps, lr, octaves, octave_scale, max_loss, tile, seed, every, jitter, photo, resolved
    )


def dream(vm: VizModel, image: np.ndarray, layers: Mapping[str, float], *, live: LiveSettings | None = None,
          **settings) -> Iterator[DreamFrame]:  # fmt: skip
    """DeepDream ``image`` with a layer mix, from the smallest octave to the input's size.

    Args:
        vm: the model to dream with.
        image: RGB uint8 (H, W, 3): a photo, or :func:`noise_image` for a dream from nothing.
        layers: {layer name: weight ≥ 0}; the loss is Σ w_l · mean(a_l²) over non-border pixels.
        steps: gradient ascent steps per octave.
        lr: step size in half the model's input range; gradients are normalised by their mean |g|.
        octaves: number of scales; each is ``octave_scale`` times larger than the previous one.
        octave_scale: size ratio between octaves, > 1.
        max_loss: an octave ends early once its loss exceeds this (the Keras example's max_loss).
        tile: if given, gradients are taken on tiles of at most tile × tile pixels with a random
            roll (the TensorFlow tutorial), so memory is bounded for large photos.
        seed: seeds the random roll; the same seed gives the same dream.
        every: yield a frame every ``every`` steps (the last step always yields).
        jitter: before each step the image is rolled by up to this many pixels at random along
            each axis, and rolled back after it (the TensorFlow tutorial), so no pixel stays at a
            border; 0 (the default) rolls nothing.
        live: the run's live settings (``LIVE``: layers, lr, steps, octave_scale, jitter), begun
            here with the values above: ``live.update(lr=0.02)`` from another thread takes effect
            at the next step, on the image reached, and is recorded in ``live.changes``. The
            steps apply to the current octave and the next; the octave scale to the octaves
            still to come.

    Returns:
        An iterator of DreamFrame(octave, step, image, loss, steps, taken); validation happens on call.
        Iterating may wait for short work or end in :class:`vizcore.scheduler.Cancelled` before any
        step (:func:`vizcore.scheduler.checkpoint`), in a long run's turn.

    Raises:
        RequestError: unknown layer, empty mix, negative weight, lr ≤ 0, steps < 1, octave
            scale ≤ 1, jitter out of range, or a photo (or tile) too small for the octaves and layers.
    """
    return run(vm, dream_request(vm, image, layers, **settings), live)


def run(vm: VizModel, request: DreamRequest, live: LiveSettings | None = None) -> Iterator[DreamFrame]:
    """Dream a checked request, from its smallest octave to the photo's size, yielding frames.

    ``live``: the run's live settings (``LIVE``), begun with the request's values (not checked again);
    an update is checked then and taken at the next step. Iterating may wait for short work or end in
    :class:`vizcore.scheduler.Cancelled` before any step (a long run's turn)."""
    image = request.photo
    live = live if live is not None else LiveSettings()
    start = {"layers": request.mix, "lr": request.lr, "steps": request.steps, "octave_scale": request.octave_scale,
             "jitter": request.jitter}  # fmt: skip
    check = _live_check(vm, image.shape[:2], request.octaves, request.max_loss, request.tile, request.every)
    live.begin(start, check, checked=True)
    stepper = _DreamStepper(vm, request.tile, np.random.default_rng(request.seed))
    stepper.start(request.mix, request.resolved)
    frames = _frames(stepper, tf.constant(vm.preprocess(image)), request.octaves, live, request.max_loss, request.every)
    return frames if vm.channels == 3 else (frame._replace(image=vm.as_seen(frame.image)) for frame in frames)


def _live_check(
    vm: VizModel, size: tuple[int, int], octaves: int, max_loss: float | None, tile: int | None, every: int
):
    """The check of a dream's live settings: a mix, lr, steps, octave scale and jitter that the photo
    (at ``size``) can be dreamed with, from its smallest octave on."""

    def check(values: Mapping) -> None:
        check_settings(
            steps=values["steps"],
            lr=values["lr"],
            octaves=octaves,
            octave_scale=values["octave_scale"],
            max_loss=max_loss,
            tile=tile,
            every=every,
            jitter=values["jitter"],
        )
        names, _ = check_mix(vm, values["layers"])
        _check_photo_size(vm, names, size, octaves, values["octave_scale"], tile)

    return check


def _check_photo_size(vm: VizModel, names, size, octaves: int, octave_scale: float, tile: int | None) -> None:
    """A photo of ``size`` can be dreamed with these layers: their fixed size, if any, and every octave."""
    fixed = _dreamer(vm, names).fixed_size
    if fixed is not None and fixed != tuple(size):
        raise RequestError(
            f"Layers {', '.join(names)} of {vm.name} only take {fixed[1]}×{fixed[0]} images; "
            f"this dream is {size[1]}×{size[0]}."
        )
    check_size(vm, names, size, octaves, octave_scale, tile)


def _at_fixed_size(vm: VizModel, dreamer: _Dreamer, image: np.ndarray, octaves: int, tile: int | None) -> np.ndarray:
    """The photo, or the photo resized to the model's size when a layer of the mix takes no other size."""
    if dreamer.fixed_size is None or tuple(image.shape[:2]) == dreamer.fixed_size:
        return image
    height, width = dreamer.fixed_size
    if octaves > 1 or tile is not None:
        raise RequestError(
            f"{vm.name} only takes {width}×{height} images (a layer needs that size), so it can "
            "dream in one octave without tiles, at that size: set octaves to 1."
        )
    return vm.resize_for_input(image)


class _DreamStepper:
    """One gradient ascent step, tiled or not, with the live settings' mix, lr and jitter and the run's
    random roll."""

    def __init__(self, vm: VizModel, tile: int | None, rng: np.random.Generator):
        self.vm, self.tile, self.rng = vm, tile, rng
        self.mix: dict | None = None
        self.lr, self.jitter = 0.0, 0

    def start(self, mix: Mapping[str, float], resolved: tuple[tuple[str, ...], tuple[float, ...]]) -> None:
        """Begin with a checked request's mix (its layers resolved already)."""
        names, weights = resolved
        self.dreamer = _dreamer(self.vm, names)
        self.weights = self.dreamer.weights(np.asarray(weights, np.float32))
        self.mix = dict(mix)

    def use(self, settings: Mapping) -> None:
        """Take a step's live settings: another layer set takes its own compiled dreamer (built once)."""
        if settings["layers"] != self.mix:
            names, weights = check_mix(self.vm, settings["layers"])
            self.dreamer = _dreamer(self.vm, names)
            self.weights = self.dreamer.weights(weights)
            self.mix = dict(settings["layers"])
        self.lr = settings["lr"] * self.dreamer.half_range
        self.jitter = settings["jitter"]

    def __call__(self, image, detail: tf.Tensor | None = None) -> tuple[float, object, np.ndarray | None]:
        """(loss before the step, image after it, and its frame when ``detail`` is given, else None)."""
        if not self.jitter:
            return self._step(image, detail)
        shift = [int(self.rng.integers(-self.jitter, self.jitter + 1)) for _ in range(2)]
        loss, image, _ = self._step(tf.roll(image, shift, axis=[1, 2]))
        image = tf.roll(image, [-shift[0], -shift[1]], axis=[1, 2])  # back in place before its frame
        return loss, image, None if detail is None else self.dreamer.frame(image, detail).numpy()

    def _step(self, image, detail: tf.Tensor | None = None) -> tuple[float, object, np.ndarray | None]:
        if self.tile is None:
            if detail is None:
                loss, image = self.dreamer.step(image, self.weights, self.lr)
                return float(loss), image, None
            loss, image, frame = self.dreamer.step_and_frame(image, self.weights, self.lr, detail)
            return float(loss), image, frame.numpy()
        if not isinstance(image, np.ndarray):  # tiles update a NumPy copy in place
            image = np.array(image, np.float32)
        layout = tile_layout(image.shape[1:3], self.tile, self.rng)
        loss, image = self.dreamer.tiled_step(image, self.weights, self.lr, layout)
        return loss, image, None if detail is None else self.dreamer.frame(image, detail).numpy()


def _resize(images, shape) -> tf.Tensor:
    """Images (1, H, W, 3) at ``shape``; unchanged (no copy) when already that size."""
    if tuple(images.shape[1:3]) == tuple(shape):
        return images
    return tf.image.resize(images, shape, antialias=True)


_NO_DETAIL = tf.zeros((0, 0, 3))  # the frame of a full-size octave: nothing to upscale or add


def _frames(
    stepper: _DreamStepper,
    original: tf.Tensor,
    octaves: int,
    live: LiveSettings,
    max_loss: float | None,
    every: int,
) -> Iterator[DreamFrame]:
    """The octave loop of the Keras example, with the lost detail re-injected before each ascent.

    The live settings are taken before every step; an octave's size is set as it starts, by the
    octave scale then in use (never smaller than the octave before it).

    The loop may wait or be cancelled: before every step it calls :func:`vizcore.scheduler.checkpoint`,
    which in a long run's turn waits while short work is in flight and raises
    :class:`vizcore.scheduler.Cancelled` once the run was stopped.
    """
    full = tuple(original.shape[1:3])
    settings = live.take(1)
    shape = octave_shape(full, octaves, 1, settings["octave_scale"])
    image, previous, taken = _resize(original, shape), shape, 0
    for octave in range(1, octaves + 1):
        if octave > 1:  # upscale, then add back what shrinking the photo had lost
            settings = live.take(taken + 1)  # an octave scale changed during the last octave sizes this one
            wanted_shape = octave_shape(full, octaves, octave, settings["octave_scale"])
            shape = (max(previous[0], wanted_shape[0]), max(previous[1], wanted_shape[1]))  # never shrink
            lost_detail = _resize(original, shape) - _resize(_resize(original, previous), shape)
            image = tf.clip_by_value(_resize(image, shape) + lost_detail, stepper.dreamer.low, stepper.dreamer.high)
        preview_detail = (original - _resize(_resize(original, shape), full))[0] if shape != full else _NO_DETAIL
        step, shown = 0, True
        while step < settings["steps"]:
            scheduler.checkpoint()  # give way to short work; end here if the run was stopped
            settings = live.take(taken + 1)
            stepper.use(settings)
            if step >= settings["steps"]:  # the steps were lowered below those this octave took
                break
            step, taken = step + 1, taken + 1
            wanted = taken % every == 0 or (octave == octaves and step == settings["steps"])
            loss, image, frame = stepper(image, preview_detail if wanted else None)
            stop = max_loss is not None and loss > max_loss
            if stop and frame is None:
                frame = stepper.dreamer.frame(image, preview_detail).numpy()
            shown = frame is not None
            if frame is not None:
                yield DreamFrame(octave, step, frame, loss, settings["steps"], taken)
            if stop:
                break
        previous = shape
    if not shown:  # the last octave's steps were lowered to those already taken: its last frame
        yield DreamFrame(octaves, step, stepper.dreamer.frame(image, preview_detail).numpy(), loss, step, taken)


def dream_gradients(
    vm: VizModel, image: np.ndarray, layers: Mapping[str, float], *, tile: int | None = None, seed: int | None = None
) -> tuple[float, np.ndarray]:
    """The dream loss of an RGB uint8 image and its normalised gradient (model input space), tiled or not."""
    names, weights = check_mix(vm, layers)
    dreamer = _dreamer(vm, names)
    inputs = vm.preprocess(rgb_image(image))
    if tile is None:
        loss, gradients = dreamer.gradients(inputs, dreamer.weights(weights))
        loss, gradients = float(loss), gradients.numpy()
    else:
        layout = tile_layout(inputs.shape[1:3], tile, np.random.default_rng(seed))
        loss, gradients = dreamer.tiled_gradients(inputs, dreamer.weights(weights), layout)
    return loss, step_rules.mean_abs_normalised(gradients)[0]


def dream_loss_of(vm: VizModel, image: np.ndarray, layers: Mapping[str, float]) -> float:
    """The dream loss of an RGB uint8 image (no gradient step)."""
    return dream_gradients(vm, image, layers)[0]


# --- starts and outputs ----------------------------------------------------------------------


def noise_image(height: int = NOISE_SIZE[0], width: int = NOISE_SIZE[1], seed: int | None = None) -> np.ndarray:
    """A dream start from nothing: mid-grey with faint colour noise, RGB uint8 (height, width, 3)."""
    if height < 1 or width < 1:
        raise RequestError(f"Noise size must be positive, got {width}×{height}.")
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0.0, 1.0, (max(2, height // 16), max(2, width // 16), 3))
    blobs = tf.image.resize(coarse[None].astype(np.float32), (height, width), method="bicubic")[0].numpy()
    grain = rng.normal(0.0, 1.0, (height, width, 3))
    blob_amplitude, grain_amplitude = NOISE_AMPLITUDE
    return np.clip(np.rint(128.0 + blob_amplitude * blobs + grain_amplitude * grain), 0, 255).astype(np.uint8)
