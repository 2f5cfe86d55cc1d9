"""Class activation maps: where a classifier looked to call a photo by a class.

``heatmap(vm, image)`` returns a :class:`CamResult` whose ``heatmap`` is float32 (H, W) in [0, 1]
at the photo's own size. Every method is one small *weights function* over one shared core: a
compiled pass (a ``tf.function`` traced once per input shape) that returns the target layer's
activations A, the gradients of the class's pre-softmax score with respect to A, and the logits.
The map is ReLU(Σ_k weights_k · A_k), optionally eigen-smoothed, normalised to [0, 1] on the
layer's grid, then upsampled to the photo. ``METHODS`` names the weights functions for the page
and the CLI. The model is never mutated: views on it are new ``keras.Model`` objects, cached per
(model, layer) for every thread.
"""
from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Callable, NamedTuple

from . import _quiet  # noqa: F401  (imports TensorFlow quietly, first)
import keras
import matplotlib
import numpy as np
import tensorflow as tf
from PIL import Image, ImageFilter

from .errors import ImageError, ModelError, RequestError
from .images import MIN_SIDE
from .models import VizModel

DEFAULT_METHOD = "gradcam"
SCORE_CAM_MEMORY_BYTES = 512 * 2**20  # activation memory one Score-CAM batch may take
SCORE_CAM_MAX_BATCH = 32              # masked copies of the photo per forward pass, at most
LIVE_TENSORS = 3                      # largest activations alive at once in a forward pass (estimate)
AUGMENT_FLIPS = (False, True)         # test-time augmentation: horizontal flip ...
AUGMENT_BRIGHTNESS = (1.0, 0.8, 1.2)  # ... times brightness factors (the first pair is the photo itself)
COLORMAPS = ("jet", "turbo", "inferno", "viridis", "magma", "plasma", "coolwarm")  # offered by the page

FAITHFULNESS_FRACTIONS = (0.025, 0.05, 0.1, 0.2)  # shares of the photo removed, hottest first
FAITHFULNESS_RANDOM_DRAWS = 4  # random removals averaged per fraction
FAITHFULNESS_GRID = 14         # pixels are removed in FAITHFULNESS_GRID² patches (16 px at 224)
FAITHFULNESS_BLUR = 0.12       # removed patches are replaced by the photo blurred by this share of its side


class CamResult(NamedTuple):
    """A class activation map and what it explains."""
    heatmap: np.ndarray  # float32 (H, W) in [0, 1], at the photo's own size
    class_index: int
    label: str
    score: float         # the model's probability for the class on the photo (a regression output's value)
    layer: str           # the layer the map was computed on
    method: str
    grid: np.ndarray     # float32 (h, w) in [0, 1], the map on the layer's own grid
    lower: bool = False  # True: the map shows what lowers the score (a regression output), not what raises it


class Faithfulness(NamedTuple):
    """How much the map's hottest pixels matter to the model, compared with random ones."""
    score: float                    # mean of (cam drop − random drop), drops clipped to [0, 1]: > 0 beats chance
    probability: float              # the class probability on the untouched photo
    fractions: tuple[float, ...]    # shares of the photo removed
    cam_drops: tuple[float, ...]    # relative probability drop removing the hottest patches (< 0: it rose)
    random_drops: tuple[float, ...] # ... removing as many random patches (mean of draws)


@dataclass(frozen=True)
class CamContext:
    """What a weights function may need beyond A and its gradients: Score-CAM's masked passes."""
    view: "_CamView"
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
            context.inputs[sample:sample + 1], maps, context.class_index, context.sign)
    return tf.constant(weights)


def _score_cam_channels(acts, top_k: int | None) -> np.ndarray:
    """All channels, or the ``top_k`` of highest spatial variance (Faster Score-CAM)."""
    channels = acts.shape[-1]
    if top_k is None or top_k >= channels:
        return np.arange(channels)
    variance = tf.math.reduce_variance(acts, axis=(0, 1)).numpy()
    return np.sort(np.argsort(-variance, kind="stable")[:top_k])


METHODS: dict[str, Callable] = {
    "gradcam": grad_cam_weights,
    "gradcam++": grad_cam_pp_weights,
    "scorecam": score_cam_weights,
    "layercam": layer_cam_weights,
}
METHOD_TITLES = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "scorecam": "Score-CAM", "layercam": "LayerCAM"}


# --- the shared core: a view from the input to (A, logits), compiled ----------------------------

class _CamView:
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
            self._activations_and_gradients, input_signature=[batch, scalar, sign])
        self._masked_scores = tf.function(self._masked_class_probabilities, input_signature=[
            tf.TensorSpec((1, height, width, 3), tf.float32), tf.TensorSpec((None, None, None), tf.float32), scalar, sign])
        self.class_probabilities = tf.function(self._class_probabilities, input_signature=[batch, scalar, sign])
        self._batch_size: int | None = None

    def _activations_and_gradients(self, inputs, class_index, sign):
        """The shared core. class_index < 0 means the top-1 class of the first input."""
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
        scores = [self._masked_scores(inputs, maps[start:start + batch], class_index, sign).numpy()
                  for start in range(0, int(maps.shape[0]), batch)]
        return np.concatenate(scores)

    def batch_size(self) -> int:
        """Masked copies per forward pass: the memory budget over one copy's largest activations."""
        if self._batch_size is None:
            graph = self._masked_scores.get_concrete_function().graph
            largest = max((int(np.prod(out.shape[1:])) for op in graph.get_operations() for out in op.outputs
                           if out.shape.rank == 4 and out.shape[1:].is_fully_defined()), default=1)
            per_copy = 4 * LIVE_TENSORS * largest
            self._batch_size = int(np.clip(SCORE_CAM_MEMORY_BYTES // per_copy, 1, SCORE_CAM_MAX_BATCH))
        return self._batch_size


_VIEWS: "weakref.WeakKeyDictionary[VizModel, dict]" = weakref.WeakKeyDictionary()
_VIEWS_LOCK = threading.Lock()


def _view(vm: VizModel, layer_name: str) -> _CamView:
    """The cached view of ``vm`` on ``layer_name`` (thread-safe; dropped with the model)."""
    with _VIEWS_LOCK:
        views = _VIEWS.setdefault(vm, {})
        if layer_name not in views:
            views[layer_name] = _CamView(vm, layer_name)
        return views[layer_name]


# --- heatmap -----------------------------------------------------------------------------------

def heatmap(vm: VizModel, image, *, class_index: int | None = None, method: str = DEFAULT_METHOD,
            layer: str | None = None, top_k: int | None = None, augment: bool = False,
            eigen_smooth: bool = False, lower: bool = False) -> CamResult:
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
    image = _checked_image(image)
    weights_function = _checked_method(method)
    class_index = _checked_class(vm, class_index)
    top_k = _checked_top_k(top_k)
    view = _view(vm, _target_layer(vm, layer))
    inputs = tf.constant(vm.preprocess(_variants(vm.resize_for_input(image), augment)))
    sign = -1.0 if lower else 1.0
    acts, grads, logits, target = view.activations_and_gradients(
        inputs, tf.constant(class_index, tf.int32), tf.constant(sign, tf.float32))
    _check_spatial(view.layer_name, acts)
    weights = weights_function(acts, grads, CamContext(view, inputs, int(target), top_k, sign))
    grid = _merged(_class_maps(acts, weights, eigen_smooth), augment)
    target = int(target)
    score = float(view.head.display(logits[:1])[0, target])
    return CamResult(_resized(grid, image.shape[:2]), target, vm.label(target), score,
                     view.layer_name, method, grid, bool(lower))


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
    copies = [(image[:, ::-1] if flip else image).astype(np.float32) * brightness
              for flip in AUGMENT_FLIPS for brightness in AUGMENT_BRIGHTNESS]
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


def _resized(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A float map resized bilinearly to (height, width) with Pillow, clipped to [0, 1]."""
    height, width = size
    if values.shape == (height, width):
        return values.astype(np.float32)
    resized = Image.fromarray(values.astype(np.float32), mode="F").resize((width, height), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


# --- checks at the door ------------------------------------------------------------------------

def _checked_image(image) -> np.ndarray:
    """RGB uint8 (H, W, 3); grayscale (H, W) or (H, W, 1) is expanded to RGB."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ImageError(f"Expected an RGB image of shape (H, W, 3), got shape {array.shape}; "
                         "decode files with vizcore.load_image.")
    if array.dtype != np.uint8:
        raise ImageError(f"Expected uint8 pixels (0–255), got {array.dtype}.")
    if min(array.shape[:2]) < MIN_SIDE:
        raise ImageError(f"The image is only {array.shape[1]}×{array.shape[0]} pixels; "
                         f"it needs at least {MIN_SIDE} pixels on each side.")
    return array


def _checked_method(method: str) -> Callable:
    if method not in METHODS:
        raise RequestError(f"Unknown method {method!r}: use one of {', '.join(METHODS)}.")
    return METHODS[method]


def _checked_class(vm: VizModel, class_index) -> int:
    """-1 (top-1, chosen in the compiled pass) for None (a regression's first output); else an index."""
    head = vm.require_head()
    if class_index is None:
        return -1 if head.is_probability else 0
    classes = vm.classes
    if isinstance(class_index, bool) or not isinstance(class_index, (int, np.integer)) \
            or not 0 <= class_index < classes:
        raise RequestError(f"class index {class_index!r} out of range: {vm.name} has {classes} classes "
                           f"(0 to {classes - 1}).")
    return int(class_index)


def _checked_top_k(top_k) -> int | None:
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1):
        raise RequestError(f"top_k must be a positive number of channels or None, got {top_k!r}.")
    return None if top_k is None else int(top_k)


def spatial_layers(vm: VizModel) -> list[str]:
    """Layers whose feature map is more than 1×1 at the model's input size, input to output."""
    return [info.name for info in vm.conv_layers() if vm.layer_size(info.name) != (1, 1)]


def default_layer(vm: VizModel) -> str:
    """The last layer with spatial extent (a 4-D output that is not 1×1), at any depth of nesting."""
    layers = spatial_layers(vm)
    if not layers:
        raise ModelError(f"{vm.name} has no layer with spatial extent to compute a heatmap on "
                         "(no 4-D feature map larger than 1×1); predictions still work.")
    return layers[-1]


def default_layer_reason(vm: VizModel) -> str:
    """Why the automatic layer was chosen, in words."""
    layer = default_layer(vm)
    height, width = vm.layer_size(layer)
    size = f"{height}×{width}" if height and width else "spatial"
    return (f"{layer} is the last layer with a {size} feature map before the head: the deepest features, "
            "which carry the most class information, while still knowing where things are (Selvaraju et al., 2017).")


def _target_layer(vm: VizModel, layer: str | None) -> str:
    """``layer`` checked (RequestError names valid choices), or the default one."""
    if layer is None:
        return default_layer(vm)
    name = vm.layer(layer).name
    if vm.layer_size(name) == (1, 1):
        raise RequestError(f"Layer {layer!r} of {vm.name} has no spatial extent (1×1); pick an earlier layer.")
    return name


def _check_spatial(layer: str, acts) -> None:
    if acts.shape[1] * acts.shape[2] <= 1:
        raise RequestError(f"Layer {layer!r} has no spatial extent at this input size "
                           f"({acts.shape[1]}×{acts.shape[2]}); pick an earlier layer.")


# --- drawing -----------------------------------------------------------------------------------

def colorize(heatmap: np.ndarray, cmap: str = "jet") -> np.ndarray:
    """A [0, 1] map as RGB uint8 through a matplotlib colormap."""
    colormap = _colormap(cmap)
    values = np.clip(np.nan_to_num(np.asarray(heatmap, np.float32)), 0.0, 1.0)
    return (colormap(values)[..., :3] * 255.0 + 0.5).astype(np.uint8)


def overlay(image: np.ndarray, heatmap: np.ndarray, cmap: str = "jet", alpha: float = 0.4) -> np.ndarray:
    """The photo with the colorized heatmap blended on top: (1 − alpha) · photo + alpha · colors.

    A heatmap of another size is resized to the photo. Returns RGB uint8 of the photo's size.
    """
    image = _checked_image(image)
    check_overlay(cmap, alpha)
    heatmap = np.asarray(heatmap, np.float32)
    if heatmap.ndim != 2:
        raise RequestError(f"A heatmap is 2-D (H, W), got shape {heatmap.shape}.")
    colors = colorize(_resized(np.clip(heatmap, 0, 1), image.shape[:2]), cmap).astype(np.float32)
    return np.clip((1.0 - alpha) * image + alpha * colors + 0.5, 0, 255).astype(np.uint8)


def check_overlay(cmap: str, alpha: float) -> None:
    """RequestError unless ``cmap`` is a matplotlib colormap and 0 <= alpha <= 1."""
    _colormap(cmap)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.number)) or not 0.0 <= float(alpha) <= 1.0:
        raise RequestError(f"alpha (opacity) must be between 0 and 1, got {alpha!r}.")


def _colormap(name: str):
    try:
        return matplotlib.colormaps[name]
    except KeyError:
        raise RequestError(f"Unknown colormap {name!r}: try one of {', '.join(COLORMAPS)} "
                           "(any matplotlib colormap works).") from None


# --- faithfulness ------------------------------------------------------------------------------

def faithfulness(vm: VizModel, image, heatmap_or_result, class_index: int | None = None, *,
                 fractions: tuple[float, ...] = FAITHFULNESS_FRACTIONS,
                 random_draws: int = FAITHFULNESS_RANDOM_DRAWS, seed: int = 0,
                 lower: bool | None = None) -> Faithfulness:
    """Deletion test (Petsiuk et al., 2018; ROAD, Rong et al., 2022): how much the class
    probability drops when the map's hottest patches are removed, minus the drop for as many
    random patches. Removed patches take the blurred photo's pixels; one batched forward pass.

    Args:
        image: the RGB uint8 photo the map explains.
        heatmap_or_result: a CamResult, or a 2-D map of any size (higher = more important).
        class_index: the class (taken from the CamResult when given one).
        fractions: shares of the photo removed; random_draws: random removals per share.

    Returns:
        Faithfulness; ``score`` in [−1, 1], above 0 the map finds pixels that matter more than chance.
    """
    if isinstance(heatmap_or_result, CamResult):
        class_index = heatmap_or_result.class_index if class_index is None else class_index
        lower = heatmap_or_result.lower if lower is None else lower
        heatmap_or_result = heatmap_or_result.heatmap
    class_index = _checked_class(vm, class_index)
    if class_index < 0:
        raise RequestError("faithfulness needs the class the heatmap explains (class_index).")
    _check_fractions(fractions, random_draws)
    photo = vm.resize_for_input(_checked_image(image))
    masks, rng = [], np.random.default_rng(seed)
    ranking = _patch_ranking(np.asarray(heatmap_or_result, np.float32))
    for fraction in fractions:
        count = max(1, round(fraction * ranking.size))
        masks.append(ranking[:count])
        masks += [rng.permutation(ranking.size)[:count] for _ in range(random_draws)]
    batch = _with_patches_removed(photo, masks)
    probabilities = _class_probabilities(vm, batch, class_index, -1.0 if lower else 1.0)
    return _faithfulness_from(probabilities, fractions, random_draws)


def _check_fractions(fractions, random_draws) -> None:
    if not fractions or not all(0.0 < f < 1.0 for f in fractions):
        raise RequestError(f"fractions must be shares strictly between 0 and 1, got {fractions!r}.")
    if random_draws < 1:
        raise RequestError(f"random_draws must be at least 1, got {random_draws!r}.")


def _patch_ranking(heatmap: np.ndarray) -> np.ndarray:
    """Patch numbers (row-major on the FAITHFULNESS_GRID² grid), hottest first (mean heat per patch)."""
    if heatmap.ndim != 2 or not np.all(np.isfinite(heatmap)):
        raise RequestError(f"A heatmap is a finite 2-D array, got shape {heatmap.shape}.")
    side = FAITHFULNESS_GRID
    patches = np.asarray(Image.fromarray(heatmap, mode="F").resize((side, side), Image.Resampling.BOX))
    return np.argsort(-patches.ravel(), kind="stable")


def _with_patches_removed(photo: np.ndarray, masks: list[np.ndarray]) -> np.ndarray:
    """The photo, then one copy per mask with those patches replaced by the blurred photo."""
    height, width = photo.shape[:2]
    blurred = np.asarray(Image.fromarray(photo).filter(ImageFilter.GaussianBlur(FAITHFULNESS_BLUR * max(height, width))))
    rows = np.minimum(np.arange(height) * FAITHFULNESS_GRID // height, FAITHFULNESS_GRID - 1)
    cols = np.minimum(np.arange(width) * FAITHFULNESS_GRID // width, FAITHFULNESS_GRID - 1)
    patch_of_pixel = rows[:, None] * FAITHFULNESS_GRID + cols[None, :]
    copies = [photo]
    for removed in masks:
        hidden = np.isin(patch_of_pixel, removed)[..., None]
        copies.append(np.where(hidden, blurred, photo))
    return np.stack(copies)


def _class_probabilities(vm: VizModel, batch: np.ndarray, class_index: int, sign: float = 1.0) -> np.ndarray:
    """The class's probability (a regression output's signed value) for each photo, in one forward pass."""
    view = _view(vm, default_layer(vm))
    return view.class_probabilities(tf.constant(vm.preprocess(batch)), tf.constant(class_index, tf.int32),
                                    tf.constant(sign, tf.float32)).numpy()


def _faithfulness_from(probabilities: np.ndarray, fractions, random_draws: int) -> Faithfulness:
    """Relative drops per fraction from [photo, (cam, random × draws) per fraction]."""
    original = float(probabilities[0])
    drops = (original - probabilities[1:].reshape(len(fractions), 1 + random_draws)) / max(abs(original), 1e-12)
    cam_drops, random_drops = drops[:, 0], drops[:, 1:].mean(axis=1)
    lost = np.clip(drops, 0.0, 1.0)  # a gain in confidence counts as no loss, so the score stays in [−1, 1]
    score = float(np.mean(lost[:, 0] - lost[:, 1:].mean(axis=1)))
    return Faithfulness(score, float(probabilities[0]), tuple(fractions),
                        tuple(map(float, cam_drops)), tuple(map(float, random_drops)))


# --- which layer? ------------------------------------------------------------------------------

RANKED_LAYERS = 4  # the last this-many spatial layers are ranked
PADDING_KINDS = ("ZeroPadding2D", "Cropping2D")  # change the map's size by a pixel or two: not a stage


class LayerScore(NamedTuple):
    layer: str
    faithfulness: float
    result: CamResult


def rank_layers(vm: VizModel, image, *, class_index: int | None = None, method: str = DEFAULT_METHOD,
                count: int = RANKED_LAYERS, lower: bool = False, top_k: int | None = None) -> list[LayerScore]:
    """The last ``count`` spatial layers, each scored by the faithfulness of its map for this photo
    and class (see :func:`faithfulness`), best first.

    Only layers whose maps differ in size from the layer after them are kept (a ReLU or a
    BatchNormalization just after a convolution gives nearly the same map), so the ranking compares
    stages of the network, not neighbours.
    """
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise RequestError(f"count must be a whole number of at least 1, got {count!r}")
    layers = _stage_ends(vm)[-count:]
    scores = []
    for layer in layers:
        result = heatmap(vm, image, class_index=class_index, method=method, layer=layer, lower=lower, top_k=top_k)
        scores.append(LayerScore(layer, faithfulness(vm, image, result).score, result))
    return sorted(scores, key=lambda item: -item.faithfulness)


def _stage_ends(vm: VizModel) -> list[str]:
    """The last spatial layer of each feature-map size (the end of each stage), input to output."""
    layers = [layer for layer in spatial_layers(vm) if vm.layer(layer).kind not in PADDING_KINDS]
    sizes = [vm.layer_size(layer) for layer in layers]
    ends = [layer for layer, size, following in zip(layers, sizes, sizes[1:] + [None]) if size != following]
    if len(ends) < RANKED_LAYERS:  # few stages: rank the last layers themselves
        return layers
    return ends
