"""Transformation robustness (Lucid's ``optvis.transform``) on TF2.

A transform maps an image batch (N, H, W, 3) and a stateless seed (an int tensor of shape [2])
to a randomly perturbed batch of the same rank; its height and width may change. The same
seed gives the same perturbation, so runs are reproducible and a ``tf.function`` that takes the
seed as an argument is traced once. Every image of the batch gets the same perturbation (as in
Lucid), so splitting a batch into chunks changes nothing.

    robust = compose([pad(12), jitter(8), scale(SCALES), rotate(ANGLES), jitter(4)])
    robust = standard()  # the same in one resampling: lucid_in_one(12, 8, SCALES, ANGLES, 4, 0.5)
    settle = settling()  # the second half of a run: a shift of up to ±2 px, nothing else
    images = robust(images, seed)

:func:`random_crops` is MaCo's (Fel et al., 2023): a crop of random size and place, resized to one
side, and noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import tensorflow as tf

Transform = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]

SCALES = [1 + (i - 5) / 50 for i in range(11)]  # Lucid's random_scale: 0.9 … 1.1
ANGLES = list(range(-10, 11)) + 5 * [0]  # Lucid's random_rotate, in degrees (0 more often)


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
    """Rotate about the centre by one of ``degrees`` (bilinear, edges mirrored)."""
    return affine([1.0], degrees)


def affine(factors: Sequence[float], degrees: Sequence[float]) -> Transform:
    """Scale by one of ``factors`` and rotate by one of ``degrees`` about the centre, in one
    bilinear resampling (Lucid's random_scale then random_rotate, at the cost of one)."""
    if not factors or min(factors) <= 0:
        raise ValueError(f"scale factors must be positive, got {list(factors)}")
    if not degrees:
        raise ValueError("rotate needs at least one angle")

    def apply(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        factor = _choice(factors, tf.random.experimental.stateless_fold_in(seed, 0))
        angle = _choice(degrees, tf.random.experimental.stateless_fold_in(seed, 1)) * (math.pi / 180)
        in_size = tf.cast(tf.shape(images)[1:3], tf.float32)
        out_size = tf.round(in_size * factor)
        ratio = in_size[1] / out_size[1]  # input pixels per output pixel, as tf.image.resize has it
        cos, sin = ratio * tf.cos(angle), ratio * tf.sin(angle)
        in_y, in_x = (in_size[0] - 1) / 2, (in_size[1] - 1) / 2  # centres
        out_y, out_x = (out_size[0] - 1) / 2, (out_size[1] - 1) / 2
        # output (x, y) reads input centre + ratio · rotation · ((x, y) − output centre)
        matrix = tf.stack([cos, -sin, in_x - cos * out_x + sin * out_y, sin, cos, in_y - sin * out_x - cos * out_y])
        out_size = tf.cast(out_size, tf.int32)
        return warp(images, matrix, out_size[0], out_size[1])

    return apply


def warp(images: tf.Tensor, matrix: tf.Tensor, height, width, outside: str = "mirror") -> tf.Tensor:
    """Bilinear resampling shared by the whole batch: output (x, y) reads the input at
    (m0·x + m1·y + m2, m3·x + m4·y + m5); outside, the image is mirrored (or, ``outside="zero"``, 0).

    Four gathers on the batch packed as (pixels, N·3), and as gradient the inverse warp (as
    TensorFlow does for ``ImageProjectiveTransformV3``): about twice as fast on a CPU, forward
    and backward, as that op, which works image by image.
    """
    in_height, in_width = tf.shape(images)[1], tf.shape(images)[2]

    @tf.custom_gradient
    def resample(images):
        def gradient(upstream):
            linear = tf.stack([[matrix[0], matrix[1]], [matrix[3], matrix[4]]])
            inverse = tf.linalg.inv(linear)
            offset = -tf.linalg.matvec(inverse, tf.stack([matrix[2], matrix[5]]))
            back = tf.stack([inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1]])
            return _bilinear(upstream, back, in_height, in_width, outside) / tf.abs(tf.linalg.det(linear))

        return _bilinear(images, matrix, height, width, outside), gradient

    return resample(images)


def _bilinear(images: tf.Tensor, matrix: tf.Tensor, height, width, outside: str = "mirror") -> tf.Tensor:
    shape = tf.shape(images)
    batch, in_height, in_width, channels = shape[0], shape[1], shape[2], shape[3]
    packed = tf.reshape(tf.transpose(images, [1, 2, 0, 3]), [in_height * in_width, batch * channels])
    ys, xs = tf.meshgrid(tf.range(height, dtype=tf.float32), tf.range(width, dtype=tf.float32), indexing="ij")
    source_x = tf.reshape(matrix[0] * xs + matrix[1] * ys + matrix[2], [-1])
    source_y = tf.reshape(matrix[3] * xs + matrix[4] * ys + matrix[5], [-1])
    left, top = tf.floor(source_x), tf.floor(source_y)
    across, down = (source_x - left)[:, None], (source_y - top)[:, None]
    left, top = tf.cast(left, tf.int32), tf.cast(top, tf.int32)

    def pixels(row, column):
        if outside == "mirror":
            return tf.gather(packed, _mirror(row, in_height) * in_width + _mirror(column, in_width))
        inside = (row >= 0) & (row < in_height) & (column >= 0) & (column < in_width)
        index = tf.clip_by_value(row, 0, in_height - 1) * in_width + tf.clip_by_value(column, 0, in_width - 1)
        return tf.gather(packed, index) * tf.cast(inside, images.dtype)[:, None]

    resampled = (1 - down) * ((1 - across) * pixels(top, left) + across * pixels(top, left + 1)) + down * (
        (1 - across) * pixels(top + 1, left) + across * pixels(top + 1, left + 1)
    )
    return tf.transpose(tf.reshape(resampled, [height, width, batch, channels]), [2, 0, 1, 3])


def _mirror(index: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """Fold any index into [0, size) by mirroring at the edges (d c b a | a b c d | d c b a)."""
    period = 2 * size
    index = tf.math.floormod(index, period)
    return tf.where(index >= size, period - 1 - index, index)


def compose(transforms: Sequence[Transform]) -> Transform:
    """Apply ``transforms`` in order, each with its own seed derived from the step's seed."""
    transforms = list(transforms)

    def apply(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        for position, transform in enumerate(transforms):
            images = transform(images, tf.random.experimental.stateless_fold_in(seed, position))
        return images

    return apply


def standard(pad_value: float = 0.5, pixel_scale: float = 1.0) -> Transform:
    """Lucid's ``standard_transforms``: pad 12, jitter 8, scale 0.9–1.1, rotate ±10°, jitter 4,
    done as one bilinear resampling (:func:`lucid_in_one`).

    ``pixel_scale`` < 1 shrinks the pad and jitters for small images (a 28-px model's filters),
    which Lucid's pixel counts, made for 128 px and more, would mostly push out of view.
    """
    pad_px, jitter_px, final_px = (max(1, round(n * min(pixel_scale, 1.0))) for n in (12, 8, 4))
    return lucid_in_one(pad_px, jitter_px, SCALES, ANGLES, final_px, pad_value)


def settling(pad_value: float = 0.5, pixel_scale: float = 1.0) -> Transform:
    """The end of a robust run: only a shift of up to ±2 px (pad 2, jitter 4; no scale, no rotation).

    Enough to keep pixel-sized noise out, while the image settles into what the model sees of it
    unmoved, the image that is shown and measured. :mod:`vizcore.ascent` applies it for the last
    half of the steps; ``pixel_scale`` as in :func:`standard`.
    """
    pad_px = max(1, round(2 * min(pixel_scale, 1.0)))
    return lucid_in_one(pad_px, 2 * pad_px, [1.0], [0], 0, pad_value)


def lucid_in_one(
    pad_px: int, jitter_px: int, factors: Sequence[float], degrees: Sequence[float], final_px: int, value: float
) -> Transform:
    """``compose([pad(pad_px, value), jitter(jitter_px), affine(factors, degrees), jitter(final_px)])`` as
    one resampling of the unpadded image: the pad, both crops, the scale and the rotation are one
    matrix, and whatever it reads outside the image is ``value`` (the pad's colour, also where the
    composed version would mirror the pad). About a third cheaper than the four steps, forward and
    backward, since only one image-sized array is made."""
    if min(pad_px, jitter_px, final_px) < 0:
        raise ValueError(f"pixel counts must be >= 0, got {pad_px}, {jitter_px}, {final_px}")
    if not factors or min(factors) <= 0:
        raise ValueError(f"scale factors must be positive, got {list(factors)}")
    if not degrees:
        raise ValueError("rotate needs at least one angle")

    def apply(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        fold = tf.random.experimental.stateless_fold_in
        factor = _choice(factors, fold(seed, 0))
        angle = _choice(degrees, fold(seed, 1)) * (math.pi / 180)
        first = tf.cast(tf.random.stateless_uniform([2], fold(seed, 2), 0, jitter_px + 1, tf.int32), tf.float32)
        last = tf.cast(tf.random.stateless_uniform([2], fold(seed, 3), 0, final_px + 1, tf.int32), tf.float32)
        jittered = tf.cast(tf.shape(images)[1:3], tf.float32) + 2 * pad_px - jitter_px  # (height, width)
        scaled = tf.round(jittered * factor)
        ratio = jittered[1] / scaled[1]
        cos, sin = ratio * tf.cos(angle), ratio * tf.sin(angle)
        in_y, in_x = (jittered[0] - 1) / 2, (jittered[1] - 1) / 2
        out_y, out_x = (scaled[0] - 1) / 2, (scaled[1] - 1) / 2
        # final (x, y) → scaled (x + last_x, y + last_y) → jittered (rotation about the centres) → padded
        # (+ first) → the image (− pad_px)
        offset_x = in_x - cos * out_x + sin * out_y + cos * last[1] - sin * last[0] + first[1] - pad_px
        offset_y = in_y - sin * out_x - cos * out_y + sin * last[1] + cos * last[0] + first[0] - pad_px
        matrix = tf.stack([cos, -sin, offset_x, sin, cos, offset_y])
        size = tf.cast(scaled, tf.int32) - final_px
        return warp(images - value, matrix, size[0], size[1], outside="zero") + value

    return apply


CROP_CENTRE_SD = 0.15  # MaCo: crop centres ~ N(0.5, 0.15) of the picture's side (Fel et al.)


def random_crops(
    side: int, smallest: float, largest: float, noise: float, crops: int = 1, wrap: bool = False
) -> Transform:
    """MaCo's transform (Fel et al., 2023, Sec. 3; their ``optimization_step``): ``crops`` square crops of
    each image, each one's side a uniform share in [``smallest``, ``largest``] of the picture's side (in
    whole pixels) and its centre ~ N(0.5, ``CROP_CENTRE_SD``), bilinearly resized to ``side`` px (as
    ``tf.image.resize``: half-pixel centres), plus uniform noise of standard deviation ``noise`` (in
    [0, 1] units). The output holds the crops crop by crop: (crops · N, side, side, 3), crop j of image
    i at row j · N + i. As every transform here, crop j is the same for every image of the batch (a
    chunk changes nothing).

    A crop that would leave the picture is moved inside it; with ``wrap`` (a periodic picture, as
    MaCo's, made by an inverse FFT) it wraps around instead (the picture rolled), so the corners are
    climbed as often as the rest of the border. Crops start on whole pixels: a roll, a slice and one
    resize each, about 1.5x as fast forward and backward on a CPU as ``tf.image.crop_and_resize``."""
    if not 0 < smallest <= largest <= 1:
        raise ValueError(f"crop shares must satisfy 0 < smallest <= largest <= 1, got {smallest}, {largest}")
    if side < 1 or noise < 0 or crops < 1:
        raise ValueError(f"crop side and crops must be >= 1 and noise >= 0, got {side}, {crops}, {noise}")

    def apply(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        fold = tf.random.experimental.stateless_fold_in
        picture = tf.shape(images)[1]
        size = tf.cast(picture, tf.float32)
        shares = tf.random.stateless_uniform([crops], fold(seed, 0), smallest, largest)
        lengths = tf.clip_by_value(tf.cast(tf.round(shares * size), tf.int32), 1, picture)  # whole pixels
        centres = 0.5 + CROP_CENTRE_SD * tf.random.stateless_normal([crops, 2], fold(seed, 1))  # (y, x)
        corners = tf.cast(tf.round(centres * size), tf.int32) - lengths[:, None] // 2
        if not wrap:
            corners = tf.clip_by_value(corners, 0, picture - lengths[:, None])
        cut = []
        for j in range(crops):
            image = tf.roll(images, -corners[j], axis=[1, 2]) if wrap else images
            start = tf.stack([0, 0, 0, 0]) if wrap else tf.stack([0, corners[j, 0], corners[j, 1], 0])
            part = tf.slice(image, start, tf.stack([-1, lengths[j], lengths[j], -1]))
            cut.append(tf.image.resize(part, [side, side]))
        out = tf.concat(cut, axis=0) if crops > 1 else cut[0]
        half_width = noise * math.sqrt(3.0)  # uniform noise of standard deviation ``noise`` (cheaper than normal)
        return out + tf.random.stateless_uniform(tf.shape(out), fold(seed, 2), -half_width, half_width)

    return apply
