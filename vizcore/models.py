"""Loading models: the bundled EfficientNet-Lites, the keras.applications zoo, a user's .keras.

Every model is wrapped in a :class:`VizModel`, the one object the rest of the engine takes: it
knows its input size, how to turn uint8 pixels into model inputs and back, its class names and
its layers with spatial output.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import importlib
import os
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

from . import _quiet  # noqa: F401  (imports TensorFlow quietly, first)
import keras
import numpy as np
import platformdirs
import tensorflow as tf
from PIL import Image

from . import efficientnet_lite, labels as labels_module
from .errors import ModelError, RequestError
from .registry import MODELS, ModelSpec, keras_models_dir
from .torch_weights import read_state_dict


class Scaling(NamedTuple):
    """How uint8 RGB pixels (0–255) map to model inputs, and back."""
    title: str
    forward: Callable   # float pixels 0–255 → model input
    inverse: Callable   # model input → float pixels 0–255


_CAFFE_MEAN = np.array([103.939, 116.779, 123.68], np.float32)  # BGR means of keras "caffe" mode

SCALINGS: dict[str, Scaling] = {
    "lite": Scaling("(x − 127) / 128", lambda x: (x - 127.0) / 128.0, lambda y: y * 128.0 + 127.0),
    "tf": Scaling("−1 to 1", lambda x: x / 127.5 - 1.0, lambda y: (y + 1.0) * 127.5),
    "unit": Scaling("0 to 1", lambda x: x / 255.0, lambda y: y * 255.0),
    "caffe": Scaling("caffe (BGR, ImageNet mean subtracted)",
                     lambda x: x[..., ::-1] - _CAFFE_MEAN, lambda y: (y + _CAFFE_MEAN)[..., ::-1]),
    "raw": Scaling("raw 0–255", lambda x: x, lambda y: y),
}
MAX_EXTRACTORS = 16  # per model: keras views kept for the layer sets used most recently
USER_SCALINGS = {"0-1": "unit", "-1-1": "tf", "caffe": "caffe", "raw": "raw"}  # CLI/page words


class LayerInfo(NamedTuple):
    """A layer with 4-D output (batch, height, width, channels)."""
    name: str
    channels: int
    kind: str       # the Keras layer class, e.g. Conv2D
    depth: int      # position from input (0) to output


class Prediction(NamedTuple):
    index: int
    label: str
    probability: float


@dataclass(eq=False)
class VizModel:
    """A classifier ready to be looked inside.

    Shared between sessions and threads: never mutated after loading (build new
    ``keras.Model`` views on it instead).
    """
    name: str
    keras: keras.Model
    input_size: tuple[int, int]
    labels: tuple[str, ...]
    scaling: str = "raw"
    _extractors: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def preprocess(self, images) -> tf.Tensor | np.ndarray:
        """uint8 image (H, W, 3) or batch (N, H, W, 3) → float32 batch of model inputs."""
        if isinstance(images, tf.Tensor):
            return SCALINGS[self.scaling].forward(tf.cast(images, tf.float32))
        batch = np.asarray(images, dtype=np.float32)
        if batch.ndim == 3:
            batch = batch[None]
        return np.ascontiguousarray(SCALINGS[self.scaling].forward(batch), dtype=np.float32)

    def deprocess(self, inputs) -> np.ndarray:
        """Model inputs (N, H, W, 3) → uint8 pixels, clipped."""
        pixels = SCALINGS[self.scaling].inverse(np.asarray(inputs, dtype=np.float32))
        return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)

    def conv_layers(self) -> list[LayerInfo]:
        """Layers with 4-D output, from input to output (the input layer itself excluded)."""
        found = []
        for depth, layer in enumerate(self.keras.layers):
            shape = _output_shape(layer)
            if shape is not None and len(shape) == 4 and not isinstance(layer, keras.layers.InputLayer):
                found.append(LayerInfo(layer.name, int(shape[-1]), type(layer).__name__, depth))
        return found

    def layer(self, name: str) -> LayerInfo:
        """The 4-D layer called ``name``; RequestError names the nearest valid choices if none."""
        layers = {info.name: info for info in self.conv_layers()}
        if name in layers:
            return layers[name]
        if any(layer.name == name for layer in self.keras.layers):
            raise RequestError(f"Layer {name!r} of {self.name} has no spatial (4-D) output; "
                               "pick a convolutional layer.")
        raise RequestError(f"{self.name} has no layer {name!r}. Try one of: "
                           + ", ".join(list(layers)[-5:]) + f" (see `python -m vizcore layers {self.name}`).")

    def extractor(self, layer_names: Sequence[str]) -> keras.Model:
        """A cached ``keras.Model`` from the input to the given layers' outputs."""
        key = tuple(layer_names)
        with self._lock:
            if key in self._extractors:
                self._extractors[key] = self._extractors.pop(key)  # most recently used last
            else:
                for name in key:
                    self.layer(name)
                while len(self._extractors) >= MAX_EXTRACTORS:
                    self._extractors.pop(next(iter(self._extractors)))
                outputs = [self.keras.get_layer(name).output for name in key]
                inputs = self.keras.inputs[0] if len(self.keras.inputs) == 1 else self.keras.inputs
                self._extractors[key] = keras.Model(inputs, outputs)
            return self._extractors[key]

    @property
    def is_classifier(self) -> bool:
        shape = self.keras.outputs[0].shape
        return len(self.keras.outputs) == 1 and len(shape) == 2 and (shape[-1] or 0) > 1

    def resize_for_input(self, image: np.ndarray) -> np.ndarray:
        """Resize an RGB uint8 image to the model's input size with Pillow."""
        height, width = self.input_size
        return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BICUBIC))

    def predict(self, image: np.ndarray, top: int = 5) -> list[Prediction]:
        """The ``top`` classes for an RGB uint8 image of any size, most probable first."""
        if not self.is_classifier:
            raise ModelError(f"{self.name} does not output a class vector "
                             f"(its output shape is {tuple(self.keras.outputs[0].shape)}).")
        if top < 1:
            raise RequestError(f"top must be at least 1, got {top}")
        scores = np.asarray(self.keras(self.preprocess(self.resize_for_input(image)), training=False))[0]
        probabilities = _as_probabilities(scores)
        order = np.argsort(-probabilities)[:top]
        return [Prediction(int(i), self.label(int(i)), float(probabilities[i])) for i in order]

    def label(self, index: int) -> str:
        return self.labels[index] if 0 <= index < len(self.labels) else f"class {index}"


def _output_shape(layer) -> tuple | None:
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return None


def _as_probabilities(scores: np.ndarray) -> np.ndarray:
    """Scores that already look like probabilities pass through; logits get a softmax."""
    if scores.min() >= 0 and abs(scores.sum() - 1.0) < 1e-3:
        return scores
    shifted = np.exp(scores - scores.max())
    return shifted / shifted.sum()


# --- loading ---------------------------------------------------------------------------------

def load_model(name_or_path: str | os.PathLike, *, scaling: str | None = None,
               labels_path: str | os.PathLike | None = None) -> VizModel:
    """Load a registry model by name, or a user's ``.keras`` file.

    Args:
        name_or_path: a name of ``vizcore.MODELS`` or a path to a ``.keras`` file.
        scaling: for a ``.keras`` file, how inputs are scaled: 0-1, -1-1, caffe or raw.
        labels_path: for a ``.keras`` file, a text file with one class name per line.

    Raises:
        ModelError: unknown name, weights that cannot be had offline, unsafe or broken file.
    """
    key = str(name_or_path)
    if key in MODELS:
        spec = MODELS[key]
        return load_bundled(spec) if spec.source == "bundled" else load_zoo(spec)
    if key.endswith(".keras") or Path(key).is_file():
        return load_user_model(key, scaling=scaling or "0-1", labels_path=labels_path)
    raise ModelError(f"Unknown model {key!r}: use one of {', '.join(MODELS)} or a path to a .keras file.")


def weights_cache_dir() -> Path:
    """Where converted weights (and other caches) live: $VIZCORE_CACHE_DIR or the user cache."""
    return Path(os.environ.get("VIZCORE_CACHE_DIR") or platformdirs.user_cache_dir("vizcore"))


def bundled_weights_path(spec: ModelSpec) -> Path:
    """The ``.pth`` file the model's PyPI package ships."""
    try:
        package = importlib.import_module(spec.package)
    except ImportError:
        raise ModelError(f"{spec.title} needs the package {spec.package.replace('_', '-')}; "
                         "run `make run` or pip install -r requirements.txt.") from None
    return next(Path(package.__file__).parent.joinpath("models").glob("*.pth"))


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
        _save_atomically(lambda path: path.write_text(json.dumps([dataclasses.asdict(b) for b in blocks])), table)
    return VizModel(spec.name, model, spec.input_size, labels_module.imagenet_labels(), spec.scaling)


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
        raise ModelError(f"Could not download the ImageNet weights for {spec.title} (no internet?). "
                         f"Put {spec.weights_file} in {keras_models_dir()} and try again, "
                         "or use a bundled EfficientNet-Lite.") from None
    return VizModel(spec.name, model, spec.input_size, labels_module.imagenet_labels(), spec.scaling)


def load_user_model(path: str | os.PathLike, *, scaling: str = "0-1",
                    labels_path: str | os.PathLike | None = None) -> VizModel:
    """A user's ``.keras`` file, loaded with ``safe_mode=True`` (no Python Lambda code runs)."""
    path = Path(path)
    if scaling not in USER_SCALINGS:
        raise ModelError(f"Unknown input scaling {scaling!r}: use one of {', '.join(USER_SCALINGS)}.")
    if not path.is_file():
        raise ModelError(f"No model file at {path}.")
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path.name} is not a .keras model file (it may be truncated or of another format).")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:
        raise ModelError(_user_model_message(path, error)) from None
    vm = VizModel(path.stem, model, _input_size(model), (), USER_SCALINGS[scaling])
    if not vm.conv_layers():
        raise ModelError(f"{path.name} has no convolutional layer with 4-D output; vizcore needs a CNN.")
    classes = model.outputs[0].shape[-1]
    vm.labels = labels_module.read_labels(labels_path) if labels_path else \
        (labels_module.imagenet_labels() if classes == 1000 else tuple(f"class {i}" for i in range(classes or 0)))
    return vm


def _user_model_message(path: Path, error: Exception) -> str:
    text = str(error)
    if "lambda" in text.lower() or "safe_mode" in text:
        return (f"{path.name} contains a Python Lambda layer; vizcore refuses to run code from a "
                "model file (safe mode). Replace the Lambda with built-in layers and save it again.")
    return f"{path.name} could not be loaded as a Keras model: {text.splitlines()[0] if text else type(error).__name__}"


def _input_size(model: keras.Model) -> tuple[int, int]:
    shape = model.inputs[0].shape
    if len(shape) != 4 or shape[-1] != 3:
        raise ModelError(f"The model takes inputs of shape {tuple(shape)}; vizcore needs RGB images (H, W, 3).")
    return (shape[1] or 224, shape[2] or 224)
