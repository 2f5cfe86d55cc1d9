"""Why this class? The class's pre-softmax score attributed to the channels of one layer.

Building Blocks of Interpretability (Olah et al., Distill 2018): channel k of layer A contributes

    c_k = Σ_{y,x} A[y, x, k] · ∂score/∂A[y, x, k]                  (activation × gradient)

to the class's score (the logit before the softmax, as the heatmaps explain). When the layer feeds
a global average pooling and then the Dense that makes the logits, ∂score/∂A[y, x, k] = W[k, class]
/ (h·w), so c_k = W[k, class] · mean(A_k) exactly, and Σ_k c_k + bias = the logit
(``Why.exact``; the bias is that Dense's). On any other layer the sum is a first-order estimate.

:func:`explain` returns a :class:`Why`: every channel's contribution, the best and the most
negative channels (:class:`Channel`: contribution, share, where it counted and where it fired),
each channel's activation map and contribution map over the photo, and, for a contrast class B,
"why A rather than B": the difference of the two attributions. Neuron groups: :mod:`vizcore.neuron_groups`;
the panel: :mod:`vizcore.why_drawing`; the channels' feature images: :func:`vizcore.atlas.why_features`.

Where a channel fired is not always where it counted. A channel's contribution map,
A[y, x, k] · ∂score/∂A[y, x, k] at each position, sums to its contribution c_k, and its peak is
where the channel counted. On a layer not pooled straight into the logits the gradient differs
from place to place, so a channel may fire hardest on one object and count most on another. On
the GAP → Dense layer the gradient is W[k, class] / (h·w) everywhere: there the two maps differ
by a factor and peak at the same place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import keras
import numpy as np
import tensorflow as tf

from . import cam, graph
from .cam.core import check_spatial, checked_class, target_layer
from .checks import class_index as checked_class_index
from .checks import rgb_image, whole_number
from .drawing import resized_map
from .errors import RequestError
from .models import VizModel

DEFAULT_TOP = 8  # channels shown, best first
FEATURE_SEED = 0  # the channels' feature visualisations are seeded, so the atlas stores and finds them


class Channel(NamedTuple):
    """One channel's part in the score."""

    channel: int
    contribution: float  # its contribution to the explained score (activation × gradient, summed)
    share: float  # contribution / Σ|contributions|: signed, the absolute shares sum to 1
    peak: tuple[int, int]  # (y, x) where it counted most (its contribution map's peak), in the photo's own pixels
    activation: float  # its mean activation over the photo
    fired_at: tuple[int, int]  # (y, x) of its strongest activation, in the photo's own pixels


@dataclass(frozen=True, eq=False)
class Why:
    """A class's score attributed to a layer's channels (or the difference of two classes')."""

    class_index: int
    label: str
    layer: str
    logit: float  # the explained pre-softmax score (A's minus B's for a contrast)
    bias: float | None  # the Dense bias in it (B's subtracted) when ``exact``, else None
    exact: bool  # True: GAP → Dense head, contributions + bias = logit
    contributions: np.ndarray  # float64 (C,), every channel's
    activations: np.ndarray  # float32 (h, w, C): the layer on the photo
    gradients: np.ndarray  # float32 (h, w, C): ∂score/∂activations (A's minus B's for a contrast)
    photo_size: tuple[int, int]  # (H, W) of the photo
    top: int  # channels in ``channels`` and ``negative``
    contrast_index: int | None = None
    contrast_label: str | None = None

    @property
    def note(self) -> str:
        """What the numbers mean, in words."""
        if self.exact:
            return (
                f"{self.layer} feeds a global average pooling and then the Dense that makes the logits, so each "
                "channel's contribution is exactly its Dense weight × its pooled activation, and the "
                "contributions plus the bias add up to the logit."
            )
        return (
            f"{self.layer} is not pooled straight into the logits, so each contribution (activation × gradient) "
            "is a first-order estimate and the contributions need not add up to the logit."
        )

    @property
    def channels(self) -> list[Channel]:
        """The ``top`` channels of largest contribution, best first."""
        order = np.argsort(-self.contributions, kind="stable")[: self.top]
        return [self.channel(int(k)) for k in order]

    @property
    def negative(self) -> list[Channel]:
        """The ``top`` channels of most negative contribution, most negative first (those below 0 only)."""
        order = np.argsort(self.contributions, kind="stable")[: self.top]
        return [self.channel(int(k)) for k in order if self.contributions[k] < 0]

    def channel(self, k: int) -> Channel:
        """Channel ``k``'s numbers. Its ``peak`` is where it counted most in the direction of its
        contribution: a channel that adds to the score peaks where it added most, a channel that
        takes from it (contribution < 0) where it took most, its contribution map's most negative point."""
        total = float(np.sum(np.abs(self.contributions))) or 1.0
        grid = self.activations[..., k]
        return Channel(
            k,
            float(self.contributions[k]),
            float(self.contributions[k]) / total,
            self._photo_peak(self._signed_counted(k)),
            float(grid.mean()),
            self._photo_peak(grid),
        )

    def counted_grid(self, channel: int) -> np.ndarray:
        """float64 (h, w): where the channel counted, on the layer's grid: its activation × the class's
        gradient at each position (signed); the grid sums to its contribution."""
        return self.activations[..., channel].astype(np.float64) * self.gradients[..., channel].astype(np.float64)

    def counted_map(self, channel: int) -> np.ndarray:
        """float32 (H, W) in [0, 1]: where the channel counted, over the photo, in its contribution's
        direction (a negative channel's most negative point is 1), the other direction at 0, scaled by its peak."""
        grid = np.maximum(self._signed_counted(channel), 0.0)
        peak = float(grid.max())
        return resized_map(grid / peak if peak > 0 else grid, self.photo_size)

    def _signed_counted(self, channel: int) -> np.ndarray:
        """The contribution map turned so that the channel's own direction is positive."""
        grid = self.counted_grid(channel)
        return -grid if self.contributions[channel] < 0 else grid

    def _photo_peak(self, grid: np.ndarray) -> tuple[int, int]:
        y, x = np.unravel_index(int(np.argmax(grid)), grid.shape)
        return _photo_pixel((int(y), int(x)), grid.shape, self.photo_size)

    def activation_map(self, channel: int) -> np.ndarray:
        """float32 (H, W) in [0, 1]: the channel's activation over the photo, scaled by its own peak."""
        grid = np.maximum(self.activations[..., channel], 0.0)
        peak = float(grid.max())
        return resized_map(grid / peak if peak > 0 else grid, self.photo_size)

    def contribution_map(self) -> np.ndarray:
        """float32 (H, W) in [0, 1]: where the score came from, Σ_k A·∂score/∂A per position, ReLU, scaled."""
        grid = np.maximum(np.sum(self.activations * self.gradients, axis=-1), 0.0)
        peak = float(grid.max())
        return resized_map(grid / peak if peak > 0 else grid, self.photo_size)

    def as_dict(self, model: str) -> dict:
        """The numbers as the CLI's JSON writes them: the best channels first."""
        return {
            "model": model,
            "class_index": self.class_index,
            "label": self.label,
            "contrast_index": self.contrast_index,
            "contrast_label": self.contrast_label,
            "layer": self.layer,
            "logit": round(self.logit, 6),
            "bias": None if self.bias is None else round(self.bias, 6),
            "exact": self.exact,
            "sum": round(float(np.sum(self.contributions)), 6),
            "note": self.note,
            "channels": [self._channel_dict(c) for c in self.channels],
            "negative": [self._channel_dict(c) for c in self.negative],
        }

    def _channel_dict(self, channel: Channel) -> dict:
        """A channel's numbers; ``counted`` is its contribution map on the layer's grid (rows of floats,
        6 significant digits), summing to its contribution."""
        return {
            "channel": channel.channel,
            "contribution": round(channel.contribution, 6),
            "share": round(channel.share, 6),
            "peak": list(channel.peak),
            "fired_at": list(channel.fired_at),
            "counted": [
                [float(f"{value:.6g}") for value in row] for row in self.counted_grid(channel.channel).tolist()
            ],
        }


def _photo_pixel(cell: tuple[int, int], grid: tuple[int, int], photo: tuple[int, int]) -> tuple[int, int]:
    """The centre of a grid cell in the photo's own pixels (the photo is stretched to the model's input)."""
    return tuple(min(int((c + 0.5) * p / g), p - 1) for c, g, p in zip(cell, grid, photo))  # type: ignore[return-value]


# --- the attribution ---------------------------------------------------------------------------


def explain(
    vm: VizModel,
    image,
    *,
    class_index: int | None = None,
    contrast: int | None = None,
    layer: str | None = None,
    top: int | None = None,
) -> Why:
    """Each channel's contribution to a class's pre-softmax score on a photo (Olah et al., 2018).

    Args:
        vm: a model with a head (vizcore.heads).
        image: RGB uint8 (H, W, 3), any size.
        class_index: the class to explain; None takes the top-1 class.
        contrast: another class: explain "why ``class_index`` rather than ``contrast``" (the
            difference of the two attributions). None: the class alone.
        layer: a layer with spatial extent (``vm.conv_layers()``); None takes the heatmaps' layer.
        top: how many best (and most negative) channels to list, 1 to the layer's channels;
            None: ``DEFAULT_TOP`` (or every channel of a smaller layer).

    Returns:
        A Why; ``contributions`` holds every channel's.

    Raises:
        RequestError: class or contrast out of range (or the same), a layer without spatial
            extent, top out of range. ModelError: no head to explain.
    """
    image = rgb_image(image)
    target = checked_class(vm, class_index)
    layer_name = target_layer(vm, layer)
    channels = vm.layer(layer_name).channels
    top = min(DEFAULT_TOP, channels) if top is None else top
    top = whole_number("top", top, 1, channels, why=f"{layer_name} has {channels} channels")
    if contrast is not None:
        contrast = checked_class_index(vm, contrast)
    view = cam.compiled_view(vm, layer_name)
    inputs = tf.constant(vm.preprocess(vm.resize_for_input(image)))
    acts, grads, logits, chosen = view.activations_and_gradients(
        inputs, tf.constant(target, tf.int32), tf.constant(1.0)
    )
    check_spatial(layer_name, acts)
    target, acts, grads = int(chosen), acts.numpy()[0], grads.numpy()[0]
    logit, bias_vector = float(logits[0, target]), gap_dense_bias(vm, layer_name)
    bias = None if bias_vector is None else float(bias_vector[target])
    if contrast is not None:
        if contrast == target:
            raise RequestError(f"The contrast class {contrast} is the class explained; pick another class.")
        _, other, _, _ = view.activations_and_gradients(inputs, tf.constant(contrast, tf.int32), tf.constant(1.0))
        grads = grads - other.numpy()[0]
        logit -= float(logits[0, contrast])
        bias = None if bias is None or bias_vector is None else bias - float(bias_vector[contrast])
    contributions = np.sum(acts.astype(np.float64) * grads.astype(np.float64), axis=(0, 1))
    return Why(
        target,
        vm.label(target),
        layer_name,
        logit,
        bias,
        bias_vector is not None,
        contributions,
        acts,
        grads,
        image.shape[:2],
        top,
        contrast,
        None if contrast is None else vm.label(contrast),
    )


# --- is the head a global average pooling and a Dense? -----------------------------------------


def gap_dense_bias(vm: VizModel, layer: str) -> np.ndarray | None:
    """The bias of each class's score (C,) when ``layer`` feeds a global average pooling and then the
    Dense whose output the head explains (Dropout in between allowed); None otherwise."""
    head = vm.require_head()
    dense = head.dense or graph.find(vm.keras, head.features.path)
    if not isinstance(dense, keras.layers.Dense):
        return None
    linear = getattr(dense.activation, "__name__", "") == "linear"  # a custom callable may have no name
    if head.dense is None and (head.features.where != graph.OUTPUT or not linear):
        return None
    if graph.pooled_layer(dense, head.features.path) != vm.layer(layer).name:
        return None
    if head.dense is not None:  # the head's scores of zero features: the bias, signed as the head signs it
        return head.scores(tf.zeros((1, int(dense.kernel.shape[0])))).numpy()[0].astype(np.float64)
    return dense.bias.numpy().astype(np.float64) if dense.use_bias else np.zeros(dense.units)
