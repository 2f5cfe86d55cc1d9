"""The Filters page's plausibility line under the picture it inspects: the picture against the best
real photo of the example folder, and, for a class picture, what the other bundled Lites call it
(``vizcore.plausibility``). Each number is cached per picture."""
from __future__ import annotations

import numpy as np
import streamlit as st

from ui.cache_keys import HASH_FUNCS
from ui.models import cached_model
from vizcore import examples, plausibility


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
        parts.append(f"{judge.judge.replace('efficientnet_lite', 'Lite')} calls it by its class: {said}")
    return "Plausibility: " + " · ".join(part for part in parts if part)


def plausibility_line(place, vm, show: str, layer: str, target: int, picture: np.ndarray) -> None:
    """Under the inspected picture: how it compares with real photos (a channel or class view)."""
    if show == "Class":
        place.caption(class_line(vm, target, picture))
    elif show in ("Filters", "Diversity"):
        place.caption(channel_line(vm, layer, target, picture))
