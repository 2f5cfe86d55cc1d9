"""UI helpers shared by the pages: the model picker, the image picker, cached loading.

Not a page itself (``app.py`` lists the pages with ``st.navigation``).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

import vizcore
from vizcore.registry import BUNDLED, DEFAULT_MODEL, MODELS

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "samples"
USER_MODEL = "Your own .keras file"


@st.cache_resource(show_spinner="Loading the model (the first start converts its weights)…", max_entries=4)
def cached_model(name: str):
    """One model per name per process, shared by every session (never mutated)."""
    return vizcore.load_model(name)


@st.cache_resource(show_spinner="Loading your model…", max_entries=4)
def cached_user_model(data: bytes, scaling: str, labels: bytes | None):
    """A user's .keras upload, loaded with safe_mode=True; keyed by its bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        path.write_bytes(data)
        labels_path = None
        if labels:
            labels_path = Path(folder) / "labels.txt"
            labels_path.write_bytes(labels)
        return vizcore.load_model(path, scaling=scaling, labels_path=labels_path)


@st.cache_data(max_entries=32, show_spinner=False)
def decode_image(data: bytes):
    return vizcore.load_image(data)


def _model_title(name: str) -> str:
    spec = MODELS[name]
    return spec.title if spec.status == BUNDLED else f"{spec.title} ({spec.status})"


def model_picker() -> None:
    """Sidebar: choose a model; load it (with a clear error) into session_state['model']."""
    names = list(MODELS) + [USER_MODEL]
    with st.sidebar:
        choice = st.selectbox("Model", names, index=names.index(DEFAULT_MODEL), key="model_name",
                              format_func=lambda n: n if n == USER_MODEL else _model_title(n),
                              help="The EfficientNet-Lites are bundled and work offline; "
                                   "the keras.applications models download their weights once.")
        st.session_state["model"], st.session_state["model_error"] = None, None
        try:
            if choice == USER_MODEL:
                st.session_state["model"] = _user_model_sidebar()
            else:
                st.session_state["model"] = cached_model(choice)
        except vizcore.VizcoreError as error:
            st.session_state["model_error"] = str(error)
        vm = st.session_state["model"]
        if vm is not None:
            st.caption(f"{vm.name} · input {vm.input_size[0]}×{vm.input_size[1]} · {len(vm.labels)} classes")


def _user_model_sidebar():
    upload = st.file_uploader("Model file (.keras)", type=["keras"], key="model_upload")
    scaling = st.selectbox("Input scaling", ["0-1", "-1-1", "caffe", "raw"], key="model_scaling",
                           help="How the model expects pixels: 0–1, −1–1, caffe (BGR minus mean) or raw 0–255.")
    labels = st.file_uploader("Class names (.txt, one per line, optional)", type=["txt"], key="labels_upload")
    if upload is None:
        return None
    return cached_user_model(upload.getvalue(), scaling, labels.getvalue() if labels else None)


def _through_app_navigation() -> None:
    """Make sure the model picker ran, even when app.py did not run first.

    Streamlit's legacy multipage mode runs a pages/ file on its own when a fresh server's very
    first request is a page URL (say /filters), before app.py ever called st.navigation (AppTest
    does the same on every run). Then draw the picker here, and switch that mode off, as
    st.navigation itself does, so that later runs go through app.py.
    """
    from streamlit.runtime.pages_manager import PagesManager
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        model_picker()


def current_model():
    """The model picked in the sidebar, or None after showing why there is none."""
    _through_app_navigation()
    error = st.session_state.get("model_error")
    if error:
        st.error(error)
        return None
    vm = st.session_state.get("model")
    if vm is None:
        st.info("Upload a .keras model in the sidebar to begin.")
    return vm


def sample_paths() -> dict[str, Path]:
    return {path.stem.replace("_", " "): path for path in sorted(SAMPLES_DIR.glob("*.jpg"))}


def image_picker(key: str, *, allow_noise: bool = False, default_sample: str = "grace hopper"):
    """Upload a photo or pick a sample; returns RGB uint8, None, or "noise" if chosen.

    Bad uploads show an st.error in plain words and return None.
    """
    samples = sample_paths()
    sources = ["Sample photo", "Upload"] + (["Noise"] if allow_noise else [])
    source = st.radio("Image", sources, horizontal=True, key=f"{key}_source")
    if source == "Noise":
        return "noise"
    if source == "Upload":
        upload = st.file_uploader("Photo", type=None, key=f"{key}_upload",
                                  help="JPEG, PNG, WebP, GIF, BMP, TIFF… up to 40 MB.")
        if upload is None:
            return None
        data = upload.getvalue()
    else:
        names = list(samples)
        name = st.selectbox("Sample", names, index=names.index(default_sample) if default_sample in names else 0,
                            key=f"{key}_sample")
        data = samples[name].read_bytes()
    try:
        return decode_image(data)
    except vizcore.ImageError as error:
        st.error(f"That file can't be used: {error}")
        return None


def predictions_table(vm, image, top: int = 5) -> list[dict]:
    try:
        predictions = vm.predict(image, top=top)
    except vizcore.VizcoreError as error:
        st.error(str(error))
        return []
    return [{"class": p.label, "index": p.index, "probability": round(p.probability, 4)} for p in predictions]
