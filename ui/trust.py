""""Can I trust this map?": a heatmap's faithfulness, deletion, insertion and ROAD scores in numbers,
curves and words, the sanity check (``vizcore.cam.sanity_check``) on a click, and every method × the
last layers ranked (``vizcore.cam.score_maps``), offering the best.

The sentences under the scores are written for every value the metrics can give: a share of 0 % (the
blurred photo alone already gives half the confidence back), the whole photo, drops that are rises,
changes that round to zero (never "-0 %") and curves that could not be measured. The three curve
charts are separate charts in columns, so each stretches to its column on a narrow window (a
concatenated Altair chart has a fixed width).
"""
from __future__ import annotations

import math
from dataclasses import asdict

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

import vizcore
from ui import runs
from ui.cache_keys import HASH_FUNCS, model_identity
from ui.colours import ACCENT, GREEN, GREY
from ui.map_settings import HeatmapSettings, OverlayStyle
from ui.thumbnails import RANK_THUMBNAIL, data_url, thumbnail
from ui.widgets import layer_title
from vizcore import cam, drawing, scheduler, timeline

LOW_CONFIDENCE = 0.01      # a class below this probability: its map's trust scores measure noise
TRUST_CHART_HEIGHT = 180   # px, each curve chart's plot; its width follows its column (autosize fit-x: Streamlit's
# default, fit, would squeeze the title, the axes and the legend into this height too)
MIN_PERCENT_SPAN = 0.05    # a percent axis spans at least 5 points, so ".0%" ticks never all read "0%"
MIN_VALUE_SPAN = 0.1       # ... a value axis at least this much around a flat line
SANITY = "heat_sanity_for"  # session_state: the request the sanity check was last run for
MAP_RANKING = "heat_map_ranking"  # session_state: the latest method × layer ranking and what it was for


@st.cache_data(max_entries=128, show_spinner=False, hash_funcs=HASH_FUNCS)
def cached_faithfulness(vm, image: np.ndarray, settings: HeatmapSettings, _result) -> cam.Faithfulness:
    """The faithfulness of ``_result``, the map made with ``settings`` (which key it)."""
    with timeline.span("faithfulness"):
        return cam.faithfulness(vm, _result)


@st.cache_data(max_entries=64, show_spinner=False, hash_funcs=HASH_FUNCS)
def cached_trust_metrics(vm, image: np.ndarray, settings: HeatmapSettings, _result) -> cam.TrustMetrics:
    """Deletion, insertion and ROAD of ``_result``, the map made with ``settings`` (which key it)."""
    with timeline.span("trust metrics"):
        return cam.trust_metrics(vm, _result)


@st.cache_data(max_entries=16, show_spinner=False, hash_funcs=HASH_FUNCS)
def cached_sanity(vm, image: np.ndarray, settings: HeatmapSettings, class_index: int,
                  _request: cam.CamRequest) -> cam.SanityReport:
    """The sanity check of the map ``_request`` asks for (without smoothing) for ``class_index``; the
    photo, ``settings`` and the class key it."""
    return cam.sanity_check(vm, _request.but(vm, class_index=class_index, augment=False, eigen_smooth=False))


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
    scores[0].metric("Faithfulness", signed(faithfulness.score, 2), help=f"Mean, over the shares removed, of the "
                     f"{what} drop when the map's hottest 16-pixel patches are blurred away, minus the drop for as "
                     "many random patches. Above 0: the map beats chance; near 0 or below: it does not.")
    verdict = faithfulness_verdict(faithfulness.score).capitalize()
    scores[0].caption(f"{verdict}. {faithfulness_line(faithfulness, what)}")
    scores[1].metric("Deletion AUC ↓", unsigned(metrics.deletion.auc, 3), help=f"Area under the {what} curve as "
                     "the map's hottest patches are blurred away, hottest first (Petsiuk et al., 2018). Lower is "
                     "better.")
    scores[1].caption(deletion_line(metrics.deletion, what))
    scores[2].metric("Insertion AUC ↑", unsigned(metrics.insertion.auc, 3), help=f"Area under the {what} curve as "
                     "the map's hottest patches are added back to the blurred photo (Petsiuk et al., 2018). Higher "
                     "is better.")
    scores[2].caption(insertion_line(metrics.insertion, what))
    scores[3].metric("ROAD ↑", signed(metrics.road.combined, 3), help="Remove and debias (Rong et al., 2022): "
                     "pixels are removed at 10 … 90 % and filled in from their neighbours, most relevant first "
                     "(MoRF) and least relevant first (LeRF); the score is (mean LeRF change − mean MoRF change) / "
                     "2. Above 0: the map orders pixels better than its reverse.")
    scores[3].caption(road_line(metrics.road, what))
    for column, chart in zip(st.columns(3), trust_charts(faithfulness, metrics, what)):
        column.altair_chart(chart, width="stretch")
    sanity_tab, ranking_tab = st.tabs(["Sanity check", "Best method and layer"])
    with sanity_tab:
        sanity_panel(vm, image, photo, settings, result, style)
    with ranking_tab:
        map_ranking(vm, image, photo, settings, style, result.request)


# --- numbers and sentences --------------------------------------------------------------------------

def measured(values) -> bool:
    """There are values and every one is a number."""
    values = np.asarray(values, np.float64)
    return values.size > 0 and bool(np.all(np.isfinite(values)))


def percent(share: float) -> str:
    """A share as a whole percent, never "-0%"."""
    text = f"{share:.0%}"
    return "0%" if text == "-0%" else text


def signed(value: float, digits: int) -> str:
    """A score with its sign ("+0.00", never "-0.00"); "n/a" when it could not be measured."""
    if not math.isfinite(value):
        return "n/a"
    text = f"{value:+.{digits}f}"
    return f"{0:+.{digits}f}" if float(text) == 0 else text


def unsigned(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "n/a"


def change(drop: float, what: str = "confidence") -> str:
    """A relative drop in words: lowers by, raises by, or barely changes (when it rounds to 0 %)."""
    if percent(abs(drop)) == "0%":
        return f"barely changes the {what}"
    return f"lowers the {what} by {percent(drop)}" if drop > 0 else f"raises the {what} by {percent(-drop)}"


def shift(value: float, what: str) -> str:
    """An absolute drop of the explained value in words: in percentage points of a probability, or in the
    output's own units."""
    if what != "confidence":
        if f"{abs(value):.3g}" == "0":
            return f"leaves the {what} unchanged"
        return f"lowers the {what} by {value:.3g}" if value > 0 else f"raises the {what} by {-value:.3g}"
    points = round(abs(value) * 100)
    if points == 0:
        return f"barely changes the {what}"
    if points >= 100 and value > 0:
        return f"takes all of the {what} away"
    amount = f"{points} percentage point{'s' if points != 1 else ''}"
    return f"lowers the {what} by {amount}" if value > 0 else f"raises the {what} by {amount}"


def explained(vm, lower: bool = False) -> str:
    """What the faithfulness test measures the drop of: the confidence, or the explained output's push."""
    if vm.head.is_probability:
        return "confidence"
    return "negated output" if lower else "output"


def faithfulness_verdict(score: float) -> str:
    if not math.isfinite(score):
        return "the map could not be scored on this photo"
    if score >= 0.3:
        return "the map points at pixels the model relies on"
    if score >= 0.1:
        return "the map is somewhat better than chance"
    return "hiding the hot pixels hurts no more than hiding random ones: read this map with care"


def faithfulness_line(faithfulness: cam.Faithfulness, what: str = "confidence") -> str:
    """Faithfulness in words, at the 10 % removal (or the nearest measured share)."""
    if not (measured(faithfulness.fractions) and measured(faithfulness.cam_drops)
            and measured(faithfulness.random_drops)):
        return f"The {what} could not be measured with parts of the photo hidden."
    i = int(np.argmin(np.abs(np.asarray(faithfulness.fractions) - 0.1)))
    share = percent(faithfulness.fractions[i])
    return (f"Hiding the hottest {share} of the photo {change(faithfulness.cam_drops[i], what)}; "
            f"hiding {share} at random {change(faithfulness.random_drops[i], what)}.")


def share_at_half(curve: cam.Curve, rising: bool) -> float | None:
    """The first share at which the curve crosses half of its end value (rising) or of its start (falling)."""
    target = (curve.scores[-1] if rising else curve.scores[0]) / 2
    for fraction, score in zip(curve.fractions, curve.scores):
        if (score >= target) if rising else (score <= target):
            return fraction
    return None


def deletion_line(curve: cam.Curve, what: str) -> str:
    if not (measured(curve.scores) and measured(curve.fractions)):
        return f"The {what} could not be measured as the photo was blurred."
    if not curve.scores[0] > 0:
        return f"The photo itself gives no {what} to take away."
    share = share_at_half(curve, rising=False)
    if share is None:
        return f"Blurring even the whole photo keeps over half the {what}."
    if share >= 1:
        return f"Only blurring the whole photo halves the {what}."
    return f"Blurring the hottest {percent(share)} of the photo halves the {what}."


def insertion_line(curve: cam.Curve, what: str) -> str:
    if not (measured(curve.scores) and measured(curve.fractions)):
        return f"The {what} could not be measured as the photo came back."
    if not curve.scores[-1] > 0:
        return f"The photo itself gives no {what} to give back."
    share = share_at_half(curve, rising=True)
    if share is None or share >= 1:
        return f"Only the whole photo, sharp, gives back half the {what}."
    if share <= 0:
        return f"The blurred photo alone already gives back half the {what}."
    return f"The hottest {percent(share)} of the photo, sharp in a blurred one, gives back half the {what}."


def road_line(road: cam.Road, what: str) -> str:
    if not (measured(road.morf) and measured(road.lerf)):
        return f"ROAD could not measure the {what} on this photo."
    most, least = -float(np.mean(road.morf)), -float(np.mean(road.lerf))
    return (f"On average, removing its most relevant pixels {shift(most, what)}; removing its least relevant "
            f"{shift(least, what)}.")


# --- the curves -------------------------------------------------------------------------------------

def value_scale(values, percent_axis: bool) -> alt.Scale:
    """The y scale: Altair's own, unless the values are flat (all 0 draws an axis of one tick, "0.000000%")
    or not numbers; then a small range around them."""
    finite = [float(v) for v in values if math.isfinite(v)]
    if not finite:
        return alt.Scale(domain=[0, 1])
    low, high = min(finite), max(finite)
    span = MIN_PERCENT_SPAN if percent_axis else max(MIN_VALUE_SPAN, 0.2 * max(abs(low), abs(high)))
    if high - low >= span:
        return alt.Scale()
    middle = (low + high) / 2
    bottom, top = min(low, middle - span / 2), max(high, middle + span / 2)
    if low >= 0 > bottom:  # a probability that never goes below 0: no axis below it either
        bottom, top = 0.0, max(high, span)
    return alt.Scale(domain=[bottom, top], zero=False)


def trust_charts(faithfulness: cam.Faithfulness, metrics: cam.TrustMetrics, what: str) -> list[alt.Chart]:
    """Three charts: faithfulness (hottest vs random), deletion and insertion, ROAD's MoRF and LeRF."""
    def chart(title: str, rows: list[dict], x: str, y: str, colours: list[str], percent_y: bool = True) -> alt.Chart:
        lines = list(dict.fromkeys(row["line"] for row in rows))
        return alt.Chart(pd.DataFrame(rows, columns=["x", "y", "line"]), title=title).mark_line(point=True).encode(
            x=alt.X("x:Q", axis=alt.Axis(format=".0%", tickCount=5), title=x),
            y=alt.Y("y:Q", axis=alt.Axis(format=".0%" if percent_y else "~g"), title=y,
                    scale=value_scale([row["y"] for row in rows], percent_y)),
            color=alt.Color("line:N", scale=alt.Scale(domain=lines, range=colours),
                            legend=alt.Legend(orient="bottom", direction="vertical", title=None)),
        ).properties(height=TRUST_CHART_HEIGHT, autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))

    def line(name: str, xs, ys) -> list[dict]:
        return [{"x": x, "y": y, "line": name} for x, y in zip(xs, ys)]

    percent_y = what == "confidence"
    drops = (line("hottest hidden", faithfulness.fractions, faithfulness.cam_drops)
             + line("random hidden", faithfulness.fractions, faithfulness.random_drops))
    curves = (line("deletion", metrics.deletion.fractions, metrics.deletion.scores)
              + line("insertion", metrics.insertion.fractions, metrics.insertion.scores))
    shares = [p / 100 for p in metrics.road.percentiles]
    road = (line("most relevant first", shares, metrics.road.morf)
            + line("least relevant first", shares, metrics.road.lerf))
    return [
        chart("Faithfulness", drops, "photo hidden", f"{what} drop", [ACCENT, GREY]),
        chart("Deletion and insertion", curves, "patches changed", what, [ACCENT, GREEN],
              percent_y=percent_y),
        chart("ROAD", road, "pixels removed", f"{what} change", [ACCENT, GREY], percent_y=percent_y),
    ]


# --- the sanity check -------------------------------------------------------------------------------

def sanity_panel(vm, image, photo: str, settings: HeatmapSettings, result, style: OverlayStyle) -> None:
    """"Run sanity check": the map on copies of the model randomised from the output back, side by side."""
    st.caption("Does the map depend on the model? The sanity check of Adebayo et al. (2018) re-draws the weights of "
               "a copy of the model from the output back, a stage at a time, and makes the map again: a map that "
               "barely changes shows the photo, not what the model learned. It also makes the map of a random "
               "other class. Smoothing options are left out.")
    request = (model_identity(vm), photo, tuple(asdict(settings).values()), result.class_index)  # plain values:
    # the page's classes are new objects every run, so a stored HeatmapSettings never equals this run's
    if runs.run_button(st, "Run sanity check", "heat_sanity", icon=":material/science:",
                       help="Randomise a copy of the model in 3 stages and compare the maps (a few seconds)."):
        st.session_state[SANITY] = request
    if st.session_state.get(SANITY) != request:
        return
    try:
        with st.spinner("Randomising a copy of the model, stage by stage…"):
            report = cached_sanity(vm, image, settings, result.class_index, result.request)
    except vizcore.VizcoreError as error:
        st.error(str(error))
        return
    extra = [report.class_check] if report.class_check else []
    columns = st.columns(1 + len(report.stages) + len(extra))
    columns[0].image(drawing.colorize(report.original, style.cmap), width="stretch",
                     caption="The model as trained" + (" · uniform map" if cam.sanity.is_uniform(report.original)
                                                       else ""))
    for column, stage in zip(columns[1:], report.stages):
        column.image(drawing.colorize(stage.heatmap, style.cmap), width="stretch",
                     caption=f"Random from {stage.randomised_from} up")
        column.caption(("Uniform map · " if stage.uniform else "") + similarity(stage.spearman, stage.ssim))
    for check in extra:
        columns[-1].image(drawing.colorize(check.heatmap, style.cmap), width="stretch",
                          caption=f"Another class: {check.label}")
        columns[-1].caption(similarity(check.spearman, check.ssim))
    show_verdict(report)
    if report.class_check:
        st.caption(class_check_line(report.class_check))


def similarity(spearman: float, ssim: float) -> str:
    order = "Spearman undefined" if math.isnan(spearman) else f"Spearman {signed(spearman, 2)}"
    return f"{order} · SSIM {ssim:.2f}"


def show_verdict(report: cam.SanityReport) -> None:
    """Passed in green, failed in orange, inconclusive (a uniform map) in blue: each with its reason."""
    if report.outcome == cam.sanity.PASSED:
        st.success(report.verdict, icon=":material/check_circle:")
    elif report.outcome == cam.sanity.FAILED:
        st.warning(report.verdict, icon=":material/warning:")
    else:
        st.info(report.verdict, icon=":material/help:")


def class_check_line(check: cam.ClassCheck) -> str:
    start = f"Class check: the map of {check.label}, a class drawn at random, "
    if check.depends_on_class is None:
        uniform = "that map" if cam.sanity.is_uniform(check.heatmap) else "this class's map"
        return start + f"cannot be compared with this one: {uniform} is uniform, with no order of pixels to compare."
    if check.depends_on_class:
        return start + "differs from this one: the map depends on the class."
    return start + "looks much like this one: the map says little about this class in particular."


# --- the ranking of methods and layers -----------------------------------------------------------------

def map_ranking(vm, image, photo: str, settings: HeatmapSettings, style: OverlayStyle,
                map_request: cam.CamRequest) -> None:
    """"Rank methods and layers": every method on the last few stages, scored and sorted, with a switch to the best."""
    request = (model_identity(vm), photo, settings.class_index, settings.lower)
    row = st.container(horizontal=True, vertical_alignment="center")
    if runs.run_button(row, "Rank methods and layers", "heat_rank_maps", icon=":material/leaderboard:",
                       help="Every method on each of the last few stages, scored by ROAD and insertion − deletion "
                            "(Score-CAM as Faster Score-CAM). Takes a while."):
        row.button("Stop", key="heat_rank_stop", icon=":material/stop:", help="Keep the maps scored so far.")

        def keep(rows: list[dict], total: int) -> None:  # every scored map is kept: Stop shows the ranking so far
            st.session_state[MAP_RANKING] = {"request": request, "rows": sorted(rows, key=lambda r: -r["score"]),
                                             "total": total}

        if runs.in_turn("heatmaps", lambda: ranked_rows(vm, map_request, keep)) is None:
            return
    ranking = st.session_state.get(MAP_RANKING)
    if not ranking or ranking["request"] != request or not ranking["rows"]:
        row.caption("Which method and layer explain this photo best? Scores every method on the last few layers.")
        return
    if len(ranking["rows"]) < ranking["total"]:
        row.caption(f":orange-badge[:material/stop_circle: stopped] after {len(ranking['rows'])} of "
                    f"{ranking['total']} maps: the best of those.")
    best = ranking["rows"][0]
    title = f"{cam.METHODS[best['method']].title} on {layer_title(best['layer'])}"
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


def ranked_rows(vm, map_request: cam.CamRequest, keep) -> list[dict] | None:
    """Every method × layer scored, with a progress bar, each handed to ``keep(rows, total)`` as it comes;
    the rows best first, or None after an st.error."""
    total = len(cam.METHODS) * len(cam.ranking_layers(vm))
    progress = st.progress(0.0, text="Scoring every method on the last layers…")
    rows: list[dict] = []
    keep(rows, total)
    try:
        for done, item in enumerate(cam.score_maps(vm, map_request), 1):
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
