"""Shareable links: a page's main choices live in the URL's query, so a copied link reopens the same view.

The only module that touches ``st.query_params``.

**When a link counts.** The query the session opened with is the *link*. It is set aside at the
first call here (``opening_link``); each key of it is read at most once, and what is left of it is
dropped once a page has shared its choices. So a link's values are applied once, when the page
opens from it; after that the widgets rule and the URL follows them, and a later visit to a page
never replays an old link.

**A page, in order:**

1. before drawing a linked widget, ``linked(key, widget, read, default)``: if the link has ``key``,
   ``read`` turns its text into a value and the widget's state is set to it, so the widget shows
   it. A value ``read`` refuses is noted in plain words (``class `99999` is not a class index from
   0 to 999; showing military uniform · 652 instead``) and the widget keeps its own default.
   ``from_link(key, read, default)`` is the same without a widget, for a value spread over several
   widgets (a layer mix, the photo picker's two).
2. every run, ``share({"class": index}, layer=..., method=...)``: this page's current choices
   become the query (None: left out; a list: the key repeated, ``?layers=a&layers=b``); every
   other key goes, but those shared across pages (``share_across_pages(model=...)``, which the
   sidebar's model picker calls). A key that is a Python word, like ``class``, goes in the dict.
3. ``show_problems(place)``: the problems noted, in one ``st.warning``, once. ``place`` is a
   container made under the page's title, so the message stands at the top whatever comes first.

**Readers** take the URL's text and return the value, or raise ``ValueError`` whose message says
what is wrong ("is not a whole number from 1 to 100"): ``one_of(choices)``, ``whole_number(low,
high)``, ``number(low, high)``, or any such function (with ``many=True`` it gets the key's list).

**Keys.** Every page: ``model`` (a registry model's name, or a models-folder file's name; an
uploaded model is left out). Heatmaps: ``photo`` (a sample, e.g. ``grace_hopper``, or an upload
kept on the server, ``upload-`` and its digest's first digits: ``ui.photos``), ``class`` (index),
``method``, ``layer`` (left out: the automatic layer). Dream:
``photo`` (a sample, an upload or ``noise``), ``layers`` (repeated, ``name`` or ``name~weight``), ``steps``,
``lr``, ``octaves``, ``seed``.

**Wiring another page** (Filters, with keys layer, show, filters, mode, steps, lr, size, seed,
class): read the keys before their widgets, in the order the widgets are drawn, since a widget's
key may depend on an earlier one (``filters_steps_{mode}``)::

    links.linked("layer", f"filters_layer_{vm.name}", links.one_of(names, what="a layer of this model"),
                 default_layer(layers))
    mode = links.linked("mode", "filters_mode", links.one_of(filters.MODES), filters.MODES[0])
    links.linked("steps", f"filters_steps_{mode}", links.whole_number(1, filters.MAX_STEPS), defaults.steps)
    links.linked("lr", f"filters_lr_{mode}", links.number(0.0, 1000.0), defaults.lr)
    ...
    links.share(layer=controls.layer, mode=controls.mode, steps=controls.steps, lr=controls.lr, ...)
    links.show_problems(problems)
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import streamlit as st

OPENING = "_link_opening"      # session_state: what is left of the link the session opened with
PROBLEMS = "_link_problems"    # session_state: the link's values that could not be used, not yet shown
ACROSS_PAGES = ("model",)      # keys every page keeps in its link (the sidebar's, see share_across_pages)
LISTED = 8                     # a message lists the choices by name up to this many
QUOTED = 60                    # characters of a link's value quoted in a message at most
NOISE = "noise"                # the photo key's word for a noise start
PHOTO_SOURCES = ("Sample photo", "Upload", "Noise")  # ui.photos.image_picker's radio choices, in its order

Reader = Callable[[Any], Any]


# --- reading a link ------------------------------------------------------------------------------

def opening_link() -> dict[str, list[str]]:
    """What is left of the query the session opened with ({key: its values}), set aside at the first call."""
    if OPENING not in st.session_state:
        st.session_state[OPENING] = {key: st.query_params.get_all(key) for key in st.query_params}
    return st.session_state[OPENING]


def from_link(key: str, read: Reader, default: Any, *, title: Callable[[Any], str] = str, many: bool = False) -> Any:
    """The link's value for ``key`` the first time it is asked for, else None.

    Args:
        read: text → value (``many``: the key's list of texts → value), raising ValueError with
            what is wrong; then the problem is noted and None returned.
        default: what the page shows instead, named in the problem by ``title(default)``.
    """
    texts = opening_link().pop(key, None)
    if texts is None:
        return None
    given = texts if many else texts[-1]
    try:
        return read(given)
    except ValueError as reason:
        shown = ", ".join(given) if many else given
        note(f"{key} {quoted(shown)} {reason}; showing {title(default)} instead.")
        return None


def linked(key: str, widget: str, read: Reader, default: Any, *, title: Callable[[Any], str] = str,
           many: bool = False) -> Any:
    """``from_link``, put into the state of the widget keyed ``widget`` (drawn after this call), so
    that the widget shows it. Returns the value the widget starts at (``default`` if it has none yet)."""
    value = from_link(key, read, default, title=title, many=many)
    if value is not None:
        st.session_state[widget] = value
    return st.session_state.get(widget, default)


def note(problem: str) -> None:
    """Keep a problem with the link, for ``show_problems``."""
    st.session_state.setdefault(PROBLEMS, []).append(problem)


def quoted(text: str) -> str:
    """A link's text in a message: as code (never read as Markdown), cut short if long."""
    text = text if len(text) <= QUOTED else text[:QUOTED - 1] + "…"
    return "`" + text.replace("`", "'") + "`"


def show_problems(place=st) -> None:
    """The link's values that could not be used, in one warning, once (``place``: a container, or st)."""
    problems = st.session_state.pop(PROBLEMS, [])
    if len(problems) == 1:
        place.warning(f"This link's {problems[0]}", icon=":material/link_off:")
    elif problems:
        place.warning("This link has values this page can't use:\n\n" + "\n".join(f"- {p}" for p in problems),
                      icon=":material/link_off:")


# --- readers ------------------------------------------------------------------------------------

def one_of(choices: Iterable, *, text: Callable[[Any], str] = str, what: str | None = None) -> Reader:
    """A reader of one of ``choices``, written ``text(choice)`` or ``str(choice)`` (a float: any
    spelling of it, 0.020 for 0.02). ``what`` names them in a problem ("a layer of this model");
    else they are listed."""
    choices = list(choices)
    by_text = {str(choice): choice for choice in choices} | {text(choice): choice for choice in choices}

    def read(given: str):
        if given in by_text:
            return by_text[given]
        number = _float(given)
        for choice in choices:
            if isinstance(choice, float) and choice == number:
                return choice
        raise ValueError(f"is not {what or listing([text(choice) for choice in choices])}")
    return read


def whole_number(low: int, high: int) -> Reader:
    """A reader of a whole number from ``low`` to ``high``."""
    def read(given: str) -> int:
        try:
            value = int(given)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise ValueError(f"is not a whole number from {low} to {high}")
        return value
    return read


def number(low: float, high: float) -> Reader:
    """A reader of a number from ``low`` to ``high`` (a float)."""
    def read(given: str) -> float:
        value = _float(given)
        if value is None or not low <= value <= high:
            raise ValueError(f"is not a number from {url_text(low)} to {url_text(high)}")
        return value
    return read


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def listing(names: list[str]) -> str:
    """"one of a, b or c"; a long list by its count and ends."""
    if len(names) > LISTED:
        return f"one of the {len(names)} choices ({names[0]}, {names[1]} … {names[-1]})"
    return "one of " + (", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names))


# --- writing the link ---------------------------------------------------------------------------

def url_text(value: Any) -> str:
    """A value as the URL writes it: a whole float without its ".0" (steps 20, lr 0.02)."""
    text = str(value)
    return text[:-2] if isinstance(value, float) and text.endswith(".0") else text


def url_texts(value: Any) -> list[str]:
    """A value as the key's list of texts: None → none, a list or tuple → one each."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [url_text(item) for item in value]
    return [url_text(value)]


def share(values: Mapping[str, Any] | None = None, /, **more: Any) -> None:
    """This page's current choices become the URL's query (written only when they change): the keys
    given, those shared across pages, no other. The link the session opened with is then spent."""
    opening_link()
    st.session_state[OPENING] = {}
    current = {key: st.query_params.get_all(key) for key in st.query_params}
    wanted = {key: texts for key, texts in current.items() if key in ACROSS_PAGES}
    wanted |= {key: texts for key, value in {**(values or {}), **more}.items() if (texts := url_texts(value))}
    if wanted != current:
        st.query_params.from_dict(wanted)


def share_across_pages(**values: Any) -> None:
    """Choices every page keeps in its link (keys of ACROSS_PAGES: the sidebar's model), written only when
    they change. Called before the page, it leaves the page's keys alone."""
    opening_link()
    for key, value in values.items():
        if key not in ACROSS_PAGES:
            raise ValueError(f"{key} is not one of the keys every page keeps ({', '.join(ACROSS_PAGES)})")
        texts = url_texts(value)
        if texts == st.query_params.get_all(key):
            continue
        if texts:
            st.query_params[key] = texts if len(texts) > 1 else texts[0]
        else:
            del st.query_params[key]


# --- photos (ui.photos) --------------------------------------------------------------------------

def photo_text(name: str) -> str:
    """A sample's name in a link: grace hopper → grace_hopper."""
    return name.replace(" ", "_")
