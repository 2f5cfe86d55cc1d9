"""Predictions and class activation maps for a batch of photos in one forward and backward pass.

Photos in a batch are independent, so the gradient of the *sum* over the batch of each photo's own
target score with respect to the layer's activations is, row by row, the gradient of that photo's
score alone: one tape gives every photo's Grad-CAM, each for its own class. The pass is a
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


class BatchPass:
    """A compiled pass: model inputs (B, H, W, 3) and a target per photo → scores, targets and maps.

    A target of −1 is the photo's top-1 class (chosen inside the pass). Read-only once built.
    """

    def __init__(self, vm: VizModel, layer: str, method: str, batch_size: int):
        self.layer, self.method, self.batch_size = layer, method, batch_size  # never the model: it keys the cache
        self.head = vm.require_head()
        self.weights = cam.checked_method(method).weights
        self.view = cam.compiled_view(vm, layer)
        height, width = vm.input_size
        self._pass = tf.function(
            self._scores_and_maps,
            input_signature=[
                tf.TensorSpec((batch_size, height, width, 3), tf.float32),
                tf.TensorSpec((batch_size,), tf.int32),
            ],
            autograph=False,
        )

    def _scores_and_maps(self, inputs, targets):
        """One forward + backward pass; each row's gradient is its own photo's (rows are independent)."""
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            acts, features = self.view.model(inputs, training=False)
            logits = self.head.scores(features)
            chosen = tf.where(targets < 0, tf.cast(tf.argmax(logits, axis=1), tf.int32), targets)
            explained = tf.reduce_sum(tf.gather(logits, chosen, axis=1, batch_dims=1))
        grads = tape.gradient(explained, acts)
        if grads is None:
            raise RequestError(f"Layer {self.layer!r} does not lead to the model's output.")
        weights = self.weights(acts, grads, None)
        maps = tf.nn.relu(tf.reduce_sum(weights * acts, axis=-1))
        return self.head.display(logits), chosen, maps

    def __call__(self, inputs: np.ndarray, targets: np.ndarray) -> BatchResult:
        """Scores, targets and [0, 1] maps of up to ``batch_size`` preprocessed photos."""
        count = len(inputs)
        padded = np.zeros((self.batch_size, *inputs.shape[1:]), np.float32)
        padded[:count] = inputs
        wanted = np.full(self.batch_size, -1, np.int32)
        wanted[:count] = targets
        scores, chosen, maps = self._pass(tf.constant(padded), tf.constant(wanted))
        maps = np.stack([normalised(m) for m in maps.numpy()[:count]])
        return BatchResult(scores.numpy()[:count], chosen.numpy()[:count].astype(np.int64), maps)


_PASSES = PerModel(MAX_PASSES)


def batch_pass(vm: VizModel, layer: str, method: str, batch_size: int) -> BatchPass:
    """The cached compiled pass of ``vm`` for a layer, a gradient method and a batch size."""
    return _PASSES.get(vm, (layer, method, batch_size), lambda: BatchPass(vm, layer, method, batch_size))


def normalised(values: np.ndarray) -> np.ndarray:
    """Min-max scaled to [0, 1] float32; a flat map becomes all zeros (as vizcore.cam does)."""
    low, high = float(np.min(values)), float(np.max(values))
    if not high > low:
        return np.zeros(values.shape, np.float32)
    return ((values - low) / (high - low)).astype(np.float32)


def predict_and_explain(
    vm: VizModel, photos: np.ndarray, targets: np.ndarray, *, layer: str, method: str, batch_size: int
) -> BatchResult:
    """Scores and maps of uint8 photos at the model's input size (N ≤ batch_size).

    Args:
        photos: uint8 (N, H, W, 3) at ``vm.input_size``.
        targets: int (N,): the class each map explains, −1 for the top-1 class.

    Returns:
        A BatchResult; with Score-CAM the maps come from ``vizcore.cam.heatmap`` photo by photo.
    """
    if len(photos) > batch_size:
        raise RequestError(f"{len(photos)} photos do not fit a batch of {batch_size}.")
    size = padded_size(len(photos), batch_size)
    result = batch_pass(vm, layer, _gradient_method(method), size)(vm.preprocess(photos), targets)
    if method in PROBE_METHODS:
        maps = [cam.heatmap(vm, photo, class_index=int(t), method=method, layer=layer).grid
                for photo, t in zip(photos, result.targets)]  # fmt: skip
        result = result._replace(maps=np.stack(maps))
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
