"""Step rules and methods: how one ascent step moves the optimised value, and how a run climbs.

A **step rule** maps (value, gradient, state slots, step number t, lr) to the next value and state,
as a pure TensorFlow function that the compiled step of :mod:`vizcore.ascent` calls:

* ``l2``: the gradient L2-normalised per image (the Keras filter-visualisation example, Chollet);
* ``mean_abs``: the gradient divided by its mean absolute value, so pixels move by about lr (the
  Keras DeepDream example, after Mordvintsev et al., 2015); :func:`mean_abs_step_in_place` is the
  same rule on NumPy arrays, for images too large for one compiled call (dream's tiles);
* ``adam``: Adam (Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
  Algorithm 1), its moments (m, v) carried as two state slots.

A :class:`Method` joins a rule to a parameterisation (:mod:`vizcore.param`), transforms
(:mod:`vizcore.transforms`) and the ReLU redirect of the first steps (Lucid's
``redirected_relu_grad``; :mod:`vizcore.relu_override`). :func:`classic` is the Keras example's
method, :func:`robust` Lucid's (Olah et al., "Feature Visualization", Distill 2017): robust runs
settle for their second half, with only a shift of up to ±2 px, so the image ends up tuned to how
it is shown and measured, unmoved (the activation of 256 steps in 96; ``bench/bench_filters.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import numpy as np
import tensorflow as tf

from . import spectrum, transforms
from .models import VizModel
from .param import Fourier, MaCo, Parameterisation, Pixels
from .requests import AscentSettings, crop_for, small_model_side

SETTLE_SHARE = 0.5  # robust: the second half of the steps only shifts the image (transforms.settling)
RELU_OVERRIDE_STEPS = 16  # robust: steps with redirected ReLU gradients (Lucid)
CHUNK_PIXELS = 8 * 180 * 180  # images per compiled call = this / side²: fastest on 2 cores, bounds memory
ADAM = dict(beta_1=0.9, beta_2=0.999, epsilon=1e-8)
SMALL_IMAGE = 64  # robust, small models: below this side, the transforms' pixel counts shrink in proportion
PAD = 24  # robust: pixels the pad transform adds to a side (12 each)
MEAN_ABS_FLOOR = 1e-12  # mean_abs: the smallest divisor (a zero gradient moves nothing)
MEAN_ABS_BANDS = 16  # mean_abs on NumPy: bands summed one at a time (no full-size temporary)
MACO_CROP = (
    1.1,
    1.4,
)  # MaCo: a crop's side in crop sides as the model sees them (the paper: 20-25 % of 1280 px at 224)
MACO_SMALLEST_CROP = 0.6  # MaCo: the smallest crop share is at most this (pictures at the model's size vary too)
MACO_CROPS = 4  # MaCo: crops of each picture a step (the paper: 32); step / bare on the crops 1.16-1.27x (1: 1.34x)
MACO_NOISE = 0.02  # MaCo: noise added to each crop (standard deviation, in [0, 1] units)


# --- step rules --------------------------------------------------------------------------------


def l2_step(x, gradient, slots, t, lr):
    """x + lr · g / ‖g‖ per image (the Keras example's normalised gradient ascent)."""
    return x + lr * tf.math.l2_normalize(gradient, axis=[1, 2, 3]), slots


def mean_abs_step(x, gradient, slots, t, lr):
    """x + lr · g / mean|g| per image (the Keras DeepDream example): pixels move by about lr."""
    scale = tf.maximum(tf.reduce_mean(tf.abs(gradient), axis=[1, 2, 3], keepdims=True), MEAN_ABS_FLOOR)
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


def mean_abs(array: np.ndarray) -> float:
    """mean(|array|) of a batch of one, band by band so that no full-size temporary is made."""
    return sum(float(np.abs(band).sum()) for band in np.array_split(array[0], MEAN_ABS_BANDS)) / array.size


def mean_abs_normalised(gradient: np.ndarray) -> np.ndarray:
    """g / mean|g| of a NumPy batch of one (the ``mean_abs`` rule's direction)."""
    return gradient / max(mean_abs(gradient), MEAN_ABS_FLOOR)


def mean_abs_step_in_place(x: np.ndarray, gradient: np.ndarray, lr: float) -> np.ndarray:
    """The ``mean_abs`` rule on a NumPy batch of one, in place: x += lr · g / mean|g| (``gradient`` is
    scaled in place too, so memory stays at the two arrays). Returns ``x``."""
    gradient *= lr / max(mean_abs(gradient), MEAN_ABS_FLOOR)
    x += gradient
    return x


# --- methods -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    """How to climb: parameterisation, transforms (with a key naming them), step rule, ReLU redirect,
    and the lighter transform of the last steps."""

    parameterisation: Parameterisation  # Pixels, Fourier, Photo, MaCo or another (vizcore.accentuate)
    rule: str
    transform: transforms.Transform | None = field(default=None, compare=False)
    transform_key: tuple = ()
    revive_steps: int = 0  # steps after the first with redirected ReLU gradients
    settle: transforms.Transform | None = field(default=None, compare=False)  # the last steps' transform
    settle_share: float = 0.0  # the share of the steps, at the end, that take ``settle``
    chunk_pixels: int = CHUNK_PIXELS
    pad: int = 0  # pixels the transforms add to a side (for the chunk size)
    crops: int = 1  # model inputs the transform makes of each image (MaCo's crops), one after the other

    def chunk_size(self, size: int) -> int:
        return max(1, self.chunk_pixels // ((size + self.pad) ** 2 * self.crops))

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


def maco(vm: VizModel, size: int, photos: str | None = None) -> Method:
    """MaCo (Fel et al., "Unlocking feature visualization for deeper networks with magnitude constrained
    optimization", NeurIPS 2023): the phase of a fixed natural magnitude spectrum (of the ``photos``
    folder, :func:`vizcore.spectrum.photo_folder`), ``MACO_CROPS`` random crops of each picture a step
    (side a share of the picture in :func:`crop_shares`, resized to :func:`crop_side`, wrapping around
    the periodic picture) with noise, their objective averaged, Adam; no ReLU redirect, no settling.
    The loop accumulates the transparency map."""
    magnitude = spectrum.folder_spectrum(photos, size, grey=vm.channels == 1)
    side = crop_side(vm, size)
    smallest, largest = crop_shares(side, size)
    crops = transforms.random_crops(side, smallest, largest, MACO_NOISE, MACO_CROPS, wrap=True)
    key = ("maco crops", side, smallest, largest, MACO_CROPS)
    return Method(MaCo(magnitude.magnitude, magnitude.digest), "adam", crops, key, crops=MACO_CROPS)


def crop_side(vm: VizModel, size: int) -> int:
    """MaCo's crops are resized to the picture's side, at most the model's input side."""
    return int(min(size, max(vm.input_size)))


def crop_shares(side: int, size: int) -> tuple[float, float]:
    """The range of a crop's side as a share of the picture: ``MACO_CROP`` crop sides (the paper's crops
    for a picture far larger than the model's input), at most the whole picture, the smallest at most
    ``MACO_SMALLEST_CROP``."""
    largest = min(1.0, MACO_CROP[1] * side / size)
    return min(MACO_CROP[0] * side / size, MACO_SMALLEST_CROP, largest), largest


def method_for(vm: VizModel, ascent_settings: AscentSettings, photos: str | None = None) -> Method:
    """The method of the settings' mode: classic, robust or maco (its spectrum from ``photos``)."""
    if ascent_settings.mode == "maco":
        return maco(vm, ascent_settings.size, photos)
    return classic(ascent_settings.size) if ascent_settings.mode == "classic" else robust(vm)
