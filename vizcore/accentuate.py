"""Feature accentuation: what a channel, a neuron group or a class sees in *this* photo.

Hamblin, Fel, Saha, Konkle & Alvarez ("Feature Accentuation: Revealing 'What' Features Respond to
in Natural Images", 2024) start the ascent from a real photo instead of noise and keep the result
close to it, so the picture shows the feature *in* the photo. Here, in the one ascent loop
(:mod:`vizcore.ascent`): the photo at the model's input size is the start; the objective (a
channel, a direction such as a neuron group, a class) is climbed with Adam through MaCo's random
crops with noise (:func:`vizcore.transforms.random_crops`). What is climbed is the *change* to the
photo, preconditioned as Lucid's and the paper's pictures are: in decorrelated colours, each
frequency damped by 1 / f ** ``SMOOTHING`` (:func:`vizcore.param.low_pass`), so the change is made
of the feature's patterns rather than of pixel noise (with ``smoothing=0``, every frequency moves
alike and the change turns to fine adversarial noise). After every step the change is scaled back
into the ball of RMS distance ``distance`` around the photo (in [0, 1] pixel units); the picture is
the photo plus the change, clipped to valid colours, which only brings it closer. The paper
regularises the distance in an early layer's activations; a hard pixel ball is simpler, and the
distance it promises is exact.

    frames = accentuate.accentuate(vm, photo, objectives.channel("block5a_expand_conv", 12, border=0))
    result = accentuate.finished(vm, photo, list(frames)[-1])  # photo, picture, difference, raised score
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import numpy as np
import tensorflow as tf

from . import ascent, objectives, param, transforms
from .checks import number_in, positive_number, whole_number
from .errors import RequestError
from .models import VizModel
from .requests import MAX_STEPS, AscentSettings
from .step_rules import Method

DISTANCE = 0.08  # default RMS distance from the photo, in [0, 1] pixel units
STEPS = 48  # default Adam steps
LR = 0.1  # default Adam step of the change (before its low-pass), in [0, 1] pixel units
MAX_SMOOTHING = 3.0  # beyond it, only the mean colour would change
SMOOTHING = 0.75  # the change's amplitudes divided by (cycles per picture) ** this; 1 is smoother, 0 pixel noise
CROP_SHARES = (0.8, 1.0)  # crops a little smaller than the photo: it stays where it is
NOISE = 0.02  # noise on each crop (standard deviation, [0, 1] units)
PHOTO_PIXELS = tf.TensorSpec([None, None, None, 6], tf.float32)  # the change (3 channels), then the photo (3)


class Accentuated:
    """The parameterisation: the change to the photo (decorrelated colours, before its low-pass) and
    the photo side by side in 6 channels (the photo's have no gradient, so Adam never moves them). The
    picture is the photo plus the change, clipped to valid colours; after each step the change is
    scaled into the ball of RMS ``distance``."""

    spec = PHOTO_PIXELS
    accumulates = False

    def __init__(self, photo: np.ndarray, distance: float, smoothing: float = SMOOTHING):
        self.photo = np.asarray(photo, np.float32) / 255.0  # (H, W, 3) in [0, 1]
        self.distance, self.smoothing = float(distance), float(smoothing)
        self.key = ("accentuated", self.distance, self.smoothing)  # the photo is a value of the state, not of the trace

    def start(self, size: int, seeds: np.ndarray) -> tf.Tensor:
        """No change yet, and the photo, once per seed."""
        both = np.concatenate([np.zeros_like(self.photo), self.photo], axis=-1)
        return tf.constant(np.repeat(both[None], len(np.asarray(seeds)), axis=0))

    def change(self, x):
        """The change to the photo in RGB, [0, 1] units: the state's low-passed, colours recorrelated."""
        return param.decorrelate_colors(param.low_pass(x[..., :3], self.smoothing))

    def image(self, x):
        photo = tf.stop_gradient(x[..., 3:])  # the photo never moves
        return tf.clip_by_value(photo + self.change(x), 0.0, 1.0)  # clipping only brings it closer

    def project(self, x):
        rms = tf.sqrt(tf.reduce_mean(tf.square(self.change(x)), axis=[1, 2, 3], keepdims=True))
        shrink = tf.minimum(1.0, self.distance / tf.maximum(rms, 1e-12))  # the change is linear in the state
        return tf.concat([x[..., :3] * shrink, x[..., 3:]], axis=-1)

    def pixels(self, x) -> np.ndarray:
        return self.shown(x, self.image(tf.convert_to_tensor(x))).numpy()

    def shown(self, x, image):
        return tf.cast(tf.round(image * 255.0), tf.uint8)


class Accentuation(NamedTuple):
    """A finished accentuation: the photo, the picture, their difference, and the objective before and after."""

    photo: np.ndarray  # uint8 (H, W, 3) at the model's input size
    picture: np.ndarray  # uint8 (H, W, 3)
    difference: np.ndarray  # uint8 (H, W, 3): grey where nothing changed, the change amplified around it
    distance: float  # RMS distance of the picture from the photo, [0, 1] units
    before: float  # the objective on the photo
    after: float  # the objective on the picture

    def as_row(self) -> np.ndarray:
        """The photo, the picture and the difference as a batch (3, H, W, 3), for a grid."""
        return np.stack([self.photo, self.picture, self.difference])


def accentuate(
    vm: VizModel,
    photo: np.ndarray,
    objective: objectives.Objective,
    *,
    distance: float = DISTANCE,
    steps: int = STEPS,
    lr: float = LR,
    smoothing: float = SMOOTHING,
    seed: int = 0,
    every: int = 1,
) -> Iterator[ascent.Frame]:
    """Accentuate ``objective`` (one row) in an RGB uint8 photo of any size, resized to the model's
    input; yields the ascent's frames (``initial``: the objective on the photo, in the last frame).

    Raises:
        RequestError: a bad distance, steps, lr or smoothing, or an objective of several rows.
    """
    distance, steps, lr, smoothing = check_settings(distance, steps, lr, smoothing)
    objective = objective.checked(vm)
    if objective.rows() != 1:
        raise RequestError(f"Accentuation climbs one objective on one photo, got {objective.rows()} rows.")
    start = vm.resize_for_input(np.asarray(photo, np.uint8))
    size = int(start.shape[0])
    if start.shape[1] != size:
        raise RequestError(f"Accentuation needs a square model input, got {start.shape[1]}×{size}.")
    side = int(min(size, max(vm.input_size)))
    crops = transforms.random_crops(side, CROP_SHARES[0], CROP_SHARES[1], NOISE)
    method = Method(Accentuated(start, distance, smoothing), "adam", crops, ("accentuation crops", side, *CROP_SHARES))
    ascent_settings = AscentSettings("accentuate", steps, lr, size, int(seed))
    return ascent.climb(vm, objective, method, ascent_settings, np.array([[seed, 0]], np.int32), every=every)


def check_settings(distance: float, steps: int, lr: float, smoothing: float) -> tuple[float, int, float, float]:
    """(distance, steps, lr, smoothing), checked; RequestError in words otherwise."""
    return (
        positive_number("distance", distance),
        whole_number("steps", steps, 1, MAX_STEPS),
        positive_number("lr (learning rate)", lr),
        number_in("smoothing", smoothing, 0.0, MAX_SMOOTHING),
    )


def finished(vm: VizModel, photo: np.ndarray, frame: ascent.Frame) -> Accentuation:
    """The photo (at the model's input size), the accentuated picture of the last frame and their difference."""
    start = vm.resize_for_input(np.asarray(photo, np.uint8))
    picture = frame.images[0]
    change = picture.astype(np.float32) - start.astype(np.float32)
    gain = 127.0 / max(float(np.abs(change).max()), 1.0)
    difference = np.clip(np.round(127.5 + change * gain), 0, 255).astype(np.uint8)
    rms = float(np.sqrt(np.mean(np.square(change / 255.0))))
    before = float(frame.initial[0]) if frame.initial is not None else float("nan")
    return Accentuation(start, picture, difference, rms, before, float(frame.activations[0]))
