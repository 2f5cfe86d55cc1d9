"""What a model's output means, and the score to explain for each of its classes or outputs.

A :class:`Head` is read off the layer that makes the chosen output, without changing the model:

* ``softmax``: a class vector from a softmax (inside the last Dense, or a Softmax/Activation layer);
* ``logits``: several units with no activation; shown through a softmax;
* ``binary``: one sigmoid unit; two classes, "negative" (score −z) and "positive" (score z),
  where z is the pre-sigmoid logit, so their maps come from one linear map of opposite signs;
* ``multilabel``: several sigmoid units, independent probabilities, each label explainable;
* ``regression``: linear (or other) outputs, one or more, shown as values.

The score a heatmap explains is always the *pre-activation* one (the logit before the softmax
or sigmoid, the value itself for regression): computed from the input of the output layer with
its own kernel and bias, so the model is never mutated.
"""

from __future__ import annotations

from dataclasses import dataclass

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import keras
import numpy as np
import tensorflow as tf

from . import graph
from .errors import ModelError

KINDS = ("softmax", "logits", "binary", "multilabel", "regression")
CLASSIFIERS = ("softmax", "logits", "binary", "multilabel")  # kinds whose scores are probabilities
KIND_TITLES = {
    "softmax": "classifier (softmax)",
    "logits": "classifier (logits, shown through a softmax)",
    "binary": "binary classifier (one sigmoid unit)",
    "multilabel": "multi-label classifier (independent sigmoids)",
    "regression": "regression (values)",
}
BINARY_LABELS = ("negative", "positive")


@dataclass(frozen=True, eq=False)
class Head:
    """The output layer's meaning. ``features`` is the tensor the scores are computed from."""

    kind: str
    units: int  # width of the model's output
    features: graph.Target  # the output layer's input (a Dense or activation to undo) or its output
    dense: object = None  # the final Dense whose activation is undone, else None

    @property
    def classes(self) -> int:
        """How many things can be explained: 2 for a binary head, else one per unit."""
        return 2 if self.kind == "binary" else self.units

    @property
    def is_probability(self) -> bool:
        return self.kind in CLASSIFIERS

    def scores(self, features):
        """The pre-activation scores (N, classes) to explain, from the features tensor (TF)."""
        if self.dense is not None:
            features = tf.matmul(features, self.dense.kernel)
            if self.dense.use_bias:
                features = features + self.dense.bias
        if self.kind == "binary":
            return tf.concat([-features, features], axis=1)
        return features

    def display(self, scores):
        """Scores → what the user sees: probabilities for classifiers, values for regression (TF)."""
        if self.kind in ("softmax", "logits"):
            return tf.nn.softmax(scores)
        if self.kind in ("binary", "multilabel"):
            return tf.sigmoid(scores)  # binary: [σ(−z), σ(z)] = [1 − p, p]
        return scores

    def default_labels(self, names: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Class names from a labels file's lines, else sensible defaults for the head."""
        if self.kind == "binary":
            if len(names) == 1:
                return (f"not {names[0]}", names[0])
            return tuple(names[:2]) if len(names) >= 2 else BINARY_LABELS
        if names:
            return tuple(names[: self.units]) + tuple(f"class {i}" for i in range(len(names), self.units))
        if self.kind == "regression":
            return ("value",) if self.units == 1 else tuple(f"output {i}" for i in range(self.units))
        return tuple(f"class {i}" for i in range(self.units))


def detect(model, output_index: int = 0, kind: str | None = None) -> Head | None:
    """The head of the model's ``output_index``-th output, or None if it is not a vector (N, units).

    Args:
        kind: force a kind (a user's override, e.g. ``regression`` for several linear outputs).

    Raises:
        ModelError: a forced kind that the output cannot be (e.g. binary with 3 units).
    """
    shape = tuple(model.outputs[output_index].shape)
    if len(shape) != 2 or not shape[-1]:
        return None
    units = int(shape[-1])
    made_by = graph.producer(model, output_index)
    path, layer = made_by if made_by else (None, None)
    activation = _activation_of(layer)
    dense = layer if isinstance(layer, keras.layers.Dense) and activation in ("softmax", "sigmoid") else None
    undone = dense is not None or (activation in ("softmax", "sigmoid") and not isinstance(layer, keras.layers.Dense))
    features = graph.Target(path, graph.INPUT if undone else graph.OUTPUT) if path else None
    guessed = _guess_kind(activation, units)
    if kind is not None:
        _check_kind(kind, guessed, units)
    return Head(kind or guessed, units, features, dense) if features else None


def _activation_of(layer) -> str | None:
    """'softmax', 'sigmoid', 'linear' or another name, for a Dense, Activation or Softmax layer."""
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    function = getattr(layer, "activation", None)
    if function is None:
        return "linear" if isinstance(layer, keras.layers.Dense) else None
    name = getattr(function, "__name__", "")
    return name if name else None


def _guess_kind(activation: str | None, units: int) -> str:
    if activation == "softmax":
        return "softmax"
    if activation == "sigmoid":
        return "binary" if units == 1 else "multilabel"
    if activation == "linear" and units > 1:
        return "logits"
    return "regression"


def _check_kind(kind: str, guessed: str, units: int) -> None:
    if kind not in KINDS:
        raise ModelError(f"Unknown output kind {kind!r}: use one of {', '.join(KINDS)}.")
    if kind == "binary" and units != 1:
        raise ModelError(f"A binary head has one sigmoid unit; this output has {units}.")
    if kind in ("softmax", "logits", "multilabel") and units < 2:
        raise ModelError(
            f"A {kind} head needs at least 2 units; this output has {units}. Use binary (sigmoid) or regression."
        )
    if guessed in ("binary", "multilabel") and kind in ("softmax", "logits"):
        raise ModelError(f"This output ends in a sigmoid: read it as {guessed}, not {kind}.")


def top(values: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` largest values, largest first (stable)."""
    return np.argsort(-values, kind="stable")[:count]
