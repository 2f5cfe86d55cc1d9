"""Filters: what each filter of a layer responds to, one image per filter, streamed as it grows.

Widgets are read into a ``FilterControls``, ``vizcore.atlas.visualize`` (the filter ascent through
the disk cache) yields frames, this page draws them. The latest frame lives in
``st.session_state[RESULT]``: pressing Stop (or any widget) interrupts the stream and the rerun
draws that frame, so the images made so far stay on screen. A run computed before, here or by
``vizcore atlas``, is read from the disk cache and shown at once, marked as cached. Layers are
listed through nested models by their paths; a small model's tiny tiles are shown enlarged by a
whole factor, each pixel a sharp block (never blurred by the browser).
"""
from __future__ import annotations

import threading
from dataclasses import astuple, dataclass

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

import vizcore
from pages import common
from vizcore import atlas, drawing, filters

GRID_SIZES = [1, 4, 16, 64]  # filters per grid
DEFAULT_COUNT = 16           # 16 classic filters take a few seconds
COLS = 8                     # grid columns (fewer if fewer filters)
MARGIN = 5                   # px between tiles
TILE_WIDTH = 320             # px, the picked tile shown large (about: enlarged by a whole factor)
MIN_TILE_SHOWN = 96          # px: smaller tiles (a 28- or 32-px model's) are enlarged in the grid, without blur
SMOOTHING = 25               # the activation curve's running mean spans 1/SMOOTHING of the steps
RESULT = "filters_result"    # session_state: the latest frame and the request it answers
ACCENT = "#ff6d3a"
MODE_NOTES = {
    "classic": "the Keras example: pixels, normalised gradient steps (fast, noisy)",
    "robust": "Lucid: Fourier + decorrelated colour, random transforms, Adam (cleaner, slower)",
}


@dataclass(frozen=True)
class FilterControls:
    """What the widgets ask for: a layer, some of its filters, and how to grow their images."""
    layer: str
    filters: tuple[int, ...]
    mode: str       # a key of filters.MODES
    steps: int
    lr: float
    size: int       # px, the side of each image
    seed: int

    def settings(self, vm) -> vizcore.filters.AscentSettings:  # (the field `filters` hides the module here)
        """The engine's settings for these numbers (RequestError if one is out of range)."""
        return filters.settings(vm, self.mode, steps=self.steps, lr=self.lr, size=self.size, seed=self.seed)


@dataclass
class Placeholders:
    """Where a frame is drawn: its status line, its progress bar and its grid, top to bottom."""
    status: st.delta_generator.DeltaGenerator
    progress: st.delta_generator.DeltaGenerator
    grid: st.delta_generator.DeltaGenerator

    @classmethod
    def below(cls) -> Placeholders:
        return cls(st.empty(), st.empty(), st.empty())


@st.cache_resource(show_spinner=False, max_entries=64, hash_funcs=common.HASH_FUNCS)
def warm_up(vm, layer: str, mode: str) -> threading.Thread:
    """Trace the layer's compiled steps in the background, once per process, while the user sets up."""
    thread = threading.Thread(target=_prepare_quietly, args=(vm, layer, mode), daemon=False,  # joined at exit
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
    tiles = np.stack([drawing.enlarged(tile, factor) for tile in images]) if factor > 1 else images
    return drawing.grid(tiles, cols=COLS, margin=MARGIN), factor


def default_layer(layers) -> str:
    """A mid-depth convolution: the middle Conv2D at any depth of nesting, or the middle layer if there is none."""
    convolutions = [info for info in layers if info.kind == "Conv2D"] or layers
    return convolutions[len(convolutions) // 2].name


def model_sizes(vm) -> None:
    """Start each mode's image size at this model's own default when the model changes (a 28-px
    model's filters are 28 px), and whenever the size widgets were dropped (another page shown)."""
    owner, keys = common.model_identity(vm), [f"filters_size_{mode}" for mode in filters.MODES]
    if st.session_state.get("filters_size_owner") != owner or any(key not in st.session_state for key in keys):
        for mode, key in zip(filters.MODES, keys):
            st.session_state[key] = filters.settings(vm, mode).size
        st.session_state["filters_size_owner"] = owner


def filter_controls(vm) -> FilterControls:
    """The layer, filters, mode and number widgets; stops the page with an error if the filter list can't be read."""
    layers = vm.conv_layers()
    names = [info.name for info in layers]
    channels = {info.name: info.channels for info in layers}
    layer_col, mode_col = st.columns([3, 2])
    layer = layer_col.selectbox("Layer", names, index=names.index(default_layer(layers)),
                                key=f"filters_layer_{vm.name}",
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
        end = min(int(start) + int(count), max(channels[layer], int(start) + 1))
        chosen, problem = list(range(int(start), end)), ""
    else:
        text = which_col.text_input("Filter indices", "0-7, 12", key="filters_list",
                                    help="Indices and ranges, e.g. 0-7, 12, 40-43.")
        try:
            chosen, problem = filters.parse_filters(text), ""
        except vizcore.RequestError as error:
            chosen, problem = [], str(error)
        count_col.caption(f"Layer {layer} has filters 0–{channels[layer] - 1}.")
    defaults = filters.settings(vm, mode)
    steps_col, lr_col, size_col, seed_col = st.columns(4)
    steps = steps_col.number_input("Steps", 1, filters.MAX_STEPS, defaults.steps, key=f"filters_steps_{mode}")
    lr = lr_col.number_input("Learning rate", 0.0, 1000.0, defaults.lr, key=f"filters_lr_{mode}",
                             format="%.3f", help="Classic: the length of each normalised step; robust: Adam's step.")
    size = size_col.number_input("Image size (px)", 8, 2 * filters.MAX_SIZE,
                                 key=f"filters_size_{mode}",  # its default: see model_sizes
                                 help="Classic crops 25 px from each side of the finished image; a small model's "
                                      "filters are made at its own size, uncropped.")
    seed = seed_col.number_input("Seed", 0, filters.MAX_SEED, 0, key="filters_seed", help="Same seed, same images.")
    if problem:
        st.error(problem)
        st.stop()
    return FilterControls(layer, tuple(chosen), mode, int(steps), float(lr), int(size), int(seed))


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


def draw(frame, view: Placeholders, *, stopped: bool = False) -> None:
    """The status line, the progress bar and the grid of one frame."""
    view.status.markdown(status_line(frame, stopped))
    view.progress.progress(frame.step / frame.steps)
    first, last = frame.filters[0], frame.filters[-1]
    contiguous = list(frame.filters) == list(range(first, last + 1))
    span = f"filters {first}–{last}" if contiguous else f"{len(frame.filters)} filters"
    grid, factor = shown_grid(frame.images)
    view.grid.image(grid, width="content" if factor > 1 else "stretch",  # enlarged: shown pixel for pixel
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


def inspector(frame, layer: str) -> None:
    """Pick a tile: it large, with its activation curve."""
    positions = list(range(len(frame.filters)))
    tile_col, chart_col = st.columns([1, 2])
    position = tile_col.selectbox("Filter to look at", positions, key="filters_tile",
                                  format_func=lambda p: f"filter {frame.filters[p]}")
    tile = frame.images[position]
    tile = drawing.enlarged(tile, max(1, round(TILE_WIDTH / max(tile.shape[:2]))))
    tile_col.image(tile, width=tile.shape[1],
                   caption=f"{layer} · filter {frame.filters[position]} · activation {frame.activations[position]:.3f}")
    if frame.dead[position]:
        tile_col.warning("Dead filter: it had no gradient on the starting image and never came alive, "
                         "so this image shows nothing it responds to. Robust mode tries to revive such filters.")
    chart_col.altair_chart(activation_chart(frame, position), width="stretch")


def download(frame, controls: FilterControls, model_name: str) -> None:
    file_name = f"{model_name}-{controls.layer}-{controls.mode}-filters.png".replace("/", "_")
    st.download_button("Download grid PNG", drawing.png_bytes(shown_grid(frame.images)[0]), file_name=file_name,
                       mime="image/png", icon=":material/download:", key="filters_download")


def grow(vm, controls: FilterControls, request: tuple, view: Placeholders) -> None:
    """Stream the filter images into the placeholders, keeping the latest frame in session_state."""
    frames = atlas.visualize(vm, controls.layer, controls.filters, mode=controls.mode, steps=controls.steps,
                             lr=controls.lr, size=controls.size, seed=controls.seed)

    def keep(frame) -> None:
        st.session_state[RESULT] = {"request": request, "frame": frame}

    try:
        common.stream(frames, keep, lambda frame: draw(frame, view))
    except vizcore.VizcoreError as error:
        st.error(str(error))


def main() -> None:
    vm = common.page("Filters", "One image per filter, grown from noise by gradient ascent until the filter fires "
                                "as much as it can.")
    model_sizes(vm)
    controls = filter_controls(vm)
    warm_up(vm, controls.layer, controls.mode)
    try:  # bad parameters show here, before Run
        cached = atlas.load(vm, controls.layer, filters.check_filters(vm, controls.layer, controls.filters),
                            controls.settings(vm))
    except vizcore.VizcoreError as error:
        st.error(str(error))
        st.stop()
    run_requested = common.run_and_stop_buttons("filters_run", "filters_stop", "Keep the images made so far.",
                                                disabled=cached is not None,
                                                run_help="Already computed: shown below." if cached else None)
    view = Placeholders.below()
    # what the stored frame must answer, in plain values (each rerun defines FilterControls anew)
    request = (common.model_identity(vm), astuple(controls))
    if run_requested:
        grow(vm, controls, request, view)
    stored = st.session_state.get(RESULT)
    frame = cached or (stored["frame"] if stored and stored["request"] == request else None)
    if frame is None:
        view.status.info("Press **Run** to grow one image per filter.")
        return
    if not run_requested:
        draw(frame, view, stopped=not frame.done)
    download(frame, controls, vm.name)
    inspector(frame, controls.layer)


main()
