"""The sidebar's model picker: a registry model, a models-folder file or an upload, loaded once.

``model_picker`` (app.py calls it before every page) puts the model picked into
``st.session_state["model"]``, or the reason there is none into ``["model_error"]``; it keeps the
choice in the link (``?model=…``) and starts the model's warm-up (``ui.warm``).
"""
from __future__ import annotations

import streamlit as st

import vizcore
from ui import links, models, own_model, warm
from vizcore.registry import BUNDLED, DEFAULT_MODEL, MODELS, folder_models, models_dir

UPLOAD_MODEL = "Upload a model file"   # the model picker's last choice
FOLDER = "folder:"                     # prefix of the picker's values for models-folder files
FOLDER_MARK = "(your models folder)"


def _model_title(choice: str) -> str:
    if choice == UPLOAD_MODEL:
        return choice
    if choice.startswith(FOLDER):
        return f"{choice[len(FOLDER):]} {FOLDER_MARK}"
    spec = MODELS[choice]
    return spec.title if spec.status == BUNDLED else f"{spec.title} ({spec.status})"


def model_choices() -> list[str]:
    """Registry names, then ``folder:NAME`` for each file of the models folder, then the upload."""
    return list(MODELS) + [FOLDER + name for name in folder_models()] + [UPLOAD_MODEL]


def model_picker() -> None:
    """Sidebar: choose a model (a link's ``model`` first); load it (with a clear error) into session_state['model']."""
    choices = model_choices()
    links.linked("model", "model_name", model_from_link, DEFAULT_MODEL, title=_model_title)
    with st.sidebar:
        choice = st.selectbox("Model", choices, index=choices.index(DEFAULT_MODEL), key="model_name",
                              format_func=_model_title,
                              help="The EfficientNet-Lites are bundled and work offline; the keras.applications "
                                   "models download their weights once. Your own .keras or .h5 files: put them in "
                                   f"{models_dir()} (big files never pass through the browser) or upload one.")
        links.share_across_pages(model=model_in_link(choice))
        st.session_state["model"], st.session_state["model_error"] = None, None
        try:
            if choice == UPLOAD_MODEL:
                vm = own_model.uploaded_model_sidebar()
            elif choice.startswith(FOLDER):
                vm = own_model.folder_model_sidebar(choice[len(FOLDER):])
            else:
                vm = models.cached_model(choice)
        except vizcore.VizcoreError as error:
            st.session_state["model_error"] = str(error)
            return
        except Exception as error:  # a user's file can fail inside Keras in ways no one foresaw
            st.session_state["model_error"] = f"This model could not be opened: {type(error).__name__}: {error}"
            return
        st.session_state["model"] = vm
        if vm is not None:
            warm.warm_model(vm)
            st.caption(model_summary(vm))


def model_from_link(text: str) -> str:
    """The picker's choice for a link's ``model``: a registry name, or a models-folder file's name
    (``folder:NAME`` too); ValueError if it is neither."""
    if text in MODELS:
        return text
    name = text.removeprefix(FOLDER)
    if name in folder_models():
        return FOLDER + name
    raise ValueError(f"is neither a model vizcore knows nor a file in your models folder ({models_dir()})")


def model_in_link(choice: str) -> str | None:
    """A picker's choice as a link's ``model``: its name (``folder:NAME`` only where a registry model has
    that name); None for an upload, which a link cannot carry."""
    if choice == UPLOAD_MODEL:
        return None
    name = choice.removeprefix(FOLDER)
    return choice if name in MODELS else name


def model_summary(vm) -> str:
    """One line: name, input, colour, output kind and classes."""
    from vizcore.heads import KIND_TITLES
    size = f"{vm.input_size[0]}×{vm.input_size[1]}" if vm.fixed_size else f"any size (shown at {vm.input_size[0]} px)"
    parts = [vm.name, f"input {size}" + (" grey" if vm.channels == 1 else "")]
    if vm.head is not None:
        parts.append(KIND_TITLES[vm.head.kind])
        noun = "output" if vm.head.kind == "regression" else "class"
        parts.append(f"{vm.classes} {noun}{'' if vm.classes == 1 else ('es' if noun == 'class' else 's')}")
    return " · ".join(parts)
