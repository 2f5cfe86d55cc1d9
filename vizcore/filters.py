"""What each filter of a layer responds to: activation maximisation, all filters in one batch.

``visualize(vm, layer, filters)`` optimises one image per requested filter, image i maximising
the mean activation of filter ``filters[i]``, with one compiled forward/backward step for the
whole batch (large requests are split into chunks so memory stays bounded, and every chunk moves
one step before the next step starts, so the whole grid grows together). It is a generator of
:class:`FilterFrame`; it never touches a UI, so the page, the CLI and the tests share it.

Two modes:

* ``classic``: the Keras example "Visualizing what convnets learn" (Chollet): a noisy grey
  start, gradient ascent with an L2-normalised gradient of step ``lr``, a loss that leaves out
  a 2-px border of the feature map, and deprocessing to centre, std 0.15, clip, crop 25 px.
* ``robust``: Lucid (Olah et al., "Feature Visualization", Distill 2017): the image is
  parameterised as a decorrelated-colour 1/f spectrum (:mod:`vizcore.param`), randomly padded,
  jittered, scaled and rotated every step (:mod:`vizcore.transforms`) and optimised with Adam;
  for the first steps ReLU gradients are redirected so filters dead at the start can come alive.

A filter is *dead* when its activation has no gradient with respect to the image at the start
(it never fires on grey noise); ``FilterFrame.dead`` says which ones still are.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import numpy as np
import tensorflow as tf

from . import param, transforms
from .cache import PerModel
from .checks import positive_number, whole_number
from .errors import RequestError
from .models import SCALINGS, VizModel
from .relu_override import REDIRECTED_RELU

MODES = ("classic", "robust")
CLASSIC = dict(steps=30, lr=10.0, size=180)  # the Keras example's settings
ROBUST_STEPS = 256  # Lucid optimises 512 steps; half is nearly as clean on these models
ROBUST_LR = 0.05  # Adam step on the spectrum (Lucid's default)
ROBUST_SIZE_AT_224 = 128  # robust image side for a 224-px model; scaled with the model's input size
CROP = 25  # classic: pixels cropped from each side of the finished image
FEATURE_BORDER = 2  # classic: feature-map border left out of the loss
MIN_TILE = 16  # smallest finished image side
MIN_SIZE = {"classic": 2 * CROP + MIN_TILE, "robust": 32}
MAX_SIZE = 512  # largest image side
MAX_STEPS = 2000  # more than this is a typo, not a plan
MAX_SEED = 2**31 - 1
RELU_OVERRIDE_STEPS = 16  # robust: steps with redirected ReLU gradients (Lucid)
CHUNK_PIXELS = 8 * 180 * 180  # images per compiled call = this / side²: fastest on 2 cores, bounds memory
ADAM = dict(beta_1=0.9, beta_2=0.999, epsilon=1e-8)
SMALL_IMAGE = 64  # robust, small models: below this side, the transforms' pixel counts shrink in proportion


class AscentSettings(NamedTuple):
    """A run's parameters once defaults are resolved and checked."""

    mode: str
    steps: int
    lr: float
    size: int
    seed: int | None


class FilterFrame(NamedTuple):
    """One streamed state of a ascent_settings.

    images: uint8 (N, h, w, 3), image i made for ``filters[i]``.
    activations: float32 (N,), each filter's mean activation on its image (at the last step;
        in the final frame, measured on the finished image).
    dead: bool (N,), filters without gradient at the start that have not come alive.
    history: float32 (step, N), the activation at every step so far (the activation curves;
        in robust mode measured on the transformed image the step optimised).
    initial: float32 (N,), each filter's activation on its starting image, measured like the
        final ``activations``; in the final frame only (None before).
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
    Lucid's (Adam 0.05) with about 128 px for a 224-px model and ``ROBUST_STEPS`` steps. A model
    that takes only small fixed inputs (28, 32, 64 px) gets its filters at its own size.

    Raises:
        RequestError: unknown mode, steps ≤ 0 or > MAX_STEPS, lr ≤ 0, size out of range, bad seed.
    """
    if mode not in MODES:
        raise RequestError(f"Unknown mode {mode!r}: use one of {', '.join(MODES)}.")
    defaults = CLASSIC if mode == "classic" else dict(steps=ROBUST_STEPS, lr=ROBUST_LR, size=robust_size(vm))
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


def small_model_side(vm: VizModel) -> int | None:
    """The side of a model that takes only small fixed square-ish inputs (28, 32, 64 px), else None.

    Its filters are made at that size (classic mode then crops nothing)."""
    if vm.fixed_size and max(vm.input_size) < min(CLASSIC["size"], MIN_SIZE["classic"] + 2 * CROP):
        return int(max(vm.input_size))
    return None


def crop_for(size: int) -> int:
    """Classic mode's crop: CROP px a side, none for images smaller than MIN_SIZE (a small model's own size)."""
    return CROP if size >= MIN_SIZE["classic"] else 0


def robust_size(vm: VizModel) -> int:
    """About 128 px for a 224-px model, in proportion for others, a multiple of 8 (at least 32)."""
    return max(MIN_SIZE["robust"], int(8 * round(ROBUST_SIZE_AT_224 * max(vm.input_size) / 224 / 8)))


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


# --- the ascent ------------------------------------------------------------------------------


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

    Yields:
        FilterFrame after steps ``every``, ``2·every``, … and the last.

    Raises:
        RequestError: bad layer, filters or parameters (checked before any work).
    """
    filters = check_filters(vm, layer, filters)
    ascent_settings = settings(vm, mode, steps=steps, lr=lr, size=size, seed=seed)
    whole_number("every", every, 1, MAX_STEPS)
    if chunk_size is not None:
        whole_number("chunk_size", chunk_size, 1, 100_000)
    seed = ascent_settings.seed if ascent_settings.seed is not None else int(np.random.default_rng().integers(MAX_SEED))
    ascent = (ClassicAscent if mode == "classic" else RobustAscent)(vm, layer, ascent_settings)
    return _frames(ascent, filters, ascent_settings, seed, every, chunk_size or ascent.chunk_size())


def prepare(vm: VizModel, layer: str, mode: str = "classic") -> None:
    """Trace and instantiate the compiled steps for ``layer`` ahead of a ascent_settings.

    Takes a second or more once per model, layer and mode; a run started afterwards streams its
    first frame without that delay. Safe to call from a background thread.
    """
    vm.layer(layer)
    ascent_settings = settings(vm, mode)
    ascent = (ClassicAscent if mode == "classic" else RobustAscent)(vm, layer, ascent_settings)
    filters = tf.constant([0], tf.int32)
    state = ascent.start(filters, 0)
    ascent.step(state, filters, 1, 0)
    ascent.step(state, filters, 2, 0)  # robust: the ReLU-redirecting variant
    ascent.measure(state, filters)
    ascent.pixels(state)


def _frames(
    ascent, filters, ascent_settings: AscentSettings, seed: int, every: int, chunk_size: int
) -> Iterator[FilterFrame]:
    """The loop itself: every chunk takes step k, then a frame if it is due."""
    chunks = [list(part) for part in np.array_split(np.arange(len(filters)), math.ceil(len(filters) / chunk_size))]
    chunk_filters = [tf.constant([filters[i] for i in chunk], tf.int32) for chunk in chunks]
    states = [ascent.start(indices, seed) for indices in chunk_filters]
    starts = list(states) if not ascent.first_step_measures_start else None  # measured at the end
    initial = dead_at_start = dead = None
    history = np.zeros((ascent_settings.steps, len(filters)), np.float32)
    for step in range(1, ascent_settings.steps + 1):
        norms = []
        for number, indices in enumerate(chunk_filters):
            states[number], activations, grad_norms = ascent.step(states[number], indices, step, seed)
            history[step - 1, chunks[number]] = activations.numpy()
            norms.append(grad_norms.numpy())
        if ascent.real_gradient(step):
            no_gradient = np.concatenate(norms) == 0
            dead_at_start = no_gradient if dead_at_start is None else dead_at_start  # step 1: the start
            dead = dead_at_start & no_gradient
        if step % every == 0 or step == ascent_settings.steps:
            last = step == ascent_settings.steps
            activations = _measure(ascent, states, chunk_filters) if last else history[step - 1].copy()
            if last:
                initial = history[0].copy() if starts is None else _measure(ascent, starts, chunk_filters)
            images = np.concatenate([ascent.pixels(state) for state in states])
            yield FilterFrame(
                step,
                ascent_settings.steps,
                images,
                activations,
                np.array(dead),
                history[:step].copy(),
                initial,
                filters,
            )


def _measure(ascent, states, chunk_filters) -> np.ndarray:
    """Each filter's activation on its current, untransformed image."""
    return np.concatenate([ascent.measure(state, indices).numpy() for state, indices in zip(states, chunk_filters)])


def mean_activations(features: tf.Tensor, filters: tf.Tensor, border: int = 0) -> tf.Tensor:
    """Mean of channel ``filters[i]`` over image i's feature map (N, h, w, C), minus ``border`` px."""
    chosen = tf.gather(features, filters, axis=3, batch_dims=1)  # (N, h, w)
    height, width = tf.shape(chosen)[1], tf.shape(chosen)[2]
    border = tf.where(tf.minimum(height, width) > 2 * border, border, 0)
    return tf.reduce_mean(chosen[:, border : height - border, border : width - border], axis=(1, 2))


MAX_COMPILED = 24  # compiled functions kept per model (each holds a traced graph), least recently used dropped
_COMPILED = PerModel(MAX_COMPILED)


def _compiled(vm: VizModel, key: tuple, build):
    """A compiled function per model and key, built once and shared while it is among the recent ones."""
    _COMPILED.size = MAX_COMPILED  # a test may lower it
    return _COMPILED.get(vm, key, build)


def _features(vm: VizModel, layer: str, inputs: tf.Tensor) -> tf.Tensor:
    """The layer's activations; images are resized to the model's size if its view takes no other."""
    extractor = vm.extractor([layer])
    fixed = tuple(extractor.inputs[0].shape[1:3])
    if None not in fixed:
        inputs = tf.image.resize(inputs, fixed)
    outputs = extractor(inputs, training=False)
    return outputs[0] if isinstance(outputs, (list, tuple)) else outputs


IMAGES = tf.TensorSpec([None, None, None, 3], tf.float32)  # any batch and size: traced once
INDICES = tf.TensorSpec([None], tf.int32)
SCALAR = tf.TensorSpec([], tf.float32)
SEED = tf.TensorSpec([2], tf.int32)
SPECTRUM = tf.TensorSpec([None, 2, 3, None, None], tf.float32)  # see vizcore.param


class ClassicAscent:
    """Gradient ascent on pixels in [-1, 1] (the Keras example), L2-normalised per image."""

    def __init__(self, vm: VizModel, layer: str, ascent_settings: AscentSettings):
        self.vm, self.layer, self.ascent_settings = vm, layer, ascent_settings
        self._step = _compiled(vm, ("classic", layer), self._build_step)
        self._measure = _compiled(vm, ("classic-measure", layer), self._build_measure)

    def chunk_size(self) -> int:
        return max(1, CHUNK_PIXELS // self.ascent_settings.size**2)

    def _activations(self, images, filters):
        inputs = SCALINGS[self.vm.scaling].forward((images + 1.0) * 127.5)
        return mean_activations(_features(self.vm, self.layer, inputs), filters, FEATURE_BORDER)

    def _build_step(self):
        @tf.function(input_signature=[IMAGES, INDICES, SCALAR])
        def classic_step(images, filters, lr):
            with tf.GradientTape() as tape:
                tape.watch(images)
                activations = self._activations(images, filters)
                total = tf.reduce_sum(activations)  # image i only moves filter i: one backward for all
            gradients = tape.gradient(total, images)
            norms = tf.norm(tf.reshape(gradients, [tf.shape(gradients)[0], -1]), axis=1)
            images = images + lr * tf.math.l2_normalize(gradients, axis=[1, 2, 3])
            return images, activations, norms

        return classic_step

    def _build_measure(self):
        return tf.function(self._activations, input_signature=[IMAGES, INDICES])

    def start(self, filters: tf.Tensor, seed: int) -> tf.Tensor:
        """A grey image with uniform noise of ±0.125 per filter, seeded by (seed, filter)."""
        shape = [self.ascent_settings.size, self.ascent_settings.size, 3]
        noise = [tf.random.stateless_uniform(shape, [seed, index]) for index in filters.numpy()]
        return (tf.stack(noise) - 0.5) * 0.25

    def step(self, images, filters, step: int, seed: int):
        return self._step(images, filters, tf.constant(self.ascent_settings.lr, tf.float32))

    first_step_measures_start = True  # step 1 measures the untransformed start: no extra forward pass

    def real_gradient(self, step: int) -> bool:
        return True

    def measure(self, images, filters) -> tf.Tensor:
        return self._measure(images, filters)

    def pixels(self, images) -> np.ndarray:
        return self.vm.as_seen(deprocess(images, crop=crop_for(self.ascent_settings.size)))


def deprocess(images, crop: int = CROP) -> np.ndarray:
    """The Keras example's deprocessing: centre, std 0.15 around grey, clip, crop ``crop`` px → uint8."""
    return _deprocess(tf.convert_to_tensor(images, tf.float32), tf.constant(crop, tf.int32)).numpy()


@tf.function(input_signature=[IMAGES, tf.TensorSpec([], tf.int32)])
def _deprocess(images, crop):
    mean, variance = tf.nn.moments(images, axes=[1, 2, 3], keepdims=True)
    images = (images - mean) / (tf.sqrt(variance) + 1e-5) * 0.15 + 0.5
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    images = images[:, crop : height - crop, crop : width - crop]
    return tf.cast(tf.clip_by_value(images, 0.0, 1.0) * 255.0, tf.uint8)  # truncates, as astype(uint8)


class RobustAscent:
    """Adam on a decorrelated 1/f spectrum under random transforms (Lucid)."""

    def __init__(self, vm: VizModel, layer: str, ascent_settings: AscentSettings):
        self.vm, self.layer, self.ascent_settings = vm, layer, ascent_settings
        own_side = small_model_side(vm)  # a small model's own-size filters get gentler transforms
        pixel_scale = round(min(1.0, own_side / SMALL_IMAGE), 1) if own_side else 1.0
        self.transform = transforms.standard(pixel_scale=pixel_scale)
        small = () if pixel_scale == 1.0 else (pixel_scale,)  # the transforms are part of the compiled step
        self._step = _compiled(vm, ("robust", layer, *small), lambda: self._build_step(redirect_relu=False))
        self._revive = _compiled(vm, ("robust-revive", layer, *small), lambda: self._build_step(redirect_relu=True))
        self._measure = _compiled(vm, ("robust-measure", layer), self._build_measure)

    def chunk_size(self) -> int:
        return max(1, CHUNK_PIXELS // (self.ascent_settings.size + 24) ** 2)  # the pad transform adds 24 px

    def _activations(self, rgb, filters):
        inputs = SCALINGS[self.vm.scaling].forward(rgb * 255.0)
        return mean_activations(_features(self.vm, self.layer, inputs), filters)

    def _build_step(self, redirect_relu: bool):
        """The step, with ReLU gradients redirected or not: two functions, since a run-time switch
        inside the ReLU gradients would slow every step down by a quarter."""

        @tf.function(input_signature=[SPECTRUM, SPECTRUM, SPECTRUM, SCALAR, SEED, INDICES, SCALAR])
        def robust_step(spectrum, m, v, t, seed, filters, lr):
            images = self.transform(param.to_rgb(spectrum), seed)
            graph = tf.compat.v1.get_default_graph()
            with graph.gradient_override_map(REDIRECTED_RELU if redirect_relu else {}):
                activations = self._activations(images, filters)
            loss = -tf.reduce_sum(activations)  # minimised, Lucid's sign convention for the overrides
            gradient = tf.gradients(loss, spectrum)[0]  # tf.gradients honours the override map
            norms = tf.norm(tf.reshape(gradient, [tf.shape(gradient)[0], -1]), axis=1)
            spectrum, m, v = adam(spectrum, gradient, m, v, t, lr)
            return spectrum, m, v, activations, norms

        return robust_step

    def _build_measure(self):
        @tf.function(input_signature=[SPECTRUM, INDICES])
        def robust_measure(spectrum, filters):
            return self._activations(param.to_rgb(spectrum), filters)

        return robust_measure

    def start(self, filters: tf.Tensor, seed: int):
        seeds = tf.stack([tf.fill(tf.shape(filters), seed), filters], axis=1)
        spectrum = param.initial_spectrum(self.ascent_settings.size, seeds)
        return spectrum, tf.zeros_like(spectrum), tf.zeros_like(spectrum)

    def step(self, state, filters, step: int, seed: int):
        """One Adam step of the whole chunk; the transforms' seed is (seed, −step)."""
        spectrum, m, v = state
        function = self._step if self.real_gradient(step) else self._revive
        transform_seed = transforms.step_seed(seed, -step)  # negative: never an initial (seed, filter)
        spectrum, m, v, activations, norms = function(
            spectrum,
            m,
            v,
            tf.constant(float(step)),
            transform_seed,
            filters,
            tf.constant(self.ascent_settings.lr, tf.float32),
        )
        return (spectrum, m, v), activations, norms

    def real_gradient(self, step: int) -> bool:
        """Step 1 takes the real gradient (it tells the dead filters); the next ones redirect ReLUs."""
        return step == 1 or step > 1 + min(RELU_OVERRIDE_STEPS, self.ascent_settings.steps // 2)

    first_step_measures_start = False  # its steps measure transformed images

    def measure(self, state, filters) -> tf.Tensor:
        return self._measure(state[0], filters)

    def pixels(self, state) -> np.ndarray:
        return self.vm.as_seen(_robust_pixels(state[0]).numpy())


@tf.function(input_signature=[SPECTRUM])
def _robust_pixels(spectrum):
    """Spectra → uint8 RGB, compiled (eagerly, the FFT's many small ops cost more than the FFT)."""
    return tf.cast(tf.round(param.to_rgb(spectrum) * 255.0), tf.uint8)


def adam(value, gradient, m, v, t, lr):
    """One Adam step (Kingma & Ba, 2015, Algorithm 1) as a pure function of its state."""
    beta_1, beta_2, epsilon = ADAM["beta_1"], ADAM["beta_2"], ADAM["epsilon"]
    m = beta_1 * m + (1 - beta_1) * gradient
    v = beta_2 * v + (1 - beta_2) * tf.square(gradient)
    step = lr * tf.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    return value - step * m / (tf.sqrt(v) + epsilon), m, v
