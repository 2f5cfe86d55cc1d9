"""The Filters page's plausibility (``vizcore.plausibility``): under a finished grid, a table with each
picture against the best real photo of the example folder and, for class pictures, what the other
bundled Lites call it; and one line under the picture the inspector shows. Each number is cached by
the pictures themselves."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from ui.cache_keys import HASH_FUNCS
from ui.models import cached_model
from vizcore import examples, plausibility

MEASURED = {  # the views whose pictures are measured: what is compared with the photos
    "Filters": "each picture's peak activation of its filter",
    "Diversity": "each picture's peak activation of its filter",
    "Neuron": "the peak of each picture's filter anywhere on its map (not only the neuron's position)",
    "Class": "each picture's class score",
}
ROWS_SHOWN = 8  # table rows shown before it scrolls
ROW_HEIGHT = 35  # px, Streamlit's dataframe row


def judge_name(name: str) -> str:
    return name.replace("efficientnet_lite", "Lite")


def said(call: plausibility.Transfer) -> str:
    """A judge's call of one picture in words: first, in its top 5, or no."""
    return "first" if call.top1 else "top 5" if call.top5 else "no"


@st.cache_data(max_entries=16, show_spinner="Measuring each picture against real photos…", hash_funcs=HASH_FUNCS)
def grid_scores(vm, show: str, layer: str, targets: tuple[int, ...], pictures: np.ndarray) -> dict:
    """{"ratios": each picture over the best photo (NaN: no photo fires it), "photos": how many photos,
    "judges": {judge: each picture's call}} for a grid's pictures, each measure in one batched pass."""
    files = examples.image_files(examples.default_folders())
    if show != "Class":
        found = examples.index(vm, layer, files)
        ratios = plausibility.channel_ratios(vm, layer, targets, pictures, found)
        return {"ratios": ratios, "photos": len(found.files), "judges": {}}
    ratios = plausibility.class_ratios(vm, targets, pictures, files)
    judges = {judge_name(name): [said(call) for call in plausibility.calls(cached_model(name), targets, pictures)]
              for name in plausibility.judges_for(vm)}
    return {"ratios": ratios, "photos": min(len(files), plausibility.MAX_PHOTOS), "judges": judges}


def score_table(names: list[str], scores: dict) -> pd.DataFrame:
    """One row per picture: its name, its share of the best photo (%), and each judge's call."""
    shares = np.where(np.isnan(scores["ratios"]), np.nan, 100 * np.asarray(scores["ratios"], float))
    return pd.DataFrame({"picture": names, "vs best photo": shares, **scores["judges"]})


def plausibility_table(vm, show: str, layer: str, frame, names: list[str]) -> None:
    """Under a finished grid: each picture's plausibility, a row per picture (sortable), or why there is none."""
    if not frame.done:
        return
    if show not in MEASURED:
        st.caption("Plausibility is measured for pictures of one filter or one class: a blend of two filters "
                   "has no real photo to compare with.")
        return
    scores = grid_scores(vm, show, layer, tuple(int(t) for t in frame.filters), frame.images)
    table = score_table(names, scores)
    judged = " · " + ", ".join(scores["judges"]) + ": does that model call it by its class (first, in its top 5, " \
        "or no)?" if scores["judges"] else ""
    st.caption(f"**Plausibility** of each picture: {MEASURED[show]}, as a share of the best of {scores['photos']} "
               f"real photos' (100%: as strong as the best photo){judged}")
    biggest = float(np.nanmax(table["vs best photo"])) if table["vs best photo"].notna().any() else 100.0
    config = {"picture": st.column_config.TextColumn("picture"),
              "vs best photo": st.column_config.ProgressColumn("vs best photo", format="%.0f%%", min_value=0,
                                                               max_value=max(100.0, biggest))}
    st.dataframe(table, hide_index=True, column_config=config, width=520 if scores["judges"] else 400,
                 height=min(len(table), ROWS_SHOWN) * ROW_HEIGHT + ROW_HEIGHT + 3)


@st.cache_data(max_entries=32, show_spinner="Measuring the picture against real photos…", hash_funcs=HASH_FUNCS)
def channel_line(vm, layer: str, channel: int, picture: np.ndarray) -> str:
    found = examples.index(vm, layer, examples.image_files(examples.default_folders()))
    ratio = plausibility.channel_ratio(vm, layer, channel, picture[None], found)
    if ratio is None:
        return f"No photo of the {len(found.files)} example photos fires this filter."
    return f"Plausibility: {ratio[0]:.0%} of the best of {len(found.files)} real photos' peak."


@st.cache_data(max_entries=32, show_spinner="Asking the other models what they see…", hash_funcs=HASH_FUNCS)
def class_line(vm, class_index: int, picture: np.ndarray) -> str:
    files = examples.image_files(examples.default_folders())
    ratio = plausibility.class_ratio(vm, class_index, picture[None], files)
    parts = [f"{ratio[0]:.0%} of the best real photo's score" if ratio is not None else None]
    for judge in plausibility.transfer([cached_model(name) for name in plausibility.judges_for(vm)],
                                       [class_index], picture[None]):
        said = "first" if judge.top1 else "in its top 5" if judge.top5 else "no, not in its top 5"
        parts.append(f"{judge_name(judge.judge)} calls it by its class: {said}")
    return "Plausibility: " + " · ".join(part for part in parts if part)


def plausibility_line(place, vm, show: str, layer: str, target: int, picture: np.ndarray) -> None:
    """Under the inspected picture: how it compares with real photos (a channel or class view)."""
    if show == "Class":
        place.caption(class_line(vm, target, picture))
    elif show in ("Filters", "Diversity"):
        place.caption(channel_line(vm, layer, target, picture))
