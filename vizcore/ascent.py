"""One ascent loop: a parameterisation × transforms × a step rule × an objective → frames.

Filter grids, neurons, classes, diverse sets, mixes (:mod:`vizcore.filters`) and DeepDream
(:mod:`vizcore.dream`) all climb here, after Lucid's ``optvis.render`` (Olah et al., "Feature
Visualization", Distill 2017) and the Keras filter-visualisation example (Chollet). A
:class:`~vizcore.step_rules.Method` says how to climb: a parameterisation of the images
(:mod:`vizcore.param`), transforms applied before every step (:mod:`vizcore.transforms`), a step
rule (:mod:`vizcore.step_rules`) and, for the first steps after the first, ReLU gradients
redirected so that units dead at the start can come alive (:mod:`vizcore.relu_override`).

An :class:`~vizcore.objectives.Objective` says what to climb. One compiled step is built per model
and per (parameterisation, transforms, rule, objective structure, redirect) and kept in a bounded
per-model cache (:func:`compiled`, shared with dream): channels, classes, weights and vectors are
run-time inputs, so picking another filter or class never retraces. :func:`climb` runs the loop as a
generator of :class:`Frame`: every chunk of the batch takes step k before any takes step k + 1, so
the whole batch grows together while memory stays bounded by the chunk.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import numpy as np
import tensorflow as tf

from . import objectives, scheduler, timeline, transforms
from .cache import PerModel
from .checks import positive_number
from .errors import RequestError
from .live import LiveSettings
from .models import VizModel
from .param import IMAGES, model_inputs
from .relu_override import redirected_relu_gradients
from .requests import AscentSettings, run_seed
from .step_rules import RULES, Method

INDICES = tf.TensorSpec([None], tf.int32)
SCALAR = tf.TensorSpec([], tf.float32)
SEED = tf.TensorSpec([2], tf.int32)


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


def crop_block(found: objectives.Seen, j: int, batch) -> objectives.Seen:
    """What the objective reads of crop ``j`` of every image (rows j · batch … (j + 1) · batch)."""
    rows = slice(j * batch, (j + 1) * batch)
    layers = {name: value[rows] for name, value in found.layers.items()}
    return objectives.Seen(layers, None if found.scores is None else found.scores[rows], found.image)


class Engine:
    """The compiled step, gradient and measure of one method and objective structure on one model."""

    def __init__(self, vm: VizModel, method: Method, structure: tuple, signature: Sequence[tf.TensorSpec]):
        self.vm, self.method, self.structure = vm, method, structure
        self.signature = list(signature)
        self.slots = RULES[method.rule][1]  # the rule's state slots; a transparency map may follow them
        self.accumulates = method.parameterisation.accumulates
        self.key = (method.parameterisation.key, method.transform_key, method.rule, structure)

    def _scores(self, x, seed, arguments, transform, image=None):
        parameterisation = self.method.parameterisation
        image = parameterisation.image(x) if image is None else image
        inputs = model_inputs(parameterisation, self.vm.scaling, x, transform, seed, image)
        found = seen(self.vm, self.structure, inputs, image)
        crops = self.method.crops if transform is not None else 1
        if crops == 1:
            return objectives.evaluate(self.structure, found, arguments)
        # MaCo's crops come crop by crop (transforms.random_crops): each crop's block of the batch is
        # scored as the images themselves (a diversity term compares the images' same crop), then averaged
        batch = tf.shape(image)[0]
        blocks = [objectives.evaluate(self.structure, crop_block(found, j, batch), arguments) for j in range(crops)]
        return tf.add_n(blocks) / float(crops)

    def python_step(self, x, slots, t, lr, seed, arguments, redirect: bool = False, settle: bool = False):
        """One step (uncompiled): (x, slots, each image's score before the step, its gradient's norm,
        and the image the step scored as uint8: the frame, at no extra cost)."""
        timeline.mark("tracing", what=f"step {self.key} {x.shape}")  # runs while traced only
        parameterisation = self.method.parameterisation
        image = parameterisation.image(x)
        transform = self.method.settle if settle else self.method.transform
        with redirected_relu_gradients(redirect):
            scores = self._scores(x, seed, arguments, transform, image)
        # the loss is minimised in Lucid's sign convention, which the redirected gradients assume;
        # tf.gradients (unlike a tape) honours the override map
        rule_slots, transparency = tuple(slots[: self.slots]), tuple(slots[self.slots :])
        gradients = tf.gradients(-tf.reduce_sum(scores), [x, image] if self.accumulates else [x])
        gradient = -gradients[0]
        if self.accumulates:  # MaCo's transparency map: Σ over the steps of |∂objective/∂image| (Fel et al., 2023)
            transparency = (transparency[0] + tf.abs(gradients[1]),)
        norms = tf.norm(tf.reshape(gradient, [tf.shape(gradient)[0], -1]), axis=1)
        shown = parameterisation.shown(x, image)
        x, rule_slots = RULES[self.method.rule][0](x, gradient, rule_slots, t, lr)
        return parameterisation.project(x), tuple(rule_slots) + transparency, scores, norms, shown

    def start_slots(self, start) -> tuple:
        """The state slots of a start: the rule's, zero, and a zero transparency map if it accumulates one."""
        zeros = tuple(tf.zeros_like(start) for _ in range(self.slots))
        if self.accumulates:
            zeros += (tf.zeros_like(self.method.parameterisation.image(start)),)
        return zeros

    def _specs(self):
        spec = self.method.parameterisation.spec
        return [spec, tuple([spec] * self.slots + [IMAGES] * self.accumulates), SCALAR, SCALAR, SEED, self.signature]

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
    transparency: float32 (N, h, w), MaCo's transparency map: Σ over the steps of |∂objective/∂image|
        summed over colours (Fel et al., 2023); None for the other parameterisations.
    """

    step: int
    steps: int
    images: np.ndarray
    activations: np.ndarray
    dead: np.ndarray
    history: np.ndarray
    initial: np.ndarray | None
    transparency: np.ndarray | None = None

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

    The loop may wait or be cancelled: before every chunk's step it calls
    :func:`vizcore.scheduler.checkpoint`, which in a long run's turn waits while short work is in
    flight and raises :class:`vizcore.scheduler.Cancelled` once the run was stopped.
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
    zeros = [climber.start_slots(start) for start in starts]
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
            transparency = np.concatenate([s[-1].numpy().sum(-1) for s in slots]) if climber.accumulates else None
            yield Frame(
                step, steps, climber.vm.as_seen(images), activations, np.array(dead), history[:step].copy(), initial,
                transparency,
            )  # fmt: skip


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
    slots = climber.start_slots(x)
    seed, lr = transforms.step_seed(0, -1), tf.constant(0.0)
    climber.step()(x, slots, tf.constant(1.0), lr, seed, arguments)
    if method.revive_steps:
        climber.step(redirect=True)(x, slots, tf.constant(2.0), lr, seed, arguments)
    if method.settle is not None:
        climber.step(settle=True)(x, slots, tf.constant(3.0), lr, seed, arguments)
    climber.measure()(x, arguments)
    method.parameterisation.pixels(x)
