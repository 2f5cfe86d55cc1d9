"""Transformation robustness (Lucid's ``optvis.transform``) on TF2.

A transform maps an image batch (N, H, W, 3) and a stateless seed (an int tensor of shape [2])
to a randomly perturbed batch of the same rank; its height and width may change. The same
seed gives the same perturbation, so runs are reproducible and a ``tf.function`` that takes the
seed as an argument is traced once. Every image of the batch gets the same perturbation (as in
Lucid), so splitting a batch into chunks changes nothing.

    robust = compose([pad(12), jitter(8), scale(SCALES), rotate(ANGLES), jitter(4)])
    images = robust(images, seed)
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

from . import _quiet  # noqa: F401  (imports TensorFlow quietly, first)
import tensorflow as tf

Transform = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]

SCALES = [1 + (i - 5) / 50 for i in range(11)]  # Lucid's random_scale: 0.9 … 1.1
ANGLES = list(range(-10, 11)) + 5 * [0]         # Lucid's random_rotate, in degrees (0 more often)


def step_seed(seed: int | tf.Tensor, step: int | tf.Tensor) -> tf.Tensor:
    """The stateless seed of one optimisation step: a [2] int32 tensor."""
    return tf.stack([tf.cast(seed, tf.int32), tf.cast(step, tf.int32)])


def _choice(values: Sequence[float], seed: tf.Tensor) -> tf.Tensor:
    """One of ``values``, drawn uniformly with a stateless seed."""
    index = tf.random.stateless_uniform([], seed, minval=0, maxval=len(values), dtype=tf.int32)
    return tf.gather(tf.constant(values, tf.float32), index)


def pad(width: int, value: float = 0.5, mode: str = "constant") -> Transform:
    """Pad every side by ``width`` pixels with ``value`` (or ``mode="reflect"``)."""
    if width < 0:
        raise ValueError(f"pad width must be >= 0, got {width}")

    def apply(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        paddings = [[0, 0], [width, width], [width, width], [0, 0]]
        if mode == "reflect":
            return tf.pad(images, paddings, mode="REFLECT")
        return tf.pad(images, paddings, constant_values=value)
    return apply


def jitter(pixels: int) -> Transform:
    """Crop a random window ``pixels`` smaller in height and width (a random translation)."""
    if pixels < 0:
        raise ValueError(f"jitter must be >= 0 pixels, got {pixels}")

    def apply(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        shape = tf.shape(images)
        size = tf.stack([shape[0], shape[1] - pixels, shape[2] - pixels, shape[3]])
        return tf.image.stateless_random_crop(images, size, seed)
    return apply


def scale(factors: Sequence[float]) -> Transform:
    """Resize by one of ``factors`` (bilinear)."""
    if not factors or min(factors) <= 0:
        raise ValueError(f"scale factors must be positive, got {list(factors)}")

    def apply(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        factor = _choice(factors, seed)
        size = tf.cast(tf.round(tf.cast(tf.shape(images)[1:3], tf.float32) * factor), tf.int32)
        return tf.image.resize(images, size, method="bilinear")
    return apply


def rotate(degrees: Sequence[float]) -> Transform:
    """Rotate about the centre by one of ``degrees`` (bilinear, edges reflected)."""
    if not degrees:
        raise ValueError("rotate needs at least one angle")

    def apply(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        angle = _choice(degrees, seed) * (math.pi / 180)
        shape = tf.shape(images)
        height, width = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
        cos, sin = tf.cos(angle), tf.sin(angle)
        centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
        # output (x, y) samples input (cos·x − sin·y + a, sin·x + cos·y + b): a rotation about the centre
        offset_x = centre_x - cos * centre_x + sin * centre_y
        offset_y = centre_y - sin * centre_x - cos * centre_y
        matrix = tf.stack([cos, -sin, offset_x, sin, cos, offset_y, 0.0, 0.0])
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=images, transforms=tf.tile(matrix[None], [shape[0], 1]), output_shape=shape[1:3],
            fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")
    return apply


def compose(transforms: Sequence[Transform]) -> Transform:
    """Apply ``transforms`` in order, each with its own seed derived from the step's seed."""
    transforms = list(transforms)

    def apply(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        for position, transform in enumerate(transforms):
            images = transform(images, tf.random.experimental.stateless_fold_in(seed, position))
        return images
    return apply


def standard(pad_value: float = 0.5) -> Transform:
    """Lucid's ``standard_transforms``: pad 12, jitter 8, scale 0.9–1.1, rotate ±10°, jitter 4."""
    return compose([pad(12, pad_value), jitter(8), scale(SCALES), rotate(ANGLES), jitter(4)])
