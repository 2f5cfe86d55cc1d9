"""Predictions and class activation maps for a batch of photos in one forward and backward pass.

Photos in a batch are independent, so the gradient of the *sum* over the batch of each photo's own
target score with respect to the layer's activations is, row by row, the gradient of that photo's
score alone: one tape gives every photo's Grad-CAM, each for its own class. A labelled batch asks
for a second map per photo (its true class, shown beside a wrong prediction's): the same forward pass
serves both, with a second backward pass from the same tape (for the default layer, the last
convolution, a backward pass runs only through the head: the true maps cost almost nothing). The pass is a
``tf.function`` of a fixed batch size: a full batch runs at the batch size, a smaller one (the
last batch, the few wrong photos whose true class is explained too) is padded to the next power of
two, so a run traces at most log2(batch) + 1 passes, each once. Gradient-based methods
(Grad-CAM, Grad-CAM++, LayerCAM) take their weights from ``vizcore.cam.METHODS`` inside the pass;
Score-CAM, which probes masked copies of each photo, falls back to ``vizcore.cam.heatmap`` photo
by photo.
"""

from __future__ import annotations

from typing import NamedTuple

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import numpy as np
import tensorflow as tf

from .. import cam
from ..cache import PerModel
from ..errors import RequestError
from ..models import VizModel

TOP = 5  # predictions kept per photo
PROBE_METHODS = ("scorecam",)  # methods whose weights need masked passes: computed photo by photo
MAX_PASSES = 16  # compiled batch passes kept per model (one per layer, method and padded size)


class BatchResult(NamedTuple):
    """What one batch of photos gave (N rows, N ≤ the pass's batch size)."""

    scores: np.ndarray  # float32 (N, classes): what the user sees (probabilities, or values)
    targets: np.ndarray  # int (N,): the class each map explains
    maps: np.ndarray  # float32 (N, h, w) in [0, 1]: the maps on the layer's grid
    second_maps: np.ndarray | None = None  # float32 (N, h, w): the second targets' maps, when asked for


class BatchPass:
    """A compiled pass: model inputs (B, H, W, 3), a target per photo and a second target per photo →
    scores, targets, maps and the second targets' maps.

    A target of −1 is the photo's top-1 class (chosen inside the pass); a second target of −1 is the
    first target. Built with ``second=False`` the pass makes one map per photo (its second maps are
    its maps). Read-only once built.
    """

    def __init__(self, vm: VizModel, layer: str, method: str, batch_size: int, second: bool = False):
        self.layer, self.method, self.batch_size = layer, method, batch_size  # never the model: it keys the cache
        self.second = second
        self.head = vm.require_head()
        self.weights = cam.checked_method(method).weights
        self.view = cam.compiled_view(vm, layer)
        height, width = vm.input_size
        self._pass = tf.function(
            self._scores_and_maps,
            input_signature=[
                tf.TensorSpec((batch_size, height, width, 3), tf.float32),
                tf.TensorSpec((batch_size,), tf.int32),
                tf.TensorSpec((batch_size,), tf.int32),
            ],
            autograph=False,
        )

    def _scores_and_maps(self, inputs, targets, seconds):
        """One forward pass, one backward pass per map; each row's gradient is its own photo's (rows are
        independent)."""
        with tf.GradientTape(persistent=self.second) as tape:
            acts, features = self.view.model(inputs, training=False)
            logits = self.head.scores(features)
            chosen = tf.where(targets < 0, tf.cast(tf.argmax(logits, axis=1), tf.int32), targets)
            explained = tf.reduce_sum(tf.gather(logits, chosen, axis=1, batch_dims=1))
            also = tf.reduce_sum(tf.gather(logits, tf.where(seconds < 0, chosen, seconds), axis=1, batch_dims=1))
        maps = self._maps(acts, tape.gradient(explained, acts))
        second_maps = self._maps(acts, tape.gradient(also, acts)) if self.second else maps
        return self.head.display(logits), chosen, maps, second_maps

    def _maps(self, acts, grads):
        if grads is None:
            raise RequestError(f"Layer {self.layer!r} does not lead to the model's output.")
        return tf.nn.relu(tf.reduce_sum(self.weights(acts, grads, None) * acts, axis=-1))

    def __call__(self, inputs: np.ndarray, targets: np.ndarray, seconds: np.ndarray | None = None) -> BatchResult:
        """Scores, targets and [0, 1] maps of up to ``batch_size`` preprocessed photos (and the second
        targets' maps, when the pass makes them)."""
        count = len(inputs)
        padded = np.zeros((self.batch_size, *inputs.shape[1:]), np.float32)
        padded[:count] = inputs
        wanted, also = np.full(self.batch_size, -1, np.int32), np.full(self.batch_size, -1, np.int32)
        wanted[:count] = targets
        if seconds is not None:
            also[:count] = seconds
        scores, chosen, maps, second_maps = self._pass(tf.constant(padded), tf.constant(wanted), tf.constant(also))
        maps = np.stack([normalised(m) for m in maps.numpy()[:count]])
        second = np.stack([normalised(m) for m in second_maps.numpy()[:count]]) if self.second else None
        return BatchResult(scores.numpy()[:count], chosen.numpy()[:count].astype(np.int64), maps, second)


_PASSES = PerModel(MAX_PASSES)


def batch_pass(vm: VizModel, layer: str, method: str, batch_size: int, second: bool = False) -> BatchPass:
    """The cached compiled pass of ``vm`` for a layer, a gradient method, a batch size and whether it makes
    second maps."""
    return _PASSES.get(
        vm, (layer, method, batch_size, second), lambda: BatchPass(vm, layer, method, batch_size, second)
    )


def normalised(values: np.ndarray) -> np.ndarray:
    """Min-max scaled to [0, 1] float32; a flat map becomes all zeros (as vizcore.cam does)."""
    low, high = float(np.min(values)), float(np.max(values))
    if not high > low:
        return np.zeros(values.shape, np.float32)
    return ((values - low) / (high - low)).astype(np.float32)


def predict_and_explain(
    vm: VizModel,
    photos: np.ndarray,
    targets: np.ndarray,
    *,
    layer: str,
    method: str,
    batch_size: int,
    seconds: np.ndarray | None = None,
) -> BatchResult:
    """Scores and maps of uint8 photos at the model's input size (N ≤ batch_size), in one forward pass.

    Args:
        photos: uint8 (N, H, W, 3) at ``vm.input_size``.
        targets: int (N,): the class each map explains, −1 for the top-1 class.
        seconds: int (N,), optional: a second class to explain per photo (−1: none), from the same
            forward pass; its maps are the result's ``second_maps`` (where −1, the first map).

    Returns:
        A BatchResult; with Score-CAM the maps come from ``vizcore.cam.heatmap`` photo by photo (the
        second maps only where a second class differs from the first).
    """
    if len(photos) > batch_size:
        raise RequestError(f"{len(photos)} photos do not fit a batch of {batch_size}.")
    size = padded_size(len(photos), batch_size)
    two = seconds is not None
    result = batch_pass(vm, layer, _gradient_method(method), size, two)(vm.preprocess(photos), targets, seconds)
    if method in PROBE_METHODS:

        def probed(photo, target):
            return cam.heatmap(vm, photo, class_index=int(target), method=method, layer=layer).grid

        maps = np.stack([probed(photo, t) for photo, t in zip(photos, result.targets)])
        second = None
        if seconds is not None:
            differ = (seconds >= 0) & (seconds != result.targets)
            second = np.stack([probed(photo, s) if d else m for photo, s, d, m in zip(photos, seconds, differ, maps)])
        result = result._replace(maps=maps, second_maps=second)
    return result


def padded_size(count: int, batch_size: int) -> int:
    """The pass that runs ``count`` photos: the batch size, or the next power of two below it."""
    return min(batch_size, 1 << max(count - 1, 0).bit_length())


def _gradient_method(method: str) -> str:
    """The method the batched pass runs: the method itself, or Grad-CAM when its maps come later."""
    cam.checked_method(method)
    return cam.DEFAULT_METHOD if method in PROBE_METHODS else method


def top_classes(scores: np.ndarray, count: int = TOP) -> np.ndarray:
    """Indices of each row's ``count`` highest scores, highest first (stable)."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :count]
