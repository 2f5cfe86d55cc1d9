"""Why this class? The class's pre-softmax score attributed to the channels of one layer.

Building Blocks of Interpretability (Olah et al., Distill 2018): channel k of layer A contributes

    c_k = Σ_{y,x} A[y, x, k] · ∂score/∂A[y, x, k]                  (activation × gradient)

to the class's score (the logit before the softmax, as the heatmaps explain). When the layer feeds
a global average pooling and then the Dense that makes the logits, ∂score/∂A[y, x, k] = W[k, class]
/ (h·w), so c_k = W[k, class] · mean(A_k) exactly, and Σ_k c_k + bias = the logit
(``Why.exact``; the bias is that Dense's). On any other layer the sum is a first-order estimate.

:func:`explain` returns a :class:`Why`: every channel's contribution, the best and the most
negative channels (:class:`Channel`: contribution, share, where it counted and where it fired),
each channel's activation map and contribution map over the photo, and, for a contrast class B,
"why A rather than B": the difference of the two attributions. :func:`groups` factorises the
layer's activations into a few non-negative factors (Building Blocks' neuron groups), each with
its map and attribution. :func:`panel` draws it all.

Where a channel fired is not always where it counted. A channel's contribution map,
A[y, x, k] · ∂score/∂A[y, x, k] at each position, sums to its contribution c_k, and its peak is
where the channel counted. On a layer not pooled straight into the logits the gradient differs
from place to place, so a channel may fire hardest on one object and count most on another. On
the GAP → Dense layer the gradient is W[k, class] / (h·w) everywhere: there the two maps differ
by a factor and peak at the same place.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import keras
import numpy as np
import tensorflow as tf

from . import cam, graph
from .cam.core import check_spatial, checked_class, target_layer
from .checks import class_index as checked_class_index
from .checks import rgb_image, whole_number
from .drawing import resized_map
from .errors import RequestError
from .filters import FilterFrame
from .models import VizModel

DEFAULT_TOP = 8  # channels shown, best first
FIRED_CMAP = "viridis"  # a channel's activation over the photo
COUNTED_CMAP = "inferno"  # a channel's contribution over the photo: dark where it added nothing, bright on dark themes
FEATURE_SEED = 0  # feature visualisations are seeded, so the atlas stores and finds them
MAX_GROUPS = 16  # neuron groups at most
NMF_STEPS = 200  # multiplicative updates of the factorisation
NMF_EPSILON = 1e-9  # keeps the multiplicative updates away from 0 / 0
IDENTITY_LAYERS = (keras.layers.Dropout,)  # layers that pass values through at inference


class Channel(NamedTuple):
    """One channel's part in the score."""

    channel: int
    contribution: float  # its contribution to the explained score (activation × gradient, summed)
    share: float  # contribution / Σ|contributions|: signed, the absolute shares sum to 1
    peak: tuple[int, int]  # (y, x) where it counted most (its contribution map's peak), in the photo's own pixels
    activation: float  # its mean activation over the photo
    fired_at: tuple[int, int]  # (y, x) of its strongest activation, in the photo's own pixels


@dataclass(frozen=True, eq=False)
class Why:
    """A class's score attributed to a layer's channels (or the difference of two classes')."""

    class_index: int
    label: str
    layer: str
    logit: float  # the explained pre-softmax score (A's minus B's for a contrast)
    bias: float | None  # the Dense bias in it (B's subtracted) when ``exact``, else None
    exact: bool  # True: GAP → Dense head, contributions + bias = logit
    contributions: np.ndarray  # float64 (C,), every channel's
    activations: np.ndarray  # float32 (h, w, C): the layer on the photo
    gradients: np.ndarray  # float32 (h, w, C): ∂score/∂activations (A's minus B's for a contrast)
    photo_size: tuple[int, int]  # (H, W) of the photo
    top: int  # channels in ``channels`` and ``negative``
    contrast_index: int | None = None
    contrast_label: str | None = None

    @property
    def note(self) -> str:
        """What the numbers mean, in words."""
        if self.exact:
            return (
                f"{self.layer} feeds a global average pooling and then the Dense that makes the logits, so each "
                "channel's contribution is exactly its Dense weight × its pooled activation, and the "
                "contributions plus the bias add up to the logit."
            )
        return (
            f"{self.layer} is not pooled straight into the logits, so each contribution (activation × gradient) "
            "is a first-order estimate and the contributions need not add up to the logit."
        )

    @property
    def channels(self) -> list[Channel]:
        """The ``top`` channels of largest contribution, best first."""
        order = np.argsort(-self.contributions, kind="stable")[: self.top]
        return [self.channel(int(k)) for k in order]

    @property
    def negative(self) -> list[Channel]:
        """The ``top`` channels of most negative contribution, most negative first (those below 0 only)."""
        order = np.argsort(self.contributions, kind="stable")[: self.top]
        return [self.channel(int(k)) for k in order if self.contributions[k] < 0]

    def channel(self, k: int) -> Channel:
        """Channel ``k``'s numbers. Its ``peak`` is where it counted most in the direction of its
        contribution: a channel that adds to the score peaks where it added most, a channel that
        takes from it (contribution < 0) where it took most, its contribution map's most negative point."""
        total = float(np.sum(np.abs(self.contributions))) or 1.0
        grid = self.activations[..., k]
        return Channel(
            k,
            float(self.contributions[k]),
            float(self.contributions[k]) / total,
            self._photo_peak(self._signed_counted(k)),
            float(grid.mean()),
            self._photo_peak(grid),
        )

    def counted_grid(self, channel: int) -> np.ndarray:
        """float64 (h, w): where the channel counted, on the layer's grid: its activation × the class's
        gradient at each position (signed); the grid sums to its contribution."""
        return self.activations[..., channel].astype(np.float64) * self.gradients[..., channel].astype(np.float64)

    def counted_map(self, channel: int) -> np.ndarray:
        """float32 (H, W) in [0, 1]: where the channel counted, over the photo, in its contribution's
        direction (a negative channel's most negative point is 1), the other direction at 0, scaled by its peak."""
        grid = np.maximum(self._signed_counted(channel), 0.0)
        peak = float(grid.max())
        return resized_map(grid / peak if peak > 0 else grid, self.photo_size)

    def _signed_counted(self, channel: int) -> np.ndarray:
        """The contribution map turned so that the channel's own direction is positive."""
        grid = self.counted_grid(channel)
        return -grid if self.contributions[channel] < 0 else grid

    def _photo_peak(self, grid: np.ndarray) -> tuple[int, int]:
        y, x = np.unravel_index(int(np.argmax(grid)), grid.shape)
        return _photo_pixel((int(y), int(x)), grid.shape, self.photo_size)

    def activation_map(self, channel: int) -> np.ndarray:
        """float32 (H, W) in [0, 1]: the channel's activation over the photo, scaled by its own peak."""
        grid = np.maximum(self.activations[..., channel], 0.0)
        peak = float(grid.max())
        return resized_map(grid / peak if peak > 0 else grid, self.photo_size)

    def contribution_map(self) -> np.ndarray:
        """float32 (H, W) in [0, 1]: where the score came from, Σ_k A·∂score/∂A per position, ReLU, scaled."""
        grid = np.maximum(np.sum(self.activations * self.gradients, axis=-1), 0.0)
        peak = float(grid.max())
        return resized_map(grid / peak if peak > 0 else grid, self.photo_size)

    def as_dict(self, model: str) -> dict:
        """The numbers as the CLI's JSON writes them: the best channels first."""
        return {
            "model": model,
            "class_index": self.class_index,
            "label": self.label,
            "contrast_index": self.contrast_index,
            "contrast_label": self.contrast_label,
            "layer": self.layer,
            "logit": round(self.logit, 6),
            "bias": None if self.bias is None else round(self.bias, 6),
            "exact": self.exact,
            "sum": round(float(np.sum(self.contributions)), 6),
            "note": self.note,
            "channels": [self._channel_dict(c) for c in self.channels],
            "negative": [self._channel_dict(c) for c in self.negative],
        }

    def _channel_dict(self, channel: Channel) -> dict:
        """A channel's numbers; ``counted`` is its contribution map on the layer's grid (rows of floats,
        6 significant digits), summing to its contribution."""
        return {
            "channel": channel.channel,
            "contribution": round(channel.contribution, 6),
            "share": round(channel.share, 6),
            "peak": list(channel.peak),
            "fired_at": list(channel.fired_at),
            "counted": [
                [float(f"{value:.6g}") for value in row] for row in self.counted_grid(channel.channel).tolist()
            ],
        }


def _photo_pixel(cell: tuple[int, int], grid: tuple[int, int], photo: tuple[int, int]) -> tuple[int, int]:
    """The centre of a grid cell in the photo's own pixels (the photo is stretched to the model's input)."""
    return tuple(min(int((c + 0.5) * p / g), p - 1) for c, g, p in zip(cell, grid, photo))  # type: ignore[return-value]


# --- the attribution ---------------------------------------------------------------------------


def explain(
    vm: VizModel,
    image,
    *,
    class_index: int | None = None,
    contrast: int | None = None,
    layer: str | None = None,
    top: int | None = None,
) -> Why:
    """Each channel's contribution to a class's pre-softmax score on a photo (Olah et al., 2018).

    Args:
        vm: a model with a head (vizcore.heads).
        image: RGB uint8 (H, W, 3), any size.
        class_index: the class to explain; None takes the top-1 class.
        contrast: another class: explain "why ``class_index`` rather than ``contrast``" (the
            difference of the two attributions). None: the class alone.
        layer: a layer with spatial extent (``vm.conv_layers()``); None takes the heatmaps' layer.
        top: how many best (and most negative) channels to list, 1 to the layer's channels;
            None: ``DEFAULT_TOP`` (or every channel of a smaller layer).

    Returns:
        A Why; ``contributions`` holds every channel's.

    Raises:
        RequestError: class or contrast out of range (or the same), a layer without spatial
            extent, top out of range. ModelError: no head to explain.
    """
    image = rgb_image(image)
    target = checked_class(vm, class_index)
    layer_name = target_layer(vm, layer)
    channels = vm.layer(layer_name).channels
    top = min(DEFAULT_TOP, channels) if top is None else top
    top = whole_number("top", top, 1, channels, why=f"{layer_name} has {channels} channels")
    if contrast is not None:
        contrast = checked_class_index(vm, contrast)
    view = cam.compiled_view(vm, layer_name)
    inputs = tf.constant(vm.preprocess(vm.resize_for_input(image)))
    acts, grads, logits, chosen = view.activations_and_gradients(
        inputs, tf.constant(target, tf.int32), tf.constant(1.0)
    )
    check_spatial(layer_name, acts)
    target, acts, grads = int(chosen), acts.numpy()[0], grads.numpy()[0]
    logit, bias_vector = float(logits[0, target]), gap_dense_bias(vm, layer_name)
    bias = None if bias_vector is None else float(bias_vector[target])
    if contrast is not None:
        if contrast == target:
            raise RequestError(f"The contrast class {contrast} is the class explained; pick another class.")
        _, other, _, _ = view.activations_and_gradients(inputs, tf.constant(contrast, tf.int32), tf.constant(1.0))
        grads = grads - other.numpy()[0]
        logit -= float(logits[0, contrast])
        bias = None if bias is None or bias_vector is None else bias - float(bias_vector[contrast])
    contributions = np.sum(acts.astype(np.float64) * grads.astype(np.float64), axis=(0, 1))
    return Why(
        target,
        vm.label(target),
        layer_name,
        logit,
        bias,
        bias_vector is not None,
        contributions,
        acts,
        grads,
        image.shape[:2],
        top,
        contrast,
        None if contrast is None else vm.label(contrast),
    )


# --- is the head a global average pooling and a Dense? -----------------------------------------


def gap_dense_bias(vm: VizModel, layer: str) -> np.ndarray | None:
    """The bias of each class's score (C,) when ``layer`` feeds a global average pooling and then the
    Dense whose output the head explains (Dropout in between allowed); None otherwise."""
    head = vm.require_head()
    dense = head.dense or graph.find(vm.keras, head.features.path)
    if not isinstance(dense, keras.layers.Dense):
        return None
    if head.dense is None and (head.features.where != graph.OUTPUT or _activation_name(dense) != "linear"):
        return None
    source = _producer(dense.input, _prefix(head.features.path))
    while source is not None and isinstance(source[1], IDENTITY_LAYERS):
        source = _producer(source[1].input, _prefix(source[0]))
    if source is None or not isinstance(source[1], keras.layers.GlobalAveragePooling2D) or source[1].keepdims:
        return None
    fed_by = _producer(source[1].input, _prefix(source[0]))
    if fed_by is None or fed_by[0] != vm.layer(layer).name:
        return None
    if head.dense is not None:  # the head's scores of zero features: the bias, signed as the head signs it
        return head.scores(tf.zeros((1, int(dense.kernel.shape[0])))).numpy()[0].astype(np.float64)
    return dense.bias.numpy().astype(np.float64) if dense.use_bias else np.zeros(dense.units)


def _producer(tensor, prefix: str) -> tuple[str, object] | None:
    """(path, layer) that makes ``tensor``, looking into a nested model that makes it."""
    history = getattr(tensor, "_keras_history", None)
    if not history:
        return None
    layer = history[0]
    if graph.is_container(layer):
        inner = graph.producer(layer, history[2] if len(history) > 2 else 0)
        return None if inner is None else (prefix + layer.name + graph.SEPARATOR + inner[0], inner[1])
    return prefix + layer.name, layer


def _prefix(path: str) -> str:
    """The nested models' part of a layer's path, with its separator ("" at the top level)."""
    parent = path.rpartition(graph.SEPARATOR)[0]
    return parent + graph.SEPARATOR if parent else ""


def _activation_name(layer) -> str:
    return getattr(getattr(layer, "activation", None), "__name__", "")


# --- neuron groups -----------------------------------------------------------------------------


class Group(NamedTuple):
    """A neuron group: a non-negative factor of the layer's activations."""

    channels: np.ndarray  # float32 (C,): how much of each channel the group holds
    grid: np.ndarray  # float32 (h, w): where it is on the layer's grid
    contribution: float  # its part of the explained score
    share: float  # contribution / Σ|group contributions|


def groups(why: Why, count: int = 4, *, seed: int = 0, steps: int = NMF_STEPS) -> list[Group]:
    """Neuron groups (Olah et al., 2018): A (h·w, C) ≈ W (h·w, n) · H (n, C), both non-negative
    (Lee & Seung, 2001, multiplicative updates), largest contribution first.

    Group g contributes Σ_{p,c} W[p, g] H[g, c] ∂score/∂A[p, c] (as a channel does). Negative
    activations (a layer after no ReLU) are set to 0 first.

    Raises:
        RequestError: count out of 1…MAX_GROUPS or above the layer's positions or channels.
    """
    positions = why.activations.shape[0] * why.activations.shape[1]
    limit = min(MAX_GROUPS, positions, why.activations.shape[-1])
    count = whole_number("count (groups)", count, 1, limit)
    flat = np.maximum(why.activations.reshape(positions, -1), 0.0).astype(np.float64)
    where, what = nmf(flat, count, seed=seed, steps=steps)
    gradients = why.gradients.reshape(positions, -1).astype(np.float64)
    contributions = np.einsum("pg,gc,pc->g", where, what, gradients)
    total = float(np.sum(np.abs(contributions))) or 1.0
    found = [
        Group(
            what[g].astype(np.float32), where[:, g].reshape(why.activations.shape[:2]).astype(np.float32), c, c / total
        )
        for g, c in enumerate(contributions.tolist())
    ]
    return sorted(found, key=lambda group: -group.contribution)


def nmf(values: np.ndarray, count: int, *, seed: int = 0, steps: int = NMF_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative W (m, count), H (count, n) with W·H ≈ values (m, n), by Lee & Seung's
    multiplicative updates for the Frobenius norm (their Theorem 1)."""
    rng = np.random.default_rng(seed)
    scale = np.sqrt(max(float(values.mean()), NMF_EPSILON) / count)
    where = rng.uniform(0.5, 1.5, (values.shape[0], count)) * scale
    what = rng.uniform(0.5, 1.5, (count, values.shape[1])) * scale
    for _ in range(steps):
        what *= (where.T @ values) / (where.T @ where @ what + NMF_EPSILON)
        where *= (values @ what.T) / (where @ what @ what.T + NMF_EPSILON)
    norms = np.linalg.norm(what, axis=1, keepdims=True) + NMF_EPSILON  # unit channel vectors, maps carry the scale
    return where * norms.T, what / norms


def group_map(why: Why, group: Group) -> np.ndarray:
    """float32 (H, W) in [0, 1]: the group's map over the photo."""
    peak = float(group.grid.max())
    return resized_map(group.grid / peak if peak > 0 else group.grid, why.photo_size)


# --- the channels' pictures --------------------------------------------------------------------


def features(
    vm: VizModel, why: Why, *, steps: int | None = None, size: int | None = None, every: int = 1, use_cache: bool = True
) -> Iterator[FilterFrame]:
    """Robust feature visualisations of the best channels (image i for ``why.channels[i]``), in one
    batch, through the atlas: one cached frame when a run of these filters is stored, else frames
    as they grow (every ``every`` steps). Settings as :func:`vizcore.filters.settings` (robust)."""
    from . import atlas

    channels = [channel.channel for channel in why.channels]
    return atlas.visualize(
        vm,
        why.layer,
        channels,
        mode="robust",
        steps=steps,
        size=size,
        seed=FEATURE_SEED,
        every=every,
        use_cache=use_cache,
    )


# --- the panel ---------------------------------------------------------------------------------


def panel(
    why: Why,
    photo: np.ndarray,
    *,
    heatmap: np.ndarray | None = None,
    features: Mapping[int, np.ndarray] | None = None,
    examples: Mapping[int, Sequence[np.ndarray]] | None = None,
    title: str | None = None,
    cmap: str = "jet",
) -> np.ndarray:
    """The Why view as one RGB uint8 image: the photo with the class's heatmap, then a row per
    top channel: its feature image, its activation map and its contribution map over the photo,
    its share as a bar, its best example patches."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .drawing import overlay

    rows, patches = why.channels, max((len(v) for v in (examples or {}).values()), default=0)
    columns = 4 + patches
    figure = Figure(figsize=(1.7 * columns + 1.2, 1.7 * (len(rows) + 1.6)), dpi=100)
    FigureCanvasAgg(figure)
    figure.subplots_adjust(left=0.02, right=0.98, top=0.97, bottom=0.03)
    grid = figure.add_gridspec(len(rows) + 1, columns, height_ratios=[1.6] + [1] * len(rows), hspace=0.35)
    top_axis = figure.add_subplot(grid[0, :2])
    top_axis.imshow(overlay(photo, heatmap if heatmap is not None else why.contribution_map(), cmap=cmap))
    top_axis.set_axis_off()
    text = figure.add_subplot(grid[0, 2:])
    text.set_axis_off()
    text.text(0, 0.5, title or _summary(why), va="center", fontsize=10, wrap=True)
    biggest = max((abs(c.share) for c in rows), default=1.0) or 1.0
    for row, channel in enumerate(rows, start=1):
        _panel_row(figure, grid, row, channel, why, photo, (features or {}).get(channel.channel), examples, biggest)
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()  # type: ignore[attr-defined]


def _panel_row(figure, grid, row, channel: Channel, why: Why, photo, feature, examples, biggest) -> None:
    from .drawing import overlay

    cells = [figure.add_subplot(grid[row, column]) for column in range(grid.ncols)]
    if feature is not None:
        cells[0].imshow(feature)
    cells[0].set_title(f"channel {channel.channel}", fontsize=8)
    cells[1].imshow(overlay(photo, why.activation_map(channel.channel), cmap=FIRED_CMAP, alpha=0.6))
    cells[1].set_title("where it fired", fontsize=8)
    cells[2].imshow(overlay(photo, why.counted_map(channel.channel), cmap=COUNTED_CMAP, alpha=0.6))
    cells[2].set_title("where it counted", fontsize=8)
    cells[3].barh([0], [channel.share], color="#ff6d3a" if channel.share >= 0 else "#3a8dff")
    cells[3].set_xlim(-biggest if why.negative else 0, biggest)
    cells[3].set_ylim(-1, 1)
    cells[3].set_title(f"{channel.share:+.1%} of the score", fontsize=8)
    cells[3].set_yticks([])
    cells[3].tick_params(labelsize=6)
    for cell, patch in zip(cells[4:], (examples or {}).get(channel.channel, [])):
        cell.imshow(patch)
    for cell in cells[:3] + cells[4:]:
        cell.set_axis_off()


def _summary(why: Why) -> str:
    what = f"{why.label} (class {why.class_index})"
    if why.contrast_index is not None:
        what = f"why {what}\nrather than {why.contrast_label} (class {why.contrast_index})"
    total = f"logit {why.logit:+.3f}" + (
        f" = channels {np.sum(why.contributions):+.3f} + bias {why.bias:+.3f}" if why.bias is not None else ""
    )
    return f"{what}\nlayer {why.layer}\n{total}"
