"""The Filters page's plausibility (``vizcore.plausibility``): under each tile of a finished grid, its
share of the best real photo of the example folder and, for class pictures, what the other bundled
Lites call it (a short label drawn under the tile, and the same numbers in a sortable table); and one
line under the picture the inspector shows. Each number is cached by the pictures themselves."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image, ImageDraw, ImageFont

from ui.cache_keys import HASH_FUNCS
from ui.models import cached_model
from vizcore import examples, plausibility

MEASURED = {  # the views whose pictures are measured: what is compared with the photos
    "Filters": "its filter's peak activation",
    "Diversity": "its filter's peak activation",
    "Neuron": "its filter's peak activation anywhere on the map (not only at the neuron)",
    "Class": "its class score",
}
ROWS_SHOWN = 8  # table rows shown before it scrolls
ROW_HEIGHT = 35  # px, Streamlit's dataframe row
LABEL_PX = (12, 18)  # the label's font size under a tile: at least, at most (a tenth of the tile's width between)
LABEL_GREY = (225, 225, 225)  # the label's colour on the grid's black


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


def tile_labels(scores: dict) -> list[str]:
    """Each tile's short label: "84%" ("n/a" where no photo fires it), and each judge's call ("L1 first")."""
    shares = ["n/a" if np.isnan(ratio) else f"{ratio:.0%}" for ratio in scores["ratios"]]
    calls = zip(*[[f"{name.replace('Lite', 'L')} {call}" for call in said] for name, said in scores["judges"].items()])
    return [" · ".join([share, *called]) for share, called in zip(shares, calls)] if scores["judges"] else shares


def label_font(width: int, longest: str) -> ImageFont.FreeTypeFont:
    """Pillow's own font, a tenth of a tile's width high within ``LABEL_PX``, smaller if the longest label
    would not fit the tile."""
    size = min(LABEL_PX[1], max(LABEL_PX[0], width // 10))
    font = ImageFont.load_default(size=size)
    while size > 8 and font.getlength(longest) > width - 4:
        size -= 1
        font = ImageFont.load_default(size=size)
    return font


def labelled(tiles: np.ndarray, labels: list[str]) -> np.ndarray:
    """The tiles (N, h, w, 3) each with its label written in a black strip under it (Pillow)."""
    width = tiles.shape[2]
    font = label_font(width, max(labels, key=len))
    strip = round(font.size * 1.6)
    shown = []
    for tile, label in zip(tiles, labels):
        canvas = Image.new("RGB", (width, tiles.shape[1] + strip))
        canvas.paste(Image.fromarray(tile), (0, 0))
        ImageDraw.Draw(canvas).text((width / 2, tiles.shape[1] + strip / 2), label, fill=LABEL_GREY, font=font,
                                    anchor="mm")
        shown.append(np.asarray(canvas))
    return np.stack(shown)


def plausibility_table(vm, show: str, layer: str, frame, names: list[str]) -> list[str] | None:
    """Under a finished grid: what its tiles' labels mean, and each picture's plausibility in a sortable table
    (or why there is none). Returns the labels to write under the tiles (None: nothing measured)."""
    if not frame.done:
        return None
    if show not in MEASURED:
        st.caption("Plausibility is measured for pictures of one filter or one class: a blend of two filters "
                   "has no real photo to compare with.")
        return None
    scores = grid_scores(vm, show, layer, tuple(int(t) for t in frame.filters), frame.images)
    table = score_table(names, scores)
    names = list(scores["judges"])
    judged = "; for a class, the best photo the model puts the class in its top 5 for (n/a: no photo shows it)" \
        if show == "Class" else ""
    if names:
        judged += (f" · {', '.join(name.replace('Lite', 'L') for name in names)}: does {' or '.join(names)} call it "
                   "by its class (first, in its top 5, or no)")
    st.caption(f"**Plausibility**, under each picture: {MEASURED[show]} as a share of the highest among "
               f"{scores['photos']} real photos (100%: as strong as the best photo){judged}.")
    biggest = float(np.nanmax(table["vs best photo"])) if table["vs best photo"].notna().any() else 100.0
    config = {"picture": st.column_config.TextColumn("picture"),
              "vs best photo": st.column_config.ProgressColumn("vs best photo", format="%.0f%%", min_value=0,
                                                               max_value=max(100.0, biggest))}
    with st.expander("The same as a table (sortable)"):
        st.dataframe(table, hide_index=True, column_config=config, width=520 if scores["judges"] else 400,
                     height=min(len(table), ROWS_SHOWN) * ROW_HEIGHT + ROW_HEIGHT + 3)
    return tile_labels(scores)


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
    parts = [f"{ratio[0]:.0%} of the best real photo's score" if ratio is not None
             else "no real photo of this class among the examples"]
    for judge in plausibility.transfer([cached_model(name) for name in plausibility.judges_for(vm)],
                                       [class_index], picture[None]):
        said = "first" if judge.top1 else "in its top 5" if judge.top5 else "no, not in its top 5"
        parts.append(f"{judge_name(judge.judge)} calls it by its class: {said}")
    return "Plausibility: " + " · ".join(part for part in parts if part)


def plausibility_line(place, vm, show: str, layer: str, target: int, picture: np.ndarray) -> None:
    """Under the inspected picture: how it compares with real photos (a channel or class view)."""
    if show == "Class":
        place.caption(class_line(vm, target, picture))
    elif show in MEASURED:  # a channel: Filters, Diversity, a neuron's filter
        place.caption(channel_line(vm, layer, target, picture))
