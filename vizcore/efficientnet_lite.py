"""EfficientNet-Lite0/1/2 in Keras, with ImageNet weights converted from PyTorch state dicts.

Lite is EfficientNet without squeeze-excitation and with ReLU6, a fixed 32-channel stem and a
fixed 1280-channel head (Liu et al., "Higher accuracy on vision models with EfficientNet-Lite",
2020). The architecture is a config table of stages read by one builder; block counts and widths
differ per variant and are read from the state dict itself. Layer names follow keras'
``applications/efficientnet.py``: ``stem_conv``, ``block4b_expand_conv``, ``top_conv``, ...
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers

BN_EPSILON = 1e-3  # TF EfficientNet-Lite BatchNorm epsilon
STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)  # first-block stride of each of the seven stages
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


@dataclass(frozen=True)
class BlockConfig:
    """One inverted-residual block: where it sits and its shape."""

    stage: int  # 1-based stage number
    index_in_stage: int
    kernel_size: int
    stride: int
    expand_channels: int | None  # None when the block has no expansion (expand ratio 1)
    output_channels: int

    @property
    def name(self) -> str:
        return f"block{self.stage}{string.ascii_lowercase[self.index_in_stage]}"


def blocks_from_state_dict(state: dict[str, np.ndarray]) -> list[BlockConfig]:
    """Read the block table (kernels, widths, stage boundaries) from a Lite state dict."""
    count = 1 + max(int(key.split(".")[1]) for key in state if key.startswith("_blocks."))
    blocks, stage, index, previous_width = [], 0, 0, None
    for number in range(count):
        prefix = f"_blocks.{number}."
        width = state[prefix + "_project_conv.weight"].shape[0]
        if width != previous_width:
            stage, index, previous_width = stage + 1, 0, width
        expand = state.get(prefix + "_expand_conv.weight")
        blocks.append(
            BlockConfig(
                stage=stage,
                index_in_stage=index,
                kernel_size=state[prefix + "_depthwise_conv.weight"].shape[-1],
                stride=STAGE_STRIDES[stage - 1] if index == 0 else 1,
                expand_channels=None if expand is None else expand.shape[0],
                output_channels=width,
            )
        )
        index += 1
    return blocks


def build(blocks: list[BlockConfig], *, name: str, classes: int = 1000) -> keras.Model:
    """Build EfficientNet-Lite from its block table; the input is preprocessed RGB of any size."""
    inputs = keras.Input(shape=(None, None, 3), name="input")
    x = _conv_bn_relu(inputs, STEM_CHANNELS, 3, 2, "stem")
    for block in blocks:
        x = _inverted_residual(x, block)
    x = _conv_bn_relu(x, HEAD_CHANNELS, 1, 1, "top")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def _conv_bn_relu(x, filters: int, kernel_size: int, strides: int, prefix: str):
    x = layers.Conv2D(filters, kernel_size, strides, padding="same", use_bias=False, name=f"{prefix}_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{prefix}_bn")(x)
    return layers.ReLU(6.0, name=f"{prefix}_relu")(x)


def _inverted_residual(inputs, block: BlockConfig):
    """Expand (1×1) → depthwise (k×k) → project (1×1), with a residual when shapes allow."""
    x = inputs
    if block.expand_channels is not None:
        x = _conv_bn_relu(x, block.expand_channels, 1, 1, f"{block.name}_expand")
    x = layers.DepthwiseConv2D(
        block.kernel_size, block.stride, padding="same", use_bias=False, name=f"{block.name}_dwconv"
    )(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{block.name}_bn")(x)
    x = layers.ReLU(6.0, name=f"{block.name}_activation")(x)
    x = layers.Conv2D(block.output_channels, 1, padding="same", use_bias=False, name=f"{block.name}_project_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{block.name}_project_bn")(x)
    if block.stride == 1 and inputs.shape[-1] == block.output_channels:
        x = layers.Add(name=f"{block.name}_add")([x, inputs])
    return x


def torch_to_keras_names(blocks: list[BlockConfig]) -> dict[str, tuple[str, str]]:
    """Map each Keras layer to (PyTorch prefix, kind) where kind is conv, dwconv, bn or dense."""
    names = {
        "stem_conv": ("_conv_stem", "conv"),
        "stem_bn": ("_bn0", "bn"),
        "top_conv": ("_conv_head", "conv"),
        "top_bn": ("_bn1", "bn"),
        "predictions": ("_fc", "dense"),
    }
    for number, block in enumerate(blocks):
        torch_prefix = f"_blocks.{number}."
        if block.expand_channels is not None:
            names[f"{block.name}_expand_conv"] = (torch_prefix + "_expand_conv", "conv")
            names[f"{block.name}_expand_bn"] = (torch_prefix + "_bn0", "bn")
        names[f"{block.name}_dwconv"] = (torch_prefix + "_depthwise_conv", "dwconv")
        names[f"{block.name}_bn"] = (torch_prefix + "_bn1", "bn")
        names[f"{block.name}_project_conv"] = (torch_prefix + "_project_conv", "conv")
        names[f"{block.name}_project_bn"] = (torch_prefix + "_bn2", "bn")
    return names


def load_torch_weights(model: keras.Model, state: dict[str, np.ndarray], blocks: list[BlockConfig]) -> None:
    """Copy a PyTorch state dict into the model, transposing kernels to Keras' layouts."""
    for layer_name, (prefix, kind) in torch_to_keras_names(blocks).items():
        model.get_layer(layer_name).set_weights(_converted(state, prefix, kind))


def _converted(state, prefix: str, kind: str) -> list[np.ndarray]:
    """Conv (O, I, k, k) → (k, k, I, O); depthwise (C, 1, k, k) → (k, k, C, 1); dense transposed."""
    if kind == "conv":
        return [state[prefix + ".weight"].transpose(2, 3, 1, 0)]
    if kind == "dwconv":
        return [state[prefix + ".weight"].transpose(2, 3, 0, 1)]
    if kind == "dense":
        return [state[prefix + ".weight"].T, state[prefix + ".bias"]]
    return [state[prefix + suffix] for suffix in (".weight", ".bias", ".running_mean", ".running_var")]
