"""Loaded models, cached by kind: a registry model once per name, a user's file once per content.

``st.cache_resource`` keys a loaded model on short strings (the name; a file's digest and the
settings), never on a file's bytes. A user's file is read once (``ModelFile``) and each set of
settings configures a view on it; the files kept fit the ``user_models_mb`` budget of the server's
limits, the least recently used dropped first. Every other cache takes the model itself
(``ui.cache_keys``).
"""
from __future__ import annotations

import threading
from pathlib import Path

import streamlit as st

import vizcore
from ui import runs
from ui.cache_keys import HASH_FUNCS
from vizcore import timeline

CONFIGURED_PER_FILE = 4                # settings of one model file kept configured at once (each its own views)


@st.cache_resource(show_spinner="Loading the model (the first start converts its weights)…", max_entries=4)
def cached_model(name: str):
    """One registry model per name per process, shared by every session (never mutated)."""
    with timeline.span("loading the model", model=name):
        return vizcore.load_model(name)


class ModelFile:
    """A user's model file read once: its Keras model, and the VizModels configured on it (its settings)."""

    def __init__(self, model):
        from vizcore import user_models
        self.model, self.bytes = model, user_models.memory_estimate(model)
        self.configured: dict[tuple, object] = {}
        self.lock = threading.Lock()


@st.cache_resource(show_spinner=False)
def users_models():
    """Every user's model file this process holds, within the ``user_models_mb`` budget of the server's
    limits (least recently used dropped first): a class where each student brings a model keeps what it
    can and reloads the rest, never more."""
    from vizcore.budget import MemoryBudget
    return MemoryBudget(runs.limits().user_models_mb * 2**20)


def cached_model_file(path: str, identity: str) -> ModelFile:
    """The Keras model in a user's file, read with safe_mode=True once per content (``identity``) while kept."""
    from vizcore import user_models

    def read() -> ModelFile:
        with st.spinner("Loading your model (once per file)…"), timeline.span("loading a user's model", file=path):
            return ModelFile(user_models.read_model_file(Path(path)))

    return users_models().get(identity, read, lambda kept: kept.bytes)


def cached_user_model(path: str, identity: str, companions: str, name: str, scaling: str | None,
                      head: str | None, output: int | None, labels_path: str | None):
    """A user's model with these settings, on the file read once (a new setting never reads the file again)."""
    from vizcore import user_models
    kept = cached_model_file(path, identity)
    settings = (companions, name, scaling, head, output, labels_path)
    with kept.lock:
        vm = kept.configured.get(settings)
        if vm is None:
            vm = user_models.configure(kept.model, path, scaling=scaling, labels_path=labels_path, head=head,
                                       output=output, name=name)
            while len(kept.configured) >= CONFIGURED_PER_FILE:
                kept.configured.pop(next(iter(kept.configured)))
            kept.configured[settings] = vm
        return vm


@st.cache_data(max_entries=8, show_spinner=False, hash_funcs=HASH_FUNCS)
def cached_spatial_layers(vm) -> list[str]:
    """The layers a heatmap can be made on (``vizcore.cam.spatial_layers``), once per model."""
    from vizcore import cam
    return cam.spatial_layers(vm)
