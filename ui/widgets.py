"""Small widget helpers the pages share: defaults a link can override, state reset on a new photo or
model, and how layers and classes are named in pickers."""
from __future__ import annotations

import streamlit as st


def starting(key: str, default):
    """``key``, with its widget's default put into session state unless a link or the user set a value.
    Widgets a link (or a callback) can set take their defaults only so: Streamlit logs a warning for a
    widget given a default when its value was also set through session state."""
    st.session_state.setdefault(key, default)
    return key


def layer_title(name: str) -> str:
    """A layer path, readable in a narrow picker: its own name first, then the models it sits in."""
    parent, _, leaf = name.rpartition("/")
    return f"{leaf} · in {parent}" if parent else leaf


def short_layer_names(names: list[str]) -> dict[str, str]:
    """{path: its own name if no other layer has it, else the path}: short chips in a multiselect."""
    leaves = [name.rpartition("/")[2] for name in names]
    return {name: leaf if leaves.count(leaf) == 1 else name for name, leaf in zip(names, leaves)}


def reset_on_change(key: str, owner: str, default) -> None:
    """Put widget ``key`` back to ``default`` when ``owner`` (the photo, the model) changes."""
    if st.session_state.get(f"{key}_owner") != owner:
        st.session_state[key], st.session_state[f"{key}_owner"] = default, owner


def class_title(vm, index: int) -> str:
    """A class in a picker: its label and index."""
    return f"{vm.label(index)} · {index}"
