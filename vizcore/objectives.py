"""Objectives (Lucid's ``optvis.objectives``) on TensorFlow 2 / Keras 3: what an ascent maximises.

An objective maps what the model sees of a batch (the activations of named layers, the head's
pre-activation scores, the image itself) to **one score per image**, and composes like a number::

    channel("block4a_expand_conv", 12) + 0.5 * channel("block4a_expand_conv", 40)
    class_logit(963) - 0.05 * total_variation()
    channel("block4a_expand_conv", 12) + 2 * diversity("block4a_expand_conv")

An objective is a sum of weighted terms. Each term's weight and each index or vector it reads is
an array with one row per image, or one row for the whole batch (broadcast): image ``i`` of a
filter grid maximises ``channel(layer, filters)[i]``, a row of a mix weighs two channels with
``1 − t_i`` and ``t_i``. Those arrays travel into the compiled step as run-time tensors, and only
the *structure* (which kinds of term on which layers, see :attr:`Objective.structure`) keys the
compiled step, so another channel, class, weight or vector never retraces it.

Scores, per image ``i`` (``a`` a layer's activations (N, h, w, C), means over positions):

* ``channel(layer, n, border=2)``: mean of ``a[i, :, :, n_i]`` leaving ``border`` px out (the
  Keras example's filter loss; Lucid's ``channel`` with border 0).
* ``neuron(layer, n, x=None, y=None)``: ``a[i, y, x, n_i]``, the centre position by default.
* ``class_logit(n)``: the head's pre-activation score of class ``n_i`` (the same scores and the
  same view as :mod:`vizcore.cam`; the model is never changed).
* ``direction(layer, v)``: mean over positions of ``Σ_c a[i, y, x, c] · v_c``.
* ``deepdream(layer, border=0)``: mean of ``a²`` (Mordvintsev et al., 2015; the Keras example
  leaves a 2-px border out).
* ``diversity(layer)``: ``−(1/N) Σ_{j≠i} ⟨Ĝ_i, Ĝ_j⟩``, Ĝ the L2-normalised Gram matrix of image's
  activations (Lucid's diversity penalty, Olah et al., "Feature Visualization", Distill 2017);
  adding it with a positive weight pushes the images of a batch apart. It couples the batch, so a
  batch with diversity is never split into chunks.
* ``total_variation()``: mean of ``|Δx| + |Δy|`` of the RGB image in [0, 1] (Lucid sums it; a mean
  keeps weights independent of the image size).
* ``l1(layer=None, constant=0)``, ``l2(layer=None, constant=0)``: mean ``|a − c|`` and
  ``sqrt(mean (a − c)² + ε)``; of the RGB image in [0, 1] when no layer is named.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import numpy as np
import tensorflow as tf

from .errors import RequestError

INPUT = None  # the layer of a term that reads the image itself
SCORES = "scores"  # what a class term reads: the head's pre-activation scores
EPSILON = 1e-8


@dataclass(frozen=True, eq=False)
class Term:
    """One weighted part of an objective: a kind, the layer it reads, options fixed at trace time
    (``static``) and arrays that travel as run-time inputs (one row per image, or one for all)."""

    kind: str
    layer: str | None
    weight: np.ndarray  # (n,) float32
    arrays: tuple[np.ndarray, ...] = ()
    static: tuple = ()

    @property
    def structure(self) -> tuple:
        shapes = tuple((array.dtype.str, array.shape[1:]) for array in self.arrays)
        return (self.kind, self.layer, self.static, shapes)

    def rows(self) -> int:
        """How many images this term sets apart (1: the same for every image)."""
        lengths = {len(self.weight), *(len(array) for array in self.arrays)} - {1}
        if len(lengths) > 1:
            raise RequestError(f"A {self.kind} term has rows of different lengths {sorted(lengths)}.")
        return lengths.pop() if lengths else 1

    def scaled(self, factor: float) -> Term:
        return Term(
            self.kind, self.layer, (self.weight * np.float32(factor)).astype(np.float32), self.arrays, self.static
        )


@dataclass(frozen=True, eq=False)
class Objective:
    """A sum of weighted terms, one score per image; ``+``, ``-`` and scalar ``*`` compose it."""

    terms: tuple[Term, ...]

    # --- the algebra ---------------------------------------------------------------------------

    def __add__(self, other: Objective) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented  # adding a constant changes no gradient: refuse it rather than ignore it
        return Objective(self.terms + other.terms)

    def __sub__(self, other: Objective) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        return self + (-1.0) * other

    def __mul__(self, factor) -> Objective:
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real):
            return NotImplemented
        return Objective(tuple(term.scaled(float(factor)) for term in self.terms))

    __rmul__ = __mul__

    def __neg__(self) -> Objective:
        return (-1.0) * self

    def __truediv__(self, divisor) -> Objective:
        if isinstance(divisor, bool) or not isinstance(divisor, numbers.Real) or divisor == 0:
            return NotImplemented
        return self * (1.0 / float(divisor))

    # --- what the compiled step needs ----------------------------------------------------------

    @property
    def structure(self) -> tuple:
        """Which kinds of term on which layers: the key of the compiled step (never the values)."""
        return tuple(term.structure for term in self.terms)

    @property
    def layers(self) -> tuple[str, ...]:
        """The layers whose activations the objective reads, sorted."""
        return layers_of(self.structure)

    @property
    def reads_scores(self) -> bool:
        return reads_scores(self.structure)

    @property
    def couples_batch(self) -> bool:
        """True when one image's score depends on the others' (diversity): never split into chunks."""
        return any(term.kind in COUPLING for term in self.terms)

    def rows(self) -> int:
        """How many images the objective sets apart (1: any batch, every image the same objective)."""
        lengths = {term.rows() for term in self.terms} - {1}
        if len(lengths) > 1:
            raise RequestError(f"The objective's terms ask for different numbers of images: {sorted(lengths)}.")
        return lengths.pop() if lengths else 1

    def arguments(self, rows: Sequence[int] | None = None) -> list[tf.Tensor]:
        """The run-time inputs of the compiled step, for the images ``rows`` of the batch (all: None)."""
        values: list[tf.Tensor] = []
        for term in self.terms:
            for array in (term.weight, *term.arrays):
                chosen = array if rows is None or len(array) == 1 else array[list(rows)]
                values.append(tf.constant(chosen))
        return values

    def signature(self) -> list[tf.TensorSpec]:
        """TensorSpecs of :meth:`arguments`, any number of rows."""
        specs = []
        for term in self.terms:
            for array in (term.weight, *term.arrays):
                specs.append(tf.TensorSpec((None, *array.shape[1:]), tf.as_dtype(array.dtype)))
        return specs

    def checked(self, vm) -> Objective:
        """The objective with each layer named by its full path, every index checked against the model.

        Raises:
            RequestError: an unknown or non-spatial layer, a channel, class, position or vector out
                of the layer's or the head's range, rows of different lengths, no terms.
        """
        if not self.terms:
            raise RequestError("The objective is empty: give at least one term.")
        terms = tuple(CHECKS[term.kind](vm, term) for term in self.terms)
        checked = Objective(terms)
        checked.rows()
        return checked

    def __repr__(self) -> str:
        return " + ".join(_describe(term) for term in self.terms) or "(empty objective)"


def _describe(term: Term) -> str:
    weight = term.weight[0] if len(term.weight) == 1 else "w"
    values = ", ".join(str(a[0] if len(a) == 1 else "…") for a in term.arrays)
    where = ", ".join(filter(None, [term.layer if term.layer not in (INPUT, SCORES) else "", values]))
    return f"{weight:g}·{term.kind}({where})" if weight != "w" else f"w·{term.kind}({where})"


def layers_of(structure: tuple) -> tuple[str, ...]:
    return tuple(sorted({layer for _, layer, _, _ in structure if layer not in (INPUT, SCORES)}))


def reads_scores(structure: tuple) -> bool:
    return any(layer == SCORES for _, layer, _, _ in structure)


# --- building terms ----------------------------------------------------------------------------


def _rows(value, dtype, name: str) -> np.ndarray:
    """A scalar or a sequence as a 1-D array (one row per image)."""
    array = np.asarray(value)
    if array.ndim > 1 or array.size == 0:
        raise RequestError(f"{name} must be a number or a list of numbers, got {value!r}")
    if dtype is np.int32:
        if array.dtype.kind not in "iu" and not (array.dtype.kind == "f" and np.all(array == np.round(array))):
            raise RequestError(f"{name} must be whole numbers, got {value!r}")
    elif array.dtype.kind not in "iuf" or not np.all(np.isfinite(array)):
        raise RequestError(f"{name} must be finite numbers, got {value!r}")
    return np.atleast_1d(array).astype(dtype)


def _objective(kind: str, layer: str | None, *arrays: np.ndarray, static: tuple = (), weight=1.0) -> Objective:
    return Objective((Term(kind, layer, _rows(weight, np.float32, "weight"), tuple(arrays), static),))


def channel(layer: str, n, border: int = 2) -> Objective:
    """The mean activation of channel ``n`` of ``layer`` (a list: one channel per image), ``border``
    feature-map px left out on each side (none on maps too small for it)."""
    return _objective("channel", layer, _rows(n, np.int32, "channel"), static=(int(border),))


def neuron(layer: str, n, x=None, y=None) -> Objective:
    """The activation of channel ``n`` at one position of ``layer``'s map (its centre by default)."""
    position = [_rows(-1 if value is None else value, np.int32, "position") for value in (x, y)]
    return _objective("neuron", layer, _rows(n, np.int32, "channel"), *position)


def class_logit(n) -> Objective:
    """The pre-activation (pre-softmax) score of class ``n`` (a list: one class per image)."""
    return _objective("class", SCORES, _rows(n, np.int32, "class"))


def direction(layer: str, vector) -> Objective:
    """The mean over positions of the activations' dot product with ``vector`` (one weight a channel;
    a 2-D array: one vector per image)."""
    array = np.asarray(vector, np.float32)
    if array.ndim not in (1, 2) or array.size == 0 or not np.all(np.isfinite(array)):
        raise RequestError(f"A direction is a vector of finite numbers, one per channel; got shape {array.shape}")
    return _objective("direction", layer, np.atleast_2d(array))


def deepdream(layer: str, border: int = 0) -> Objective:
    """The mean squared activation of ``layer`` (DeepDream), ``border`` px left out on each side."""
    return _objective("deepdream", layer, static=(int(border),))


def diversity(layer: str) -> Objective:
    """Minus the mean cosine similarity of each image's Gram matrix to the others' (Lucid's penalty,
    with the sign that makes ``+ w · diversity(layer)`` push a batch's images apart)."""
    return _objective("diversity", layer)


def total_variation() -> Objective:
    """The mean absolute difference between neighbouring pixels of the RGB image in [0, 1]."""
    return _objective("total_variation", INPUT)


def l1(layer: str | None = None, constant: float = 0.0) -> Objective:
    """The mean of ``|a − constant|`` of a layer (of the RGB image in [0, 1] when no layer is named)."""
    return _objective("l1", layer, _rows(constant, np.float32, "constant"))


def l2(layer: str | None = None, constant: float = 0.0) -> Objective:
    """``sqrt(mean (a − constant)² + ε)`` of a layer (of the RGB image in [0, 1] when none is named)."""
    return _objective("l2", layer, _rows(constant, np.float32, "constant"))


def channel_interpolate(layer_a: str, a: int, layer_b: str, b: int, count: int, border: int = 2) -> Objective:
    """A row of ``count`` images from channel ``a`` to channel ``b`` (Lucid's channel_interpolate):
    image ``i`` maximises ``(1 − t_i)·channel a + t_i·channel b``, t from 0 to 1."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 2:
        raise RequestError(f"A mix needs at least 2 images, got {count!r}")
    t = np.linspace(0.0, 1.0, int(count), dtype=np.float32)
    first = Objective((Term("channel", layer_a, 1 - t, (_rows(a, np.int32, "channel"),), (int(border),)),))
    second = Objective((Term("channel", layer_b, t, (_rows(b, np.int32, "channel"),), (int(border),)),))
    return first + second


COUPLING = {"diversity"}


# --- checks against a model ----------------------------------------------------------------------


def _in_layer(vm, term: Term) -> Term:
    """The term with its layer's full path (RequestError if unknown or not spatial)."""
    if term.layer in (INPUT, SCORES):
        return term
    return Term(term.kind, vm.layer(term.layer).name, term.weight, term.arrays, term.static)


def _channels_checked(vm, term: Term) -> Term:
    term = _in_layer(vm, term)
    channels = vm.layer(term.layer).channels
    bad = [int(n) for n in term.arrays[0] if not 0 <= n < channels]
    if bad:
        raise RequestError(
            f"Channel {bad[0]} out of range: layer {term.layer} has {channels} channels (0–{channels - 1})."
        )
    return term


def _neuron_checked(vm, term: Term) -> Term:
    term = _channels_checked(vm, term)
    for array, axis, side in zip(term.arrays[1:], "xy", reversed(vm.layer_size(term.layer))):
        bad = [int(v) for v in array if v < -1 or (side is not None and v >= side)]
        if bad:
            extent = f"0–{side - 1}" if side else "0 or more"
            raise RequestError(f"Neuron position {axis}={bad[0]} is outside layer {term.layer} ({extent}).")
    return term


def _class_checked(vm, term: Term) -> Term:
    classes = vm.require_head().classes
    bad = [int(n) for n in term.arrays[0] if not 0 <= n < classes]
    if bad:
        raise RequestError(f"Class {bad[0]} out of range: {vm.name} has {classes} classes (0–{classes - 1}).")
    return term


def _direction_checked(vm, term: Term) -> Term:
    term = _in_layer(vm, term)
    channels = vm.layer(term.layer).channels
    if term.arrays[0].shape[1] != channels:
        raise RequestError(
            f"The direction has {term.arrays[0].shape[1]} values but layer {term.layer} has {channels} channels."
        )
    return term


CHECKS: dict[str, Callable] = {
    "channel": _channels_checked,
    "neuron": _neuron_checked,
    "class": _class_checked,
    "direction": _direction_checked,
    "deepdream": _in_layer,
    "diversity": _in_layer,
    "total_variation": _in_layer,
    "l1": _in_layer,
    "l2": _in_layer,
}


# --- scores (inside the compiled step) -------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """What the objective reads of a batch: layer activations by name, the head's scores, the image."""

    layers: dict
    scores: tf.Tensor | None
    image: tf.Tensor  # RGB in [0, 1], before the transforms


def _per_image(array: tf.Tensor, batch: tf.Tensor) -> tf.Tensor:
    """A run-time array of one row for all or one row per image, as one row per image."""
    return tf.broadcast_to(array, tf.concat([[batch], tf.shape(array)[1:]], 0))


def channel_score(a, n, border: int):
    chosen = tf.gather(a, _per_image(n, tf.shape(a)[0]), axis=3, batch_dims=1)  # (N, h, w)
    height, width = tf.shape(chosen)[1], tf.shape(chosen)[2]
    border = tf.where(tf.minimum(height, width) > 2 * border, border, 0)
    return tf.reduce_mean(chosen[:, border : height - border, border : width - border], axis=(1, 2))


def neuron_score(a, n, x, y):
    batch, height, width = tf.shape(a)[0], tf.shape(a)[1], tf.shape(a)[2]
    x, y = _per_image(x, batch), _per_image(y, batch)
    x = tf.clip_by_value(tf.where(x < 0, width // 2, x), 0, width - 1)  # transforms may shrink the map a little
    y = tf.clip_by_value(tf.where(y < 0, height // 2, y), 0, height - 1)
    return tf.gather_nd(a, tf.stack([tf.range(batch), y, x, _per_image(n, batch)], axis=1))


def class_score(scores, n):
    return tf.gather(scores, _per_image(n, tf.shape(scores)[0]), axis=1, batch_dims=1)


def direction_score(a, vector):
    vector = _per_image(vector, tf.shape(a)[0])
    return tf.reduce_mean(tf.einsum("nhwc,nc->nhw", a, vector), axis=(1, 2))


def deepdream_score(a, border: int):
    if border:
        a = a[:, border:-border, border:-border, :]
    return tf.reduce_mean(tf.square(a), axis=(1, 2, 3))


def diversity_score(a):
    batch = tf.shape(a)[0]
    flat = tf.reshape(a, [batch, -1, tf.shape(a)[3]])
    grams = tf.matmul(flat, flat, transpose_a=True)  # (N, C, C)
    grams = tf.reshape(grams, [batch, -1])
    grams = grams / tf.maximum(tf.norm(grams, axis=1, keepdims=True), 1e-10)
    similarity = tf.matmul(grams, grams, transpose_b=True)  # (N, N) cosines
    others = tf.reduce_sum(similarity, axis=1) - tf.linalg.diag_part(similarity)
    return -others / tf.cast(batch, a.dtype)


def total_variation_score(image):
    across = tf.reduce_mean(tf.abs(image[:, :, 1:] - image[:, :, :-1]), axis=(1, 2, 3))
    down = tf.reduce_mean(tf.abs(image[:, 1:] - image[:, :-1]), axis=(1, 2, 3))
    return across + down


def l1_score(a, constant):
    constant = tf.reshape(_per_image(constant, tf.shape(a)[0]), [-1, 1, 1, 1])
    return tf.reduce_mean(tf.abs(a - constant), axis=(1, 2, 3))


def l2_score(a, constant):
    constant = tf.reshape(_per_image(constant, tf.shape(a)[0]), [-1, 1, 1, 1])
    return tf.sqrt(tf.reduce_mean(tf.square(a - constant), axis=(1, 2, 3)) + EPSILON)


SCORE_FUNCTIONS: dict[str, Callable] = {
    "channel": channel_score,
    "neuron": neuron_score,
    "class": class_score,
    "direction": direction_score,
    "deepdream": deepdream_score,
    "diversity": diversity_score,
    "total_variation": total_variation_score,
    "l1": l1_score,
    "l2": l2_score,
}


def evaluate(structure: tuple, seen: Seen, arguments: Sequence[tf.Tensor]) -> tf.Tensor:
    """Scores (N,) of a batch for an objective of this structure, its run-time arrays in ``arguments``."""
    total = None
    position = 0
    for kind, layer, static, shapes in structure:
        weight, arrays = arguments[position], list(arguments[position + 1 : position + 1 + len(shapes)])
        position += 1 + len(shapes)
        source = seen.image if layer is INPUT else seen.scores if layer == SCORES else seen.layers[layer]
        score = SCORE_FUNCTIONS[kind](source, *arrays, *static)
        term = _per_image(weight, tf.shape(score)[0]) * score
        total = term if total is None else total + term
    return total
