"""Feature accentuation in the app (``vizcore.accentuate``, Hamblin et al., 2024): what a channel or a
class sees in the user's own photo, shown as the photo, the accentuated picture and their difference.

``what_it_sees_here`` is the Why page's switch under a top channel's row, ``what_groups_see_here``
its switch under the neuron groups; ``accentuation_view`` is the Filters page's "Accentuate" view
(a photo, a layer and channel or a class, how far to go)."""
from __future__ import annotations

import re

import numpy as np
import streamlit as st

import vizcore
from ui import photos
from ui.cache_keys import HASH_FUNCS
from ui.filter_pickers import layer_picker
from ui.widgets import starting
from vizcore import accentuate, drawing, objectives

DISTANCES = {"subtle": 0.04, "clear": 0.08, "strong": 0.16}  # RMS distance from the photo, [0, 1] units


@st.cache_data(max_entries=32, show_spinner="Accentuating the feature in the photo…", hash_funcs=HASH_FUNCS)
def cached_accentuation(vm, photo: np.ndarray, layer: str, target: int | tuple[float, ...],
                        distance: float) -> accentuate.Accentuation:
    """The finished accentuation of channel ``target`` of ``layer``, of a direction over its channels
    (``target`` a tuple of weights: a neuron group), or with ``layer`` "", of class ``target``."""
    if not layer:
        objective = objectives.class_logit(target)
    elif isinstance(target, tuple):
        objective = objectives.direction(layer, np.asarray(target, np.float32))
    else:
        objective = objectives.channel(layer, target, border=0)
    frames = list(accentuate.accentuate(vm, photo, objective, distance=distance, every=accentuate.STEPS))
    return accentuate.finished(vm, photo, frames[-1])


def side_by_side(result: accentuate.Accentuation, what: str, key: str) -> None:
    """The photo, the accentuated picture and their difference, in three columns, and the three as a PNG."""
    photo_col, picture_col, difference_col = st.columns(3)
    photo_col.image(result.photo, caption="the photo", width="stretch")
    picture_col.image(result.picture, caption=f"{what} accentuated: {result.before:.3g} → {result.after:.3g}",
                      width="stretch")
    difference_col.image(result.difference, width="stretch",
                         caption=f"what changed (grey: nothing), RMS distance {result.distance:.3f}")
    name = re.sub(r"\W+", "-", what).strip("-")
    st.download_button("Download PNG", drawing.png_bytes(drawing.grid(result.as_row(), cols=3)),
                       file_name=f"accentuated-{name}.png", mime="image/png",
                       icon=":material/download:", key=key, on_click="ignore",
                       help="The photo, the accentuated picture and what changed, side by side.")


def what_it_sees_here(place, vm, photo: np.ndarray, layer: str, channel: int) -> None:
    """A switch in ``place``; on, the channel accentuated in the photo, below the row."""
    if place.toggle("What it sees here", key=f"why_accentuate_{layer}_{channel}",
                    help="Start from this photo and strengthen what the channel responds to, staying close to the "
                         "photo (feature accentuation, Hamblin et al., 2024)."):
        try:
            side_by_side(cached_accentuation(vm, photo, layer, channel, DISTANCES["clear"]), f"channel {channel}",
                         key=f"why_accentuate_png_{layer}_{channel}")
        except vizcore.VizcoreError as error:
            st.error(str(error))


def what_groups_see_here(columns, vm, photo: np.ndarray, layer: str, groups) -> None:
    """A switch; on, each neuron group (a mix of ``layer``'s channels) accentuated in the photo, under its column."""
    if not st.toggle("What they see here", key="why_groups_accentuate",
                     help="Start from this photo and strengthen each group's mix of channels, staying close to "
                          "the photo (feature accentuation, Hamblin et al., 2024)."):
        return
    for number, (column, group) in enumerate(zip(columns, groups), start=1):
        weights = tuple(float(weight) for weight in group.channels)  # hashable: the cache's key
        try:
            result = cached_accentuation(vm, photo, layer, weights, DISTANCES["clear"])
        except vizcore.VizcoreError as error:
            st.error(str(error))
            return
        column.image(result.picture, width="stretch",
                     caption=f"group {number} accentuated: {result.before:.3g} → {result.after:.3g}")
        column.image(result.difference, width="stretch", caption="what changed")


def accentuation_view(vm) -> None:
    """Filters' "Accentuate" view: a photo, a channel or class, how far from the photo; Run shows the three."""
    photo_col, target_col = st.columns([2, 3])
    with photo_col:
        photo = photos.image_picker("accentuate")
    if photo is None:
        st.stop()
    kind = target_col.radio("Accentuate", ["Channel", "Class"] if vm.is_classifier else ["Channel"], horizontal=True,
                            key=starting("accentuate_kind", "Channel"))
    layer = layer_picker(vm, target_col) if kind == "Channel" else ""
    most = vm.layer(layer).channels - 1 if layer else vm.classes - 1
    target = target_col.number_input("Channel" if layer else "Class", 0, most,
                                     key=starting(f"accentuate_{layer or 'class'}", 0))  # one per layer: its range
    how_far = target_col.segmented_control("How far from the photo", list(DISTANCES), required=True,
                                           key=starting("accentuate_distance", "clear"))
    if st.button("Run", type="primary", icon=":material/play_arrow:", key="accentuate_run"):
        st.session_state["accentuate_asked"] = (layer, int(target), how_far)
    if st.session_state.get("accentuate_asked") != (layer, int(target), how_far):
        st.info("Press **Run** to accentuate it in the photo.")
        return
    what = f"channel {target}" if layer else vm.label(int(target))
    try:
        side_by_side(cached_accentuation(vm, photo, layer, int(target), DISTANCES[how_far]), what, key="accentuate_png")
    except vizcore.VizcoreError as error:
        st.error(str(error))
