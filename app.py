"""vizcore: the home page and the model picker, shared by every page.

``streamlit run app.py``. This script runs on every page view: it draws the sidebar (model
picker), loads the chosen model once per process (``st.cache_resource``) and hands it to the
page through ``st.session_state["model"]``.
"""
from pathlib import Path

import streamlit as st

from pages import common

PAGES = [  # (file, title, icon); a page appears once its file exists
    ("pages/filters.py", "Filters", ":material/grid_view:"),
    ("pages/heatmaps.py", "Heatmaps", ":material/local_fire_department:"),
    ("pages/dream.py", "Dream", ":material/cloud:"),
]


def home() -> None:
    st.title("vizcore")
    st.markdown("See what a convolutional network learns, entirely on your machine.")
    vm = common.current_model()
    if vm is None:
        return
    layers = vm.conv_layers()
    left, middle, right = st.columns(3)
    left.metric("Model", vm.name)
    middle.metric("Input size", f"{vm.input_size[0]}×{vm.input_size[1]}")
    right.metric("Layers with feature maps", len(layers))
    st.subheader("Try it on a photo")
    image = common.image_picker("home")
    if image is not None:
        photo, bars = st.columns([1, 1])
        photo.image(image, width="stretch")
        with bars:
            st.markdown("**Top predictions**")
            for row in common.predictions_table(vm, image):
                st.progress(row["probability"], text=f"{row['class']} — {row['probability']:.1%}")
    with st.expander("Layers (name, channels, kind)"):
        st.dataframe([info._asdict() for info in layers], hide_index=True, width="stretch")


st.set_page_config(page_title="vizcore", page_icon=":material/visibility:", layout="wide")
pages = [st.Page(home, title="Home", icon=":material/home:", default=True)]
pages += [st.Page(path, title=title, icon=icon) for path, title, icon in PAGES if Path(path).is_file()]
navigation = st.navigation(pages, position="top")
common.model_picker()
navigation.run()
