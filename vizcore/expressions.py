"""Objectives written as text: ``"block4a_expand_conv:12 + 0.5*class:espresso"`` → an Objective.

An expression is a sum of weighted terms (the CLI's ``visualize`` command reads one)::

    expression := [sign] term (sign term)*
    sign       := "+" or "-", at the start or after a space (several signs multiply: "a + -b" is "a - b")
    term       := [weight "*"] target        weight: a number such as 2, 0.5, -1.5, 1e-2
    target     := LAYER ":" CHANNEL          a channel's mean (border as filters use it)
                | "neuron:" LAYER ":" CHANNEL    the channel's centre neuron
                | "class:" INDEX | "class:" LABEL    a class's pre-softmax score

Rules a reader needs:

* ``+`` and ``-`` separate terms only at the start or after white space, so layer names and labels
  may contain them (``conv-1:3``, ``class:go-kart``); ``a:1+b:2`` is one (unknown) layer: write
  ``a:1 + b:2``.
* A channel term splits at its last ``:``; LAYER is a name or path as ``vizcore layers`` lists it
  (``/`` for nested models), or a unique inner name. ``class`` and ``neuron`` are keywords (any case).
* A LABEL matches the model's class names ignoring case: an exact name first, else the one name
  that holds all its words (``class:coffee`` is "coffee mug"); two or more, or none, is an error
  that names the candidates or the closest names.

Every error is a :class:`RequestError` (a :class:`ModelError` for a class of a model without a
head) that quotes the bad part and says what is expected.
"""

from __future__ import annotations

import difflib
import functools
import operator
import re
from typing import NamedTuple

from . import objectives
from .checks import is_real
from .errors import RequestError, VizcoreError
from .filters import channel_border
from .models import VizModel

OPERATOR = re.compile(r"(?:^|(?<=\s))([+-])")  # a sign that starts a term: at the start or after a space
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
INDEX = re.compile(r"[+-]?\d+")
GLUED = re.compile(r"(?<=[^\s:])[+-]\s*(?:\d|\.\d|class:|neuron:|[^\s:]+:\s*\d)", re.IGNORECASE)  # "a:1+b:2"
EXAMPLE = "block4a_expand_conv:12 + 0.5*class:espresso"
TARGETS = "LAYER:CHANNEL, neuron:LAYER:CHANNEL or class:INDEX|LABEL"
SHOWN_CANDIDATES = 5


class Target(NamedTuple):
    """What one term climbs, as written: kind "channel", "neuron" or "class", its layer, which one."""

    kind: str
    layer: str  # "" for a class
    which: str  # a channel index, a class index or a class label (text)
    text: str  # the target as the user wrote it


# --- text → weighted targets (pure) ------------------------------------------------------------------


def parse(vm: VizModel, text: str, mode: str = "classic") -> objectives.Objective:
    """The objective of an expression, checked against the model (layers by their full path).

    Raises:
        RequestError: bad syntax, an unknown layer, a channel out of range, an unknown or ambiguous
            class (ModelError: a class term for a model without a classifier head).
    """
    weighted = [(weight, read_target(term)) for weight, term in weighted_terms(text)]
    parts = [weight * target_objective(vm, target, mode) for weight, target in weighted]
    return functools.reduce(operator.add, parts).checked(vm)


def weighted_terms(text: str) -> list[tuple[float, str]]:
    """``"a:1 - 0.5*b:2"`` → [(1.0, "a:1"), (-0.5, "b:2")]: each term's signed weight and its target."""
    if not isinstance(text, str) or not text.strip():
        raise RequestError(f"The expression is empty: write terms like {EXAMPLE}.")
    terms, sign, last_sign = [], 1.0, ""
    first, *rest = OPERATOR.split(text.strip())
    if first.strip():
        terms.append(_weighted(1.0, first.strip()))
    for symbol, term in zip(rest[::2], rest[1::2]):
        sign, last_sign = (sign if symbol == "+" else -sign), symbol
        if term.strip():
            terms.append(_weighted(sign, term.strip()))
            sign, last_sign = 1.0, ""
    if last_sign:
        raise RequestError(
            f"A term is missing after the last {last_sign!r} in {text.strip()!r}: write a term like {EXAMPLE}."
        )
    return terms


def _weighted(sign: float, term: str) -> tuple[float, str]:
    """A term's signed weight and its target text: ``"0.5 * a:1"`` → (0.5, "a:1")."""
    if "*" not in term:
        return sign, term
    weight, _, target = (part.strip() for part in term.partition("*"))
    if not weight:
        raise RequestError(f"No weight before '*' in {term!r}: write WEIGHT*TERM, e.g. 0.5*{_sample(target)}.")
    if not NUMBER.fullmatch(weight) and NUMBER.fullmatch(target):
        raise RequestError(f"Put the weight first in {term!r}: write WEIGHT*TERM, e.g. {target}*{weight}.")
    if not NUMBER.fullmatch(weight):
        raise RequestError(
            f"The weight {weight!r} in {term!r} is not a number: write WEIGHT*TERM, e.g. 0.5*{_sample(target)}."
        )
    if not target:
        raise RequestError(
            f"Nothing follows {weight + '*'!r}: write WEIGHT*TERM, e.g. {weight}*block4a_expand_conv:12."
        )
    if "*" in target:
        raise RequestError(f"{term!r} has more than one '*': give each term one weight, e.g. 0.5*{_sample(target)}.")
    return sign * float(weight), target


def _sample(target: str) -> str:
    return target if target and "*" not in target else "block4a_expand_conv:12"


def read_target(text: str) -> Target:
    """``"neuron:conv_1:3"`` → Target("neuron", "conv_1", "3", …); RequestError if it is none of the forms."""
    keyword, colon, rest = text.partition(":")
    if colon and keyword.strip().lower() == "class":
        if not rest.strip():
            raise RequestError(f"{text!r} names no class: write class:INDEX or class:LABEL, e.g. class:espresso.")
        return Target("class", "", " ".join(rest.split()), text)
    if colon and keyword.strip().lower() == "neuron":
        if ":" not in rest:
            raise RequestError(
                f"{text!r} needs a layer and a channel: write neuron:LAYER:CHANNEL, e.g. neuron:conv_1:3."
            )
        return _layer_target("neuron", rest, text)
    return _layer_target("channel", text, text)


def _layer_target(kind: str, layer_and_channel: str, text: str) -> Target:
    layer, colon, channel = (part.strip() for part in layer_and_channel.rpartition(":"))
    form = "neuron:LAYER:CHANNEL" if kind == "neuron" else "LAYER:CHANNEL"
    if not colon:
        raise RequestError(f"{text!r} has no ':CHANNEL': write {TARGETS}, e.g. {text.strip()}:12.")
    if not layer:
        raise RequestError(f"{text!r} names no layer before ':': write {form}, e.g. block4a_expand_conv:12.")
    if not channel:
        raise RequestError(f"{text!r} has no channel after ':': write {form}, e.g. {layer}:12.")
    if not INDEX.fullmatch(channel):
        raise RequestError(f"The channel {channel!r} in {text!r} is not a whole number: write {form}, e.g. {layer}:12.")
    return Target(kind, layer, channel, text)


# --- weighted targets → objectives (against the model) -------------------------------------------


def target_objective(vm: VizModel, target: Target, mode: str = "classic") -> objectives.Objective:
    """One target's objective (weight 1), checked against the model; errors say which term failed."""
    try:
        if target.kind == "class":
            return objectives.class_logit(class_index(vm, target.which)).checked(vm)
        index = int(target.which)
        if target.kind == "neuron":
            return objectives.neuron(target.layer, index).checked(vm)
        return objectives.channel(target.layer, index, border=channel_border(mode)).checked(vm)
    except VizcoreError as error:
        hint = " (Between terms, put a space before + and -: a:1 + b:2.)" if GLUED.search(target.text) else ""
        raise type(error)(f"In {target.text!r}: {error}{hint}") from None


def class_index(vm: VizModel, which: str) -> int:
    """A class by index (``"963"``) or by label (``"espresso"``, case ignored; see the module docstring)."""
    head = vm.require_head()
    if INDEX.fullmatch(which):
        return int(which)  # its range is checked with the objective
    labels = [label.lower() for label in vm.labels[: head.classes]]
    if not labels:
        raise RequestError(f"{vm.name} has no class names: write class:INDEX (0–{head.classes - 1}).")
    wanted, words = which.lower(), _words(which.lower())
    exact = [index for index, label in enumerate(labels) if label == wanted]
    holding = exact or [index for index, label in enumerate(labels) if words and words <= _words(label)]
    if len(holding) == 1:
        return holding[0]
    if holding:
        raise RequestError(
            f"The class {which!r} could be {_listed(vm, holding)}: write class:INDEX, e.g. class:{holding[0]}."
        )
    close = difflib.get_close_matches(wanted, labels, n=SHOWN_CANDIDATES, cutoff=0.6)
    nearest = [index for name in dict.fromkeys(close) for index, label in enumerate(labels) if label == name]
    suggestion = f" Closest: {_listed(vm, nearest)}." if nearest else ""
    raise RequestError(
        f"{vm.name} has no class {which!r}.{suggestion} Write class:INDEX (0–{head.classes - 1}) or class:LABEL."
    )


def _words(text: str) -> set[str]:
    return set(re.findall(r"[^\W_]+(?:'[^\W_]+)*", text))


def _listed(vm: VizModel, indices: list[int]) -> str:
    """``'crane' (134) or 'crane' (517)``; five at most, then how many more."""
    named = [f"{vm.labels[index]!r} ({index})" for index in indices[:SHOWN_CANDIDATES]]
    if len(indices) > SHOWN_CANDIDATES:
        named.append(f"{len(indices) - SHOWN_CANDIDATES} more")
    return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " or " + named[-1]


# --- composing ---------------------------------------------------------------------------------------


def first_layer(objective: objectives.Objective) -> str:
    """The layer of the objective's first term that reads a layer (RequestError if none does)."""
    for term in objective.terms:
        if term.layer is not objectives.INPUT and term.layer != objectives.SCORES:
            return term.layer
    raise RequestError(
        f"Diversity compares the images on a layer, and {objective!r} reads none: add a term like LAYER:CHANNEL."
    )


def with_diversity(objective: objectives.Objective, weight: float) -> objectives.Objective:
    """``objective + weight · diversity(layer)`` on the layer of its first layer term (Lucid's diversity)."""
    if not is_real(weight) or weight < 0:
        raise RequestError(f"The diversity weight must be zero or a positive number, got {weight!r}")
    return objective + weight * objectives.diversity(first_layer(objective))
