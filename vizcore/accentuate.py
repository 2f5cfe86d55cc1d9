"""Feature accentuation: what a channel, a neuron group or a class sees in *this* photo.

Hamblin, Fel, Saha, Konkle & Alvarez ("Feature Accentuation: Revealing 'What' Features Respond to
in Natural Images", 2024) start the ascent from a real photo instead of noise and keep the result
close to it, so the picture shows the feature *in* the photo. Here, in the one ascent loop
(:mod:`vizcore.ascent`): the photo at the model's input size is the start; the objective (a
channel, a direction such as a neuron group, a class) is climbed with Adam through MaCo's random
crops with noise (:func:`vizcore.transforms.random_crops`), and after every step the picture is
projected back into the ball of RMS distance ``distance`` around the photo (in [0, 1] pixel units)
and into valid colours. The paper regularises the distance in an early layer's activations; a hard
pixel ball is simpler, and the distance it promises is exact.

    frames = accentuate.accentuate(vm, photo, objectives.channel("block5a_expand_conv", 12, border=0))
    result = accentuate.finished(vm, photo, list(frames)[-1])  # photo, picture, difference, raised score
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import numpy as np
import tensorflow as tf

from . import ascent, objectives, transforms
from .checks import positive_number, whole_number
from .errors import RequestError
from .models import VizModel
from .requests import MAX_STEPS, AscentSettings
from .step_rules import Method

DISTANCE = 0.08  # default RMS distance from the photo, in [0, 1] pixel units
STEPS = 48  # default Adam steps
LR = 0.01  # default Adam step, in [0, 1] pixel units
CROP_SHARES = (0.8, 1.0)  # crops a little smaller than the photo: it stays where it is
NOISE = 0.02  # noise on each crop (standard deviation, [0, 1] units)
PHOTO_PIXELS = tf.TensorSpec([None, None, None, 6], tf.float32)  # the picture (3 channels), then the photo (3)


class Accentuated:
    """The parameterisation: a picture and its photo side by side in 6 channels (the photo's have no
    gradient, so Adam never moves them), projected after each step into valid colours and the ball
    of RMS ``distance`` around the photo."""

    spec = PHOTO_PIXELS
    accumulates = False

    def __init__(self, photo: np.ndarray, distance: float):
        self.photo = np.asarray(photo, np.float32) / 255.0  # (H, W, 3) in [0, 1]
        self.distance = float(distance)
        self.key = ("accentuated", self.distance)  # the photo is a value of the state, not of the trace

    def start(self, size: int, seeds: np.ndarray) -> tf.Tensor:
        """The photo, once per seed (its copy beside it)."""
        both = np.concatenate([self.photo, self.photo], axis=-1)
        return tf.constant(np.repeat(both[None], len(np.asarray(seeds)), axis=0))

    def image(self, x):
        return x[..., :3]

    def project(self, x):
        picture, photo = tf.clip_by_value(x[..., :3], 0.0, 1.0), x[..., 3:]
        change = picture - photo
        rms = tf.sqrt(tf.reduce_mean(tf.square(change), axis=[1, 2, 3], keepdims=True))
        shrink = tf.minimum(1.0, self.distance / tf.maximum(rms, 1e-12))
        return tf.concat([photo + change * shrink, photo], axis=-1)  # a convex mix of valid colours: still valid

    def pixels(self, x) -> np.ndarray:
        return tf.cast(tf.round(tf.convert_to_tensor(x)[..., :3] * 255.0), tf.uint8).numpy()

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


def accentuate(
    vm: VizModel,
    photo: np.ndarray,
    objective: objectives.Objective,
    *,
    distance: float = DISTANCE,
    steps: int = STEPS,
    lr: float = LR,
    seed: int = 0,
    every: int = 1,
) -> Iterator[ascent.Frame]:
    """Accentuate ``objective`` (one row) in an RGB uint8 photo of any size, resized to the model's
    input; yields the ascent's frames (``initial``: the objective on the photo, in the last frame).

    Raises:
        RequestError: a bad distance, steps or lr, or an objective of several rows.
    """
    distance = positive_number("distance", distance)
    steps = whole_number("steps", steps, 1, MAX_STEPS)
    lr = positive_number("lr (learning rate)", lr)
    objective = objective.checked(vm)
    if objective.rows() != 1:
        raise RequestError(f"Accentuation climbs one objective on one photo, got {objective.rows()} rows.")
    start = vm.resize_for_input(np.asarray(photo, np.uint8))
    size = int(start.shape[0])
    if start.shape[1] != size:
        raise RequestError(f"Accentuation needs a square model input, got {start.shape[1]}×{size}.")
    side = int(min(size, max(vm.input_size)))
    crops = transforms.random_crops(side, CROP_SHARES[0], CROP_SHARES[1], NOISE)
    method = Method(Accentuated(start, distance), "adam", crops, ("accentuation crops", side, *CROP_SHARES))
    ascent_settings = AscentSettings("accentuate", steps, lr, size, int(seed))
    return ascent.climb(vm, objective, method, ascent_settings, np.array([[seed, 0]], np.int32), every=every)


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
