"""Heatmaps: where the model looked to call a photo by a class (Grad-CAM and friends).

Widgets are read into plain values, ``vizcore.cam`` computes, this page draws. Heatmaps are
cached with ``st.cache_data`` keyed by the photo's hash, the model, class, method, layer and
smoothing, so changing the colormap or the opacity only re-blends the cached map.
"""
from __future__ import annotations

import hashlib
import io
import time

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

import vizcore
from pages import common
from vizcore import cam

TOP = 5                    # predictions in the bar chart
SCORE_CAM_TOP_K = 64       # Faster Score-CAM keeps this many channels unless full Score-CAM is ticked
DEFAULT_ALPHA = 0.4        # heatmap opacity over the photo
HEATMAP_CACHE_ENTRIES = 48   # cached maps (float32 at photo size: ~1 MB for 600 px, 16 MB at most)
AUTO_LAYER = ""            # the layer selectbox's "automatic" choice
DELETION_CHART_HEIGHT = 260  # px
ACCENT = "#ff6d3a"         # bars and labels: readable on the dark and the light theme
METHOD_NOTES = {           # one line under each method's name
    "gradcam": "gradient averaged per channel",
    "gradcam++": "positive gradients, pixel-weighted",
    "scorecam": "probability of the photo masked by each channel",
    "layercam": "positive gradient at every location",
}


@st.cache_data(max_entries=32, show_spinner=False)
def cached_predictions(_vm, _image, model_key: str, image_key: str) -> list[tuple[int, str, float]]:
    return [tuple(p) for p in _vm.predict(_image, top=TOP)]


@st.cache_data(max_entries=HEATMAP_CACHE_ENTRIES, show_spinner=False)
def cached_heatmap(_vm, _image, model_key: str, image_key: str, class_index: int, method: str,
                   layer: str | None, top_k: int | None, augment: bool, eigen_smooth: bool):
    """(CamResult, seconds); the key is everything but the colormap and the opacity."""
    start = time.perf_counter()
    result = cam.heatmap(_vm, _image, class_index=class_index, method=method, layer=layer, top_k=top_k,
                         augment=augment, eigen_smooth=eigen_smooth)
    return result, time.perf_counter() - start


@st.cache_data(max_entries=128, show_spinner=False)
def cached_faithfulness(_vm, _image, _result, model_key: str, image_key: str, class_index: int, method: str,
                        layer: str | None, top_k: int | None, augment: bool, eigen_smooth: bool):
    return cam.faithfulness(_vm, _image, _result)


def image_key(image: np.ndarray) -> str:
    return hashlib.sha1(image.tobytes() + str(image.shape).encode()).hexdigest()


def model_key(vm) -> str:
    """Distinguishes two uploaded .keras files that share a file name."""
    return f"{vm.name}:{id(vm)}"


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def predictions_chart(predictions: list[tuple[int, str, float]]) -> alt.Chart:
    """Horizontal bars, most probable on top, with the probability printed at each bar's end."""
    table = pd.DataFrame([{"class": f"{label} · {index}", "probability": p} for index, label, p in predictions])
    order = list(table["class"])
    base = alt.Chart(table).encode(
        y=alt.Y("class:N", sort=order, title=None, axis=alt.Axis(labelLimit=260)),
        x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title=None))
    bars = base.mark_bar(cornerRadiusEnd=3, color=ACCENT)
    text = base.mark_text(align="left", dx=4, color=ACCENT, fontWeight="bold").encode(text=alt.Text("probability:Q", format=".1%"))
    return (bars + text).properties(height=34 * len(table) + 20)


def deletion_chart(trust: cam.Faithfulness) -> alt.Chart:
    """Relative confidence drop against the share of the photo removed: map-first vs random."""
    rows = [{"removed": f, "drop": d, "pixels removed": "hottest first"} for f, d in zip(trust.fractions, trust.cam_drops)]
    rows += [{"removed": f, "drop": d, "pixels removed": "at random"} for f, d in zip(trust.fractions, trust.random_drops)]
    return alt.Chart(pd.DataFrame(rows)).mark_line(point=True).encode(
        x=alt.X("removed:Q", axis=alt.Axis(format="%"), title="share of the photo removed"),
        y=alt.Y("drop:Q", axis=alt.Axis(format="%"), title="confidence drop"),
        color=alt.Color("pixels removed:N", scale=alt.Scale(domain=["hottest first", "at random"], range=[ACCENT, "#7f8c9b"]),
                        legend=alt.Legend(orient="right", title=None))).properties(height=DELETION_CHART_HEIGHT)


def trust_line(trust: cam.Faithfulness) -> str:
    """Faithfulness in words, at the 10 % removal (or the nearest measured share)."""
    i = int(np.argmin(np.abs(np.asarray(trust.fractions) - 0.1)))
    share = f"{trust.fractions[i]:.0%}"
    return (f"Hiding the hottest {share} of the photo {change(trust.cam_drops[i])}; "
            f"hiding {share} at random {change(trust.random_drops[i])}.")


def change(drop: float) -> str:
    return f"lowers the confidence by {drop:.0%}" if drop >= 0 else f"raises the confidence by {-drop:.0%}"


def trust_verdict(score: float) -> str:
    if score >= 0.3:
        return "the map points at pixels the model relies on"
    if score >= 0.1:
        return "the map is somewhat better than chance"
    return "hiding the hot pixels hurts no more than hiding random ones: read this map with care"


def reset_on_change(key: str, owner: str, default) -> None:
    """Put widget ``key`` back to ``default`` when ``owner`` (the photo, the model) changes."""
    if st.session_state.get(f"{key}_owner") != owner:
        st.session_state[key], st.session_state[f"{key}_owner"] = default, owner


def controls(vm, predictions, keys):
    """The class, method, layer, smoothing, colormap and opacity widgets → plain values."""
    reset_on_change("heat_class", "/".join(keys), predictions[0][0])  # top-1 for each new photo
    reset_on_change("heat_layer", keys[0], AUTO_LAYER)
    left, middle, right = st.columns([3, 2, 3])
    class_index = left.selectbox(
        "Class to explain", range(int(vm.keras.outputs[0].shape[-1])), format_func=lambda i: f"{vm.label(i)} · {i}", key="heat_class",
        help="Top-1 by default. Type to search any of the classes by name.")
    method = middle.selectbox("Method", list(cam.METHODS), format_func=cam.METHOD_TITLES.get, key="heat_method",
                              help="; ".join(f"{cam.METHOD_TITLES[m]}: {note}" for m, note in METHOD_NOTES.items()))
    automatic = cam.default_layer(vm)
    layer = right.selectbox(
        "Target layer", [AUTO_LAYER] + [info.name for info in reversed(vm.conv_layers())], key="heat_layer",
        format_func=lambda name: f"Automatic ({automatic})" if name == AUTO_LAYER else name,
        help="Automatic: the last layer with spatial extent. Earlier layers give finer, less semantic maps.")
    with st.expander("Smoothing and Score-CAM options"):
        augment = st.checkbox("Test-time augmentation (average flips × brightness)", key="heat_augment")
        eigen_smooth = st.checkbox("Eigen-smoothing (first principal component)", key="heat_eigen")
        full = st.checkbox(f"Full Score-CAM: probe every channel (slow; otherwise the top {SCORE_CAM_TOP_K} "
                           "channels by variance, Faster Score-CAM)", key="heat_full_scorecam")
    return class_index, method, layer or None, (None if full else SCORE_CAM_TOP_K), augment, eigen_smooth


def drawing_controls():
    left, right = st.columns([1, 2])
    cmap = left.selectbox("Colormap", list(cam.COLORMAPS), key="heat_cmap")
    alpha = right.slider("Opacity", 0.0, 1.0, DEFAULT_ALPHA, 0.05, key="heat_alpha")
    return cmap, alpha


def compute(vm, image, keys, class_index, method, layer, top_k, augment, eigen_smooth):
    """The cached heatmap and faithfulness, or None after an st.error."""
    options = (class_index, method, layer, top_k if method == "scorecam" else None, augment, eigen_smooth)
    try:
        result, seconds = cached_heatmap(vm, image, *keys, *options)
        trust = cached_faithfulness(vm, image, result, *keys, *options)
    except vizcore.VizcoreError as error:
        st.error(str(error))
        return None
    return result, seconds, trust


def single_view(vm, image, keys, settings, cmap, alpha):
    with st.spinner("Computing the heatmap…"):
        computed = compute(vm, image, keys, *settings)
    if computed is None:
        return
    result, seconds, trust = computed
    blended = cam.overlay(image, result.heatmap, cmap=cmap, alpha=alpha)
    original, heat, over = st.columns(3)
    original.image(image, caption="Photo", width="stretch")
    heat.image(cam.colorize(result.heatmap, cmap), caption=f"{cam.METHOD_TITLES[result.method]} on {result.layer}",
               width="stretch")
    over.image(blended, caption=f"{result.label} · {result.score:.1%}", width="stretch")
    score, chart = st.columns([1, 2])
    score.metric("Faithfulness", f"{trust.score:+.2f}", help="Mean, over the shares removed, of the confidence drop "
                 "when the map's hottest 16-pixel patches are blurred away, minus the drop for as many random patches. "
                 "Above 0: the map beats chance; near 0 or below: it does not.")
    score.caption(f"{trust_verdict(trust.score).capitalize()}. {trust_line(trust)}")
    score.caption(f"Computed in {seconds:.2f} s.")
    score.download_button("Download overlay PNG", png_bytes(blended), icon=":material/download:",
                          file_name=f"{result.label.replace(' ', '_')}-{result.method}-{result.layer}.png",
                          mime="image/png", key="heat_download")
    chart.altair_chart(deletion_chart(trust), width="stretch", height=DELETION_CHART_HEIGHT)


def compare_view(vm, image, keys, settings, cmap, alpha):
    """Every method on the same photo and class, each map with its faithfulness, drawn as it comes."""
    class_index, _, layer, top_k, augment, eigen_smooth = settings
    columns = st.columns(len(cam.METHODS))
    progress = st.progress(0.0, text="Computing every method…")
    scores = {}  # method → faithfulness
    for done, (column, method) in enumerate(zip(columns, cam.METHODS)):
        with column:
            computed = compute(vm, image, keys, class_index, method, layer, top_k, augment, eigen_smooth)
            if computed is None:
                continue
            result, seconds, trust = computed
            st.image(cam.overlay(image, result.heatmap, cmap=cmap, alpha=alpha), width="stretch")
            scores[method] = trust.score
            st.metric(f"{cam.METHOD_TITLES[method]} · faithfulness", f"{trust.score:+.2f}", help=trust_line(trust))
            st.caption(f"{METHOD_NOTES[method]} · {seconds:.2f} s")
        progress.progress((done + 1) / len(cam.METHODS), text=f"{cam.METHOD_TITLES[method]} done")
    progress.empty()
    if scores:
        best = max(scores, key=scores.get)
        st.markdown(f"Most faithful on this photo: **{cam.METHOD_TITLES[best]}** ({scores[best]:+.2f}).")
    st.caption("Faithfulness: confidence drop when the map's hottest patches are hidden, minus the drop for as "
               "many random patches; higher is better.")


def main() -> None:
    st.title("Heatmaps")
    st.caption("Where did the model look to call this photo by a class? Grad-CAM, Grad-CAM++, Score-CAM and "
               "LayerCAM, each with a faithfulness score that says how far to trust it.")
    vm = common.current_model()
    if vm is None:
        st.stop()
    if not vm.is_classifier:
        st.error(f"{vm.name} does not output a class vector, so there is no class to explain.")
        st.stop()
    picker, chart = st.columns([2, 3])
    with picker:
        image = common.image_picker("heat")
    if image is None:
        st.info("Pick a sample photo or upload one to begin.")
        st.stop()
    keys = (model_key(vm), image_key(image))
    predictions = cached_predictions(vm, image, *keys)
    with chart:
        st.markdown(f"**Top {TOP} predictions**")
        st.altair_chart(predictions_chart(predictions), width="stretch")
    settings = controls(vm, predictions, keys)
    cmap, alpha = drawing_controls()
    view = st.radio("View", ["Selected method", "Compare methods"], horizontal=True, key="heat_view",
                    label_visibility="collapsed")
    if view == "Selected method":
        single_view(vm, image, keys, settings, cmap, alpha)
    else:
        compare_view(vm, image, keys, settings, cmap, alpha)


main()
