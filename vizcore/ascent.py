"""One ascent loop: a parameterisation × transforms × a step rule × an objective → frames.

Filter grids, neurons, classes, diverse sets, mixes (:mod:`vizcore.filters`) and DeepDream
(:mod:`vizcore.dream`) all climb here. A :class:`Method` says how to climb:

* a **parameterisation** of the images: :class:`Pixels` (the image itself around grey, the Keras
  example), :class:`Fourier` (a decorrelated-colour 1/f spectrum, Lucid; :mod:`vizcore.param`) or
  :class:`Photo` (a photo in the model's input space, kept in its valid range: DeepDream);
* **transforms** applied before every step (:mod:`vizcore.transforms`), or none; robust runs
  settle for their second half: only a shift of up to ±2 px, so the image ends up tuned to how it is
  shown and measured, unmoved (the activation of 256 steps in 96; ``bench/bench_filters.py``);
* a **step rule**: ``l2`` (the gradient L2-normalised per image, Keras example), ``mean_abs``
  (divided by its mean absolute value, DeepDream) or ``adam`` (Kingma & Ba, 2015);
* for the first steps after the first, ReLU gradients redirected so that units dead at the start
  can come alive (Lucid's ``redirected_relu_grad``; :mod:`vizcore.relu_override`).

An :class:`~vizcore.objectives.Objective` says what to climb. One compiled step is built per model
and per (parameterisation, transforms, rule, objective structure, redirect) and kept in a bounded
per-model cache: channels, classes, weights and vectors are run-time inputs, so picking another
filter or class never retraces. :func:`climb` runs the loop as a generator of :class:`Frame`: every
chunk of the batch takes step k before any takes step k + 1, so the whole batch grows together
while memory stays bounded by the chunk.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import numpy as np
import tensorflow as tf

from . import objectives, param, scheduler, timeline, transforms
from .cache import PerModel
from .checks import positive_number, whole_number
from .errors import RequestError
from .live import LiveSettings
from .models import SCALINGS, VizModel
from .relu_override import REDIRECTED_RELU

MODES = ("classic", "robust")
CLASSIC = dict(steps=30, lr=10.0, size=180)  # the Keras example's settings
ROBUST_STEPS = 96  # with ROBUST_LR and a settling end, the activation Lucid's rate reaches in 256 steps
ROBUST_LR = 0.1  # Adam step on the spectrum (Lucid's default is 0.05, for 512 steps)
SETTLE_SHARE = 0.5  # robust: the second half of the steps only shifts the image (transforms.settling)
ROBUST_SIZE_AT_224 = 128  # robust image side for a 224-px model; scaled with the model's input size
CROP = 25  # classic: pixels cropped from each side of the finished image
FEATURE_BORDER = 2  # classic: feature-map border left out of a channel's mean
MIN_TILE = 16  # smallest finished image side
MIN_SIZE = {"classic": 2 * CROP + MIN_TILE, "robust": 32}
MAX_SIZE = 512  # largest image side
MAX_STEPS = 2000  # more than this is a typo, not a plan
MAX_SEED = 2**31 - 1
RELU_OVERRIDE_STEPS = 16  # robust: steps with redirected ReLU gradients (Lucid)
CHUNK_PIXELS = 8 * 180 * 180  # images per compiled call = this / side²: fastest on 2 cores, bounds memory
ADAM = dict(beta_1=0.9, beta_2=0.999, epsilon=1e-8)
SMALL_IMAGE = 64  # robust, small models: below this side, the transforms' pixel counts shrink in proportion
PAD = 24  # robust: pixels the pad transform adds to a side (12 each)

IMAGES = tf.TensorSpec([None, None, None, 3], tf.float32)  # any batch and size: traced once
INDICES = tf.TensorSpec([None], tf.int32)
SCALAR = tf.TensorSpec([], tf.float32)
SEED = tf.TensorSpec([2], tf.int32)
SPECTRUM = tf.TensorSpec([None, 2, 3, None, None], tf.float32)  # see vizcore.param


# --- the request -------------------------------------------------------------------------------


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
    Adam at ``ROBUST_LR`` for ``ROBUST_STEPS`` steps, the last ``SETTLE_SHARE`` of them settling,
    with about 128 px for a 224-px model. A model
    that takes only small fixed inputs (28, 32, 64 px) gets its images at its own size.

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


# --- parameterisations -------------------------------------------------------------------------


class Pixels:
    """The image itself, around grey in [-1, 1] (the Keras example); shown deprocessed and cropped."""

    spec = IMAGES

    def __init__(self, crop: int = 0):
        self.crop = crop
        self.key = ("pixels", crop)  # the crop is part of the frame each compiled step returns

    def start(self, size: int, seeds: np.ndarray) -> tf.Tensor:
        """Grey with uniform noise of ±0.125, one image per [2] seed."""
        shape = [size, size, 3]
        return (tf.stack([tf.random.stateless_uniform(shape, seed) for seed in np.asarray(seeds)]) - 0.5) * 0.25

    def image(self, x):
        return (x + 1.0) / 2.0

    def project(self, x):
        return x

    def pixels(self, x) -> np.ndarray:
        return deprocess(x, crop=self.crop)

    def shown(self, x, image):
        return _deprocess(x, tf.constant(self.crop, tf.int32))


class Fourier:
    """A decorrelated-colour 1/f spectrum (Lucid's ``fft_image``, :mod:`vizcore.param`)."""

    key = "fourier"
    spec = SPECTRUM

    def start(self, size: int, seeds: np.ndarray) -> tf.Tensor:
        return param.initial_spectrum(size, seeds)

    def image(self, x):
        return param.to_rgb(x)

    def project(self, x):
        return x

    def pixels(self, x) -> np.ndarray:
        return _fourier_pixels(x).numpy()

    def shown(self, x, image):
        return tf.cast(tf.round(image * 255.0), tf.uint8)


class Photo:
    """A photo in the model's input space, clipped to the valid range after every step (DeepDream)."""

    spec = tf.TensorSpec([None, None, None, 3], tf.float32)

    def __init__(self, scaling: str):
        self.scaling = SCALINGS[scaling]
        self.key = ("photo", scaling)
        ends = np.stack([self.scaling.forward(np.full(3, v, np.float32)) for v in (0.0, 255.0)])
        # One range for every channel (their union, for caffe): a scalar clip is free, a per-channel one ~3 % of a step.
        self.low, self.high = float(ends.min()), float(ends.max())
        self.half_range = float(np.mean(ends.max(0) - ends.min(0))) / 2  # the unit of dream's lr

    def start(self, size: int, seeds: np.ndarray) -> tf.Tensor:
        """Mid-grey with faint uniform colour noise (±4 grey levels), one image per [2] seed."""
        shape = [size, size, 3]
        noise = tf.stack([tf.random.stateless_uniform(shape, seed, -4.0, 4.0) for seed in np.asarray(seeds)])
        return self.scaling.forward(127.5 + noise)

    def image(self, x):
        return self.scaling.inverse(x) / 255.0

    def pixels(self, x) -> np.ndarray:
        return tf.saturate_cast(tf.round(self.scaling.inverse(x)), tf.uint8).numpy()

    def shown(self, x, image):
        return tf.saturate_cast(tf.round(image * 255.0), tf.uint8)

    def project(self, x):
        return tf.clip_by_value(x, self.low, self.high)


def model_inputs(parameterisation, scaling: str, x, transform, seed, image=None):
    """What the model takes: the parameterised images (their RGB ``image`` if computed already),
    transformed, in the model's input scaling."""
    if isinstance(parameterisation, Photo) and transform is None:
        return x  # already in the input space
    image = parameterisation.image(x) if image is None else image
    if transform is not None:
        image = transform(image, seed)
    return SCALINGS[scaling].forward(image * 255.0)


def deprocess(images, crop: int = CROP) -> np.ndarray:
    """The Keras example's deprocessing: centre, std 0.15 around grey, clip, crop ``crop`` px → uint8."""
    return _deprocess(tf.convert_to_tensor(images, tf.float32), tf.constant(crop, tf.int32)).numpy()


@tf.function(input_signature=[IMAGES, tf.TensorSpec([], tf.int32)], autograph=False)
def _deprocess(images, crop):
    mean, variance = tf.nn.moments(images, axes=[1, 2, 3], keepdims=True)
    images = (images - mean) / (tf.sqrt(variance) + 1e-5) * 0.15 + 0.5
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    images = images[:, crop : height - crop, crop : width - crop]
    return tf.cast(tf.clip_by_value(images, 0.0, 1.0) * 255.0, tf.uint8)  # truncates, as astype(uint8)


@tf.function(input_signature=[SPECTRUM], autograph=False)
def _fourier_pixels(spectrum):
    """Spectra → uint8 RGB, compiled (eagerly, the FFT's many small ops cost more than the FFT)."""
    return tf.cast(tf.round(param.to_rgb(spectrum) * 255.0), tf.uint8)


# --- step rules --------------------------------------------------------------------------------


def l2_step(x, gradient, slots, t, lr):
    """x + lr · g / ‖g‖ per image (the Keras example's normalised gradient ascent)."""
    return x + lr * tf.math.l2_normalize(gradient, axis=[1, 2, 3]), slots


def mean_abs_step(x, gradient, slots, t, lr):
    """x + lr · g / mean|g| per image (the Keras DeepDream example): pixels move by about lr."""
    scale = tf.maximum(tf.reduce_mean(tf.abs(gradient), axis=[1, 2, 3], keepdims=True), 1e-12)
    return x + lr * gradient / scale, slots


def adam_step(x, gradient, slots, t, lr):
    """One Adam ascent step (Kingma & Ba, 2015, Algorithm 1) as a pure function of its state (m, v)."""
    m, v = slots
    x, m, v = adam(x, -gradient, m, v, t, lr)
    return x, (m, v)


def adam(value, gradient, m, v, t, lr):
    """One Adam descent step on ``gradient`` (Kingma & Ba, 2015, Algorithm 1)."""
    beta_1, beta_2, epsilon = ADAM["beta_1"], ADAM["beta_2"], ADAM["epsilon"]
    m = beta_1 * m + (1 - beta_1) * gradient
    v = beta_2 * v + (1 - beta_2) * tf.square(gradient)
    step = lr * tf.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    return value - step * m / (tf.sqrt(v) + epsilon), m, v


RULES = {"l2": (l2_step, 0), "mean_abs": (mean_abs_step, 0), "adam": (adam_step, 2)}  # rule, state slots


# --- methods -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    """How to climb: parameterisation, transforms (with a key naming them), step rule, ReLU redirect,
    and the lighter transform of the last steps."""

    parameterisation: Pixels | Fourier | Photo
    rule: str
    transform: transforms.Transform | None = field(default=None, compare=False)
    transform_key: tuple = ()
    revive_steps: int = 0  # steps after the first with redirected ReLU gradients
    settle: transforms.Transform | None = field(default=None, compare=False)  # the last steps' transform
    settle_share: float = 0.0  # the share of the steps, at the end, that take ``settle``
    chunk_pixels: int = CHUNK_PIXELS
    pad: int = 0  # pixels the transforms add to a side (for the chunk size)

    def chunk_size(self, size: int) -> int:
        return max(1, self.chunk_pixels // (size + self.pad) ** 2)

    def redirects(self, step: int, steps: int) -> bool:
        """Step 1 takes the real gradient (it tells the dead units); the next ``revive_steps`` redirect."""
        return 1 < step <= 1 + min(self.revive_steps, steps // 2)

    def settles(self, step: int, steps: int) -> bool:
        """One of the last ``settle_share`` of the steps (none of the redirected ones)."""
        settling = int(steps * self.settle_share) if self.settle is not None else 0
        return step > steps - settling and not self.redirects(step, steps)


def classic(size: int) -> Method:
    """The Keras example: pixels, L2-normalised gradient steps, no transforms."""
    return Method(Pixels(crop_for(size)), "l2")


def robust(vm: VizModel) -> Method:
    """Lucid: Fourier with decorrelated colour, the standard transforms, Adam, ReLU redirect; the
    second half of the steps settles (shifts only)."""
    own_side = small_model_side(vm)  # a small model's own-size images get gentler transforms
    pixel_scale = round(min(1.0, own_side / SMALL_IMAGE), 1) if own_side else 1.0
    return Method(
        Fourier(),
        "adam",
        transforms.standard(pixel_scale=pixel_scale),
        ("standard", pixel_scale),
        revive_steps=RELU_OVERRIDE_STEPS,
        settle=transforms.settling(pixel_scale=pixel_scale),
        settle_share=SETTLE_SHARE,
        pad=PAD,
    )


def method_for(vm: VizModel, ascent_settings: AscentSettings) -> Method:
    return classic(ascent_settings.size) if ascent_settings.mode == "classic" else robust(vm)


# --- the compiled steps --------------------------------------------------------------------------

MAX_COMPILED = 24  # compiled functions kept per model (each holds a traced graph), least recently used dropped
_COMPILED = PerModel(MAX_COMPILED)


def compiled(vm: VizModel, key: tuple, build):
    """A compiled function per model and key, built once and shared while it is among the recent ones."""
    _COMPILED.size = MAX_COMPILED  # a test may lower it
    return _COMPILED.get(vm, key, build)


def seen(vm: VizModel, structure: tuple, inputs, image) -> objectives.Seen:
    """What an objective of this structure reads of a batch of model inputs (and its RGB image)."""
    layers, scores = objectives.layers_of(structure), objectives.reads_scores(structure)
    found: dict = {}
    head_scores = None
    if layers or scores:
        view = vm.objective_view(layers, scores)
        fixed = tuple(view.inputs[0].shape[1:3])
        if None not in fixed:
            inputs = tf.image.resize(inputs, fixed)  # a view that takes only the model's own size
        outputs = view(inputs, training=False)
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        found = dict(zip(layers, outputs))
        if scores:
            head_scores = vm.require_head().scores(outputs[-1])
    return objectives.Seen(found, head_scores, image)


class Engine:
    """The compiled step, gradient and measure of one method and objective structure on one model."""

    def __init__(self, vm: VizModel, method: Method, structure: tuple, signature: Sequence[tf.TensorSpec]):
        self.vm, self.method, self.structure = vm, method, structure
        self.signature = list(signature)
        self.slots = RULES[method.rule][1]
        self.key = (method.parameterisation.key, method.transform_key, method.rule, structure)

    def _scores(self, x, seed, arguments, transform, image=None):
        parameterisation = self.method.parameterisation
        image = parameterisation.image(x) if image is None else image
        inputs = model_inputs(parameterisation, self.vm.scaling, x, transform, seed, image)
        return objectives.evaluate(self.structure, seen(self.vm, self.structure, inputs, image), arguments)

    def python_step(self, x, slots, t, lr, seed, arguments, redirect: bool = False, settle: bool = False):
        """One step (uncompiled): (x, slots, each image's score before the step, its gradient's norm,
        and the image the step scored as uint8: the frame, at no extra cost)."""
        timeline.mark("tracing", what=f"step {self.key} {x.shape}")  # runs while traced only
        parameterisation = self.method.parameterisation
        image = parameterisation.image(x)
        transform = self.method.settle if settle else self.method.transform
        with tf.compat.v1.get_default_graph().gradient_override_map(REDIRECTED_RELU if redirect else {}):
            scores = self._scores(x, seed, arguments, transform, image)
        # the loss is minimised in Lucid's sign convention, which the redirected gradients assume;
        # tf.gradients (unlike a tape) honours the override map
        gradient = -tf.gradients(-tf.reduce_sum(scores), x)[0]
        norms = tf.norm(tf.reshape(gradient, [tf.shape(gradient)[0], -1]), axis=1)
        shown = parameterisation.shown(x, image)
        x, slots = RULES[self.method.rule][0](x, gradient, slots, t, lr)
        return parameterisation.project(x), slots, scores, norms, shown

    def _specs(self):
        spec = self.method.parameterisation.spec
        return [spec, tuple([spec] * self.slots), SCALAR, SCALAR, SEED, self.signature]

    def step(self, redirect: bool = False, settle: bool = False):
        """The compiled step: plain, redirecting ReLU gradients, or settling (one function each, since a
        run-time switch inside the ReLU gradients would slow every step down by a quarter)."""

        def build():
            # no AutoGraph in any compiled pass of vizcore: none branches on a tensor in Python, and
            # converting the model's and the transforms' code was two thirds of a step's 2 s trace
            step = functools.partial(Engine.python_step, self, redirect=redirect, settle=settle)
            return tf.function(step, input_signature=self._specs(), autograph=False)

        return compiled(self.vm, ("step", redirect, settle, *self.key), build)

    def _gradient(self, x, arguments):
        with tf.GradientTape() as tape:
            tape.watch(x)
            scores = self._scores(x, None, arguments, None)
            total = tf.reduce_sum(scores)
        return scores, tape.gradient(total, x)

    def _measure(self, x, arguments):
        return self._scores(x, None, arguments, None)

    def gradient(self):
        """Compiled: (scores, raw gradient of their sum) of untransformed images."""
        return self._compiled("gradient", Engine._gradient)

    def measure(self):
        """Compiled: each image's score, untransformed."""
        return self._compiled("measure", Engine._measure)

    def _compiled(self, name: str, function):
        # wrapped in partial: TF counts retracings per code object, and every engine traces once
        signature = [self.method.parameterisation.spec, self.signature]
        build = lambda: tf.function(functools.partial(function, self), input_signature=signature, autograph=False)  # noqa: E731
        return compiled(self.vm, (name, self.method.parameterisation.key, self.structure), build)


def engine(vm: VizModel, method: Method, objective: objectives.Objective) -> Engine:
    return Engine(vm, method, objective.structure, objective.signature())


# --- the loop ----------------------------------------------------------------------------------


class Frame(NamedTuple):
    """One streamed state of a batch.

    images: uint8 (N, h, w, 3): the images the last step scored (in the final frame, the finished ones).
    activations: float32 (N,), each image's objective score (at the last step; in the final frame,
        measured on the finished, untransformed image).
    dead: bool (N,), images whose objective had no gradient at the start and still has none.
    history: float32 (step, N), the score at every step so far (with transforms: of the
        transformed image the step optimised).
    initial: float32 (N,), each score on the starting image, measured like the final ``activations``;
        in the final frame only (None before).
    """

    step: int
    steps: int
    images: np.ndarray
    activations: np.ndarray
    dead: np.ndarray
    history: np.ndarray
    initial: np.ndarray | None

    @property
    def done(self) -> bool:
        return self.step >= self.steps


def climb(
    vm: VizModel,
    objective: objectives.Objective,
    method: Method,
    ascent_settings: AscentSettings,
    seeds: np.ndarray,
    *,
    every: int = 1,
    chunk_size: int | None = None,
    report: objectives.Objective | None = None,
    live: LiveSettings | None = None,
) -> Iterator[Frame]:
    """Climb ``objective`` from one start per [2] seed in ``seeds``, yielding frames.

    The objective must be checked (``objective.checked(vm)``) and have one row or one row per seed.
    Every chunk takes step k, then a frame is yielded if due (every ``every`` steps and the last).
    The transforms of step k draw from the seed (``ascent_settings.seed``, −k). ``report``, if given
    (checked too), is what the final frame's ``activations`` and ``initial`` measure instead of the
    objective (e.g. a channel without the diversity term that pushed its images apart). ``live``, if
    given, is begun with the run's lr, which the loop takes before every step: ``live.update(lr=…)``
    from another thread changes the step size from the next step on (a run-time input of the
    compiled step: nothing is traced again).
    """
    seeds = np.asarray(seeds, np.int32).reshape(-1, 2)
    count, rows = len(seeds), objective.rows()
    if rows not in (1, count):
        raise RequestError(f"The objective sets apart {rows} images but {count} were asked for.")
    climber = engine(vm, method, objective)
    chunk = count if objective.couples_batch else (chunk_size or method.chunk_size(ascent_settings.size))
    parts = [list(part) for part in np.array_split(np.arange(count), math.ceil(count / chunk))]
    arguments = [objective.arguments(part) for part in parts]
    measured = report or objective
    measurer = (engine(vm, method, measured), [measured.arguments(part) for part in parts])
    starts = [method.parameterisation.start(ascent_settings.size, seeds[part]) for part in parts]
    zeros = [tuple(tf.zeros_like(start) for _ in range(climber.slots)) for start in starts]
    live = live if live is not None else LiveSettings()
    live.begin({"lr": ascent_settings.lr}, _check_lr)
    seed = run_seed(ascent_settings)
    return _steps(climber, measurer, ascent_settings, parts, arguments, starts, zeros, seed, every, live)


def _check_lr(values) -> None:
    positive_number("lr (learning rate)", values["lr"])


def _steps(
    climber: Engine, measurer, ascent_settings, parts, arguments, starts, slots, seed: int, every: int, live
) -> Iterator[Frame]:
    method, steps, count = climber.method, ascent_settings.steps, sum(len(part) for part in parts)
    reported = measurer[0] is not climber
    states = list(starts)
    compiled_steps: dict[tuple[bool, bool], Any] = {}  # (redirect, settle) → the compiled step
    dead_at_start = dead = np.zeros(count, bool)
    history = np.zeros((steps, count), np.float32)
    for step in range(1, steps + 1):
        redirect, settle = method.redirects(step, steps), method.settles(step, steps)
        if (redirect, settle) not in compiled_steps:
            compiled_steps[redirect, settle] = climber.step(redirect=redirect, settle=settle)
        function = compiled_steps[redirect, settle]
        seed_tensor = transforms.step_seed(seed, -step)  # negative: never an image's own (seed, index)
        lr = tf.constant(live.take(step)["lr"], tf.float32)  # a run-time input: a new lr traces nothing
        norms, shown = [], []
        for number, part in enumerate(parts):
            scheduler.checkpoint()  # give way to short work; end here if the run was stopped
            states[number], slots[number], scores, grad_norms, pixels = function(
                states[number], slots[number], tf.constant(float(step)), lr, seed_tensor, arguments[number]
            )
            history[step - 1, part] = scores.numpy()
            norms.append(grad_norms.numpy())
            shown.append(pixels)
        if not redirect:
            no_gradient = np.concatenate(norms) == 0
            dead_at_start = no_gradient if step == 1 else dead_at_start  # step 1: the start
            dead = dead_at_start & no_gradient
        if step % every == 0 or step == steps:
            last = step == steps
            initial = None
            if last:
                activations = _measure(measurer[0], measurer[1], states)
                start_measured = method.transform is None and not reported  # step 1 scored the start itself
                initial = history[0].copy() if start_measured else _measure(measurer[0], measurer[1], starts)
                images = np.concatenate([method.parameterisation.pixels(state) for state in states])
            else:  # the image this step scored, as the step returned it
                activations = history[step - 1].copy()
                images = np.concatenate([pixels.numpy() for pixels in shown])
            yield Frame(
                step, steps, climber.vm.as_seen(images), activations, np.array(dead), history[:step].copy(), initial
            )


def _measure(climber: Engine, arguments, states) -> np.ndarray:
    """Each image's score on its current, untransformed image."""
    measure = climber.measure()
    return np.concatenate([measure(state, args).numpy() for state, args in zip(states, arguments)])


def prepare(vm: VizModel, objective: objectives.Objective, method: Method, size: int) -> None:
    """Trace a method's compiled steps for an objective's structure ahead of a run (once per model and
    structure); a run started afterwards streams its first frame without that delay."""
    climber = engine(vm, method, objective)
    arguments = objective.arguments()
    x = method.parameterisation.start(size, np.zeros((1, 2), np.int32))
    slots = tuple(tf.zeros_like(x) for _ in range(climber.slots))
    seed, lr = transforms.step_seed(0, -1), tf.constant(0.0)
    climber.step()(x, slots, tf.constant(1.0), lr, seed, arguments)
    if method.revive_steps:
        climber.step(redirect=True)(x, slots, tf.constant(2.0), lr, seed, arguments)
    if method.settle is not None:
        climber.step(settle=True)(x, slots, tf.constant(3.0), lr, seed, arguments)
    climber.measure()(x, arguments)
    method.parameterisation.pixels(x)
