"""Load a model by the name a person gives: the registry's models, the models folder, or a file.

The one door to every model: a name of the registry (:mod:`vizcore.registry`) loads a bundled
EfficientNet-Lite or a keras.applications model (:mod:`vizcore.models`); a name of the models
folder or a path to a ``.keras`` / ``.h5`` file loads a user's model (:mod:`vizcore.user_models`).
Every one comes back as a :class:`vizcore.models.VizModel`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from . import user_models
from .errors import ModelError
from .models import VizModel, load_bundled, load_zoo
from .registry import MODELS


def load_model(
    name_or_path: str | os.PathLike,
    *,
    scaling: str | None = None,
    labels_path: str | os.PathLike | None = None,
    head: str | None = None,
    output: int | str | None = None,
) -> VizModel:
    """Load a registry model by name, a model of the models folder by name, or a model file.

    Args:
        name_or_path: a name of ``vizcore.MODELS``, a file name of the models folder
            (``vizcore.user_models.models_dir()``), or a path to a ``.keras`` / ``.h5`` file.
        scaling: for a user's model, how inputs are scaled: 0-1, -1-1, caffe, torch or raw
            (None: remembered beside the file, else suggested from the model).
        labels_path: for a user's model, a text file with one class name per line.
        head: for a user's model, force the kind of output (softmax, logits, binary, multilabel, regression).
        output: for a user's model with several outputs, which one (index or layer name).

    Raises:
        ModelError: unknown name, weights that cannot be had offline, unsafe or broken file.
    """
    key = str(name_or_path)
    if key in MODELS:
        spec = MODELS[key]
        return load_bundled(spec) if spec.source == "bundled" else load_zoo(spec)
    options: dict[str, Any] = dict(scaling=scaling, labels_path=labels_path, head=head, output=output)
    in_folder = user_models.find_model_file(key)
    if in_folder is not None:
        return user_models.load_user_model(in_folder, **options)
    if Path(key).suffix.lower() in user_models.MODEL_SUFFIXES or Path(key).exists():
        return user_models.load_user_model(key, **options)
    folder = ", ".join(user_models.folder_models()) or f"none in {user_models.models_dir()}"
    raise ModelError(
        f"Unknown model {key!r}: use one of {', '.join(MODELS)}, a model of your models folder "
        f"({folder}) or a path to a .keras or .h5 file."
    )
