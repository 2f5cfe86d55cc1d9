"""Filters: what each filter of a layer responds to, one image per filter, streamed as it grows.

Widgets are read into plain values, ``vizcore.atlas.visualize`` (the filter ascent through the
disk cache) yields frames, this page draws them. The latest frame lives in
``st.session_state[RESULT]``: pressing Stop (or any widget) interrupts the run and the rerun
draws that frame, so the images made so far stay on screen. A run computed before, here or by
``vizcore atlas``, is read from the disk cache and shown at once, marked as cached. Layers are
listed through nested models by their paths; a small model's tiny tiles are shown enlarged by a
whole factor, each pixel a sharp block (never blurred by the browser).
"""
from __future__ import annotations

import threading
import time

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

import vizcore
from pages import common
from vizcore import atlas, filters

GRID_SIZES = [1, 4, 16, 64]  # filters per grid
DEFAULT_COUNT = 16           # 16 classic filters take a few seconds
COLS = 8                     # grid columns (fewer if fewer filters)
MARGIN = 5                   # px between tiles
REDRAW_SECONDS = 0.25        # draw at most this often while running (the last frame is always drawn)
TILE_WIDTH = 320             # px, the picked tile shown large (about: enlarged by a whole factor)
MIN_TILE_SHOWN = 96          # px: smaller tiles (a 28- or 32-px model's) are enlarged in the grid, without blur
SMOOTHING = 25               # the activation curve's running mean spans 1/SMOOTHING of the steps
RESULT = "filters_result"    # session_state key of the latest frame and its request
RUN_REQUESTED = "filters_run_requested"  # session_state flag set by the Run button
ACCENT = "#ff6d3a"
MODE_NOTES = {
    "classic": "the Keras example: pixels, normalised gradient steps (fast, noisy)",
    "robust": "Lucid: Fourier + decorrelated colour, random transforms, Adam (cleaner, slower)",
}


@st.cache_resource(show_spinner=False, max_entries=64)
def warm_up(_vm, model_key: str, layer: str, mode: str) -> threading.Thread:
    """Trace the layer's compiled steps in the background, once per process, while the user sets up."""
    thread = threading.Thread(target=_prepare_quietly, args=(_vm, layer, mode), daemon=False,  # joined at exit
                              name=f"vizcore-prepare-{layer}-{mode}")
    thread.start()
    return thread


def _prepare_quietly(vm, layer: str, mode: str) -> None:
    try:
        filters.prepare(vm, layer, mode)
    except Exception:  # only a head start: the run itself reports any problem
        pass


def shown_grid(images: np.ndarray) -> tuple[np.ndarray, int]:
    """The grid of tiles as drawn, and the whole factor its tiles were enlarged by (1: as made)."""
    factor = max(1, -(-MIN_TILE_SHOWN // max(images.shape[1:3])))
    tiles = np.stack([common.enlarged(tile, factor) for tile in images]) if factor > 1 else images
    return filters.grid(tiles, cols=COLS, margin=MARGIN), factor


def default_layer(layers) -> str:
    """A mid-depth convolution: the middle Conv2D at any depth of nesting, or the middle layer if there is none."""
    convolutions = [info for info in layers if info.kind == "Conv2D"] or layers
    return convolutions[len(convolutions) // 2].name


def model_sizes(vm) -> None:
    """Start each mode's image size at this model's own default when the model changes (a 28-px
    model's filters are 28 px), and whenever the size widgets were dropped (another page shown)."""
    owner, keys = common.model_key(vm), [f"filters_size_{mode}" for mode in filters.MODES]
    if st.session_state.get("filters_size_owner") != owner or any(key not in st.session_state for key in keys):
        for mode, key in zip(filters.MODES, keys):
            st.session_state[key] = filters.settings(vm, mode).size
        st.session_state["filters_size_owner"] = owner


def controls(vm):
    """Layer, filters, mode and the numbers → (layer, filter list or error text, mode, steps, lr, size, seed)."""
    layers = vm.conv_layers()
    names = [info.name for info in layers]
    channels = {info.name: info.channels for info in layers}
    layer_col, mode_col = st.columns([3, 2])
    layer = layer_col.selectbox("Layer", names, index=names.index(default_layer(layers)), key=f"filters_layer_{vm.name}",
                                format_func=lambda name: f"{common.layer_title(name)} · {channels[name]} filters",
                                help="Layers with feature maps, from input to output (inside nested models too: "
                                     "\"· in\" names the model that holds it); the number is its channel count.")
    mode = mode_col.radio("Mode", filters.MODES, horizontal=True, key="filters_mode",
                          captions=[MODE_NOTES[m] for m in filters.MODES])
    pick_col, which_col, count_col = st.columns([1, 2, 2])
    pick = pick_col.radio("Filters", ["Grid", "List"], key="filters_pick", horizontal=True)
    if pick == "Grid":
        start = which_col.number_input("First filter", min_value=0, value=0, step=1, key="filters_start")
        count = count_col.segmented_control("Grid size", GRID_SIZES, default=DEFAULT_COUNT, key="filters_count",
                                            required=True)
        chosen = list(range(int(start), min(int(start) + int(count), max(channels[layer], int(start) + 1))))
    else:
        text = which_col.text_input("Filter indices", "0-7, 12", key="filters_list",
                                    help="Indices and ranges, e.g. 0-7, 12, 40-43.")
        try:
            chosen = filters.parse_filters(text)
        except vizcore.RequestError as error:
            chosen = str(error)
        count_col.caption(f"Layer {layer} has filters 0–{channels[layer] - 1}.")
    defaults = filters.settings(vm, mode)
    steps_col, lr_col, size_col, seed_col = st.columns(4)
    steps = steps_col.number_input("Steps", 1, filters.MAX_STEPS, defaults.steps, key=f"filters_steps_{mode}")
    lr = lr_col.number_input("Learning rate", 0.0, 1000.0, defaults.lr, key=f"filters_lr_{mode}",
                             format="%.3f", help="Classic: the length of each normalised step; robust: Adam's step.")
    size = size_col.number_input("Image size (px)", 8, 2 * filters.MAX_SIZE, key=f"filters_size_{mode}",  # see model_sizes
                                 help="Classic crops 25 px from each side of the finished image; a small model's "
                                      "filters are made at its own size, uncropped.")
    seed = seed_col.number_input("Seed", 0, filters.MAX_SEED, 0, key="filters_seed", help="Same seed, same images.")
    return layer, chosen, mode, int(steps), float(lr), int(size), int(seed)


def status_line(frame, stopped: bool) -> str:
    dead = int(frame.dead.sum())
    parts = [f"Step {frame.step} / {frame.steps}", f"mean activation {float(np.mean(frame.activations)):.3f}"]
    if dead:
        parts.append(f"{dead} dead")
    if frame.cached:
        parts.insert(0, ":green-badge[:material/inventory_2: cached]")
    elif stopped:
        parts.insert(0, ":orange-badge[:material/stop_circle: stopped]")
    return " · ".join(parts)


def draw(frame, places, *, stopped: bool = False) -> None:
    """The status line, the progress bar and the grid of one frame."""
    places["status"].markdown(status_line(frame, stopped))
    places["progress"].progress(frame.step / frame.steps)
    first, last = frame.filters[0], frame.filters[-1]
    span = f"filters {first}–{last}" if list(frame.filters) == list(range(first, last + 1)) else f"{len(frame.filters)} filters"
    grid, factor = shown_grid(frame.images)
    places["grid"].image(grid, width="content" if factor > 1 else "stretch",  # enlarged: shown pixel for pixel
                         caption=f"{span}, row by row" + (f", enlarged {factor}×" if factor > 1 else ""))


def activation_chart(frame, position: int) -> alt.Chart:
    """The filter's activation at every step, and its running mean (robust steps are noisy)."""
    history = frame.history[:, position]
    window = max(1, len(history) // SMOOTHING)
    table = pd.DataFrame({"step": np.arange(1, len(history) + 1), "activation": history,
                          "running mean": pd.Series(history).rolling(window, min_periods=1).mean()})
    x = alt.X("step:Q", title="step", axis=alt.Axis(format="d", tickMinStep=1))
    raw = alt.Chart(table).mark_line(color=ACCENT, opacity=0.35 if window > 1 else 1.0).encode(
        x=x, y=alt.Y("activation:Q", title="mean activation"))
    smooth = alt.Chart(table).mark_line(color=ACCENT, strokeWidth=2.5).encode(x=x, y="running mean:Q")
    return (raw + smooth if window > 1 else raw).properties(height=260)


def inspector(frame, request) -> None:
    """Pick a tile: it large, with its activation curve."""
    layer = request[1]
    positions = list(range(len(frame.filters)))
    tile_col, chart_col = st.columns([1, 2])
    position = tile_col.selectbox("Filter to look at", positions, key="filters_tile",
                                  format_func=lambda p: f"filter {frame.filters[p]}")
    tile = frame.images[position]
    tile = common.enlarged(tile, max(1, round(TILE_WIDTH / max(tile.shape[:2]))))
    tile_col.image(tile, width=tile.shape[1],
                   caption=f"{layer} · filter {frame.filters[position]} · activation {frame.activations[position]:.3f}")
    if frame.dead[position]:
        tile_col.warning("Dead filter: it had no gradient on the starting image and never came alive, "
                         "so this image shows nothing it responds to. Robust mode tries to revive such filters.")
    chart_col.altair_chart(activation_chart(frame, position), width="stretch")


def download(frame, request, model_name: str) -> None:
    layer, mode = request[1], request[3]
    file_name = f"{model_name}-{layer}-{mode}-filters.png".replace("/", "_")
    st.download_button("Download grid PNG", common.png_bytes(shown_grid(frame.images)[0]), file_name=file_name,
                       mime="image/png", icon=":material/download:", key="filters_download")


def run(vm, request, places) -> None:
    """Stream a run into the placeholders, keeping the latest frame in session_state."""
    _, layer, chosen, mode, steps, lr, size, seed = request
    drawn = 0.0
    try:
        for frame in atlas.visualize(vm, layer, chosen, mode=mode, steps=steps, lr=lr, size=size, seed=seed):
            st.session_state[RESULT] = {"request": request, "frame": frame}
            if frame.done or time.perf_counter() - drawn >= REDRAW_SECONDS:
                draw(frame, places)
                drawn = time.perf_counter()
    except vizcore.VizcoreError as error:
        st.error(str(error))


def _request_run() -> None:
    st.session_state[RUN_REQUESTED] = True


def page() -> None:
    st.title("Filters")
    st.caption("One image per filter, grown from noise by gradient ascent until the filter fires as much as it can.")
    vm = common.current_model()
    if vm is None or not common.spatial_model(vm):
        st.stop()
    model_sizes(vm)
    layer, chosen, mode, steps, lr, size, seed = controls(vm)
    if isinstance(chosen, str):
        st.error(chosen)
        st.stop()
    warm_up(vm, common.model_key(vm), layer, mode)
    request = (common.model_key(vm), layer, tuple(chosen), mode, steps, lr, size, seed)
    try:  # bad parameters show here, before Run
        cached = atlas.load(vm, layer, filters.check_filters(vm, layer, chosen),
                            filters.settings(vm, mode, steps=steps, lr=lr, size=size, seed=seed))
    except vizcore.VizcoreError as error:
        st.error(str(error))
        st.stop()
    buttons = st.container(horizontal=True)
    buttons.button("Run", type="primary", icon=":material/play_arrow:", key="filters_run", on_click=_request_run,
                   disabled=cached is not None, help="Already computed: shown below." if cached else None)
    clicked = st.session_state.pop(RUN_REQUESTED, False)  # set by the button's callback: survives a rerun
    buttons.button("Stop", icon=":material/stop:", key="filters_stop", help="Keep the images made so far.")
    places = {"status": st.empty(), "progress": st.empty(), "grid": st.empty()}
    if clicked:
        run(vm, request, places)
    stored = st.session_state.get(RESULT)
    frame = cached or (stored["frame"] if stored and stored["request"] == request else None)
    if frame is None:
        places["status"].info("Press **Run** to grow one image per filter.")
        return
    if not clicked:
        draw(frame, places, stopped=not frame.done)
    download(frame, request, vm.name)
    inspector(frame, request)


page()
