"""vizcore: the home page, and the frame every page runs in.

``streamlit run app.py``. This script runs on every page view: it draws the frame (the top
navigation and the sidebar's model picker), loads the chosen model once per process
(``st.cache_resource``) and hands it to the page through ``st.session_state["model"]``. The model
picked is kept in the URL (``?model=…``, see ``ui.links``), so a copied link opens the same model.
"""
from pathlib import Path

import streamlit as st

from ui import frame, links, photos, runs, sidebar
from ui.predictions import predictions, predictions_note, show_values

TOP = 5               # classes shown on the home page
MAX_VALUES = 20       # regression outputs listed at most
FAVICON = Path(__file__).parent / "static" / "favicon.png"  # ours: a :material/ favicon is fetched from Google


def home() -> None:
    vm = frame.page("vizcore", "See what a convolutional network learns, entirely on your machine.",
                    feature_maps=False)
    links.share()  # the model alone: this page has no choice a link keeps
    links.show_problems()
    layers = vm.conv_layers()
    left, middle, right = st.columns([2, 1, 1])  # the model's name is the longest
    left.metric("Model", vm.name)
    middle.metric("Input size", f"{vm.input_size[0]}×{vm.input_size[1]}" + (" grey" if vm.channels == 1 else ""),
                  help=None if vm.fixed_size else "The model takes any size; photos are resized to this to predict.")
    right.metric("Layers with feature maps", len(layers))
    if not layers:
        from vizcore.models import no_spatial_layer_message
        st.info(no_spatial_layer_message(vm))
    st.subheader("Try it on a photo")
    image = photos.image_picker("home")
    if image is not None:
        photo, numbers = st.columns([1, 1])
        if vm.channels == 1:
            photo.image(vm.as_seen(image), caption="As the model sees it (grey)", width="stretch")
        else:
            photo.image(image, width="stretch")
        with numbers:
            show_predictions(vm, image)
    with st.expander("Layers (path through nested models, channels, kind, depth)"):
        st.dataframe([info._asdict() for info in layers], hide_index=True, width="stretch",
                     column_config={"name": st.column_config.TextColumn("layer", width="large")})


def show_predictions(vm, image) -> None:
    """Probability bars for a classifier (softmax, logits, binary, multi-label), values for regression."""
    if not vm.is_classifier:
        st.info(f"{vm.name} outputs {vm.output_shape}, not a class vector or values, so there is nothing to predict; "
                "the Filters and Dream pages still work.")
        return
    if vm.head.kind == "regression":
        st.markdown("**Outputs**")
        show_values(predictions(vm, image, top=min(vm.classes, MAX_VALUES)))
    else:
        st.markdown("**Prediction**" if vm.head.kind == "binary" else "**Top predictions**")
        for prediction in predictions(vm, image, top=TOP):
            st.progress(min(max(prediction.probability, 0.0), 1.0),
                        text=f"{prediction.label} — {prediction.probability:.1%}")
    note = predictions_note(vm)
    if note:
        st.caption(note)


st.set_page_config(page_title="vizcore", page_icon=FAVICON, layout="wide")
pages = [st.Page(home, title="Home", icon=":material/home:", default=True)]
pages += [st.Page(path, title=title, icon=icon) for path, title, icon in frame.PAGES]
navigation = st.navigation(pages, position="top")
sidebar.model_picker()
runs.limits_problem()
with frame.app_frame(navigation.url_path):
    navigation.run()
