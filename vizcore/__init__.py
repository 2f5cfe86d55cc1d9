"""vizcore: see what convolutional networks learn. The engine; it never imports streamlit.

``load_image`` and the registry import instantly; the model API imports TensorFlow on first use.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .errors import ImageError, ModelError, RequestError, VizcoreError  # noqa: E402
from .images import load_image  # noqa: E402
from .registry import DEFAULT_MODEL, MODELS  # noqa: E402

_LAZY = {"load_model": "loading", "VizModel": "models", "LayerInfo": "models", "Prediction": "models"}

__all__ = ["ImageError", "ModelError", "RequestError", "VizcoreError", "load_image", "MODELS", "DEFAULT_MODEL", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'vizcore' has no attribute {name!r}")
