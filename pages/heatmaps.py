"""Heatmaps: where the model looked to call a photo by a class (Grad-CAM and friends).

Widgets are read into a ``HeatmapSettings`` and an ``OverlayStyle``, ``vizcore.cam`` computes,
this page draws. Heatmaps are cached with ``st.cache_data`` keyed on the model's identity, the
photo's digest and the settings (class, method, layer, smoothing, direction), so changing the
colormap or the opacity only re-blends the cached map. Methods, their titles and their notes come
from ``vizcore.cam.METHODS``. Every head is explained: a classifier's classes (softmax, logits,
binary, multi-label) and a regression output, with a switch between what raises it and what
lowers it. The photo, class, method and layer are kept in the URL (``ui.links``): a copied link
reopens the same map. Under every map, "Can I trust this map?" shows its faithfulness, deletion,
insertion and ROAD scores with their curves, runs the sanity check (``vizcore.cam.sanity_check``) on
a click, and ranks every method × the last layers (``vizcore.cam.score_maps``), offering the best.
"""
from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np
import streamlit as st

import vizcore
from ui import links, photos, runs, trust
from ui.cache_keys import HASH_FUNCS, array_digest, model_identity
from ui.frame import page
from ui.map_settings import HeatmapSettings, OverlayStyle
from ui.models import cached_spatial_layers
from ui.predictions import cached_predictions, predictions_chart, predictions_note, show_values
from ui.thumbnails import RANK_THUMBNAIL, data_url, thumbnail
from ui.widgets import class_title, layer_title, reset_on_change
from vizcore import cam, drawing, timeline

TOP = 5                    # predictions in the bar chart
PROBING = [method for method in cam.METHODS.values() if method.channel_budget is not None]  # probe channels
DEFAULT_ALPHA = 0.4        # heatmap opacity over the photo
HEATMAP_CACHE_ENTRIES = 48   # cached maps (float32 at photo size: ~1 MB for 600 px, 16 MB at most)
AUTO_LAYER = ""            # the layer selectbox's "automatic" choice
RAISES, LOWERS = "What raises it", "What lowers it"  # a regression output's two directions
RANKING = "heat_ranking"   # session_state: the latest layer ranking and what it was for
DEFAULT_METHOD_FOR_RANKING = "gradcam"  # ranks instead of a method probing every channel (minutes)


@st.cache_data(max_entries=HEATMAP_CACHE_ENTRIES, show_spinner=False, hash_funcs=HASH_FUNCS)
def cached_heatmap(vm, image: np.ndarray, settings: HeatmapSettings, _request: cam.CamRequest):
    """(CamResult, seconds) of the checked ``_request``; the key is the photo and ``settings`` (everything but
    the colormap and the opacity), which the request was made from."""
    start = time.perf_counter()
    with timeline.span("map", method=settings.method, layer=settings.layer):
        result = cam.explain(vm, _request)
    return result, time.perf_counter() - start


def map_request(vm, image: np.ndarray, settings: HeatmapSettings) -> cam.CamRequest:
    """The rerun's map request, checked once (the photo read and resized once); stops the page on a bad one."""
    try:
        return cam.cam_request(vm, image, **asdict(settings))
    except vizcore.VizcoreError as error:
        st.error(str(error))
        st.stop()
        raise  # (st.stop ends the script run)


def score_text(vm, result) -> str:
    """The overlay's caption: the class and its probability, or the output and its value."""
    if vm.head.is_probability:
        return f"{result.label} · {result.score:.1%}"
    return f"{result.label} = {result.score:.4g}" + (" · what lowers it" if result.lower else " · what raises it")


def heatmap_settings(vm, predictions, photo: str) -> HeatmapSettings:
    """The class, direction, method, layer and smoothing widgets (``photo``: the photo's digest)."""
    model = model_identity(vm)
    reset_on_change("heat_class", f"{model}/{photo}", predictions[0].index)  # top-1 for each new photo
    reset_on_change("heat_layer", model, AUTO_LAYER)
    linked_settings(vm, predictions[0].index)
    regression = vm.head.kind == "regression"
    left, middle, right = st.columns([3, 2, 3])
    class_index = left.selectbox(
        "Output to explain" if regression else "Class to explain", range(vm.classes),
        format_func=lambda i: class_title(vm, i), key="heat_class",
        help="The first output by default." if regression
        else "Top-1 by default. Type to search any of the classes by name.")
    lower = False
    if regression:
        lower = left.radio("Explain", [RAISES, LOWERS], horizontal=True, key="heat_direction",
                           help="Where the photo pushes the value up, or where it pulls it down.") == LOWERS
    method = middle.selectbox("Method", list(cam.METHODS), format_func=lambda name: cam.METHODS[name].title,
                              key="heat_method",
                              help="; ".join(f"{method.title}: {method.note}" for method in cam.METHODS.values()))
    automatic, reason = cam.default_layer(vm), cam.default_layer_reason(vm)
    layer = right.selectbox(
        "Target layer", [AUTO_LAYER] + list(reversed(cached_spatial_layers(vm))), key="heat_layer",
        format_func=lambda name: f"Automatic · {layer_title(automatic)}" if name == AUTO_LAYER
        else layer_title(name),
        help=f"Automatic: {reason} Earlier layers give finer, less semantic maps.")
    if layer == AUTO_LAYER:
        right.caption(reason)
    probing = " and ".join(record.title for record in PROBING)
    with st.expander(f"Smoothing and {probing} options" if PROBING else "Smoothing options"):
        augment = st.checkbox("Test-time augmentation (average flips × brightness)", key="heat_augment")
        eigen_smooth = st.checkbox("Eigen-smoothing (first principal component)", key="heat_eigen")
        budget = PROBING[0].channel_budget if PROBING else None
        full = PROBING and st.checkbox(f"Full {probing}: probe every channel (slow; otherwise the top {budget} "
                                       "channels by variance, the faster variant)", key="heat_full_scorecam")
    return HeatmapSettings(class_index, method, layer or None, None if full else budget, augment, eigen_smooth, lower)


def linked_settings(vm, top: int) -> None:
    """The class, method and layer pickers start at a link's, when the page opens from one (``top``: the
    top-1 class, the class shown otherwise)."""
    noun = "output" if vm.head.kind == "regression" else "class"
    classes = links.one_of(range(vm.classes), what=f"{article(noun)} {noun} index from 0 to {vm.classes - 1}")
    layers = links.one_of(cached_spatial_layers(vm), what=f"a layer of {vm.name} with a feature map")
    links.linked("class", "heat_class", classes, top, title=lambda index: class_title(vm, index))
    links.linked("method", "heat_method", links.one_of(cam.METHODS), next(iter(cam.METHODS)),
                 title=lambda name: cam.METHODS[name].title)
    links.linked("layer", "heat_layer", layers, AUTO_LAYER,
                 title=lambda _: f"the automatic layer ({layer_title(cam.default_layer(vm))})")


def article(noun: str) -> str:
    return "an" if noun[0] in "aeiou" else "a"


def shared_settings(settings: HeatmapSettings) -> dict:
    """The link's keys for these settings (the automatic layer is left out)."""
    return {"class": settings.class_index, "method": settings.method, "layer": settings.layer}


def overlay_style() -> OverlayStyle:
    left, right = st.columns([1, 2])
    cmap = left.selectbox("Colormap", list(drawing.COLORMAPS), key="heat_cmap")
    alpha = right.slider("Opacity", 0.0, 1.0, DEFAULT_ALPHA, 0.05, key="heat_alpha")
    return OverlayStyle(cmap, alpha)


def compute(vm, image: np.ndarray, settings: HeatmapSettings, request: cam.CamRequest):
    """The cached (map, seconds) of ``request`` (made from ``settings``), or None after an st.error."""
    settings = settings.for_method(settings.method)  # top_k dropped unless it probes channels: one cache entry a map
    try:
        if request.record.channel_budget is not None and request.top_k is None:  # every channel: a long run
            return runs.in_turn("heatmaps", lambda: cached_heatmap(vm, image, settings, request))
        return cached_heatmap(vm, image, settings, request)
    except vizcore.VizcoreError as error:
        st.error(str(error))
        return None


def single_view(vm, image: np.ndarray, photo: str, settings: HeatmapSettings, request: cam.CamRequest,
                style: OverlayStyle) -> None:
    with st.spinner("Computing the heatmap…"):
        computed = compute(vm, image, settings, request)
    if computed is None:
        return
    result, seconds = computed
    seen = vm.as_seen(image)  # grey for a one-channel model
    blended = style.over(seen, result.heatmap)
    original, heat, over = st.columns(3)
    original.image(seen, caption="Photo" if vm.channels == 3 else "Photo, as the model sees it (grey)", width="stretch")
    heat.image(drawing.colorize(result.heatmap, style.cmap),
               caption=f"{cam.METHODS[result.method].title} on {result.layer}", width="stretch")
    over.image(blended, caption=score_text(vm, result), width="stretch")
    file_name = f"{result.label}-{result.method}-{result.layer}".replace(" ", "_").replace("/", "_")
    row = over.container(horizontal=True, vertical_alignment="center")
    row.download_button("Download overlay PNG", drawing.png_bytes(blended), icon=":material/download:",
                        file_name=f"{file_name}.png", mime="image/png", key="heat_download")
    row.caption(f"Computed in {seconds:.2f} s.")
    why_button(over, vm, photo, settings, result)
    trust.trust_section(vm, image, photo, settings.for_method(settings.method), result, style)  # the map is drawn first


def why_button(place, vm, photo: str, settings: HeatmapSettings, result) -> None:
    """Open Why this class? on the same photo (a sample or an upload: the session's working photo), class,
    layer and method (``photo``: the photo's digest)."""
    place.button("Why this class?", icon=":material/psychology_alt:", key="heat_why",
                 on_click=_carry_to_why, args=(model_identity(vm), photo, result.class_index, settings.layer,
                                               settings.method),
                 help="Which features made the call: the channels that added most to this class's score, what "
                      "each responds to, where it counted and real patches that excite it.")
    if st.session_state.pop("heat_open_why", False):
        st.switch_page("pages/why.py")


def _carry_to_why(model: str, photo: str, class_index: int, layer: str | None, method: str) -> None:
    """The click's callback (it runs before any rerun): the Why page's class, layer and map method take these,
    as chosen for this model and photo (so that the Why page does not reset them to its defaults)."""
    st.session_state["why_class"], st.session_state["why_class_owner"] = class_index, f"{model}/{photo}"
    st.session_state["why_contrast"], st.session_state["why_contrast_owner"] = -1, f"{model}/{photo}"
    st.session_state["why_layer"], st.session_state["why_layer_owner"] = layer or "", model
    st.session_state["why_map_method"] = method
    st.session_state["heat_open_why"] = True


def compare_view(vm, image: np.ndarray, settings: HeatmapSettings, request: cam.CamRequest,
                 style: OverlayStyle) -> None:
    """Every method on the same photo and class, each map with its faithfulness, drawn as it comes."""
    columns = st.columns(len(cam.METHODS))
    progress = st.progress(0.0, text="Computing every method…")
    scores = {}  # method name → faithfulness score
    for done, (column, method) in enumerate(zip(columns, cam.METHODS.values())):
        with column:
            computed = compute(vm, image, settings.for_method(method.name),
                               request.but(vm, method=method.name, top_k=settings.top_k))
            if computed is None:
                continue
            result, seconds = computed
            st.image(style.over(vm.as_seen(image), result.heatmap), width="stretch")
            try:
                faithfulness = trust.cached_faithfulness(vm, image, settings.for_method(method.name), result)
            except vizcore.VizcoreError as error:
                st.error(str(error))
                continue
            scores[method.name] = faithfulness.score
            st.metric(f"{method.title} · faithfulness", f"{faithfulness.score:+.2f}",
                      help=trust.faithfulness_line(faithfulness, trust.explained(vm, settings.lower)))
            st.caption(f"{method.note} · {seconds:.2f} s")
        progress.progress((done + 1) / len(cam.METHODS), text=f"{method.title} done")
    progress.empty()
    if scores:
        best = max(scores, key=scores.get)
        st.markdown(f"Most faithful on this photo: **{cam.METHODS[best].title}** ({scores[best]:+.2f}).")
    st.caption(f"Faithfulness: {trust.explained(vm, settings.lower)} drop when the map's hottest patches are hidden, "
               "minus the drop for as many random patches; higher is better.")


def layer_ranking(vm, image: np.ndarray, photo: str, settings: HeatmapSettings, map_request: cam.CamRequest,
                  style: OverlayStyle) -> None:
    """"Rank layers": the last few stages' maps scored by faithfulness for this photo, class and
    method, best first, with a button that makes the best one the target layer."""
    every_channel = map_request.record.channel_budget is not None and settings.top_k is None  # on 4 layers: too slow
    settings = settings.for_method(DEFAULT_METHOD_FOR_RANKING if every_channel else settings.method)
    request = (model_identity(vm), photo, settings.class_index, settings.method, settings.lower, settings.top_k)
    row = st.container(horizontal=True, vertical_alignment="center")
    requested = runs.run_button(row, "Rank layers", "heat_rank", icon=":material/leaderboard:",
                                help="Which layer explains this photo best? Computes the map on each of the last "
                                     "few stages and scores it by faithfulness.")
    if requested:
        with st.spinner("Computing a map on each of the last few layers…"):
            try:
                scores = cam.rank_layers(vm, map_request.but(vm, method=settings.method, top_k=settings.top_k))
            except vizcore.VizcoreError as error:
                st.error(str(error))
                return
        st.session_state[RANKING] = {"request": request,
                                     "rows": [(s.layer, s.faithfulness, s.result.grid) for s in scores]}
    ranking = st.session_state.get(RANKING)
    if not ranking or ranking["request"] != request:
        row.caption(f"Scores the last few layers by the faithfulness of their {cam.METHODS[settings.method].title} "
                    "map for this photo and class.")
        return
    best = ranking["rows"][0][0]
    row.button(f"Use {layer_title(best)}", key="heat_use_best", on_click=use_layer, args=(best,),
               disabled=settings.layer == best, icon=":material/check:",
               help="Make the best-ranked layer the target layer.")
    small = thumbnail(vm.as_seen(image))
    st.dataframe([{"map": data_url(style.over(small, grid)), "layer": name, "faithfulness": score}
                  for name, score, grid in ranking["rows"]],
                 hide_index=True, width="stretch", row_height=RANK_THUMBNAIL // 2 + 8,
                 column_config={"map": st.column_config.ImageColumn("map", width="small"),
                                "layer": st.column_config.TextColumn("layer", width="large"),
                                "faithfulness": st.column_config.NumberColumn(
                                    "faithfulness", format="%+.2f", help="Higher is better; above 0 beats chance.")})


def use_layer(layer: str) -> None:
    """The "Use" button's callback: switch the target layer before the selectbox is drawn."""
    st.session_state["heat_layer"] = layer


def main() -> None:
    vm = page("Heatmaps", "Where did the model look to call this photo by a class? Grad-CAM, Grad-CAM++, "
                          "Score-CAM and LayerCAM, each with a faithfulness score that says how far to "
                          "trust it.")
    problems = st.container()  # a link's values that could not be used, under the title
    if not vm.is_classifier:
        st.error(f"{vm.name} outputs {vm.output_shape}, not a class vector or values, so there is no class or "
                 "output to explain.")
        st.stop()
    if not cached_spatial_layers(vm):
        st.error(f"{vm.name} has no layer whose feature map is larger than 1×1 at its input size, so a heatmap "
                 "cannot say where the model looked; predictions still work on the Home page.")
        st.stop()
    picker, chart = st.columns([2, 3])
    with picker:
        image = photos.image_picker("heat")
    if image is None:
        links.share()  # an upload to come: nothing of this page a link can carry
        links.show_problems(problems)
        st.info("Pick a sample photo or upload one to begin.")
        st.stop()
    try:
        predictions = cached_predictions(vm, image, TOP)
    except vizcore.VizcoreError as error:
        st.error(str(error))
        st.stop()
    with chart:
        if vm.head.kind == "regression":  # values, not probabilities: no 0–100 % bars
            st.markdown("**Outputs**")
            show_values(predictions)
        else:
            st.markdown(f"**Top {min(TOP, vm.classes)} predictions**")
            st.altair_chart(predictions_chart(predictions), width="stretch")
        if predictions_note(vm):
            st.caption(predictions_note(vm))
    photo = array_digest(image)
    settings = heatmap_settings(vm, predictions, photo)
    links.share(photo=photos.in_link("heat"), **shared_settings(settings))
    links.show_problems(problems)
    style = overlay_style()
    request = map_request(vm, image, settings)
    layer_ranking(vm, image, photo, settings, request, style)
    view = st.radio("View", ["Selected method", "Compare methods"], horizontal=True, key="heat_view",
                    label_visibility="collapsed")
    if view == "Selected method":
        single_view(vm, image, photo, settings, request, style)
    else:
        compare_view(vm, image, settings, request, style)


main()
