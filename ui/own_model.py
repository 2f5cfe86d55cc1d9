"""A user's own model in the sidebar: a models-folder file or an upload, and its settings pickers.

The first load takes the remembered (or suggested) settings, and the pickers (input scaling,
output kind, output) start there; a folder model's choices are saved beside its file. A setting
the model cannot take leaves the pickers drawn, to change it back.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

import vizcore
from ui import models, uploads
from vizcore.registry import MODEL_SUFFIXES, SCALING_WORDS, USER_SCALINGS, folder_models, models_dir

AUTOMATIC = "automatic"                # the output-kind picker's "detect it" choice
LABELS_MB = 1                          # the class-names uploader's cap, in MB


def folder_model_sidebar(name: str):
    """A models-folder file: its settings, remembered beside it when changed."""
    from vizcore.user_models import LABELS_SUFFIX, SETTINGS_SUFFIX
    path = folder_models().get(name)
    if path is None:
        raise vizcore.ModelError(f"{name} is no longer in your models folder ({models_dir()}).")
    pickers = st.container()  # drawn above the class-names upload, filled once the model is loaded
    labels = _labels_upload()
    companions = "|".join(uploads.file_identity(path.with_name(path.stem + suffix))
                          for suffix in (LABELS_SUFFIX, SETTINGS_SUFFIX))
    with pickers:
        return _user_model_settings(str(path), uploads.file_identity(path), companions, name, labels, remember_at=path)


def uploaded_model_sidebar():
    upload = st.file_uploader("Model file (.keras or .h5)", type=[suffix.lstrip(".") for suffix in MODEL_SUFFIXES],
                              key="model_upload",
                              help="Loaded with Keras' safe mode: a model with Python Lambda code is refused. "
                                   "Big files load faster from your models folder: " + str(models_dir()))
    pickers = st.container()
    labels = _labels_upload()
    if upload is None:
        pickers.info("Upload a .keras or .h5 model file.")
        return None
    suffix = Path(upload.name).suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise vizcore.ModelError(f"{upload.name}: vizcore opens Keras models saved as .keras (or legacy .h5).")
    with pickers:
        with st.spinner("Reading your model file…"):
            path, digest = uploads.stored_upload(upload, suffix)
        return _user_model_settings(str(path), digest, "", Path(upload.name).stem, labels)


def _labels_upload() -> str | None:
    """The optional class-names file, stored like a model upload; its path or None."""
    labels = st.file_uploader("Class names (.txt, one per line, optional)", type=["txt"], key="labels_upload",
                              max_upload_size=LABELS_MB,
                              help="Binary: the positive class alone, or the negative then the positive one.")
    if labels is None:
        return None
    return str(uploads.stored_upload(labels, ".labels.txt")[0])


def _user_model_settings(path: str, identity: str, companions: str, name: str, labels_path: str | None,
                         remember_at: Path | None = None):
    """Load a user's model with the settings picked so far, then draw the pickers for them.

    The first load takes the remembered (or suggested) settings and the pickers start there; a
    picker left at that first choice keeps asking for it as None, so the model is not loaded twice.

    Args:
        identity: the file's content (digest, or path, size and time); companions: its labels and
            settings files' (a change reloads it); remember_at: a folder model's file, to save choices beside.
    """
    prefix = "model_" + hashlib.sha1(identity.encode()).hexdigest()[:12]
    keys = {field: f"{prefix}_{field}" for field in ("scaling", "head", "output")}
    first = st.session_state.get(f"{prefix}_first")  # what the first load picked, and the outputs' names
    chosen = {field: st.session_state.get(key) for field, key in keys.items()}
    if first:
        chosen = {field: None if value == first[field] else value for field, value in chosen.items()}
    vm, error = None, None
    try:
        head = None if chosen["head"] == AUTOMATIC else chosen["head"]
        vm = models.cached_user_model(path, identity, companions, name, chosen["scaling"], head, chosen["output"],
                                      labels_path)
    except vizcore.VizcoreError as problem:
        error = str(problem)
    except Exception as problem:  # a user's file can fail inside Keras in ways no one foresaw
        error = f"{name} could not be opened: {type(problem).__name__}: {problem}"
    if first is None:
        if vm is None:
            raise vizcore.ModelError(error)
        first = st.session_state[f"{prefix}_first"] = _first_settings(vm)
    _settings_pickers(vm, first, keys, remember_at)
    if vm is None:  # a setting the model cannot take: the pickers stay, to change it back
        raise vizcore.ModelError(error)
    return vm


def _first_settings(vm) -> dict:
    return {"scaling": {internal: word for word, internal in USER_SCALINGS.items()}[vm.scaling],
            "head": vm.head_kind or AUTOMATIC, "output": vm.output_index, "outputs": vm.output_titles()}


def _settings_pickers(vm, first: dict, keys: dict, remember_at: Path | None) -> None:
    """Scaling, output kind and (several outputs) output pickers, starting at the first load's choices."""
    from vizcore import heads
    remember = dict(on_change=_remember, args=(remember_at, keys)) if remember_at else {}
    words = list(USER_SCALINGS)
    st.selectbox("Input scaling", words, index=words.index(first["scaling"]), key=keys["scaling"],
                 format_func=SCALING_WORDS.get, **remember,
                 help="How the model expects its pixels, as in its training: 0…1, −1…1, caffe (BGR minus the "
                      "ImageNet mean), torch (0…1, ImageNet mean and std) or raw 0–255.")
    if vm is not None and vm.scaling_note:
        st.caption(vm.scaling_note)
    detected = vm.detected_kind if vm is not None else None
    kinds = [AUTOMATIC, *heads.KINDS]
    st.selectbox("Output kind", kinds, index=kinds.index(first["head"]), key=keys["head"], **remember,
                 format_func=lambda kind: heads.KIND_TITLES.get(kind) or (
                     f"automatic ({detected})" if detected else "automatic"),
                 help="What the output means. Automatic reads it off the last layer's activation and width: "
                      + "; ".join(heads.KIND_TITLES.values()) + ".")
    if len(first["outputs"]) > 1:
        st.selectbox("Output", range(len(first["outputs"])), index=first["output"], key=keys["output"], **remember,
                     format_func=first["outputs"].__getitem__,
                     help="This model has several outputs: pick the one to predict and explain.")


def _remember(path: Path, keys: dict) -> None:
    """Save a folder model's settings beside it, so it opens the same way next time."""
    from vizcore import user_models
    output = st.session_state.get(keys["output"])
    head = st.session_state.get(keys["head"])
    if head == AUTOMATIC:
        head = ""  # forget a kind forced before
    user_models.remember(path, scaling=st.session_state.get(keys["scaling"]), head=head, output=output)
