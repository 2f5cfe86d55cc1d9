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
from typing import Any

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import tensorflow as tf

from .score_cam import FASTER_TOP_K, score_cam_weights


@dataclass(frozen=True)
class CamContext:
    """What a weights function may need beyond A and its gradients: Score-CAM's masked passes."""

    view: Any  # a vizcore.cam.core.CamView: the compiled passes (Score-CAM masks photos through it)
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


@dataclass(frozen=True)
class CamMethod:
    """A CAM method as the user meets it: its name (CLI), title (page), one-line note, weights function."""

    name: str
    title: str
    note: str
    weights: Callable
    channel_budget: int | None = None  # probes channels one by one: this many by default (``top_k``), None for all


METHODS: dict[str, CamMethod] = {
    method.name: method
    for method in (
        CamMethod("gradcam", "Grad-CAM", "gradient averaged per channel", grad_cam_weights),
        CamMethod("gradcam++", "Grad-CAM++", "positive gradients, pixel-weighted", grad_cam_pp_weights),
        CamMethod(
            "scorecam", "Score-CAM", "probability of the photo masked by each channel", score_cam_weights, FASTER_TOP_K
        ),
        CamMethod("layercam", "LayerCAM", "positive gradient at every location", layer_cam_weights),
    )
}
