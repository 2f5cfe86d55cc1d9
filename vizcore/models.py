"""Loading models: the bundled EfficientNet-Lites, the keras.applications zoo, a user's .keras.

Every model is wrapped in a :class:`VizModel`, the one object the rest of the engine takes: it
knows its input size, how to turn uint8 pixels into model inputs and back, its class names and
its layers with spatial output.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import io
import json
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import keras
import numpy as np
import platformdirs
import tensorflow as tf
from PIL import Image

from . import efficientnet_lite, graph, heads
from . import labels as labels_module
from .cache import PerModel
from .errors import ModelError, RequestError
from .registry import MODELS, USER_SCALINGS, ModelSpec, keras_models_dir  # noqa: F401  (USER_SCALINGS re-exported)
from .torch_weights import read_state_dict


class Scaling(NamedTuple):
    """How uint8 RGB pixels (0–255) map to model inputs, and back."""

    title: str
    forward: Callable  # float pixels 0–255 → model input
    inverse: Callable  # model input → float pixels 0–255


_CAFFE_MEAN = np.array([103.939, 116.779, 123.68], np.float32)  # BGR means of keras "caffe" mode
_TORCH_MEAN = np.array([0.485, 0.456, 0.406], np.float32)  # keras "torch" mode (DenseNet): ImageNet RGB mean
_TORCH_STD = np.array([0.229, 0.224, 0.225], np.float32)  # ... and standard deviation

SCALINGS: dict[str, Scaling] = {
    "lite": Scaling("(x − 127) / 128", lambda x: (x - 127.0) / 128.0, lambda y: y * 128.0 + 127.0),
    "tf": Scaling("−1 to 1", lambda x: x / 127.5 - 1.0, lambda y: (y + 1.0) * 127.5),
    "unit": Scaling("0 to 1", lambda x: x / 255.0, lambda y: y * 255.0),
    "caffe": Scaling(
        "caffe (BGR, ImageNet mean subtracted)",
        lambda x: x[..., ::-1] - _CAFFE_MEAN,
        lambda y: (y + _CAFFE_MEAN)[..., ::-1],
    ),
    "torch": Scaling(
        "torch (0 to 1, ImageNet mean and std)",
        lambda x: (x / 255.0 - _TORCH_MEAN) / _TORCH_STD,
        lambda y: (y * _TORCH_STD + _TORCH_MEAN) * 255.0,
    ),
    "raw": Scaling("raw 0–255", lambda x: x, lambda y: y),
}
MAX_EXTRACTORS = 16  # per model: keras views kept for the layer sets used most recently
_VIEWS = PerModel(MAX_EXTRACTORS)
GREY_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601 luma, as Pillow's convert("L")
DEFAULT_SIDE = 224  # photos are resized to this for a model that takes any size


class LayerInfo(NamedTuple):
    """A layer with 4-D output (batch, height, width, channels), at any depth of nesting."""

    name: str  # its path: nested models' names and its own, joined by "/"
    channels: int
    kind: str  # the Keras layer class, e.g. Conv2D
    depth: int  # position from input (0) to output, nested layers counted in order


class Prediction(NamedTuple):
    index: int  # type: ignore[assignment]  # the class index (shadows tuple.index)
    label: str
    probability: float | None  # None for a regression output
    value: float = float("nan")  # what is shown: the probability, or the regression value


@dataclass(eq=False)
class VizModel:
    """A model ready to be looked inside: its input, its head, its layers at any depth.

    Shared between sessions and threads: never mutated after loading (build new
    ``keras.Model`` views on it instead). Every view takes RGB model inputs (N, H, W, 3); a
    one-channel model sees their mean (photos are made grey on the way in).
    """

    name: str
    keras: keras.Model
    input_size: tuple[int, int]
    labels: tuple[str, ...]
    scaling: str = "raw"
    output_index: int = 0
    head_kind: str | None = None  # a user's override of the detected head kind
    scaling_note: str = ""  # why this scaling was chosen or suggested, in words
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self):
        self.channels, fixed = image_input(self.keras, self.name)
        self.fixed_size = fixed is not None
        if not 0 <= self.output_index < len(self.keras.outputs):
            raise ModelError(
                f"{self.name} has {len(self.keras.outputs)} outputs; output {self.output_index} does not exist."
            )
        self.head = heads.detect(self.keras, self.output_index, self.head_kind)
        if self.channels == 1 and self.scaling == "caffe":
            raise ModelError("caffe scaling needs colour (BGR) inputs; this model takes one channel.")
        self._layers = [info for info in self._all_layers()]
        self._sizes = None  # {path: (height, width)} at the input size, traced on first use
        self._by_name = {info.name: info for info in self._layers}

    # --- inputs -------------------------------------------------------------------------------

    def preprocess(self, images) -> tf.Tensor | np.ndarray:
        """uint8 image (H, W, 3) or batch (N, H, W, 3) → float32 batch of model inputs (RGB)."""
        if isinstance(images, tf.Tensor):
            return SCALINGS[self.scaling].forward(tf.cast(images, tf.float32))
        batch = np.asarray(images, dtype=np.float32)
        if batch.ndim == 3:
            batch = batch[None]
        if self.channels == 1:  # grey on the way in: the view's channel mean is then this grey
            batch = np.repeat(np.tensordot(batch, GREY_WEIGHTS, axes=1)[..., None], 3, axis=-1)
        return np.ascontiguousarray(SCALINGS[self.scaling].forward(batch), dtype=np.float32)

    def deprocess(self, inputs) -> np.ndarray:
        """Model inputs (N, H, W, 3) → uint8 pixels, clipped (grey for a one-channel model)."""
        pixels = SCALINGS[self.scaling].inverse(np.asarray(inputs, dtype=np.float32))
        return self.as_seen(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))

    def as_seen(self, images: np.ndarray) -> np.ndarray:
        """uint8 RGB images as the model sees them: unchanged, or grey (the channel mean) if it takes one channel."""
        if self.channels == 3:
            return images
        grey = np.rint(np.asarray(images, np.float32).mean(axis=-1, keepdims=True))
        return np.repeat(grey, 3, axis=-1).astype(np.uint8)

    def resize_for_input(self, image: np.ndarray) -> np.ndarray:
        """Resize an RGB uint8 image to the model's input size with Pillow."""
        height, width = self.input_size
        return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BICUBIC))

    # --- layers and views ---------------------------------------------------------------------

    def _all_layers(self):
        for depth, (path, layer) in enumerate(graph.walk(self.keras)):
            shape = graph.output_shape(layer)
            if shape is not None and len(shape) == 4 and shape[-1]:
                yield LayerInfo(path, int(shape[-1]), type(layer).__name__, depth)

    def conv_layers(self) -> list[LayerInfo]:
        """Layers with 4-D output, input to output, nested models opened (their paths use "/")."""
        return list(self._layers)

    def layer(self, name: str) -> LayerInfo:
        """The 4-D layer at path ``name`` (or a unique inner name); RequestError names valid choices if none."""
        if name in self._by_name:
            return self._by_name[name]
        inner = [info for info in self._layers if info.name.endswith(graph.SEPARATOR + str(name))]
        if len(inner) == 1:
            return inner[0]
        if not self._layers:
            raise RequestError(no_spatial_layer_message(self))
        if graph.find(self.keras, str(name)) is not None:
            raise RequestError(
                f"Layer {name!r} of {self.name} has no spatial (4-D) output; pick a convolutional layer."
            )
        raise RequestError(
            f"{self.name} has no layer {name!r}. Try one of: "
            + ", ".join(info.name for info in self._layers[-5:])
            + f" (see `python -m vizcore layers {self.name}`)."
        )

    def layer_size(self, name: str) -> tuple[int | None, int | None]:
        """(height, width) of a layer's feature map for an input of ``input_size`` (the photo's size)."""
        with self._lock:
            if self._sizes is None:  # one symbolic trace at the input size gives every layer's size
                inputs = keras.Input((*self.input_size, 3))
                _, found = graph.trace(self.keras, self._adapt(inputs), [graph.Target(i.name) for i in self._layers])
                self._sizes = {target.path: tuple(tensor.shape[1:3]) for target, tensor in found.items()}  # type: ignore[attr-defined]
        return self._sizes.get(self.layer(name).name, (None, None))

    def extractor(self, layer_names: Sequence[str]) -> keras.Model:
        """A cached ``keras.Model`` from RGB model inputs to the given layers' outputs.

        It takes any height and width when the layers allow it (check ``inputs[0].shape``), and
        runs only the layers the outputs need, however deeply they are nested.
        """
        names = tuple(self.layer(name).name for name in layer_names)
        return self._view(("layers",) + names, [graph.Target(name) for name in names], any_size=True)

    def scoring_view(self, layer_name: str | None = None) -> keras.Model:
        """RGB inputs at the model's size → [the layer's activations,] the head's features.

        ``head.scores`` of the features are the pre-activation scores to explain.
        """
        head = self.require_head()
        targets = ([graph.Target(self.layer(layer_name).name)] if layer_name else []) + [head.features]
        return self._view(("scores", layer_name), targets, any_size=not self.fixed_size)

    def objective_view(self, layer_names: Sequence[str], scores: bool = False) -> keras.Model:
        """The layers' activations and, with ``scores``, the head's features last (an objective's view).

        One layer and the scores is :meth:`scoring_view`, the very view that CAM uses."""
        if not scores:
            return self.extractor(layer_names)
        if len(layer_names) <= 1:
            return self.scoring_view(layer_names[0] if layer_names else None)
        head = self.require_head()
        names = tuple(self.layer(name).name for name in layer_names)
        targets = [graph.Target(name) for name in names] + [head.features]
        return self._view(("scores",) + names, targets, any_size=not self.fixed_size)

    def _view(self, key: tuple, targets: list, any_size: bool) -> keras.Model:
        return _VIEWS.get(self, key, lambda: self._build_view(targets, any_size))

    def _build_view(self, targets: list, any_size: bool) -> keras.Model:
        """A view taking any input size when its layers allow it, else the model's own size."""
        if any_size:
            try:
                return graph.view(self.keras, targets, (None, None, 3), self._adapt)
            except Exception:  # a layer that needs the model's own size (Flatten → Dense, Reshape)
                pass
        return graph.view(self.keras, targets, (*self.input_size, 3), self._adapt)

    def _adapt(self, inputs):
        """RGB view inputs → what the model takes (their mean for a one-channel model)."""
        return keras.ops.mean(inputs, axis=-1, keepdims=True) if self.channels == 1 else inputs

    # --- the head -----------------------------------------------------------------------------

    @property
    def is_classifier(self) -> bool:
        """True when the output can be explained: a class vector, labels or values (see vizcore.heads)."""
        return self.head is not None

    @property
    def output_shape(self) -> tuple:
        """The shape of the chosen output, e.g. (None, 1000)."""
        return tuple(self.keras.outputs[self.output_index].shape)

    def output_titles(self) -> list[str]:
        """One title per output of the model: the layer that makes it and its shape."""
        shapes = [tuple(tensor.shape)[1:] for tensor in self.keras.outputs]
        return [f"{name} {shape}" for name, shape in zip(graph.output_names(self.keras), shapes)]

    @property
    def detected_kind(self) -> str | None:
        """The head kind read off the output layer, whatever the user chose instead (None: no head)."""
        head = heads.detect(self.keras, self.output_index)
        return head.kind if head else None

    @property
    def classes(self) -> int:
        """How many classes (or outputs) can be explained; 0 without a head."""
        return self.head.classes if self.head else 0

    def require_head(self) -> heads.Head:
        if self.head is None:
            shape = self.output_shape
            raise ModelError(
                f"{self.name} does not output a class vector or values (its output shape is "
                f"{shape}), so there is no class to explain or predict."
            )
        return self.head

    def scores(self, inputs) -> tf.Tensor:
        """Pre-activation scores (N, classes) of preprocessed inputs at the model's size."""
        outputs = self.scoring_view()(inputs, training=False)
        return self.require_head().scores(outputs[0] if isinstance(outputs, (list, tuple)) else outputs)

    def predict(self, image: np.ndarray, top: int = 5) -> list[Prediction]:
        """The ``top`` classes for an RGB uint8 image of any size, most probable first.

        Regression outputs come in their own order, each with its value (probability None).
        """
        head = self.require_head()
        if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
            raise RequestError(f"top must be at least 1, got {top!r}")
        shown = np.asarray(head.display(self.scores(self.preprocess(self.resize_for_input(image)))))[0]
        if not head.is_probability:
            return [Prediction(i, self.label(i), None, float(shown[i])) for i in range(min(top, len(shown)))]
        return [Prediction(int(i), self.label(int(i)), float(shown[i]), float(shown[i])) for i in heads.top(shown, top)]

    def label(self, index: int) -> str:
        return self.labels[index] if 0 <= index < len(self.labels) else f"class {index}"


def no_spatial_layer_message(vm: VizModel) -> str:
    return (
        f"{vm.name} has no layer with feature maps (4-D output, height × width × channels), so there "
        "are no filters, heatmaps or dreams to make; predictions still work."
    )


def image_input(model: keras.Model, name: str = "The model") -> tuple[int, tuple[int, int] | None]:
    """(channels, (height, width) or None if any size) of a model's one image input.

    Raises:
        ModelError: no image input (text, tabular), several inputs, channels first, 2 or 4+ channels.
    """
    inputs = model.inputs or []
    if len(inputs) != 1:
        raise ModelError(f"{name} has {len(inputs)} inputs; vizcore needs a model with one image input.")
    shape = tuple(inputs[0].shape)
    if len(shape) != 4:
        raise ModelError(
            f"{name} takes inputs of shape {shape}, not images: vizcore needs an image model "
            "whose input is (batch, height, width, channels)."
        )
    if shape[-1] not in (1, 3) and shape[1] in (1, 3):
        raise ModelError(
            f"{name} takes channels-first images {shape}; vizcore needs channels last "
            "(batch, height, width, channels). Rebuild it with data_format='channels_last'."
        )
    if shape[-1] not in (1, 3):
        raise ModelError(f"{name} takes images with {shape[-1]} channels; vizcore works with 1 (grey) or 3 (RGB).")
    size = (shape[1], shape[2]) if shape[1] and shape[2] else None
    return int(shape[-1]), size


# --- loading ---------------------------------------------------------------------------------


def weights_cache_dir() -> Path:
    """Where converted weights (and other caches) live: $VIZCORE_CACHE_DIR or the user cache."""
    return Path(os.environ.get("VIZCORE_CACHE_DIR") or platformdirs.user_cache_dir("vizcore"))


def bundled_weights_path(spec: ModelSpec) -> Path:
    """The ``.pth`` file the model's PyPI package ships."""
    try:
        package = importlib.import_module(spec.package)
    except ImportError:
        raise ModelError(
            f"{spec.title} needs the package {spec.package.replace('_', '-')}; "
            "run `make run` or pip install -r requirements.txt."
        ) from None
    return next(Path(str(package.__file__)).parent.joinpath("models").glob("*.pth"))


def load_bundled(spec: ModelSpec) -> VizModel:
    """Build a bundled Lite model; convert its weights once, then reuse the cached .weights.h5.

    The cache is keyed by the source file's hash; the block table is cached beside the weights,
    so a warm start never reads the .pth.
    """
    source = bundled_weights_path(spec)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    cached = weights_cache_dir() / "weights" / f"{spec.name}-{digest}.weights.h5"
    table = cached.with_name(cached.name.replace(".weights.h5", ".blocks.json"))
    if cached.is_file() and table.is_file():
        blocks = [efficientnet_lite.BlockConfig(**fields) for fields in json.loads(table.read_text())]
        model = efficientnet_lite.build(blocks, name=spec.name)
        model.load_weights(cached)
    else:
        state = read_state_dict(source)
        blocks = efficientnet_lite.blocks_from_state_dict(state)
        model = efficientnet_lite.build(blocks, name=spec.name)
        efficientnet_lite.load_torch_weights(model, state, blocks)
        _save_atomically(lambda path: model.save_weights(path), cached)
        _save_atomically(lambda path: _write_text(path, json.dumps([dataclasses.asdict(b) for b in blocks])), table)
    return VizModel(spec.name, model, spec.input_size, labels_module.imagenet_labels(), spec.scaling)


def _write_text(path: Path, text: str) -> None:
    path.write_text(text)


def _save_atomically(write: Callable[[Path], None], path: Path) -> None:
    """Write to a temporary file and rename, so concurrent starts never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{os.getpid()}.{threading.get_ident()}.{path.name}")
    write(partial)
    os.replace(partial, path)


def load_zoo(spec: ModelSpec) -> VizModel:
    """A keras.applications model with ImageNet weights (downloaded once by Keras)."""
    builder = getattr(keras.applications, spec.keras_class)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # keras prints "Downloading data from ..."
            model = builder(weights="imagenet")
    except Exception as error:  # keras raises a bare Exception for "URL fetch failure"
        if "fetch failure" not in str(error).lower() and not isinstance(error, OSError):
            raise
        raise ModelError(
            f"Could not download the ImageNet weights for {spec.title} (no internet?). "
            f"Put {spec.weights_file} in {keras_models_dir()} and try again, "
            "or use a bundled EfficientNet-Lite."
        ) from None
    return VizModel(spec.name, model, spec.input_size, labels_module.imagenet_labels(), spec.scaling)


# --- a model's fingerprint -----------------------------------------------------------------------

_FINGERPRINTS: weakref.WeakKeyDictionary[VizModel, str] = weakref.WeakKeyDictionary()
_WEIGHTS_DIGESTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # keras.Model → digest
_FINGERPRINT_LOCK = threading.Lock()


def model_fingerprint(vm: VizModel) -> str:
    """A digest of the model's name, input scaling and weights (the weights hashed once per Keras model,
    so a user's model opened again with other settings is not hashed again). Keys stored results
    (the atlas, the audit) so that another model's, or retrained weights', are never served."""
    with _FINGERPRINT_LOCK:
        if vm not in _FINGERPRINTS:
            if vm.keras not in _WEIGHTS_DIGESTS:
                digest = hashlib.sha256()
                for weight in vm.keras.weights:
                    digest.update(weight.path.encode())
                    digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
                _WEIGHTS_DIGESTS[vm.keras] = digest.hexdigest()
            identity = f"{vm.name}|{vm.scaling}|{_WEIGHTS_DIGESTS[vm.keras]}"
            _FINGERPRINTS[vm] = hashlib.sha256(identity.encode()).hexdigest()[:20]
        return _FINGERPRINTS[vm]
