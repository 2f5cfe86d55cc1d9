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

from .. import scheduler, timeline
from ..cache import PerModel
from ..checks import class_index as checked_class_index
from ..checks import rgb_image, whole_number
from ..drawing import resized_map
from ..errors import ModelError, RequestError
from ..models import VizModel
from .methods import LIVE_TENSORS, METHODS, SCORE_CAM_MAX_BATCH, SCORE_CAM_MEMORY_BYTES, CamContext

DEFAULT_METHOD = "gradcam"
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
        self._masked_scores = tf.function(
            self._masked_class_probabilities,
            input_signature=[
                tf.TensorSpec((1, height, width, 3), tf.float32),
                tf.TensorSpec((None, None, None), tf.float32),
                scalar,
                sign,
            ],
            autograph=False,
        )
        self.class_probabilities = tf.function(
            self._class_probabilities, input_signature=[batch, scalar, sign], autograph=False
        )
        self._batch_size: int | None = None

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
        _, features = self.model(inputs, training=False)
        return sign * self.head.display(self.head.scores(features))[:, class_index]

    def _masked_class_probabilities(self, inputs, maps, class_index, sign):
        """Class probability of the input masked by each map, upsampled and scaled to [0, 1]."""
        masks = tf.image.resize(maps[..., None], tf.shape(inputs)[1:3], method="bilinear")
        low = tf.reduce_min(masks, axis=(1, 2, 3), keepdims=True)
        high = tf.reduce_max(masks, axis=(1, 2, 3), keepdims=True)
        return self._class_probabilities(inputs * tf.math.divide_no_nan(masks - low, high - low), class_index, sign)

    def masked_scores(self, inputs, maps, class_index: int, sign: float = 1.0) -> np.ndarray:
        """Score-CAM probes for maps (K, h, w), in batches that fit SCORE_CAM_MEMORY_BYTES."""
        batch = self.batch_size()
        sign = tf.constant(sign, tf.float32)
        scores = []
        for start in range(0, int(maps.shape[0]), batch):
            scheduler.checkpoint()  # a long Score-CAM gives way to short work between batches
            scores.append(self._masked_scores(inputs, maps[start : start + batch], class_index, sign).numpy())
        return np.concatenate(scores)

    def batch_size(self) -> int:
        """Masked copies per forward pass: the memory budget over one copy's largest activations."""
        if self._batch_size is None:
            graph = self._masked_scores.get_concrete_function().graph
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


def heatmap(
    vm: VizModel,
    image,
    *,
    class_index: int | None = None,
    method: str = DEFAULT_METHOD,
    layer: str | None = None,
    top_k: int | None = None,
    augment: bool = False,
    eigen_smooth: bool = False,
    lower: bool = False,
) -> CamResult:
    """Where the model looked to call ``image`` by a class (or what raises an output's value).

    Args:
        vm: a model with a head (vizcore.heads): softmax or logits classes, a binary head's
            negative (0) and positive (1) class, multi-label labels, or regression outputs.
        image: RGB uint8 (H, W, 3) of any size (grayscale (H, W) is accepted too).
        class_index: the class to explain; None takes the top-1 class.
        method: a key of ``METHODS``: gradcam, gradcam++, scorecam or layercam.
        layer: the target layer; None picks the last layer with spatial extent.
        top_k: Score-CAM only: probe the k channels of highest variance (Faster Score-CAM).
        augment: test-time augmentation: average the maps of flipped × brightened copies.
        eigen_smooth: keep the first principal component of the weighted activations (Eigen-CAM).
        lower: explain what lowers the score instead of what raises it (for regression outputs).

    Returns:
        A CamResult; ``heatmap`` is float32 (H, W) in [0, 1] at the image's own size.

    Raises:
        ImageError: not an RGB uint8 image. ModelError: the model's output is not a class vector.
        RequestError: unknown method, class index out of range, layer without spatial extent.
    """
    image = rgb_image(image)
    weights_function = checked_method(method).weights
    class_index = checked_class(vm, class_index)
    top_k = _checked_top_k(top_k)
    view = compiled_view(vm, target_layer(vm, layer))
    inputs = tf.constant(vm.preprocess(_variants(vm.resize_for_input(image), augment)))
    sign = -1.0 if lower else 1.0
    acts, grads, logits, target = view.activations_and_gradients(
        inputs, tf.constant(class_index, tf.int32), tf.constant(sign, tf.float32)
    )
    check_spatial(view.layer_name, acts)
    weights = weights_function(acts, grads, CamContext(view, inputs, int(target), top_k, sign))
    grid = _merged(_class_maps(acts, weights, eigen_smooth), augment)
    target = int(target)
    score = float(view.head.display(logits[:1])[0, target])
    return CamResult(
        resized_map(grid, image.shape[:2]), target, vm.label(target), score, view.layer_name, method, grid, bool(lower)
    )


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


# --- checks at the door ------------------------------------------------------------------------


def checked_method(method: str):
    """The CamMethod record called ``method``; RequestError lists the methods otherwise."""
    if method not in METHODS:
        raise RequestError(f"Unknown method {method!r}: use one of {', '.join(METHODS)}.")
    return METHODS[method]


def checked_class(vm: VizModel, class_index) -> int:
    """-1 (top-1, chosen in the compiled pass) for None (a regression's first output); else an index."""
    head = vm.require_head()
    if class_index is None:
        return -1 if head.is_probability else 0
    return checked_class_index(vm, class_index)


def _checked_top_k(top_k) -> int | None:
    """None (every channel), or a whole number of channels of at least 1."""
    if top_k is None:
        return None
    try:
        return whole_number("top_k", top_k, 1)
    except RequestError:
        raise RequestError(f"top_k must be a positive number of channels or None, got {top_k!r}.") from None


def spatial_layers(vm: VizModel) -> list[str]:
    """Layers whose feature map is more than 1×1 at the model's input size, input to output."""
    return [info.name for info in vm.conv_layers() if vm.layer_size(info.name) != (1, 1)]


def default_layer(vm: VizModel) -> str:
    """The last layer with spatial extent (a 4-D output that is not 1×1), at any depth of nesting."""
    layers = spatial_layers(vm)
    if not layers:
        raise ModelError(
            f"{vm.name} has no layer with spatial extent to compute a heatmap on "
            "(no 4-D feature map larger than 1×1); predictions still work."
        )
    return layers[-1]


def default_layer_reason(vm: VizModel) -> str:
    """Why the automatic layer was chosen, in words."""
    layer = default_layer(vm)
    height, width = vm.layer_size(layer)
    size = f"{height}×{width}" if height and width else "spatial"
    return (
        f"{layer} is the last layer with a {size} feature map before the head: the deepest features, "
        "which carry the most class information, while still knowing where things are (Selvaraju et al., 2017)."
    )


def target_layer(vm: VizModel, layer: str | None) -> str:
    """``layer`` checked (RequestError names valid choices), or the default one."""
    if layer is None:
        return default_layer(vm)
    name = vm.layer(layer).name
    if vm.layer_size(name) == (1, 1):
        raise RequestError(f"Layer {layer!r} of {vm.name} has no spatial extent (1×1); pick an earlier layer.")
    return name


def check_spatial(layer: str, acts) -> None:
    if acts.shape[1] * acts.shape[2] <= 1:
        raise RequestError(
            f"Layer {layer!r} has no spatial extent at this input size "
            f"({acts.shape[1]}×{acts.shape[2]}); pick an earlier layer."
        )
