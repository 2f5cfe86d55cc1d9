"""A head start: compiled steps traced in the background while the user sets up.

``warm_model`` (once per loaded model) makes a first prediction and traces a map's passes;
``warm_up`` (once per layer and mode) traces a layer's filter steps. A page joins the thread
before it runs the same step itself, so a step is never traced in two threads at once.
"""
from __future__ import annotations

import threading
import weakref

import numpy as np
import streamlit as st

from ui.cache_keys import HASH_FUNCS
from vizcore import timeline


@st.cache_resource(show_spinner=False, max_entries=64, hash_funcs=HASH_FUNCS)
def warm_up(vm, layer: str, mode: str) -> threading.Thread:
    """Trace a layer's compiled filter steps in the background, once per process, while the user sets up."""
    thread = threading.Thread(target=_prepare_quietly, args=(vm, layer, mode), daemon=False,  # joined at exit
                              name=f"vizcore-prepare-{layer}-{mode}")
    thread.start()
    return thread


_WARMED: weakref.WeakSet = weakref.WeakSet()  # models whose warm-up has started in this process
_WARMING = threading.Lock()


def warm_model(vm) -> threading.Thread | None:
    """Once per loaded model and process, in the background: a first prediction and the compiled passes
    of a map on the default layer and of its trust scores (``vizcore.cam.prepare``), as short work (long
    runs give way to it). A page opened on the model, the first of a class or one opened while long
    runs go on, then waits on none of them. Returns the thread, or None if the model was warmed already."""
    with _WARMING:
        if vm in _WARMED:
            return None
        _WARMED.add(vm)
    thread = threading.Thread(target=_warm_quietly, args=(vm,), daemon=False, name=f"vizcore-warm-{vm.name}")
    thread.start()
    return thread


def _warm_quietly(vm) -> None:
    from vizcore import cam, scheduler
    try:
        with scheduler.short_work(), timeline.span("warming the model up", model=vm.name):
            if vm.is_classifier:
                vm.predict(np.zeros((*vm.input_size, 3), np.uint8), top=1)
                if cam.spatial_layers(vm):
                    cam.prepare(vm)
    except Exception:  # only a head start: the page itself reports any problem
        pass


def _prepare_quietly(vm, layer: str, mode: str) -> None:
    from vizcore import filters
    try:
        filters.prepare(vm, layer, mode)
    except Exception:  # only a head start: the run itself reports any problem
        pass
