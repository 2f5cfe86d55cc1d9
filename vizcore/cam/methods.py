"""The CAM methods: one weights function each, and one record each in ``METHODS``.

A weights function maps the target layer's activations A (N, h, w, K), the gradients of the
explained score with respect to A, and a :class:`CamContext` to weights broadcastable to A; the
core (:mod:`vizcore.cam.core`) makes the map ReLU(Σ_k weights_k · A_k). A new method is one
function and one :class:`CamMethod` record here: the engine, the page (selectbox, help, compare
view) and the CLI all read ``METHODS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import numpy as np
import tensorflow as tf

if TYPE_CHECKING:
    from .core import CamView

SCORE_CAM_MEMORY_BYTES = 512 * 2**20  # activation memory one Score-CAM batch may take
SCORE_CAM_MAX_BATCH = 32  # masked copies of the photo per forward pass, at most
LIVE_TENSORS = 3  # largest activations alive at once in a forward pass (estimate)


@dataclass(frozen=True)
class CamContext:
    """What a weights function may need beyond A and its gradients: Score-CAM's masked passes."""

    view: CamView  # vizcore.cam.core: the compiled passes (Score-CAM masks photos through it)
    inputs: tf.Tensor  # model inputs (N, H, W, 3)
    class_index: int
    top_k: int | None  # Faster Score-CAM: keep the k channels of highest activation variance
    sign: float = 1.0  # −1: explain what lowers the score


# --- weights functions: (activations, gradients, context) → weights broadcastable to A -------


def grad_cam_weights(acts, grads, context):
    """Grad-CAM (Selvaraju et al., 2017, Eq. 1): channel weight = spatial mean of the gradient."""
    return tf.reduce_mean(grads, axis=(1, 2), keepdims=True)


def grad_cam_pp_weights(acts, grads, context):
    """Grad-CAM++ (Chattopadhay et al., 2018, Eq. 19 with Y = exp(score)).

    α = g² / (2g² + Σ_ab A_ab · g³); channel weight = Σ_ij α_ij · ReLU(g_ij).
    """
    grads_2 = tf.square(grads)
    denominator = 2.0 * grads_2 + tf.reduce_sum(acts, axis=(1, 2), keepdims=True) * grads_2 * grads
    alphas = tf.math.divide_no_nan(grads_2, denominator)
    return tf.reduce_sum(alphas * tf.nn.relu(grads), axis=(1, 2), keepdims=True)


def layer_cam_weights(acts, grads, context):
    """LayerCAM (Jiang et al., 2021, Eq. 5): every location weighted by its own positive gradient."""
    return tf.nn.relu(grads)


def score_cam_weights(acts, grads, context):
    """Score-CAM (Wang et al., 2020, Eq. 8): channel weight = class probability of the photo
    masked by that channel's upsampled, normalised map. No gradients.

    With ``context.top_k`` it is Faster Score-CAM: only the k channels of highest spatial
    variance are probed, the others weigh 0. Probes run in batches sized to a memory budget.
    """
    weights = np.zeros((acts.shape[0], 1, 1, acts.shape[-1]), np.float32)
    for sample in range(acts.shape[0]):
        channels = _score_cam_channels(acts[sample], context.top_k)
        maps = tf.transpose(tf.gather(acts[sample], channels, axis=-1), (2, 0, 1))
        weights[sample, 0, 0, channels] = context.view.masked_scores(
            context.inputs[sample : sample + 1], maps, context.class_index, context.sign
        )
    return tf.constant(weights)


def _score_cam_channels(acts, top_k: int | None) -> np.ndarray:
    """All channels, or the ``top_k`` of highest spatial variance (Faster Score-CAM)."""
    channels = acts.shape[-1]
    if top_k is None or top_k >= channels:
        return np.arange(channels)
    variance = tf.math.reduce_variance(acts, axis=(0, 1)).numpy()
    return np.sort(np.argsort(-variance, kind="stable")[:top_k])


@dataclass(frozen=True)
class CamMethod:
    """A CAM method as the user meets it: its name (CLI), title (page), one-line note, weights function."""

    name: str
    title: str
    note: str
    weights: Callable


METHODS: dict[str, CamMethod] = {
    method.name: method
    for method in (
        CamMethod("gradcam", "Grad-CAM", "gradient averaged per channel", grad_cam_weights),
        CamMethod("gradcam++", "Grad-CAM++", "positive gradients, pixel-weighted", grad_cam_pp_weights),
        CamMethod("scorecam", "Score-CAM", "probability of the photo masked by each channel", score_cam_weights),
        CamMethod("layercam", "LayerCAM", "positive gradient at every location", layer_cam_weights),
    )
}
