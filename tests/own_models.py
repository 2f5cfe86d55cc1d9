"""The shapes of users' own Keras image models, built in the tests (keras.applications bases with
``weights=None``: nothing is downloaded), and a session cache that saves each one as a ``.keras``
file and loads it back with ``vizcore.load_model``, as a user brings it.

Bases are kept small (64–96 px inputs, MobileNetV2 at alpha 0.35) so the whole table runs in
well under a minute on two cores; ResNet50V2 is the one big model (about 95 MB once saved).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import keras
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "assets" / "samples"
PHOTO_SIZE = (90, 120)  # (height, width) of the photo every shape is asked about
MOBILENET = "mobilenetv2_0.35_96"  # the name Keras gives MobileNetV2(alpha=0.35) at 96 px


@dataclass(frozen=True)
class Shape:
    """A model shape: how to build it, what vizcore should read from it, and an inner layer to use."""
    name: str
    build: Callable[[], keras.Model]
    head: str                    # the head kind vizcore should detect (or be told through ``options``)
    layer: str                   # a layer path for heatmaps, filters and dreams ("/" where it is nested)
    channels: int = 3
    scaling: str = "0-1"         # the scaling vizcore should suggest
    options: dict = field(default_factory=dict)  # load_model options a user would give (head=, output=)

    @property
    def nested(self) -> bool:
        return "/" in self.layer


# --- building blocks -----------------------------------------------------------------------------

def conv_base(name: str, size: int | None = None, channels: int = 3, widths=(8, 12)) -> keras.Model:
    """A small Functional conv base (conv_a, conv_b with a pool between): the user's own feature extractor."""
    inputs = keras.Input((size, size, channels))
    x = keras.layers.Conv2D(widths[0], 3, padding="same", activation="relu", name="conv_a")(inputs)
    x = keras.layers.MaxPooling2D(name="pool_a")(x)
    x = keras.layers.Conv2D(widths[1], 3, padding="same", activation="relu", name="conv_b")(x)
    return keras.Model(inputs, x, name=name)


def mobilenet(size: int = 96) -> keras.Model:
    return keras.applications.MobileNetV2(input_shape=(size, size, 3), alpha=0.35, include_top=False, weights=None)


def transfer_recipe(units: int = 1, activation: str | None = "sigmoid") -> keras.Model:
    """The Keras transfer-learning guide: Sequential([Input, MobileNetV2 base, pool, dropout, Dense])."""
    return keras.Sequential([keras.Input((96, 96, 3)), mobilenet(), keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dropout(0.2), keras.layers.Dense(units, activation=activation)],
                            name="transfer")


def resnet_with_rescaling() -> keras.Model:
    """The issue's Functional model: Input → Rescaling(1/255) → ResNet50V2 → pool → Dense(5, softmax)."""
    inputs = keras.Input((64, 64, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.applications.ResNet50V2(input_shape=(64, 64, 3), include_top=False, weights=None)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(x), name="resnet_flowers")


def efficientnet_multilabel() -> keras.Model:
    inputs = keras.Input((64, 64, 3))
    x = keras.applications.EfficientNetB0(input_shape=(64, 64, 3), include_top=False, weights=None)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4, activation="sigmoid", name="tags")(x), name="tagger")


def vgg_logits() -> keras.Model:
    """A small VGG-style stack on 32×32 (CIFAR-like), ending in Dense(10) without activation."""
    layers = [keras.Input((32, 32, 3))]
    for block, width in ((1, 8), (2, 16)):
        layers += [keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"block{block}_conv1"),
                   keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"block{block}_conv2"),
                   keras.layers.MaxPooling2D(name=f"block{block}_pool")]
    layers += [keras.layers.Flatten(name="flatten"), keras.layers.Dense(32, activation="relu", name="fc1"),
               keras.layers.Dense(10, name="logits")]
    return keras.Sequential(layers, name="small_vgg")


def mnist() -> keras.Model:
    """The MNIST example: 28×28 grey, conv, pool, conv, Flatten → Dense(10, softmax)."""
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(8, 3, activation="relu", name="conv_1"), keras.layers.MaxPooling2D(name="pool_1"),
        keras.layers.Conv2D(16, 3, activation="relu", name="conv_2"), keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(10, activation="softmax", name="digits")], name="mnist")


def any_size_regression() -> keras.Model:
    """Variable size (None, None, 3), a nested Functional base, one linear output (a score)."""
    inputs = keras.Input((None, None, 3))
    x = conv_base("features")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(1, name="score")(x), name="scorer")


def three_values() -> keras.Model:
    """32×32, Dense(3) linear: regression of three values (read as logits unless told)."""
    return keras.Sequential([keras.Input((32, 32, 3)), conv_base("features", 32),
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, name="values")],
                            name="three_values")


def activation_layer_softmax() -> keras.Model:
    """Dense(5) with no activation, then a separate Activation('softmax') layer."""
    inputs = keras.Input((48, 48, 3))
    x = conv_base("backbone", 48)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(5, name="dense_logits")(x)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="probabilities")(x), name="act_softmax")


def softmax_layer_in_sequential() -> keras.Model:
    """A Sequential wrapper around a Functional base, Dense(5), then a Softmax layer."""
    return keras.Sequential([keras.Input((48, 48, 3)), conv_base("backbone", 48),
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(5, name="dense_logits"),
                             keras.layers.Softmax(name="softmax")], name="softmax_layer")


def two_levels() -> keras.Model:
    """Functional → Sequential "middle" → Functional "inner_base": two levels of nesting."""
    middle = keras.Sequential([keras.Input((64, 64, 3)), conv_base("inner_base", 64),
                               keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="middle_conv")],
                              name="middle")
    inputs = keras.Input((64, 64, 3))
    x = keras.layers.GlobalAveragePooling2D()(middle(inputs))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="classes")(x), name="two_levels")


def two_outputs() -> keras.Model:
    """One trunk, two heads: classes (softmax) and a value (linear); the user picks the value."""
    inputs = keras.Input((48, 48, 3))
    x = keras.layers.GlobalAveragePooling2D()(conv_base("trunk", 48)(inputs))
    classes = keras.layers.Dense(4, activation="softmax", name="classes")(x)
    value = keras.layers.Dense(1, name="value")(x)
    return keras.Model(inputs, [classes, value], name="two_outputs")


def nested_sequential_binary() -> keras.Model:
    """Sequential inside Sequential, 32×32, Flatten → Dense(1, sigmoid): fixed size, binary."""
    features = keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a"),
        keras.layers.MaxPooling2D(name="pool_a"),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_b")], name="features")
    return keras.Sequential([keras.Input((32, 32, 3)), features, keras.layers.Flatten(),
                             keras.layers.Dense(1, activation="sigmoid", name="is_cat")], name="cat_or_not")


SHAPES = [
    Shape("mobilenetv2_sequential_binary", lambda: transfer_recipe(), "binary", f"{MOBILENET}/block_6_expand",
          scaling="-1-1"),
    Shape("mobilenetv2_sequential_logits", lambda: transfer_recipe(3, None), "logits",
          f"{MOBILENET}/block_3_expand", scaling="-1-1"),
    Shape("resnet50v2_rescaling_softmax", resnet_with_rescaling, "softmax", "resnet50v2/conv3_block2_2_conv",
          scaling="raw"),
    Shape("efficientnetb0_multilabel", efficientnet_multilabel, "multilabel", "efficientnetb0/block3a_expand_conv",
          scaling="raw"),
    Shape("vgg_32_logits", vgg_logits, "logits", "block2_conv1"),
    Shape("mnist_grey_28", mnist, "softmax", "conv_2", channels=1),
    Shape("any_size_regression", any_size_regression, "regression", "features/conv_b"),
    Shape("three_values_regression", three_values, "regression", "features/conv_a",
          options={"head": "regression"}),
    Shape("activation_softmax_layer", activation_layer_softmax, "softmax", "backbone/conv_b"),
    Shape("softmax_layer_sequential", softmax_layer_in_sequential, "softmax", "backbone/conv_b"),
    Shape("two_levels_nested", two_levels, "softmax", "middle/inner_base/conv_b"),
    Shape("two_outputs_value", two_outputs, "regression", "trunk/conv_b", options={"output": "value"}),
    Shape("nested_sequential_32_binary", nested_sequential_binary, "binary", "features/conv_b"),
]
SHAPE_IDS = [shape.name for shape in SHAPES]


def shape_named(name: str) -> Shape:
    return next(shape for shape in SHAPES if shape.name == name)


# --- saved and loaded, once per session ------------------------------------------------------------

class OwnModels:
    """Each shape built once (seeded), saved as NAME.keras and loaded back with vizcore.load_model."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._built: dict[str, tuple[keras.Model, Path]] = {}
        self._loaded: dict[str, object] = {}

    def saved(self, shape: Shape) -> tuple[keras.Model, Path]:
        """(the model as built, its .keras file)."""
        if shape.name not in self._built:
            keras.utils.set_random_seed(0)
            model = shape.build()
            path = self.folder / f"{shape.name}.keras"
            model.save(path)
            self._built[shape.name] = (model, path)
        return self._built[shape.name]

    def loaded(self, shape: Shape):
        """The VizModel a user gets from the saved file."""
        if shape.name not in self._loaded:
            import vizcore
            self._loaded[shape.name] = vizcore.load_model(self.saved(shape)[1], **shape.options)
        return self._loaded[shape.name]


def photo(size: tuple[int, int] = PHOTO_SIZE) -> np.ndarray:
    """The cat sample at (height, width): a real photo, small enough for fast steps."""
    from vizcore import load_image
    height, width = size
    return np.asarray(Image.fromarray(load_image(SAMPLES / "cat.jpg")).resize((width, height), Image.Resampling.LANCZOS))


def own_output(vm, image: np.ndarray) -> np.ndarray:
    """The model's own output (the chosen one) on the photo, as vizcore feeds it: no vizcore views."""
    inputs = vm.preprocess(vm.resize_for_input(image))
    if vm.channels == 1:
        inputs = inputs.mean(axis=-1, keepdims=True)
    outputs = vm.keras(inputs, training=False)
    if isinstance(outputs, (list, tuple)):
        outputs = outputs[vm.output_index]
    return np.asarray(outputs)[0]


# --- the CLI, many commands in one interpreter --------------------------------------------------------

CLI_BATCH = r"""
import contextlib, io, json, sys, traceback
from vizcore.cli import main
results = {}
for name, argv in json.loads(sys.stdin.read()).items():
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit:  # argparse
            code = exit.code
        except BaseException:  # what `python -m vizcore` would print as a traceback
            traceback.print_exc()
            code = 1
    results[name] = {"returncode": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
sys.__stdout__.write("\n" + json.dumps(results))
"""


def run_cli(commands: dict[str, list[str]], env: dict | None = None) -> dict[str, subprocess.CompletedProcess]:
    """Run ``python -m vizcore ARGS`` for each named command, in order, in ONE fresh interpreter.

    Each command goes through ``vizcore.cli.main`` exactly as ``python -m vizcore`` does, with its
    own stdout and stderr captured; TensorFlow is imported once instead of once per command
    (each import costs ~5 s on two cores).
    """
    process = subprocess.run([sys.executable, "-c", CLI_BATCH], input=json.dumps(commands), cwd=ROOT,
                             capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})
    assert process.returncode == 0, process.stderr
    results = json.loads(process.stdout.strip().splitlines()[-1])
    return {name: subprocess.CompletedProcess(["python", "-m", "vizcore", *commands[name]], r["returncode"],
                                              r["stdout"], r["stderr"]) for name, r in results.items()}


def refuse_model_loading(monkeypatch, command) -> None:
    """Make a CLI command module's model loading fail the test: what it checks must come before it
    (an AssertionError inside ``main`` is an internal error, exit 3, not the user's exit 2)."""

    def no_model(_):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(command, "model_from_args", no_model)


def assert_one_line_error(result: subprocess.CompletedProcess, words: str) -> None:
    """Exit 2, nothing on stdout, exactly one line on stderr that says ``words``, no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vizcore: error: ") and words in lines[0], result.stderr
    assert result.stdout == ""
