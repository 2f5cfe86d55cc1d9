"""Views on a Keras model's graph, through nested sub-models at any depth.

A user's model is often a keras.applications base nested in a Sequential or Functional wrapper.
The inner layers' tensors belong to the base's own graph, so ``keras.Model(outer.input,
inner_layer.output)`` fails with "graph disconnected". Here the model is *re-traced*: its layers
(the same layer objects, so the weights are shared, never copied) are called again on a new
input, nested Functional and Sequential models are inlined layer by layer, and the tensors asked
for are picked up on the way. The result is one flat graph; ``keras.Model(input, wanted)`` then
keeps only the part of it that the wanted tensors need, so a view on an early layer runs only the
layers before it, and a view on the output runs every layer once.

A layer is named by its *path*: the names of the nested models that hold it and its own name,
joined by "/" (``mobilenetv2_1.00_160/block_13_expand_relu``). Top-level layers are their name.

This is the one module that uses Keras' graph internals (``Function._run_through_graph``, the
loop that ``keras.models.clone_model`` also runs, and a symbolic tensor's ``_keras_history``, the
layer that made it); ``tests/test_graph.py`` fails loudly if they change.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import vizcore._quiet  # noqa: F401  (imports TensorFlow quietly, first)

import keras

SEPARATOR = "/"
INPUT, OUTPUT = "input", "output"  # which tensor of a layer a target wants
PASSING_LAYERS = (keras.layers.Dropout,)  # layers that pass values through at inference


class Target(NamedTuple):
    """A tensor of the graph: the output (or the first input) of the layer at ``path``."""

    path: str
    where: str = OUTPUT


def is_container(layer) -> bool:
    """A nested model whose layers can be listed and inlined (Functional or Sequential)."""
    return isinstance(layer, keras.Sequential) or (
        isinstance(layer, keras.Model) and hasattr(layer, "_run_through_graph") and has_graph(layer)
    )


def has_graph(model) -> bool:
    """True for a model built from layers on symbolic inputs (Functional, built Sequential), not a subclassed one."""
    try:
        return bool(model.inputs) and bool(model.outputs)
    except (AttributeError, ValueError):
        return False


def walk(model, prefix: str = "") -> Iterator[tuple[str, object]]:
    """(path, layer) for every layer, nested models opened (not listed themselves), input to output."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        path = prefix + layer.name
        if is_container(layer):
            yield from walk(layer, path + SEPARATOR)
        else:
            yield path, layer


def find(model, path: str):
    """The layer at ``path`` (nested names joined by "/"), or None."""
    head, _, rest = path.partition(SEPARATOR)
    try:
        layer = model.get_layer(head)
    except ValueError:
        return None
    if not rest:
        return layer
    return find(layer, rest) if is_container(layer) else None


def output_shape(layer) -> tuple | None:
    """The shape of a layer's (first) output when the model was built, or None if it has none."""
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError, TypeError):
        return None


def trace(
    model, inputs, targets: Sequence[Target], size_bound: set | None = None
) -> tuple[object, dict[Target, object]]:
    """Call ``model``'s layers on ``inputs`` (KerasTensors), nested models inlined.

    ``size_bound`` (if given) collects the ids of tensors that depend on a tensor of unknown feature
    size (Flatten of an any-size map): they only run at the model's own input size.

    Returns:
        The model's outputs on ``inputs`` and {target: tensor} for the targets found.
    """
    found: dict[Target, object] = {}
    outputs = _trace(model, inputs, frozenset(targets), found, "", set() if size_bound is None else size_bound)
    return outputs, found


def _size_bound(args, outputs, size_bound: set) -> None:
    """Mark ``outputs`` when an input is marked or an output's last axis is unknown (Flatten at any size)."""
    tensors_in = [t for t in keras.tree.flatten(args) if isinstance(t, keras.KerasTensor)]
    tensors_out = [t for t in keras.tree.flatten(outputs) if isinstance(t, keras.KerasTensor)]
    if any(id(t) in size_bound for t in tensors_in) or any(
        len(t.shape) > 1 and t.shape[-1] is None for t in tensors_out
    ):
        size_bound.update(id(t) for t in tensors_out)


def _trace(model, inputs, targets: frozenset, found: dict, prefix: str, size_bound: set):
    def call(layer, *args, **kwargs):
        path = prefix + layer.name
        if is_container(layer):
            outputs = _trace(
                layer, args[0] if args else kwargs.popitem()[1], targets, found, path + SEPARATOR, size_bound
            )
        else:
            outputs = layer(*args, **kwargs)
            _size_bound((args, kwargs), outputs, size_bound)
        for where, tensor in ((INPUT, args[0] if args else None), (OUTPUT, outputs)):
            target = Target(path, where)
            if target in targets and target not in found:  # a shared layer: its first call
                found[target] = tensor
        return outputs

    if isinstance(model, keras.Sequential):
        tensor = inputs
        for layer in model.layers:
            tensor = call(layer, tensor)
        return tensor
    if isinstance(inputs, (list, tuple)) and len(inputs) == 1 and not isinstance(model.input, (list, tuple)):
        inputs = inputs[0]
    return model._run_through_graph(inputs, operation_fn=lambda operation: operation, call_fn=call)


def view(model, targets: Sequence[Target], input_shape: tuple, adapt=None) -> keras.Model:
    """A new ``keras.Model`` from a new input of ``input_shape`` (no batch) to the targets' tensors,
    in the order given; only the layers they need run. ``adapt`` maps the new input to what the
    model takes (a grey model's RGB → grey, say).

    Raises:
        KeyError: a target the graph does not reach from its input (its path names the target).
        ValueError: ``input_shape`` leaves the size free but a target needs the model's own size
            (it comes after a Flatten → Dense); ask again at the model's size.
    """
    inputs = keras.Input(input_shape)
    size_bound: set = set()
    _, found = trace(model, adapt(inputs) if adapt else inputs, targets, size_bound)
    missing = [target for target in targets if target not in found]
    if missing:
        raise KeyError(missing[0].path)
    bound = [target.path for target in targets if id(found[target]) in size_bound]
    if bound:
        raise ValueError(f"{bound[0]} only runs at the model's own input size")
    return keras.Model(inputs, [found[target] for target in targets])


def producer(model, index: int = 0) -> tuple[str, object] | None:
    """(path, layer) of the layer that makes the model's ``index``-th output, looking into nested models."""
    return tensor_producer(model.outputs[index])


def tensor_producer(tensor, prefix: str = "") -> tuple[str, object] | None:
    """(path, layer) of the layer that makes a symbolic tensor, looking into a nested model that makes
    it; ``prefix`` is the path (with its separator) of the model the tensor belongs to."""
    history = getattr(tensor, "_keras_history", None)
    if not history:
        return None
    layer = history[0]
    if is_container(layer):
        inner = producer(layer, history[2] if len(history) > 2 else 0)
        return None if inner is None else (prefix + layer.name + SEPARATOR + inner[0], inner[1])
    return prefix + layer.name, layer


def parent_prefix(path: str) -> str:
    """The nested models' part of a layer's path, with its separator ("" at the top level)."""
    parent = path.rpartition(SEPARATOR)[0]
    return parent + SEPARATOR if parent else ""


def pooled_layer(layer, path: str) -> str | None:
    """The path of the layer that a global average pooling (no ``keepdims``) feeds into ``layer`` at
    ``path``, through layers that pass values at inference (``PASSING_LAYERS``); None otherwise."""
    source = tensor_producer(layer.input, parent_prefix(path))
    while source is not None and isinstance(source[1], PASSING_LAYERS):
        source = tensor_producer(source[1].input, parent_prefix(source[0]))
    if source is None or not isinstance(source[1], keras.layers.GlobalAveragePooling2D) or source[1].keepdims:
        return None
    fed_by = tensor_producer(source[1].input, parent_prefix(source[0]))
    return None if fed_by is None else fed_by[0]


def output_names(model: keras.Model) -> list[str]:
    """A name for each output: the path of the layer that makes it (or ``output i``)."""
    names = []
    for index in range(len(model.outputs)):
        made_by = producer(model, index)
        names.append(made_by[0] if made_by else f"output {index}")
    return names
