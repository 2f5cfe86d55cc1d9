"""The frame every page runs in: the list of pages, the frame around a page, and a page's header.

``app.py`` lists the pages (``PAGES``) with ``st.navigation``, draws the sidebar's model picker
(``ui.sidebar``) and runs the chosen page inside ``app_frame``. Each page starts with
``page(title, caption)``, which returns the model picked, or stops the page with the reason there is
none.
"""
from __future__ import annotations

import contextlib

import streamlit as st

from ui import keras_state, runs
from vizcore import timeline

APP = "app.py"                         # the main script: the frame and the Home page
PAGES = [  # (file, title, icon) of the pages after Home, in the top navigation's order
    ("pages/filters.py", "Filters", ":material/grid_view:"),
    ("pages/heatmaps.py", "Heatmaps", ":material/local_fire_department:"),
    ("pages/why.py", "Why this class?", ":material/psychology_alt:"),
    ("pages/dream.py", "Dream", ":material/cloud:"),
    ("pages/audit.py", "Audit", ":material/fact_check:"),
]
FRAME_DRAWN = "_app_frame_drawn"       # session_state: app.py drew the frame in this rerun


@contextlib.contextmanager
def app_frame(page_name: str = ""):
    """Around ``navigation.run()`` in app.py: the page drawn inside knows that the frame is drawn,
    and its script is short work (predictions, maps, metrics: long runs pause for it) until it
    queues a long run of its own. With VIZCORE_TIMELINE set, the script's events are noted."""
    from vizcore import scheduler
    st.session_state[FRAME_DRAWN] = True
    try:
        with timeline.session(runs.session_owner()[:6]), timeline.span("script", page=page_name or "home"):
            with scheduler.short_work():
                yield
    finally:
        st.session_state.pop(FRAME_DRAWN, None)
        keras_state.keep()  # before Streamlit's clean-up at the end of this run


def page(title: str, caption: str, *, feature_maps: bool = True):
    """Every page's header: its title and caption, then the model picked in the sidebar.

    Returns the model (a ``VizModel``). Stops the page (``st.stop``) after saying why when there
    is none, or, if the page looks at ``feature_maps``, when the model has no layer with them.
    """
    if not st.session_state.get(FRAME_DRAWN):
        _rerun_through_app()
    st.title(title)
    st.caption(caption)
    vm = current_model()
    if vm is None or (feature_maps and not spatial_model(vm)):
        st.stop()
    return vm


def _rerun_through_app() -> None:
    """Draw this page again, through app.py, which draws the frame first.

    A page URL opened first on a fresh server (and every AppTest rerun) executes the page's file
    on its own, in Streamlit's legacy pages/ mode. ``st.navigation`` ends that mode (the pages/
    folder is then ignored, as its documentation says), so the rerun starts at app.py, on this
    page. The pages are listed as that mode lists them (app.py the default), so that this one is
    found by its URL.
    """
    st.navigation([st.Page(APP, default=True)] + [st.Page(path) for path, _, _ in PAGES], position="hidden")
    keras_state.keep()
    st.rerun()


def current_model():
    """The model picked in the sidebar, or None after showing why there is none."""
    error = st.session_state.get("model_error")
    if error:
        st.error(error)
        return None
    vm = st.session_state.get("model")
    if vm is None:
        st.info("Upload a .keras or .h5 model in the sidebar to begin.")
    return vm


def spatial_model(vm) -> bool:
    """True if ``vm`` has layers with feature maps; else show why the page has nothing to do."""
    from vizcore.models import no_spatial_layer_message
    if vm.conv_layers():
        return True
    st.error(no_spatial_layer_message(vm))
    return False
