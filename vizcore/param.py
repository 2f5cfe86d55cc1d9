"""Image parameterisations (Lucid's ``optvis.param``): what the ascent loop optimises, and how it
becomes an image.

A parameterisation starts a batch from one [2] seed per image, maps its value to RGB in [0, 1]
(``image``), keeps it valid after a step (``project``) and shows it as uint8 (``pixels``,
``shown``). Three are offered:

* :class:`Pixels`: the image itself, around grey (the Keras filter-visualisation example, Chollet);
* :class:`Fourier`: decorrelated colour in Fourier space (Lucid; Olah et al., "Feature
  Visualization", Distill 2017). Optimising pixels directly favours high frequencies, which the
  gradient of a CNN is full of; Lucid optimises instead a spectrum whose frequencies are scaled by
  1/f, so every frequency moves at the same speed, and colours in a decorrelated basis (the square
  root of ImageNet's colour correlation), then squashes them with a sigmoid into valid RGB. Here
  the spectrum of a batch is one real tensor of shape (N, 2, 3, H, W // 2 + 1) (real and imaginary
  parts) and :func:`to_rgb` maps it to (N, H, W, 3) in [0, 1];
* :class:`Photo`: a photo in the model's input space, kept in its valid range (DeepDream);
* :class:`MaCo`: a fixed natural magnitude spectrum and an optimised phase (Fel et al., "Unlocking
  feature visualization for deeper networks with magnitude constrained optimization", NeurIPS 2023,
  Eq. 3): only the phase φ (N, 3, H, W // 2 + 1) is climbed, :func:`maco_rgb` makes the image
  ``sigmoid(c · recorrelate(standardise(irfft2(|F| · exp(i · s · standardise(φ))))))``
  (c = ``MACO_CONTRAST``, s = ``PHASE_SPREAD``), so every picture keeps the magnitude |F| of natural photos
  (:mod:`vizcore.spectrum`). It is the one parameterisation that ``accumulates``: the ascent loop
  sums the absolute gradient of the objective with respect to its image over the steps, the
  paper's transparency map (Sec. 3.2).
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Protocol

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import numpy as np
import tensorflow as tf

from .models import SCALINGS
from .requests import CROP

SPECTRUM_SD = 0.01  # standard deviation of the initial spectrum (Lucid's default)
DECAY_POWER = 1.0  # amplitudes scale as 1 / frequency ** DECAY_POWER

# sqrt of ImageNet's colour correlation matrix (Lucid's color_correlation_svd_sqrt)
COLOR_CORRELATION_SVD_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32)
COLOR_CORRELATION = COLOR_CORRELATION_SVD_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0))

IMAGES = tf.TensorSpec([None, None, None, 3], tf.float32)  # any batch and size: traced once
SPECTRUM = tf.TensorSpec([None, 2, 3, None, None], tf.float32)  # a batch of spectra (see to_rgb)
PHASE = tf.TensorSpec([None, 3, None, None], tf.float32)  # a batch of MaCo phases (see maco_rgb)
MAGNITUDE = tf.TensorSpec([3, None, None], tf.float32)  # MaCo's fixed magnitude spectrum
# MaCo: the standardised phase times this, so phases spread over the circle: phases of standard
# deviation 1 (Xplique's) have E[cos φ] = e^(-1/2) = 0.61, and add up in phase at pixel (0, 0): every
# picture's corners glowed white and the rest lost contrast to them; at π, E[cos φ] = e^(-π²/2) < 0.01
PHASE_SPREAD = math.pi
PHASE_SD = 1.0  # standard deviation of MaCo's initial phase (Fel et al.'s init_maco_buffer)
STANDARDISE_EPSILON = 1e-4  # added to a standard deviation before dividing by it (Fel et al.)
MACO_CONTRAST = 2.0  # MaCo: the recorrelated image times this before the sigmoid: pixel std ~0.2, as photos (1: ~0.12)


# --- the spectrum --------------------------------------------------------------------------------


def spectrum_shape(size: int) -> tuple[int, int, int, int]:
    """Shape of one image's spectrum: (real/imaginary, colour, height, width // 2 + 1)."""
    return (2, 3, size, size // 2 + 1)


def cycles(size: tf.Tensor) -> tf.Tensor:
    """Each frequency of a square picture's rfft2, in cycles per picture, shape (H, W // 2 + 1)."""
    size = tf.cast(size, tf.int32)
    rows = tf.range(size)
    fy = tf.cast(tf.where(rows < (size + 1) // 2, rows, rows - size), tf.float32)  # np.fft.fftfreq · size
    fx = tf.cast(tf.range(size // 2 + 1), tf.float32)  # np.fft.rfftfreq · size
    return tf.sqrt(fx[None, :] ** 2 + fy[:, None] ** 2)


def frequency_scale(size: tf.Tensor) -> tf.Tensor:
    """1 / f (clipped at the lowest frequency) times sqrt(H·W), shape (H, W // 2 + 1)."""
    n = tf.cast(size, tf.float32)
    frequencies = cycles(size) / n
    return n / tf.maximum(frequencies, 1.0 / n) ** DECAY_POWER


def low_pass(images: tf.Tensor, power: float) -> tf.Tensor:
    """Square images (N, H, W, C) with each frequency's amplitude divided by max(1, its cycles per
    picture) ** ``power``: the mean and the lowest frequencies kept, finer ones damped (0: unchanged).

    A convolution with a real, even kernel is its own adjoint, so its gradient is itself applied to
    the incoming gradient (cheaper than differentiating the FFTs, whose int32 index ops made oneDNN
    log an error line on CPUs without AVX-512)."""

    @tf.custom_gradient
    def damped(values):
        return _low_pass(values, power), lambda upstream: _low_pass(upstream, power)

    return damped(images)


def _low_pass(images: tf.Tensor, power: float) -> tf.Tensor:
    size = tf.shape(images)[1]
    gain = tf.cast(1.0 / tf.maximum(cycles(size), 1.0) ** power, tf.complex64)
    spectrum = tf.signal.rfft2d(tf.transpose(images, [0, 3, 1, 2])) * gain
    return tf.transpose(tf.signal.irfft2d(spectrum, fft_length=tf.stack([size, size])), [0, 2, 3, 1])


def initial_spectrum(size: int, seeds) -> tf.Tensor:
    """Random spectra, one per [2] seed in ``seeds`` (shape (N, 2)), so each image is reproducible alone."""
    shape = spectrum_shape(size)
    return tf.stack([SPECTRUM_SD * tf.random.stateless_normal(shape, seed) for seed in np.asarray(seeds)])


def to_rgb(spectrum: tf.Tensor) -> tf.Tensor:
    """Spectra (N, 2, 3, H, W // 2 + 1) → RGB images (N, H, W, 3) in [0, 1]."""
    size = tf.shape(spectrum)[3]
    scale = tf.cast(frequency_scale(size), tf.complex64)
    complex_spectrum = tf.complex(spectrum[:, 0], spectrum[:, 1]) * scale
    image = tf.signal.irfft2d(complex_spectrum, fft_length=tf.stack([size, size]))  # (N, 3, H, W)
    image = tf.transpose(image, [0, 2, 3, 1]) / 4.0
    return tf.sigmoid(decorrelate_colors(image))


def decorrelate_colors(image: tf.Tensor) -> tf.Tensor:
    """Map colours from the decorrelated basis to RGB (Lucid's _linear_decorelate_color)."""
    return tf.tensordot(image, tf.constant(COLOR_CORRELATION.T), axes=1)


# --- the parameterisations ----------------------------------------------------------------------


class Parameterisation(Protocol):
    """What the ascent loop asks of a parameterisation (the classes below; :mod:`vizcore.accentuate`'s)."""

    @property
    def spec(self) -> tf.TensorSpec: ...  # the optimised value's shape and type

    @property
    def accumulates(self) -> bool: ...  # whether the loop sums |∂objective/∂image| (a transparency map)

    @property
    def key(self) -> Hashable: ...  # what its compiled steps are keyed by

    def start(self, size: int, seeds: np.ndarray) -> tf.Tensor: ...

    def image(self, x): ...

    def project(self, x): ...

    def pixels(self, x) -> np.ndarray: ...

    def shown(self, x, image): ...


class Pixels:
    """The image itself, around grey in [-1, 1] (the Keras example); shown deprocessed and cropped."""

    spec = IMAGES
    accumulates = False  # no transparency map

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
    """A decorrelated-colour 1/f spectrum (Lucid's ``fft_image``): :func:`to_rgb` makes its image."""

    key = "fourier"
    spec = SPECTRUM
    accumulates = False

    def start(self, size: int, seeds: np.ndarray) -> tf.Tensor:
        return initial_spectrum(size, seeds)

    def image(self, x):
        return to_rgb(x)

    def project(self, x):
        return x

    def pixels(self, x) -> np.ndarray:
        return _fourier_pixels(x).numpy()

    def shown(self, x, image):
        return tf.cast(tf.round(image * 255.0), tf.uint8)


class Photo:
    """A photo in the model's input space, clipped to the valid range after every step (DeepDream)."""

    spec = tf.TensorSpec([None, None, None, 3], tf.float32)
    accumulates = False

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


class MaCo:
    """A fixed magnitude spectrum (3, H, W // 2 + 1), the phase optimised (Fel et al., 2023, Eq. 3):
    :func:`maco_rgb` makes its image; the ascent loop accumulates its transparency map."""

    spec = PHASE
    accumulates = True  # the loop sums |∂objective/∂image| over the steps (the transparency map)

    def __init__(self, magnitude: np.ndarray, digest: str):
        self.magnitude = tf.constant(np.asarray(magnitude, np.float32))
        self.side = int(self.magnitude.shape[1])
        self.key = ("maco", digest)  # the spectrum's digest: another folder is another compiled step

    def start(self, size: int, seeds: np.ndarray) -> tf.Tensor:
        """A random phase of standard deviation ``PHASE_SD``, one per [2] seed."""
        if size != self.side:
            raise ValueError(f"MaCo's magnitude is for {self.side}-px pictures, not {size} px")
        shape = [3, size, size // 2 + 1]
        return tf.stack([PHASE_SD * tf.random.stateless_normal(shape, seed) for seed in np.asarray(seeds)])

    def image(self, x):
        return maco_rgb(x, self.magnitude)

    def project(self, x):
        return x

    def pixels(self, x) -> np.ndarray:
        return _maco_pixels(x, self.magnitude).numpy()

    def shown(self, x, image):
        return tf.cast(tf.round(image * 255.0), tf.uint8)


def standardised(values: tf.Tensor) -> tf.Tensor:
    """Each item of a batch to mean 0 and standard deviation 1 over all its other axes."""
    axes = list(range(1, len(values.shape)))
    mean, variance = tf.nn.moments(values, axes=axes, keepdims=True)
    return (values - mean) / (tf.sqrt(variance) + STANDARDISE_EPSILON)


def maco_spatial(phase: tf.Tensor, magnitude: tf.Tensor) -> tf.Tensor:
    """Phases (N, 3, H, W // 2 + 1) → images (N, H, W, 3) in the decorrelated colour basis, before the
    sigmoid: ``standardise(irfft2(|F| · exp(i · s · standardise(φ))))`` (Fel et al., 2023, Eq. 3; s =
    ``PHASE_SPREAD``). Its
    spectrum's magnitude is |F| times one number per image (at the columns that need no Hermitian
    symmetry: all but the first and, for an even width, the last)."""
    phase = PHASE_SPREAD * standardised(phase)
    size = tf.shape(phase)[2]
    spectrum = tf.complex(magnitude * tf.cos(phase), magnitude * tf.sin(phase))
    image = tf.signal.irfft2d(spectrum, fft_length=tf.stack([size, size]))  # (N, 3, H, W)
    return standardised(tf.transpose(image, [0, 2, 3, 1]))


def maco_rgb(phase: tf.Tensor, magnitude: tf.Tensor) -> tf.Tensor:
    """Phases → RGB images (N, H, W, 3) in [0, 1]: :func:`maco_spatial`, colours recorrelated, a sigmoid."""
    return tf.sigmoid(MACO_CONTRAST * decorrelate_colors(maco_spatial(phase, magnitude)))


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


@tf.function(input_signature=[PHASE, MAGNITUDE], autograph=False)
def _maco_pixels(phase, magnitude):
    """MaCo phases → uint8 RGB, compiled once (the magnitude is an argument)."""
    return tf.cast(tf.round(maco_rgb(phase, magnitude) * 255.0), tf.uint8)


@tf.function(input_signature=[SPECTRUM], autograph=False)
def _fourier_pixels(spectrum):
    """Spectra → uint8 RGB, compiled (eagerly, the FFT's many small ops cost more than the FFT)."""
    return tf.cast(tf.round(to_rgb(spectrum) * 255.0), tf.uint8)
