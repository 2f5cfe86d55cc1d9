"""Score-CAM (Wang et al., 2020), in one place: its weights function and its masked forward passes.

A channel's weight is the class probability of the photo masked by that channel's map, upsampled
to the photo and scaled to [0, 1] (Eq. 8). The masked copies run through the model in batches sized
to a memory budget, in a compiled pass built once per (model, layer) view. With ``top_k`` it is
Faster Score-CAM: only the k channels of highest spatial variance are probed, the others weigh 0.
"""

from __future__ import annotations

import threading
import weakref

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import numpy as np
import tensorflow as tf

from .. import scheduler

SCORE_CAM_MEMORY_BYTES = 512 * 2**20  # activation memory one Score-CAM batch may take
SCORE_CAM_MAX_BATCH = 32  # masked copies of the photo per forward pass, at most
LIVE_TENSORS = 3  # largest activations alive at once in a forward pass (estimate)
FASTER_TOP_K = 64  # channels the pages and rankings probe unless every channel is asked for

_PROBES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # a view → its masked pass, gone with the view
_LOCK = threading.Lock()


def score_cam_weights(acts, grads, context):
    """Score-CAM (Wang et al., 2020, Eq. 8): channel weight = class probability of the photo
    masked by that channel's upsampled, normalised map. No gradients.

    With ``context.top_k`` it is Faster Score-CAM: only the k channels of highest spatial
    variance are probed, the others weigh 0. Probes run in batches sized to a memory budget; a long
    Score-CAM waits for short work between batches and ends there if its run was stopped.
    """
    probe = masked_scores(context.view)
    weights = np.zeros((acts.shape[0], 1, 1, acts.shape[-1]), np.float32)
    for sample in range(acts.shape[0]):
        channels = score_cam_channels(acts[sample], context.top_k)
        maps = tf.transpose(tf.gather(acts[sample], channels, axis=-1), (2, 0, 1))
        weights[sample, 0, 0, channels] = probe(
            context.inputs[sample : sample + 1], maps, context.class_index, context.sign
        )
    return tf.constant(weights)


def score_cam_channels(acts, top_k: int | None) -> np.ndarray:
    """All channels, or the ``top_k`` of highest spatial variance (Faster Score-CAM)."""
    channels = acts.shape[-1]
    if top_k is None or top_k >= channels:
        return np.arange(channels)
    variance = tf.math.reduce_variance(acts, axis=(0, 1)).numpy()
    return np.sort(np.argsort(-variance, kind="stable")[:top_k])


class MaskedScores:
    """The class probability of one photo masked by each of K maps, in compiled batches.

    ``view`` is a :class:`vizcore.cam.core.CamView`: its ``class_probabilities`` pass reads the head.
    """

    def __init__(self, view):
        self.view = view
        height, width = view.input_size
        self._masked = tf.function(
            self._masked_class_probabilities,
            input_signature=[
                tf.TensorSpec((1, height, width, 3), tf.float32),
                tf.TensorSpec((None, None, None), tf.float32),
                tf.TensorSpec((), tf.int32),
                tf.TensorSpec((), tf.float32),
            ],
            autograph=False,
        )
        self._batch_size: int | None = None

    def _masked_class_probabilities(self, inputs, maps, class_index, sign):
        """Class probability of the input masked by each map, upsampled and scaled to [0, 1]."""
        masks = tf.image.resize(maps[..., None], tf.shape(inputs)[1:3], method="bilinear")
        low = tf.reduce_min(masks, axis=(1, 2, 3), keepdims=True)
        high = tf.reduce_max(masks, axis=(1, 2, 3), keepdims=True)
        return self.view.probabilities_of(inputs * tf.math.divide_no_nan(masks - low, high - low), class_index, sign)

    def __call__(self, inputs, maps, class_index: int, sign: float = 1.0) -> np.ndarray:
        """Score-CAM probes for maps (K, h, w), in batches that fit SCORE_CAM_MEMORY_BYTES."""
        batch = self.batch_size()
        sign = tf.constant(sign, tf.float32)
        scores = []
        for start in range(0, int(maps.shape[0]), batch):
            scheduler.checkpoint()  # a long Score-CAM gives way to short work between batches
            scores.append(self._masked(inputs, maps[start : start + batch], class_index, sign).numpy())
        return np.concatenate(scores)

    def batch_size(self) -> int:
        """Masked copies per forward pass: the memory budget over one copy's largest activations."""
        if self._batch_size is None:
            graph = self._masked.get_concrete_function().graph
            largest = max(
                (
                    int(np.prod(out.shape[1:]))
                    for op in graph.get_operations()
                    for out in op.outputs
                    if out.shape.rank == 4 and out.shape[1:].is_fully_defined()
                ),
                default=1,
            )
            per_copy = 4 * LIVE_TENSORS * largest
            self._batch_size = int(np.clip(SCORE_CAM_MEMORY_BYTES // per_copy, 1, SCORE_CAM_MAX_BATCH))
        return self._batch_size


def masked_scores(view) -> MaskedScores:
    """The view's masked pass, built once per view and shared by every thread."""
    with _LOCK:
        if view not in _PROBES:
            _PROBES[view] = MaskedScores(view)
        return _PROBES[view]
