"""Image parameterisations (Lucid's ``optvis.param``): decorrelated colour in Fourier space.

Optimising pixels directly favours high frequencies, which the gradient of a CNN is full of.
Lucid (Olah et al., "Feature Visualization", Distill 2017) optimises instead a spectrum whose
frequencies are scaled by 1/f, so every frequency moves at the same speed, and colours in a
decorrelated basis (the square root of ImageNet's colour correlation), then squashes them with
a sigmoid into valid RGB. Here the spectrum of a batch is one real tensor of shape
(N, 2, 3, H, W // 2 + 1) (real and imaginary parts) and :func:`to_rgb` maps it to (N, H, W, 3)
in [0, 1].
"""

from __future__ import annotations

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import numpy as np
import tensorflow as tf

SPECTRUM_SD = 0.01  # standard deviation of the initial spectrum (Lucid's default)
DECAY_POWER = 1.0  # amplitudes scale as 1 / frequency ** DECAY_POWER

# sqrt of ImageNet's colour correlation matrix (Lucid's color_correlation_svd_sqrt)
COLOR_CORRELATION_SVD_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32)
COLOR_CORRELATION = COLOR_CORRELATION_SVD_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0))


def spectrum_shape(size: int) -> tuple[int, int, int, int]:
    """Shape of one image's spectrum: (real/imaginary, colour, height, width // 2 + 1)."""
    return (2, 3, size, size // 2 + 1)


def frequency_scale(size: tf.Tensor) -> tf.Tensor:
    """1 / f (clipped at the lowest frequency) times sqrt(H·W), shape (H, W // 2 + 1)."""
    size = tf.cast(size, tf.int32)
    rows = tf.range(size)
    fy = tf.cast(tf.where(rows < (size + 1) // 2, rows, rows - size), tf.float32)  # np.fft.fftfreq · size
    fx = tf.cast(tf.range(size // 2 + 1), tf.float32)  # np.fft.rfftfreq · size
    n = tf.cast(size, tf.float32)
    frequencies = tf.sqrt(fx[None, :] ** 2 + fy[:, None] ** 2) / n
    return n / tf.maximum(frequencies, 1.0 / n) ** DECAY_POWER


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
