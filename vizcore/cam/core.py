"""Class activation maps: where a classifier looked to call a photo by a class.

``heatmap(vm, image)`` returns a :class:`CamResult` whose ``heatmap`` is float32 (H, W) in [0, 1]
at the photo's own size. Every method is one small *weights function* over one shared core: a
compiled pass (a ``tf.function`` traced once per input shape) that returns the target layer's
activations A, the gradients of the class's pre-softmax score with respect to A, and the logits.
The map is ReLU(Σ_k weights_k · A_k), optionally eigen-smoothed, normalised to [0, 1] on the
layer's grid, then upsampled to the photo. ``METHODS`` (:mod:`vizcore.cam.methods`) holds
the methods for the engine, the page and the CLI. The model is never mutated: views on it are new
``keras.Model`` objects, cached per (model, layer) for every thread.
"""

from __future__ import annotations

from typing import NamedTuple

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import numpy as np
import tensorflow as tf

from .. import timeline
from ..cache import PerModel
from ..drawing import resized_map
from ..errors import RequestError
from ..models import VizModel
from .methods import CamContext
from .request import (  # noqa: F401  (the request's checks, re-exported for callers of the core)
    DEFAULT_METHOD,
    CamRequest,
    cam_request,
    checked_class,
    checked_method,
    default_layer,
    default_layer_reason,
    spatial_layers,
    target_layer,
)

AUGMENT_FLIPS = (False, True)  # test-time augmentation: horizontal flip ...
AUGMENT_BRIGHTNESS = (1.0, 0.8, 1.2)  # ... times brightness factors (the first pair is the photo itself)
MAX_VIEWS = 16  # compiled views kept per model (one per target layer), least recently used dropped


class CamResult(NamedTuple):
    """A class activation map and what it explains."""

    heatmap: np.ndarray  # float32 (H, W) in [0, 1], at the photo's own size
    class_index: int
    label: str
    score: float  # the model's probability for the class on the photo (a regression output's value)
    layer: str  # the layer the map was computed on
    method: str
    grid: np.ndarray  # float32 (h, w) in [0, 1], the map on the layer's own grid
    lower: bool = False  # True: the map shows what lowers the score (a regression output), not what raises it
    request: CamRequest | None = None  # what was asked: the photo at the model's size, the settings


# --- the shared core: a view from the input to (A, logits), compiled ----------------------------


class CamView:
    """Input → (target layer's activations, the head's features), with compiled passes.

    The head's scores are the pre-activation ones (see vizcore.heads); ``sign`` −1 explains what
    lowers a score instead of what raises it. Built once per (model, layer) and shared by every
    thread; read-only after construction.
    """

    def __init__(self, vm: VizModel, layer_name: str):
        self.layer_name = layer_name
        self.head = vm.require_head()
        self.model = vm.scoring_view(layer_name)
        height, width = vm.input_size
        batch = tf.TensorSpec((None, height, width, 3), tf.float32)
        scalar, sign = tf.TensorSpec((), tf.int32), tf.TensorSpec((), tf.float32)
        self.activations_and_gradients = tf.function(
            self._activations_and_gradients, input_signature=[batch, scalar, sign], autograph=False
        )
        self.class_probabilities = tf.function(
            self._class_probabilities, input_signature=[batch, scalar, sign], autograph=False
        )
        self.input_size = (height, width)

    def _activations_and_gradients(self, inputs, class_index, sign):
        """The shared core. class_index < 0 means the top-1 class of the first input."""
        timeline.mark("tracing", what=f"cam {self.layer_name} {inputs.shape}")  # runs while traced only
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            acts, features = self.model(inputs, training=False)
            logits = self.head.scores(features)
            target = tf.where(class_index < 0, tf.cast(tf.argmax(logits[0]), tf.int32), class_index)
            scores = sign * tf.gather(logits, target, axis=1)
        grads = tape.gradient(scores, acts)
        if grads is None:
            raise RequestError(f"Layer {self.layer_name!r} does not lead to the model's output.")
        return acts, grads, logits, target

    def _class_probabilities(self, inputs, class_index, sign):
        """The explained class's probability (a regression output's signed value) for each input."""
        timeline.mark("tracing", what=f"class probabilities {self.layer_name} {inputs.shape}")
        return self.probabilities_of(inputs, class_index, sign)

    def probabilities_of(self, inputs, class_index, sign):
        """In a traced pass: the explained class's probability (signed value) for each input."""
        _, features = self.model(inputs, training=False)
        return sign * self.head.display(self.head.scores(features))[:, class_index]


_VIEWS = PerModel(MAX_VIEWS)


def compiled_view(vm: VizModel, layer_name: str) -> CamView:
    """The cached compiled view of ``vm`` on ``layer_name`` (thread-safe; dropped with the model)."""
    return _VIEWS.get(vm, layer_name, lambda: CamView(vm, layer_name))


def prepare(vm: VizModel, layer: str | None = None) -> None:
    """Trace, ahead of the first photo, the compiled passes a map on ``layer`` (None: the default) and its
    trust scores take: the first map of a fresh page then costs what any map costs. The passes are
    shared by every thread; one traced already is not traced again."""
    view = compiled_view(vm, target_layer(vm, layer))
    images = tf.zeros((1, *vm.input_size, 3), tf.float32)
    index, sign = tf.constant(0, tf.int32), tf.constant(1.0, tf.float32)
    view.activations_and_gradients(images, tf.constant(-1, tf.int32), sign)
    view.class_probabilities(images, index, sign)


# --- heatmap -----------------------------------------------------------------------------------


def heatmap(vm: VizModel, image, **options) -> CamResult:
    """Where the model looked to call ``image`` by a class (or what raises an output's value).

    ``image`` is an RGB uint8 (H, W, 3) photo of any size; ``options`` are :func:`cam_request`'s
    (class_index, method, layer, top_k, augment, eigen_smooth, lower). The request is checked once
    and carried by the result (see :func:`explain`).
    """
    return explain(vm, cam_request(vm, image, **options))


def explain(vm: VizModel, request: CamRequest) -> CamResult:
    """The map a checked request asks for.

    Every method is one weights function (``METHODS``) over the one compiled pass: the target layer's
    activations A and the gradients of the class's pre-activation score with respect to A; the map is
    ReLU(Σ_k w_k · A_k), optionally eigen-smoothed (Eigen-CAM), on the layer's grid, normalised to
    [0, 1] and upsampled to the photo; with ``augment`` the maps of flipped × brightened copies are
    averaged. A model with a head (vizcore.heads): softmax or logits classes, a binary head's negative
    (0) and positive (1) class, multi-label labels, or regression outputs (``lower``: what lowers it).

    Returns:
        A CamResult; ``heatmap`` is float32 (H, W) in [0, 1] at the photo's own size.
    """
    view = compiled_view(vm, request.layer)
    inputs = tf.constant(vm.preprocess(_variants(request.inputs, request.augment)))
    sign = -1.0 if request.lower else 1.0
    acts, grads, logits, target = view.activations_and_gradients(
        inputs, tf.constant(request.class_index, tf.int32), tf.constant(sign, tf.float32)
    )
    check_spatial(view.layer_name, acts)
    context = CamContext(view, inputs, int(target), request.top_k, sign)
    weights = request.record.weights(acts, grads, context)
    grid = _merged(_class_maps(acts, weights, request.eigen_smooth), request.augment)
    target = int(target)
    score = float(view.head.display(logits[:1])[0, target])
    heat = resized_map(grid, request.photo.shape[:2])
    return CamResult(
        heat, target, vm.label(target), score, view.layer_name, request.method, grid, request.lower, request
    )


def given_map(vm: VizModel, image, heat, class_index: int, *, lower: bool = False) -> CamResult:
    """A map made elsewhere (another tool, a hand-made test case) as a result the trust metrics take:
    the photo is checked as a request's, the map must be a finite 2-D array (higher = more important)."""
    request = cam_request(vm, image, class_index=class_index, lower=lower)
    if request.class_index < 0:
        raise RequestError("A given map needs the class it explains (class_index).")
    heat = np.asarray(heat, np.float32)
    if heat.ndim != 2 or not np.all(np.isfinite(heat)):
        raise RequestError(f"A heatmap is a finite 2-D array, got shape {heat.shape}.")
    return CamResult(heat, request.class_index, vm.label(request.class_index), float("nan"), "", "given", heat,
                     bool(lower), request)  # fmt: skip


def _class_maps(acts, weights, eigen_smooth: bool) -> np.ndarray:
    """ReLU(Σ_k weights_k · A_k) per sample (N, h, w), or of its first principal component."""
    weighted = weights * acts
    maps = tf.reduce_sum(weighted, axis=-1).numpy()
    if eigen_smooth:
        maps = np.stack([_principal_projection(w, m) for w, m in zip(weighted.numpy(), maps)])
    return np.maximum(maps, 0.0)


def _principal_projection(weighted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Eigen-smoothing (Eigen-CAM, Muhammad & Yeasin, 2020): each location's weighted activation
    vector projected on the first principal component, signed to agree with ``reference``."""
    flat = weighted.reshape(-1, weighted.shape[-1]).astype(np.float64)
    flat -= flat.mean(axis=0)
    if flat.shape[0] <= flat.shape[1]:  # the smaller Gram matrix gives the same component
        values, vectors = np.linalg.eigh(flat @ flat.T)
        projection = vectors[:, -1] * np.sqrt(max(values[-1], 0.0))
    else:
        projection = flat @ np.linalg.eigh(flat.T @ flat)[1][:, -1]
    projection = projection.reshape(weighted.shape[:2])
    return projection if np.sum(projection * (reference - reference.mean())) >= 0 else -projection


def _variants(image: np.ndarray, augment: bool) -> np.ndarray:
    """The photo alone, or its flipped × brightened copies (the photo itself first)."""
    if not augment:
        return image[None]
    copies = [
        (image[:, ::-1] if flip else image).astype(np.float32) * brightness
        for flip in AUGMENT_FLIPS
        for brightness in AUGMENT_BRIGHTNESS
    ]
    return np.clip(np.rint(np.stack(copies)), 0, 255).astype(np.uint8)


def _merged(maps: np.ndarray, augment: bool) -> np.ndarray:
    """Undo the flips, normalise each map, average: one (h, w) map in [0, 1]."""
    if augment:
        flips = [flip for flip in AUGMENT_FLIPS for _ in AUGMENT_BRIGHTNESS]
        maps = np.stack([m[:, ::-1] if flip else m for m, flip in zip(maps, flips)])
    return _normalised(np.mean([_normalised(m) for m in maps], axis=0))


def _normalised(values: np.ndarray) -> np.ndarray:
    """Min-max scaled to [0, 1] float32; a flat map becomes all zeros."""
    low, high = float(np.min(values)), float(np.max(values))
    if not high > low:
        return np.zeros(values.shape, np.float32)
    return ((values - low) / (high - low)).astype(np.float32)


def check_spatial(layer: str, acts) -> None:
    if acts.shape[1] * acts.shape[2] <= 1:
        raise RequestError(
            f"Layer {layer!r} has no spatial extent at this input size "
            f"({acts.shape[1]}×{acts.shape[2]}); pick an earlier layer."
        )
