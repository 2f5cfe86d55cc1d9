"""Heatmaps: where the model looked to call a photo by a class (Grad-CAM and friends).

Widgets are read into a ``HeatmapSettings`` and an ``OverlayStyle``, ``vizcore.cam`` computes,
this page draws. Heatmaps are cached with ``st.cache_data`` keyed on the model's identity, the
photo's digest and the settings (class, method, layer, smoothing, direction), so changing the
colormap or the opacity only re-blends the cached map. Methods, their titles and their notes come
from ``vizcore.cam.METHODS``. Every head is explained: a classifier's classes (softmax, logits,
binary, multi-label) and a regression output, with a switch between what raises it and what
lowers it. The photo, class, method and layer are kept in the URL (``pages.links``): a copied link
reopens the same map. Under every map, "Can I trust this map?" shows its faithfulness, deletion,
insertion and ROAD scores with their curves, runs the sanity check (``vizcore.cam.sanity_check``) on
a click, and ranks every method × the last layers (``vizcore.cam.score_maps``), offering the best.
"""
from __future__ import annotations

import base64
import time
from dataclasses import asdict, dataclass, replace

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

import vizcore
from pages import common, links
from vizcore import cam, drawing, scheduler

TOP = 5                    # predictions in the bar chart
SCORE_CAM_TOP_K = 64       # Faster Score-CAM keeps this many channels unless full Score-CAM is ticked
DEFAULT_ALPHA = 0.4        # heatmap opacity over the photo
HEATMAP_CACHE_ENTRIES = 48   # cached maps (float32 at photo size: ~1 MB for 600 px, 16 MB at most)
AUTO_LAYER = ""            # the layer selectbox's "automatic" choice
LOW_CONFIDENCE = 0.01      # a class below this probability: its map's trust scores measure noise
RAISES, LOWERS = "What raises it", "What lowers it"  # a regression output's two directions
RANK_THUMBNAIL = 96        # px, the longer side of each ranked layer's overlay in the table
RANKING = "heat_ranking"   # session_state: the latest layer ranking and what it was for
DEFAULT_METHOD_FOR_RANKING = "gradcam"  # ranks instead of full Score-CAM, which would take minutes
TRUST_CHART_HEIGHT = 200   # px, each of the three curve panels under "Can I trust this map?"
TRUST_CHART_WIDTH = 200    # px, each panel's plot (a concatenated chart cannot stretch to its container)
SANITY = "heat_sanity_for"  # session_state: the request the sanity check was last run for
MAP_RANKING = "heat_map_ranking"  # session_state: the latest method × layer ranking and what it was for
GREY = "#7f8c9b"           # the second line of a chart (random removal, LeRF)
ACCENT = "#ff6d3a"         # bars and labels: readable on the dark and the light theme
DEFAULT_PHOTO = "grace hopper"


@dataclass(frozen=True)
class HeatmapSettings:
    """What a map explains and how it is made: everything but its colours (``cam.heatmap``'s keywords)."""
    class_index: int
    method: str                # a key of cam.METHODS
    layer: str | None          # None: the automatic layer
    top_k: int | None          # Score-CAM's channels (None: every one); the other methods take none
    augment: bool              # test-time augmentation
    eigen_smooth: bool
    lower: bool                # a regression output: explain what lowers it, not what raises it

    def for_method(self, method: str) -> HeatmapSettings:
        """These settings with another method (and top_k only if it is Score-CAM, so maps share the cache)."""
        return replace(self, method=method, top_k=self.top_k if method == "scorecam" else None)


@dataclass(frozen=True)
class OverlayStyle:
    """How a map is drawn over the photo."""
    cmap: str      # a matplotlib colormap
    alpha: float   # the map's opacity

    def over(self, photo: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
        return drawing.overlay(photo, heatmap, cmap=self.cmap, alpha=self.alpha)


@st.cache_data(max_entries=32, show_spinner=False, hash_funcs=common.HASH_FUNCS)
def cached_predictions(vm, image: np.ndarray) -> list:
    """[Prediction(index, label, probability or None, value)], top first (a regression's outputs in order)."""
    return vm.predict(image, top=TOP)


@st.cache_data(max_entries=HEATMAP_CACHE_ENTRIES, show_spinner=False, hash_funcs=common.HASH_FUNCS)
def cached_heatmap(vm, image: np.ndarray, settings: HeatmapSettings):
    """(CamResult, seconds); the key is everything but the colormap and the opacity."""
    start = time.perf_counter()
    result = cam.heatmap(vm, image, **asdict(settings))
    return result, time.perf_counter() - start


@st.cache_data(max_entries=128, show_spinner=False, hash_funcs=common.HASH_FUNCS)
def cached_faithfulness(vm, image: np.ndarray, settings: HeatmapSettings, _result) -> cam.Faithfulness:
    """The faithfulness of ``_result``, the map made with ``settings`` (which key it)."""
    return cam.faithfulness(vm, image, _result)


@st.cache_data(max_entries=64, show_spinner=False, hash_funcs=common.HASH_FUNCS)
def cached_trust_metrics(vm, image: np.ndarray, settings: HeatmapSettings, _result) -> cam.TrustMetrics:
    """Deletion, insertion and ROAD of ``_result``, the map made with ``settings`` (which key it)."""
    return cam.trust_metrics(vm, image, _result)


@st.cache_data(max_entries=16, show_spinner=False, hash_funcs=common.HASH_FUNCS)
def cached_sanity(vm, image: np.ndarray, settings: HeatmapSettings, class_index: int) -> cam.SanityReport:
    """The sanity check of the map made with ``settings`` (without smoothing) for ``class_index``."""
    return cam.sanity_check(vm, image, class_index=class_index, method=settings.method, layer=settings.layer,
                            top_k=settings.top_k, lower=settings.lower)


@st.cache_data(max_entries=8, show_spinner=False, hash_funcs=common.HASH_FUNCS)
def cached_spatial_layers(vm) -> list[str]:
    return cam.spatial_layers(vm)


def predictions_chart(predictions: list) -> alt.Chart:
    """Horizontal bars, most probable on top, with the probability printed at each bar's end."""
    table = pd.DataFrame([{"class": f"{p.label} · {p.index}", "probability": p.probability} for p in predictions])
    order = list(table["class"])
    base = alt.Chart(table).encode(
        y=alt.Y("class:N", sort=order, title=None, axis=alt.Axis(labelLimit=260)),
        x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title=None))
    bars = base.mark_bar(cornerRadiusEnd=3, color=ACCENT)
    text = base.mark_text(align="left", dx=4, color=ACCENT, fontWeight="bold").encode(
        text=alt.Text("probability:Q", format=".1%"))
    return (bars + text).properties(height=34 * len(table) + 20)


def score_text(vm, result) -> str:
    """The overlay's caption: the class and its probability, or the output and its value."""
    if vm.head.is_probability:
        return f"{result.label} · {result.score:.1%}"
    return f"{result.label} = {result.score:.4g}" + (" · what lowers it" if result.lower else " · what raises it")


def faithfulness_line(faithfulness: cam.Faithfulness, what: str = "confidence") -> str:
    """Faithfulness in words, at the 10 % removal (or the nearest measured share)."""
    i = int(np.argmin(np.abs(np.asarray(faithfulness.fractions) - 0.1)))
    share = f"{faithfulness.fractions[i]:.0%}"
    return (f"Hiding the hottest {share} of the photo {change(faithfulness.cam_drops[i], what)}; "
            f"hiding {share} at random {change(faithfulness.random_drops[i], what)}.")


def change(drop: float, what: str = "confidence") -> str:
    return f"lowers the {what} by {drop:.0%}" if drop >= 0 else f"raises the {what} by {-drop:.0%}"


def explained(vm, lower: bool = False) -> str:
    """What the faithfulness test measures the drop of: the confidence, or the explained output's push."""
    if vm.head.is_probability:
        return "confidence"
    return "negated output" if lower else "output"


def faithfulness_verdict(score: float) -> str:
    if score >= 0.3:
        return "the map points at pixels the model relies on"
    if score >= 0.1:
        return "the map is somewhat better than chance"
    return "hiding the hot pixels hurts no more than hiding random ones: read this map with care"


def reset_on_change(key: str, owner: str, default) -> None:
    """Put widget ``key`` back to ``default`` when ``owner`` (the photo, the model) changes."""
    if st.session_state.get(f"{key}_owner") != owner:
        st.session_state[key], st.session_state[f"{key}_owner"] = default, owner


def heatmap_settings(vm, predictions, photo: str) -> HeatmapSettings:
    """The class, direction, method, layer and smoothing widgets (``photo``: the photo's digest)."""
    model = common.model_identity(vm)
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
        format_func=lambda name: f"Automatic · {common.layer_title(automatic)}" if name == AUTO_LAYER
        else common.layer_title(name),
        help=f"Automatic: {reason} Earlier layers give finer, less semantic maps.")
    if layer == AUTO_LAYER:
        right.caption(reason)
    with st.expander("Smoothing and Score-CAM options"):
        augment = st.checkbox("Test-time augmentation (average flips × brightness)", key="heat_augment")
        eigen_smooth = st.checkbox("Eigen-smoothing (first principal component)", key="heat_eigen")
        full = st.checkbox(f"Full Score-CAM: probe every channel (slow; otherwise the top {SCORE_CAM_TOP_K} "
                           "channels by variance, Faster Score-CAM)", key="heat_full_scorecam")
    return HeatmapSettings(class_index, method, layer or None, None if full else SCORE_CAM_TOP_K, augment,
                           eigen_smooth, lower)


def class_title(vm, index: int) -> str:
    return f"{vm.label(index)} · {index}"


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
                 title=lambda _: f"the automatic layer ({common.layer_title(cam.default_layer(vm))})")


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


def compute(vm, image: np.ndarray, settings: HeatmapSettings):
    """The cached (map, seconds), or None after an st.error."""
    settings = settings.for_method(settings.method)  # top_k dropped unless Score-CAM: one cache entry a map
    try:
        if settings.method == "scorecam" and settings.top_k is None:  # a full Score-CAM: a long run, in its turn
            return common.in_turn("heatmaps", lambda: cached_heatmap(vm, image, settings))
        return cached_heatmap(vm, image, settings)
    except vizcore.VizcoreError as error:
        st.error(str(error))
        return None


def single_view(vm, image: np.ndarray, photo: str, settings: HeatmapSettings, style: OverlayStyle) -> None:
    with st.spinner("Computing the heatmap…"):
        computed = compute(vm, image, settings)
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
    why_button(over, result)
    trust_section(vm, image, photo, settings.for_method(settings.method), result, style)  # the map is drawn first


def why_button(place, result) -> None:
    """Open Why this class? on the same sample photo and class (an uploaded photo is uploaded there again)."""
    place.button("Why this class?", icon=":material/psychology_alt:", key="heat_why",
                 on_click=_carry_to_why, args=(result.class_index,),
                 help="Which features made the call: the channels that added most to this class's score, what "
                      "each responds to, where it fired and real patches that excite it.")
    if st.session_state.pop("heat_open_why", False):
        st.switch_page("pages/why.py")


def _carry_to_why(class_index: int) -> None:
    """The click's callback (it runs before any rerun): the Why page's class and sample take these."""
    st.session_state["why_class"] = class_index
    if st.session_state.get("heat_source") == "Sample photo" and "heat_sample" in st.session_state:
        st.session_state["why_source"] = "Sample photo"
        st.session_state["why_sample"] = st.session_state["heat_sample"]
    st.session_state["heat_open_why"] = True


# --- "Can I trust this map?" ------------------------------------------------------------------------

def trust_section(vm, image, photo: str, settings: HeatmapSettings, result, style: OverlayStyle) -> None:
    """The map's scores in numbers, curves and words; the sanity check and the ranking behind tabs."""
    st.subheader("Can I trust this map?", anchor=False)
    what = explained(vm, result.lower)
    if vm.head.is_probability and result.score < LOW_CONFIDENCE:
        st.info(f"The model gives {result.label} only {result.score:.1%} on this photo: there is almost no "
                "confidence for the map to explain, so the scores below say little. To judge a map, explain a "
                "class the model believes in (one of the top predictions).", icon=":material/info:")
    try:
        with st.spinner("Measuring the map: faithfulness, deletion, insertion, ROAD…"), scheduler.follow_up():
            faithfulness = cached_faithfulness(vm, image, settings, result)  # other users' maps come first
            metrics = cached_trust_metrics(vm, image, settings, result)
    except vizcore.VizcoreError as error:
        st.error(str(error))
        return
    scores = st.columns(4)
    scores[0].metric("Faithfulness", f"{faithfulness.score:+.2f}", help=f"Mean, over the shares removed, of the {what} "
                     "drop when the map's hottest 16-pixel patches are blurred away, minus the drop for as many random "
                     "patches. Above 0: the map beats chance; near 0 or below: it does not.")
    verdict = faithfulness_verdict(faithfulness.score).capitalize()
    scores[0].caption(f"{verdict}. {faithfulness_line(faithfulness, what)}")
    scores[1].metric("Deletion AUC ↓", f"{metrics.deletion.auc:.3f}", help=f"Area under the {what} curve as the "
                     "map's hottest patches are blurred away, hottest first (Petsiuk et al., 2018). Lower is better.")
    scores[1].caption(deletion_line(metrics.deletion, what))
    scores[2].metric("Insertion AUC ↑", f"{metrics.insertion.auc:.3f}", help=f"Area under the {what} curve as the "
                     "map's hottest patches are added back to the blurred photo (Petsiuk et al., 2018). Higher is "
                     "better.")
    scores[2].caption(insertion_line(metrics.insertion, what))
    scores[3].metric("ROAD ↑", f"{metrics.road.combined:+.3f}", help="Remove and debias (Rong et al., 2022): pixels "
                     "are removed at 10 … 90 % and filled in from their neighbours, most relevant first (MoRF) and "
                     "least relevant first (LeRF); the score is (mean LeRF change − mean MoRF change) / 2. Above 0: "
                     "the map orders pixels better than its reverse.")
    scores[3].caption(road_line(metrics.road, what))
    st.altair_chart(trust_chart(faithfulness, metrics, what), width="stretch")
    sanity_tab, ranking_tab = st.tabs(["Sanity check", "Best method and layer"])
    with sanity_tab:
        sanity_panel(vm, image, photo, settings, result, style)
    with ranking_tab:
        map_ranking(vm, image, photo, settings, style)


def share_at_half(curve: cam.Curve, rising: bool) -> float | None:
    """The first share at which the curve crosses half of its end value (rising) or of its start (falling)."""
    target = (curve.scores[-1] if rising else curve.scores[0]) / 2
    for fraction, score in zip(curve.fractions, curve.scores):
        if (score >= target) if rising else (score <= target):
            return fraction
    return None


def deletion_line(curve: cam.Curve, what: str) -> str:
    share = share_at_half(curve, rising=False)
    if share is None:
        return f"Blurring even the whole photo keeps over half the {what}."
    return f"Blurring the hottest {share:.0%} of the photo halves the {what}."


def insertion_line(curve: cam.Curve, what: str) -> str:
    share = share_at_half(curve, rising=True)
    return (f"The hottest {share:.0%} of the photo, sharp in a blurred one, gives back half the {what}."
            if share is not None else f"Only the whole photo gives the {what} back.")


def road_line(road: cam.Road, what: str) -> str:
    most, least = -float(np.mean(road.morf)), -float(np.mean(road.lerf))
    return (f"Removing its most relevant pixels costs {most:.0%} of the {what} on average, its least relevant "
            f"{least:.0%}." if what == "confidence" else
            f"Removing its most relevant pixels lowers the {what} by {most:.3g} on average, its least relevant by "
            f"{least:.3g}.")


def trust_chart(faithfulness: cam.Faithfulness, metrics: cam.TrustMetrics, what: str) -> alt.HConcatChart:
    """One chart, three panels: faithfulness (hottest vs random), deletion and insertion, ROAD's MoRF and LeRF."""
    def panel(rows: list[dict], x: str, y: str, colours: list[str], percent_y: bool = True) -> alt.Chart:
        lines = list(dict.fromkeys(row["line"] for row in rows))
        return alt.Chart(pd.DataFrame(rows)).mark_line(point=True).encode(
            x=alt.X("x:Q", axis=alt.Axis(format="%"), title=x),
            y=alt.Y("y:Q", axis=alt.Axis(format="%" if percent_y else "~g"), title=y),
            color=alt.Color("line:N", scale=alt.Scale(domain=lines, range=colours),
                            legend=alt.Legend(orient="bottom", title=None)),
        ).properties(height=TRUST_CHART_HEIGHT, width=TRUST_CHART_WIDTH)

    def line(name: str, xs, ys) -> list[dict]:
        return [{"x": x, "y": y, "line": name} for x, y in zip(xs, ys)]

    percent = what == "confidence"
    drops = (line("hottest removed", faithfulness.fractions, faithfulness.cam_drops)
             + line("random removed", faithfulness.fractions, faithfulness.random_drops))
    curves = (line("deletion", metrics.deletion.fractions, metrics.deletion.scores)
              + line("insertion", metrics.insertion.fractions, metrics.insertion.scores))
    shares = [p / 100 for p in metrics.road.percentiles]
    road = (line("most relevant first", shares, metrics.road.morf)
            + line("least relevant first", shares, metrics.road.lerf))
    return alt.hconcat(
        panel(drops, "share of the photo removed", f"{what} drop", [ACCENT, GREY]),
        panel(curves, "share of the patches changed", what, [ACCENT, "#2e9e6b"], percent_y=percent),
        panel(road, "share of the pixels removed (ROAD)", f"{what} change", [ACCENT, GREY], percent_y=percent),
    ).resolve_scale(color="independent")


def sanity_panel(vm, image, photo: str, settings: HeatmapSettings, result, style: OverlayStyle) -> None:
    """"Run sanity check": the map on copies of the model randomised from the output back, side by side."""
    st.caption("Does the map depend on the model? The sanity check of Adebayo et al. (2018) re-draws the weights of "
               "a copy of the model from the output back, a stage at a time, and makes the map again: a map that "
               "barely changes shows the photo, not what the model learned. It also makes the map of a random "
               "other class. Smoothing options are left out.")
    request = (common.model_identity(vm), photo, tuple(asdict(settings).values()), result.class_index)  # plain values:
    # the page's classes are new objects every run, so a stored HeatmapSettings never equals this run's
    if common.run_button(st, "Run sanity check", "heat_sanity", icon=":material/science:",
                         help="Randomise a copy of the model in 3 stages and compare the maps (a few seconds)."):
        st.session_state[SANITY] = request
    if st.session_state.get(SANITY) != request:
        return
    try:
        with st.spinner("Randomising a copy of the model, stage by stage…"):
            report = cached_sanity(vm, image, settings, result.class_index)
    except vizcore.VizcoreError as error:
        st.error(str(error))
        return
    extra = [report.class_check] if report.class_check else []
    columns = st.columns(1 + len(report.stages) + len(extra))
    columns[0].image(drawing.colorize(report.original, style.cmap), width="stretch",
                     caption="The model as trained")
    for column, stage in zip(columns[1:], report.stages):
        column.image(drawing.colorize(stage.heatmap, style.cmap), width="stretch",
                     caption=f"Random from {stage.randomised_from} up")
        column.caption(f"Spearman {stage.spearman:+.2f} · SSIM {stage.ssim:.2f}")
    for check in extra:
        columns[-1].image(drawing.colorize(check.heatmap, style.cmap), width="stretch",
                          caption=f"Another class: {check.label}")
        columns[-1].caption(f"Spearman {check.spearman:+.2f} · SSIM {check.ssim:.2f}")
    (st.success if report.passed else st.warning)(report.verdict, icon=":material/check_circle:" if report.passed
                                                  else ":material/warning:")
    if report.class_check:
        st.caption(f"Class check: the map of {report.class_check.label}, a class drawn at random, "
                   + ("differs from this one: the map depends on the class." if report.class_check.depends_on_class
                      else "looks much like this one: the map says little about this class in particular."))


def map_ranking(vm, image, photo: str, settings: HeatmapSettings, style: OverlayStyle) -> None:
    """"Rank methods and layers": every method on the last few stages, scored and sorted, with a switch to the best."""
    request = (common.model_identity(vm), photo, settings.class_index, settings.lower)
    row = st.container(horizontal=True, vertical_alignment="center")
    if common.run_button(row, "Rank methods and layers", "heat_rank_maps", icon=":material/leaderboard:",
                         help="Every method on each of the last few stages, scored by ROAD and insertion − deletion "
                              "(Score-CAM as Faster Score-CAM). Takes a while."):
        row.button("Stop", key="heat_rank_stop", icon=":material/stop:", help="Keep the maps scored so far.")

        def keep(rows: list[dict], total: int) -> None:  # every scored map is kept: Stop shows the ranking so far
            st.session_state[MAP_RANKING] = {"request": request, "rows": sorted(rows, key=lambda r: -r["score"]),
                                             "total": total}

        if common.in_turn("heatmaps", lambda: ranked_rows(vm, image, settings, keep)) is None:
            return
    ranking = st.session_state.get(MAP_RANKING)
    if not ranking or ranking["request"] != request or not ranking["rows"]:
        row.caption("Which method and layer explain this photo best? Scores every method on the last few layers.")
        return
    if len(ranking["rows"]) < ranking["total"]:
        row.caption(f":orange-badge[:material/stop_circle: stopped] after {len(ranking['rows'])} of "
                    f"{ranking['total']} maps: the best of those.")
    best = ranking["rows"][0]
    title = f"{cam.METHODS[best['method']].title} on {common.layer_title(best['layer'])}"
    current = (settings.method, settings.layer or cam.default_layer(vm)) == (best["method"], best["layer"])
    row.button(f"Use {title}", key="heat_use_best_map", on_click=use_map, args=(best["method"], best["layer"]),
               disabled=current, icon=":material/check:", help="Switch the page to the best method and layer.")
    small = thumbnail(vm.as_seen(image))
    st.dataframe([{"map": data_url(style.over(small, r["grid"])), "method": cam.METHODS[r["method"]].title,
                   "layer": r["layer"], "score": r["score"], "ROAD": r["road"], "insertion": r["insertion"],
                   "deletion": r["deletion"]} for r in ranking["rows"]],
                 hide_index=True, width="stretch", row_height=RANK_THUMBNAIL // 2 + 8,
                 column_config={"map": st.column_config.ImageColumn("map", width="small"),
                                "score": st.column_config.NumberColumn(
                                    "score", format="%+.3f", help="ROAD + insertion − deletion: higher is better."),
                                "ROAD": st.column_config.NumberColumn("ROAD", format="%+.3f",
                                                                      help="Higher is better."),
                                "insertion": st.column_config.NumberColumn("insertion", format="%.3f",
                                                                           help="AUC; higher is better."),
                                "deletion": st.column_config.NumberColumn("deletion", format="%.3f",
                                                                          help="AUC; lower is better.")})
    st.caption("Best first; click a column's header to sort by it.")


def ranked_rows(vm, image, settings: HeatmapSettings, keep) -> list[dict] | None:
    """Every method × layer scored, with a progress bar, each handed to ``keep(rows, total)`` as it comes;
    the rows best first, or None after an st.error."""
    total = len(cam.METHODS) * len(cam.ranking_layers(vm))
    progress = st.progress(0.0, text="Scoring every method on the last layers…")
    rows: list[dict] = []
    keep(rows, total)
    try:
        for done, item in enumerate(cam.score_maps(vm, image, class_index=settings.class_index,
                                                   lower=settings.lower), 1):
            rows.append({"method": item.method, "layer": item.layer, "score": item.score, "road": item.road,
                         "insertion": item.insertion, "deletion": item.deletion, "grid": item.result.grid})
            keep(rows, total)
            progress.progress(done / total, text=f"{cam.METHODS[item.method].title} on {item.layer} done")
    except vizcore.VizcoreError as error:
        progress.empty()
        st.error(str(error))
        return None
    progress.empty()
    return sorted(rows, key=lambda r: -r["score"])


def use_map(method: str, layer: str) -> None:
    """The ranking's "Use" button: switch the method and the layer before their selectboxes are drawn."""
    st.session_state["heat_method"], st.session_state["heat_layer"] = method, layer


def compare_view(vm, image: np.ndarray, settings: HeatmapSettings, style: OverlayStyle) -> None:
    """Every method on the same photo and class, each map with its faithfulness, drawn as it comes."""
    columns = st.columns(len(cam.METHODS))
    progress = st.progress(0.0, text="Computing every method…")
    scores = {}  # method name → faithfulness score
    for done, (column, method) in enumerate(zip(columns, cam.METHODS.values())):
        with column:
            computed = compute(vm, image, settings.for_method(method.name))
            if computed is None:
                continue
            result, seconds = computed
            st.image(style.over(vm.as_seen(image), result.heatmap), width="stretch")
            try:
                faithfulness = cached_faithfulness(vm, image, settings.for_method(method.name), result)
            except vizcore.VizcoreError as error:
                st.error(str(error))
                continue
            scores[method.name] = faithfulness.score
            st.metric(f"{method.title} · faithfulness", f"{faithfulness.score:+.2f}",
                      help=faithfulness_line(faithfulness, explained(vm, settings.lower)))
            st.caption(f"{method.note} · {seconds:.2f} s")
        progress.progress((done + 1) / len(cam.METHODS), text=f"{method.title} done")
    progress.empty()
    if scores:
        best = max(scores, key=scores.get)
        st.markdown(f"Most faithful on this photo: **{cam.METHODS[best].title}** ({scores[best]:+.2f}).")
    st.caption(f"Faithfulness: {explained(vm, settings.lower)} drop when the map's hottest patches are hidden, minus "
               "the drop for as many random patches; higher is better.")


def layer_ranking(vm, image: np.ndarray, photo: str, settings: HeatmapSettings, style: OverlayStyle) -> None:
    """"Rank layers": the last few stages' maps scored by faithfulness for this photo, class and
    method, best first, with a button that makes the best one the target layer."""
    full_score_cam = settings.method == "scorecam" and settings.top_k is None  # on 4 layers: too slow
    settings = settings.for_method(DEFAULT_METHOD_FOR_RANKING if full_score_cam else settings.method)
    request = (common.model_identity(vm), photo, settings.class_index, settings.method, settings.lower, settings.top_k)
    row = st.container(horizontal=True, vertical_alignment="center")
    requested = common.run_button(row, "Rank layers", "heat_rank", icon=":material/leaderboard:",
                                  help="Which layer explains this photo best? Computes the map on each of the last "
                                       "few stages and scores it by faithfulness.")
    if requested:
        with st.spinner("Computing a map on each of the last few layers…"):
            try:
                scores = cam.rank_layers(vm, image, class_index=settings.class_index, method=settings.method,
                                         lower=settings.lower, top_k=settings.top_k)
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
    row.button(f"Use {common.layer_title(best)}", key="heat_use_best", on_click=use_layer, args=(best,),
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


def thumbnail(image: np.ndarray) -> np.ndarray:
    scale = RANK_THUMBNAIL / max(image.shape[:2])
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))


def data_url(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(drawing.png_bytes(image)).decode()


def main() -> None:
    vm = common.page("Heatmaps", "Where did the model look to call this photo by a class? Grad-CAM, Grad-CAM++, "
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
        links.linked_photo("heat", common.sample_paths(), DEFAULT_PHOTO)
        image = common.image_picker("heat", default_sample=DEFAULT_PHOTO)
    if image is None:
        links.share()  # an upload to come: nothing of this page a link can carry
        links.show_problems(problems)
        st.info("Pick a sample photo or upload one to begin.")
        st.stop()
    try:
        predictions = cached_predictions(vm, image)
    except vizcore.VizcoreError as error:
        st.error(str(error))
        st.stop()
    with chart:
        if vm.head.kind == "regression":  # values, not probabilities: no 0–100 % bars
            st.markdown("**Outputs**")
            common.show_values(predictions)
        else:
            st.markdown(f"**Top {min(TOP, vm.classes)} predictions**")
            st.altair_chart(predictions_chart(predictions), width="stretch")
        if common.predictions_note(vm):
            st.caption(common.predictions_note(vm))
    photo = common.array_digest(image)
    settings = heatmap_settings(vm, predictions, photo)
    links.share(photo=links.shared_photo("heat"), **shared_settings(settings))
    links.show_problems(problems)
    style = overlay_style()
    layer_ranking(vm, image, photo, settings, style)
    view = st.radio("View", ["Selected method", "Compare methods"], horizontal=True, key="heat_view",
                    label_visibility="collapsed")
    if view == "Selected method":
        single_view(vm, image, photo, settings, style)
    else:
        compare_view(vm, image, settings, style)


main()
