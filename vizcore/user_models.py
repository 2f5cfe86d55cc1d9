"""A user's own Keras model: its file, its folder of models, and the settings remembered beside it.

``.keras`` and legacy Keras 2 ``.h5`` files load with ``safe_mode=True``: a Python ``Lambda``
is refused and its code never runs (``tests/test_user_models.py`` proves it with live payloads
in both formats). A TensorFlow SavedModel folder gets a message saying how to convert it.

The models folder (``$VIZCORE_MODELS_DIR``, default ``models`` in the user data directory) holds
``NAME.keras`` / ``NAME.h5`` files, each with optional companions:

* ``NAME.labels.txt``: class names, one per line (binary: the positive class, or negative then positive);
* ``NAME.vizcore.json``: the settings chosen for it (``scaling``, ``head``, ``output``), remembered
  so the model opens the same way next time.

Every file there is a model name for the CLI and the page's model picker, so big models never
pass through the browser.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import keras
import numpy as np

from . import graph
from . import labels as labels_module
from .errors import ModelError
from .models import DEFAULT_SIDE, VizModel, image_input
from .registry import MODEL_SUFFIXES, SCALING_WORDS, USER_SCALINGS, folder_models, models_dir  # noqa: F401  (re-exported)

LABELS_SUFFIX = ".labels.txt"
SETTINGS_SUFFIX = ".vizcore.json"
DEFAULT_SCALING = "0-1"
FIRST_LAYERS = 4  # preprocessing layers are looked for among this many layers from the input
# A loaded model with its views and the compiled passes of a map and its trust scores holds about this
# many times its weights' bytes (a MobileNetV2 of 8.7 MB weights: 18-25 MB more in the process each)
MEMORY_PER_WEIGHT_BYTE = 3

# keras.applications bases recognised by the name Keras gives them, and the scaling their
# preprocess_input applies (EfficientNet, ConvNeXt and ResNetRS rescale inside the model: raw).
APPLICATIONS = [
    (r"^mobilenetv2", "MobileNetV2", "-1-1"),
    (r"^mobilenet_", "MobileNet", "-1-1"),
    (r"^mobilenetv3", "MobileNetV3", "raw"),
    (r"^resnet\d+v2", "ResNetV2", "-1-1"),
    (r"^resnet\d+$", "ResNet", "caffe"),
    (r"^vgg1[69]", "VGG", "caffe"),
    (r"^xception", "Xception", "-1-1"),
    (r"^inception_v3", "InceptionV3", "-1-1"),
    (r"^inception_resnet_v2", "InceptionResNetV2", "-1-1"),
    (r"^densenet", "DenseNet", "torch"),
    (r"^nasnet", "NASNet", "-1-1"),
    (r"^efficientnet", "EfficientNet", "raw"),
    (r"^convnext", "ConvNeXt", "raw"),
    (r"^resnet-rs", "ResNetRS", "raw"),
]


def find_model_file(name: str) -> Path | None:
    """A models-folder file by its name (``mine``) or file name (``mine.keras``), else None."""
    models = folder_models()
    if name in models:
        return models[name]
    return next((path for path in models.values() if path.name == name), None)


def remembered(path: Path) -> dict:
    """The settings saved beside a model file (empty if none or unreadable)."""
    try:
        settings = json.loads(_companion(path, SETTINGS_SUFFIX).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return settings if isinstance(settings, dict) else {}


def remember(path: Path, **settings) -> bool:
    """Save settings (scaling, head, output) beside a model file; False if the folder is read-only.

    A setting given as None is left as it was; given as "" it is forgotten (back to automatic)."""
    target = _companion(Path(path), SETTINGS_SUFFIX)
    merged = {**remembered(Path(path)), **{k: v for k, v in settings.items() if v is not None}}
    merged = {k: v for k, v in merged.items() if v != ""}
    try:
        partial = target.with_name(f".{os.getpid()}.{target.name}")
        partial.write_text(json.dumps(merged, indent=1), "utf-8")
        os.replace(partial, target)
    except OSError:
        return False
    return True


def _companion(path: Path, suffix: str) -> Path:
    return path.with_name(path.stem + suffix)


def load_user_model(path: str | os.PathLike, **settings) -> VizModel:
    """A user's ``.keras`` or ``.h5`` file, loaded with ``safe_mode=True`` (no Lambda code runs),
    with the settings of :func:`configure` (scaling, labels_path, head, output, name).

    Raises:
        ModelError: a missing, truncated, unsafe or unbuildable file, or a model vizcore cannot look into.
    """
    return configure(read_model_file(Path(path)), path, **settings)


def configure(
    model: keras.Model,
    path: str | os.PathLike,
    *,
    scaling: str | None = None,
    labels_path=None,
    head: str | None = None,
    output: int | str | None = None,
    name: str | None = None,
) -> VizModel:
    """A VizModel on an already loaded Keras model (read from ``path``) with these settings: changing
    the scaling, head, output or labels of a big model never reads its file again. The model is
    shared, never changed.

    Args:
        scaling: 0-1, -1-1, caffe, torch or raw; None takes the remembered one, else the suggested one.
        labels_path: class names; None takes ``NAME.labels.txt`` beside the file if there is one.
        head: force the output's kind (see vizcore.heads.KINDS); output: which output (index or name).
        name: the name shown (default: the file name without suffix).
    """
    path = Path(path)
    saved = remembered(path)
    scaling = scaling or saved.get("scaling")
    if scaling is not None and scaling not in USER_SCALINGS:
        raise ModelError(f"Unknown input scaling {scaling!r}: use one of {', '.join(USER_SCALINGS)}.")
    suggested, why = suggest_scaling(model)
    note = f"Suggested: {SCALING_WORDS[suggested]}, because {why}." if why else ""
    if scaling is None:
        scaling, note = (
            suggested,
            (
                f"Using {SCALING_WORDS[suggested]}: {why}."
                if why
                else f"Using {SCALING_WORDS[suggested]} (the usual Keras training scaling); change it if yours differs."
            ),
        )
    channels, size = image_input(model, path.name)
    labels_path = labels_path or (
        _companion(path, LABELS_SUFFIX) if _companion(path, LABELS_SUFFIX).is_file() else None
    )
    vm = VizModel(
        name or path.stem,
        model,
        size or (DEFAULT_SIDE, DEFAULT_SIDE),
        (),
        USER_SCALINGS[scaling],
        output_index=output_index(model, output if output is not None else saved.get("output", 0)),
        head_kind=head or saved.get("head"),
        scaling_note=note,
    )
    names = labels_module.read_labels(labels_path) if labels_path else ()
    if vm.head is not None:
        imagenet = vm.head.units == 1000 and vm.head.kind != "regression" and not names
        vm.labels = labels_module.imagenet_labels() if imagenet else vm.head.default_labels(names)
    return vm


def import_custom_objects(path: str | os.PathLike | None = None) -> None:
    """Run the user's own Python file that registers their custom Keras classes
    (``@keras.saving.register_keras_serializable()``): ``path``, else $VIZCORE_CUSTOM_OBJECTS. Once per file."""
    import importlib.util

    path = path or os.environ.get("VIZCORE_CUSTOM_OBJECTS")
    if not path:
        return
    file = Path(path).resolve()
    if str(file) in _IMPORTED:
        return
    if not file.is_file() or file.suffix != ".py":
        raise ModelError(f"Custom objects {str(path)!r}: no such Python file.")
    spec = importlib.util.spec_from_file_location(f"vizcore_custom_{file.stem}", file)
    if spec is None or spec.loader is None:
        raise ModelError(f"Custom objects {str(path)!r}: Python cannot import that file.")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise ModelError(
            f"Your custom-objects file {file.name} failed to run: {type(error).__name__}: {error}"
        ) from None
    _IMPORTED.add(str(file))


_IMPORTED: set[str] = set()


def memory_estimate(model: keras.Model) -> int:
    """Bytes a loaded model holds in memory once it is in use: MEMORY_PER_WEIGHT_BYTE × its weights."""
    weights = sum(int(np.prod(weight.shape)) * np.dtype(weight.dtype).itemsize for weight in model.weights)
    return MEMORY_PER_WEIGHT_BYTE * weights


def read_model_file(path: Path) -> keras.Model:
    """Load the Keras model in ``path`` safely, or raise ModelError saying what is wrong and what to do."""
    import_custom_objects()  # $VIZCORE_CUSTOM_OBJECTS, if set
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            raise ModelError(
                f"{path.name} is a TensorFlow SavedModel folder, which Keras 3 cannot open for "
                "inspection. Load it where it was made (tf.keras.models.load_model) and save it "
                "again with model.save('NAME.keras')."
            )
        raise ModelError(f"{path} is a folder, not a model file (.keras or .h5).")
    if not path.is_file():
        raise ModelError(f"No model file at {path}.")
    suffix = path.suffix.lower()
    if suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ModelError(f"{path.name} is not a .keras model file (it may be truncated or of another format).")
    if suffix in (".h5", ".hdf5") and not _is_hdf5(path):
        raise ModelError(f"{path.name} is not an HDF5 (.h5) model file (it may be truncated or of another format).")
    if suffix not in MODEL_SUFFIXES:
        raise ModelError(f"{path.name}: vizcore opens Keras models saved as .keras (or legacy .h5).")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:
        raise ModelError(_load_error_message(path, error)) from None
    if not isinstance(model, keras.Model) or not graph.has_graph(model):
        raise ModelError(
            f"{path.name} holds a subclassed model without a graph of layers; save a Functional "
            "or Sequential model (or wrap it: keras.Sequential([keras.Input(shape), model]))."
        )
    return model


def _is_hdf5(path: Path) -> bool:
    with open(path, "rb") as file:
        return file.read(8) == b"\x89HDF\r\n\x1a\n"


def _load_error_message(path: Path, error: Exception) -> str:
    text = str(error)
    if "lambda" in text.lower() or "safe_mode" in text:
        return (
            f"{path.name} contains a Python Lambda layer; vizcore refuses to run code from a "
            "model file (safe mode). Replace the Lambda with built-in layers and save it again."
        )
    missing = re.search(r"Could not locate (?:class|function) '?([\w.]+)'?", text) or re.search(
        r"Unknown (?:layer|object|class)[^'\"]*['\"]([\w.]+)['\"]", text
    )
    if missing:
        return (
            f"{path.name} needs the custom class {missing.group(1)!r}, which is not built into Keras. "
            "Decorate it with @keras.saving.register_keras_serializable() in a Python file and pass that "
            "file with --custom-objects FILE.py (or set VIZCORE_CUSTOM_OBJECTS), or save the model with "
            "built-in layers only."
        )
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return f"{path.name} could not be loaded as a Keras model (the file may be damaged): {first[:300]}"


def output_index(model: keras.Model, output) -> int:
    """The index of an output given by index or by its layer's name."""
    count = len(model.outputs)
    if isinstance(output, str) and not output.isdigit():
        names = graph.output_names(model)
        if output not in names:
            raise ModelError(f"The model has no output {output!r}; its outputs are {', '.join(names)}.")
        return names.index(output)
    index = int(output)
    if not 0 <= index < count:
        raise ModelError(f"The model has {count} output(s) (0 to {count - 1}); output {index} does not exist.")
    return index


def suggest_scaling(model: keras.Model) -> tuple[str, str]:
    """(scaling word, reason) for a model: raw when it rescales its inputs itself, a recognised
    keras.applications base's own scaling, else the usual 0-1 with an empty reason."""
    for path, layer in list(graph.walk(model))[:FIRST_LAYERS]:
        if isinstance(layer, (keras.layers.Rescaling, keras.layers.Normalization)):
            kind = type(layer).__name__
            named = "" if layer.name.lower().startswith(kind.lower()) else f" {path}"
            return "raw", f"the model scales its own inputs (its {kind} layer{named}), so it takes raw 0–255 pixels"
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            break
    for base in _nested_models(model):
        for pattern, title, scaling in APPLICATIONS:
            if re.match(pattern, base.name):
                return (
                    scaling,
                    f"this looks like {title} ({base.name}), whose inputs are scaled to {SCALING_WORDS[scaling]}",
                )
    return DEFAULT_SCALING, ""


def _nested_models(model):
    for layer in model.layers:
        if graph.is_container(layer):
            yield layer
            yield from _nested_models(layer)
