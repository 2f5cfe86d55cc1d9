"""Filters: what a layer's filters, a neuron, a class respond to, streamed as the images grow.

"What to show" picks the objective: Filters (one image per filter, the grid), Neuron (the centre
neuron of each filter, or another position), Class ("what the model thinks a … looks like"),
Diversity (several images of one filter pushed apart) or Mix (a row from one filter to another).
Widgets are read into a ``FilterControls``; its ``frames`` (the engine's ascent: for filters
through the disk cache, ``vizcore.atlas.visualize``) yields frames, this page draws them. The latest frame lives in
``st.session_state[RESULT]``: pressing Stop (or any widget) interrupts the stream and the rerun
draws that frame, so the images made so far stay on screen. A run computed before, here or by
``vizcore atlas``, is read from the disk cache and shown at once, marked as cached. Layers are
listed through nested models by their paths; a small model's tiny tiles are shown enlarged by a
whole factor, each pixel a sharp block (never blurred by the browser).
"""
from __future__ import annotations

import threading
from dataclasses import astuple, dataclass, replace

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

import vizcore
from pages import common, links
from pages.common import starting
from vizcore import atlas, drawing, filters
from vizcore.live import LiveSettings

GRID_SIZES = [1, 4, 16, 64]  # filters per grid
DEFAULT_COUNT = 16           # 16 classic filters take a few seconds
COLS = 8                     # grid columns (fewer if fewer filters)
MARGIN = 5                   # px between tiles
TILE_WIDTH = 320             # px, the picked tile shown large (about: enlarged by a whole factor)
MIN_TILE_SHOWN = 96          # px: smaller tiles (a 28- or 32-px model's) are enlarged in the grid, without blur
SMOOTHING = 25               # the activation curve's running mean spans 1/SMOOTHING of the steps
RESULT = "filters_result"    # session_state: the latest frame and the request it answers
GROWING = "filters_growing"  # session_state: the run streaming (its generator and live lr), across reruns
ACCENT = "#ff6d3a"
SHOWS = {  # what to show: its one-line note
    "Filters": "one image per filter of the layer",
    "Neuron": "one image per filter, maximising one position of its map (the centre)",
    "Class": "what the model thinks a class looks like",
    "Diversity": "several different images of one filter",
    "Mix": "a row blending one filter into another",
}
CLASS_SEEDS = [1, 2, 4, 8]     # images per class
DEFAULT_CLASSES = ("goldfish", "espresso", "daisy", "lighthouse")  # shown first when the model has these labels
MODE_NOTES = {
    "classic": "the Keras example: pixels, normalised gradient steps (fast, noisy)",
    "robust": "Lucid: Fourier + decorrelated colour, random transforms (small shifts only in the second half), "
    "Adam (cleaner, slower)",
}


@dataclass(frozen=True)
class FilterControls:
    """What the widgets ask for: what to show, on which layer, and how to grow the images."""
    layer: str                # "" for a class
    filters: tuple[int, ...]  # filters (Filters, Neuron), (filter,) (Diversity), (first, second) (Mix), classes
    mode: str                 # a key of filters.MODES
    steps: int
    lr: float
    size: int                 # px, the side of each image
    seed: int
    show: str = "Filters"     # a key of SHOWS
    count: int = 1            # images per class (Class), images (Diversity, Mix)
    diversity: float = filters.DIVERSITY
    x: int | None = None      # Neuron: the position on the layer's map (None: its centre)
    y: int | None = None

    def settings(self, vm) -> vizcore.filters.AscentSettings:  # (the field `filters` hides the module here)
        """The engine's settings for these numbers (RequestError if one is out of range)."""
        return filters.settings(vm, self.mode, steps=self.steps, lr=self.lr, size=self.size, seed=self.seed)

    def frames(self, vm, live: LiveSettings | None = None):
        """The engine's frames for this request (``live``: its lr, changed while it runs); RequestError
        here, before any work, if it is bad."""
        options = dict(mode=self.mode, steps=self.steps, lr=self.lr, size=self.size, seed=self.seed, live=live)
        if self.show == "Filters":
            return atlas.visualize(vm, self.layer, self.filters, **options)
        if self.show == "Neuron":
            return filters.neurons(vm, self.layer, self.filters, x=self.x, y=self.y, **options)
        if self.show == "Class":
            return filters.classes(vm, self.filters, per_class=self.count, **options)
        if self.show == "Diversity":
            return filters.diverse(vm, self.layer, self.filters[0], count=self.count, weight=self.diversity,
                                   **options)
        return filters.mix(vm, self.layer, *self.filters, count=self.count, **options)

    def images(self) -> int:
        """How many images the run makes."""
        if self.show in ("Filters", "Neuron"):
            return len(self.filters)
        return self.count * (len(self.filters) if self.show == "Class" else 1)


@dataclass
class Placeholders:
    """Where a frame is drawn: its status line, its progress bar and its grid, top to bottom."""
    status: st.delta_generator.DeltaGenerator
    progress: st.delta_generator.DeltaGenerator
    grid: st.delta_generator.DeltaGenerator

    @classmethod
    def below(cls) -> Placeholders:
        return cls(st.empty(), st.empty(), st.empty())


def shown_grid(images: np.ndarray) -> tuple[np.ndarray, int]:
    """The grid of tiles as drawn, and the whole factor its tiles were enlarged by (1: as made)."""
    factor = max(1, -(-MIN_TILE_SHOWN // max(images.shape[1:3])))
    tiles = np.stack([drawing.enlarged(tile, factor) for tile in images]) if factor > 1 else images
    return drawing.grid(tiles, cols=COLS, margin=MARGIN), factor


def default_layer(layers) -> str:
    """A mid-depth convolution: the middle Conv2D at any depth of nesting, or the middle layer if there is none."""
    convolutions = [info for info in layers if info.kind == "Conv2D"] or layers
    return convolutions[len(convolutions) // 2].name


def size_key(mode: str, show: str) -> str:
    """The image-size widget's key: one per mode, and the class view's apart (its images start larger)."""
    return f"filters_class_size_{mode}" if show == "Class" else f"filters_size_{mode}"


def default_size(vm, mode: str, show: str) -> int:
    """The mode's image side for this model (a 28-px model's filters are 28 px); a class image at least
    the model's own input side (224 px for a 224-px model), so that it is drawn sharp, never stretched."""
    size = filters.settings(vm, mode).size
    if show == "Class" and not filters.small_model_side(vm):
        size = max(size, min(max(vm.input_size), filters.MAX_SIZE))
    return min(size, common.limits().max_size)


def model_sizes(vm) -> None:
    """Start each image size at this model's own default (``default_size``) when the model changes,
    and whenever its widget was dropped (another view or page shown)."""
    fresh = st.session_state.get("filters_size_owner") != common.model_identity(vm)
    for mode in filters.MODES:
        for show in ("Filters", "Class"):
            if fresh or size_key(mode, show) not in st.session_state:
                st.session_state[size_key(mode, show)] = default_size(vm, mode, show)
    st.session_state["filters_size_owner"] = common.model_identity(vm)


def filter_controls(vm) -> FilterControls:
    """What to show, its layer and targets, and the numbers; stops the page with an error if they can't be read."""
    links.linked("show", "filters_show", links.one_of(SHOWS), "Filters")
    show = st.segmented_control("What to show", list(SHOWS), key=starting("filters_show", "Filters"), required=True,
                                help=" · ".join(f"**{name}**: {note}" for name, note in SHOWS.items()))
    if show == "Class" and not vm.is_classifier:
        st.error(f"{vm.name} has no class output to visualise; pick another view.")
        st.stop()
    layer_col, mode_col = st.columns([3, 2])
    layer = layer_picker(vm, layer_col) if show != "Class" else ""
    classes = class_picker(vm, layer_col) if show == "Class" else {}
    links.linked("mode", "filters_mode", links.one_of(filters.MODES), filters.MODES[0])
    mode = mode_col.radio("Mode", filters.MODES, horizontal=True, key="filters_mode",
                          captions=[MODE_NOTES[m] for m in filters.MODES])
    if show == "Class" and mode == "classic":
        layer_col.caption(":material/lightbulb: Robust mode makes class images the model recognises; classic "
                          "pixels mostly stay noise to the eye.")
    pickers = {"Filters": filter_picker, "Neuron": neuron_picker, "Diversity": diversity_picker, "Mix": mix_picker}
    targets = classes or pickers[show](vm, layer)
    defaults, server = filters.settings(vm, mode), common.limits()
    most_steps, biggest = min(filters.MAX_STEPS, server.max_steps), min(2 * filters.MAX_SIZE, server.max_size)
    links.linked("steps", f"filters_steps_{mode}", links.whole_number(1, most_steps), min(defaults.steps, most_steps))
    links.linked("lr", f"filters_lr_{mode}", links.number(1e-6, 1000.0), defaults.lr)
    links.linked("size", size_key(mode, show), links.whole_number(8, biggest), min(defaults.size, biggest))
    links.linked("seed", "filters_seed", links.whole_number(0, filters.MAX_SEED), 0)
    steps_col, lr_col, size_col, seed_col = st.columns(4)
    steps = steps_col.number_input("Steps", 1, most_steps,
                                   key=starting(f"filters_steps_{mode}", min(defaults.steps, most_steps)))
    lr = lr_col.number_input("Learning rate", 0.0, 1000.0, key=starting(f"filters_lr_{mode}", defaults.lr),
                             format="%.3f", help="Classic: the length of each normalised step; robust: Adam's step.")
    size = size_col.number_input("Image size (px)", 8, biggest,
                                 key=size_key(mode, show),  # its default: see model_sizes
                                 help="Classic crops 25 px from each side of the finished image; a small model's "
                                      "filters are made at its own size, uncropped; class images start at the "
                                      "model's input size.")
    seed = seed_col.number_input("Seed", 0, filters.MAX_SEED, key=starting("filters_seed", 0),
                                 help="Same seed, same images.")
    return FilterControls(layer=layer, mode=mode, steps=int(steps), lr=float(lr), size=int(size), seed=int(seed),
                          show=show, **targets)


def layer_picker(vm, place) -> str:
    layers = vm.conv_layers()
    names = [info.name for info in layers]
    channels = {info.name: info.channels for info in layers}
    read = links.one_of(names, what=f"a layer of {vm.name} with feature maps")
    links.linked("layer", f"filters_layer_{vm.name}", read, default_layer(layers))
    return place.selectbox("Layer", names, key=starting(f"filters_layer_{vm.name}", default_layer(layers)),
                           format_func=lambda name: f"{common.layer_title(name)} · {channels[name]} filters",
                           help="Layers with feature maps, from input to output (inside nested models too: "
                                "\"· in\" names the model that holds it); the number is its channel count.")


def filter_picker(vm, layer: str) -> dict:
    """A grid of consecutive filters or a list of indices; stops the page if the list can't be read."""
    channels = vm.layer(layer).channels
    linked_filters(channels)
    pick_col, which_col, count_col = st.columns([1, 2, 2])
    pick = pick_col.radio("Filters", ["Grid", "List"], key="filters_pick", horizontal=True)
    if pick == "Grid":
        start = which_col.number_input("First filter", min_value=0, step=1, key=starting("filters_start", 0))
        sizes = [size for size in GRID_SIZES if size <= common.limits().max_filters] or [1]
        count = count_col.segmented_control("Grid size", sizes, required=True,
                                            key=starting("filters_count", min(DEFAULT_COUNT, sizes[-1])))
        end = min(int(start) + int(count), max(channels, int(start) + 1))
        return {"filters": tuple(range(int(start), end))}
    text = which_col.text_input("Filter indices", key=starting("filters_list", "0-7, 12"),
                                help="Indices and ranges, e.g. 0-7, 12, 40-43.")
    count_col.caption(f"Layer {layer} has filters 0–{channels - 1}.")
    try:
        return {"filters": tuple(filters.parse_filters(text))}
    except vizcore.RequestError as error:
        st.error(str(error))
        st.stop()
        raise


def neuron_picker(vm, layer: str) -> dict:
    """The filters, and the position on the layer's map (its centre unless the user moves it)."""
    chosen = filter_picker(vm, layer)
    height, width = vm.layer_size(layer)
    x = links.from_link("x", links.whole_number(0, max(0, (width or 4096) - 1)), "the centre")
    y = links.from_link("y", links.whole_number(0, max(0, (height or 4096) - 1)), "the centre")
    if x is not None and y is not None:
        st.session_state.update(filters_centre=False, filters_neuron_x=x, filters_neuron_y=y)
    centre_col, x_col, y_col = st.columns([1, 1, 1])
    centre = centre_col.toggle("Centre neuron", key=starting("filters_centre", True),
                               help="The neuron at the centre of each filter's map, as Lucid's neuron objective.")
    if centre:
        return {**chosen, "x": None, "y": None}
    x = x_col.number_input("x", 0, max(0, (width or 1) - 1), key=starting("filters_neuron_x", (width or 1) // 2),
                           help=f"Column on the layer's {width or '?'}-wide map.")
    y = y_col.number_input("y", 0, max(0, (height or 1) - 1), key=starting("filters_neuron_y", (height or 1) // 2),
                           help=f"Row on the layer's {height or '?'}-high map.")
    return {**chosen, "x": int(x), "y": int(y)}


def class_picker(vm, place) -> dict:
    """A searchable list of the model's classes, and how many images of each (each from its own seed)."""
    labels = [vm.label(i) for i in range(vm.classes)]
    default = [labels.index(name) for name in DEFAULT_CLASSES if name in labels][:2] or [0]
    links.linked("class", f"filters_classes_{vm.name}", class_reader(vm), default, many=True,
                 title=lambda chosen: ", ".join(labels[i] for i in chosen))
    links.linked("images", "filters_per_class", links.one_of(CLASS_SEEDS), 2)
    chosen = place.multiselect("Classes", list(range(vm.classes)), key=starting(f"filters_classes_{vm.name}", default),
                               format_func=lambda i: f"{labels[i]} ({i})",
                               placeholder="Type to search classes",
                               help="What the model thinks each of these looks like: images that raise the "
                                    "class's score (before the softmax) as far as they can.")
    per_class = place.segmented_control("Images per class", CLASS_SEEDS, key=starting("filters_per_class", 2),
                                        required=True, help="Each from its own random start.")
    if not chosen:
        st.info("Pick at least one class.")
        st.stop()
    return {"filters": tuple(int(i) for i in chosen), "count": int(per_class)}


def diversity_picker(vm, layer: str) -> dict:
    """One filter, how many images, and how hard they are pushed apart."""
    channels = vm.layer(layer).channels
    links.linked("filter", "filters_diverse_filter", links.whole_number(0, channels - 1), 0)
    links.linked("images", "filters_diverse_count", links.whole_number(2, 16), filters.DIVERSE_COUNT)
    links.linked("diversity", "filters_diversity", links.number(0.0, 1000.0), filters.DIVERSITY)
    filter_col, count_col, weight_col = st.columns(3)
    index = filter_col.number_input("Filter", 0, channels - 1, key=starting("filters_diverse_filter", 0))
    count = count_col.number_input("Images", 2, 16, key=starting("filters_diverse_count", filters.DIVERSE_COUNT))
    weight = weight_col.number_input(
        "Diversity weight", 0.0, 1000.0, key=starting("filters_diversity", filters.DIVERSITY), format="%.1f",
        help="How hard the images are pushed apart (Lucid's diversity term, on the Gram matrices of the layer's "
             "activations); 0 makes them independent.")
    return {"filters": (int(index),), "count": int(count), "diversity": float(weight)}


def mix_picker(vm, layer: str) -> dict:
    """Two filters and the length of the row between them."""
    channels = vm.layer(layer).channels
    links.linked("from", "filters_mix_first", links.whole_number(0, channels - 1), 0)
    links.linked("to", "filters_mix_second", links.whole_number(0, channels - 1), min(1, channels - 1))
    links.linked("images", "filters_mix_count", links.whole_number(2, 16), filters.MIX_COUNT)
    first_col, second_col, count_col = st.columns(3)
    first = first_col.number_input("From filter", 0, channels - 1, key=starting("filters_mix_first", 0))
    second = second_col.number_input("To filter", 0, channels - 1,
                                     key=starting("filters_mix_second", min(1, channels - 1)))
    count = count_col.number_input("Images in the row", 2, 16, key=starting("filters_mix_count", filters.MIX_COUNT))
    return {"filters": (int(first), int(second)), "count": int(count)}


def linked_filters(channels: int) -> None:
    """The link's filters: a grid when they are a run of a grid's size, else a list."""
    def read(text: str) -> tuple[int, ...]:
        try:
            indices = tuple(filters.parse_filters(text))
        except vizcore.RequestError:
            raise ValueError("is not a list of filters like 0-7,12") from None
        if max(indices) >= channels:
            raise ValueError(f"goes past the layer's last filter, {channels - 1}")
        return indices

    chosen = links.from_link("filters", read, f"filters 0–{DEFAULT_COUNT - 1}")
    if chosen is None:
        return
    if len(chosen) in GRID_SIZES and chosen == tuple(range(chosen[0], chosen[0] + len(chosen))):
        st.session_state.update(filters_pick="Grid", filters_start=chosen[0], filters_count=len(chosen))
    else:
        st.session_state.update(filters_pick="List", filters_list=filters_text(chosen))


def filters_text(indices) -> str:
    """[0, 1, 2, 3, 12] → "0-3,12": the filters as a link (and the List box) writes them."""
    runs: list[list[int]] = []
    for index in indices:
        if runs and index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return ",".join(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]) for run in runs)


def class_reader(vm):
    """Reads the link's classes: each an index of the model's classes."""
    def read(texts: list[str]) -> list[int]:
        chosen = [int(text) for text in texts if text.isdigit() and int(text) < vm.classes]
        if len(chosen) != len(texts) or not chosen:
            raise ValueError(f"is not a list of class indices from 0 to {vm.classes - 1}")
        return list(dict.fromkeys(chosen))
    return read


def shared(controls: FilterControls) -> dict:
    """What the link keeps of a request (the URL's keys for it)."""
    values = {"show": controls.show, "layer": controls.layer or None, "mode": controls.mode, "steps": controls.steps,
              "lr": controls.lr, "size": controls.size, "seed": controls.seed}
    if controls.show in ("Filters", "Neuron"):
        values |= {"filters": filters_text(controls.filters), "x": controls.x, "y": controls.y}
    elif controls.show == "Class":
        values |= {"class": list(controls.filters), "images": controls.count}
    elif controls.show == "Diversity":
        values |= {"filter": controls.filters[0], "images": controls.count, "diversity": controls.diversity}
    else:
        values |= {"from": controls.filters[0], "to": controls.filters[1], "images": controls.count}
    return values


def tile_names(frame, controls: FilterControls, vm) -> list[str]:
    """A name for each image, in the words of what was asked."""
    if controls.show == "Class":
        seen: dict[int, int] = {}
        names = []
        for index in frame.filters:
            seen[index] = seen.get(index, 0) + 1
            names.append(f"{vm.label(index)} · {seen[index]}" if controls.count > 1 else vm.label(index))
        return names
    if controls.show == "Diversity":
        return [f"filter {index} · image {i + 1}" for i, index in enumerate(frame.filters)]
    if controls.show == "Mix":
        first, second = controls.filters
        shares = [round(100 * position / max(1, len(frame.filters) - 1)) for position in frame.filters]
        return [f"{100 - share}% filter {first} + {share}% filter {second}" for share in shares]
    return [f"filter {index}" for index in frame.filters]


def grid_caption(frame, controls: FilterControls, vm) -> str:
    first, last = frame.filters[0], frame.filters[-1]
    if controls.show == "Class":
        names = list(dict.fromkeys(vm.label(index) for index in frame.filters))
        return ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "") + ", row by row"
    if controls.show == "Diversity":
        return f"{len(frame.filters)} images of filter {first}, pushed apart"
    if controls.show == "Mix":
        return f"filter {controls.filters[0]} → filter {controls.filters[1]}"
    contiguous = list(frame.filters) == list(range(first, last + 1))
    what = "neurons of " if controls.show == "Neuron" else ""
    return (f"{what}filters {first}–{last}" if contiguous else f"{what}{len(frame.filters)} filters") + ", row by row"


def status_line(frame, stopped: bool, what: str = "mean activation") -> str:
    dead = int(frame.dead.sum())
    parts = [f"Step {frame.step} / {frame.steps}", f"{what} {float(np.mean(frame.activations)):.3f}"]
    if dead:
        parts.append(f"{dead} dead")
    if frame.cached:
        parts.insert(0, ":green-badge[:material/inventory_2: cached]")
    elif stopped:
        parts.insert(0, ":orange-badge[:material/stop_circle: stopped]")
    return " · ".join(parts)


def measured(controls: FilterControls) -> str:
    """What the numbers of a frame are, in words."""
    return {"Class": "class score", "Neuron": "neuron activation", "Mix": "blended activation"}.get(
        controls.show, "mean activation")


def draw(frame, view: Placeholders, controls: FilterControls, vm, *, stopped: bool = False) -> None:
    """The status line, the progress bar and the grid of one frame."""
    view.status.markdown(status_line(frame, stopped, measured(controls)))
    view.progress.progress(frame.step / frame.steps)
    grid, factor = shown_grid(frame.images)
    caption = grid_caption(frame, controls, vm) + (f", enlarged {factor}×" if factor > 1 else "")
    view.grid.image(grid, width="content", caption=caption)  # pixel for pixel (narrowed only to fit), never stretched


def activation_chart(frame, position: int, what: str = "mean activation", settling: int | None = None) -> alt.Chart:
    """The image's objective at every step, and its running mean (robust steps are noisy); a dashed
    line where the transforms calm down to shifts (``settling``)."""
    history = frame.history[:, position]
    window = max(1, len(history) // SMOOTHING)
    table = pd.DataFrame({"step": np.arange(1, len(history) + 1), "activation": history,
                          "running mean": pd.Series(history).rolling(window, min_periods=1).mean()})
    x = alt.X("step:Q", title="step", axis=alt.Axis(format="d", tickMinStep=1))
    raw = alt.Chart(table).mark_line(color=ACCENT, opacity=0.35 if window > 1 else 1.0).encode(
        x=x, y=alt.Y("activation:Q", title=what))
    smooth = alt.Chart(table).mark_line(color=ACCENT, strokeWidth=2.5).encode(x=x, y="running mean:Q")
    chart = raw + smooth if window > 1 else raw
    if settling is not None and settling <= len(history):
        rule = alt.Chart(pd.DataFrame({"step": [settling]})).mark_rule(color="gray", strokeDash=[4, 4]).encode(x=x)
        chart = chart + rule
    return chart.properties(height=260)


def inspector(frame, controls: FilterControls, vm) -> None:
    """Pick a tile: it large, with its activation curve (and, for a class, what the model now sees)."""
    names = tile_names(frame, controls, vm)
    tile_col, chart_col = st.columns([1, 2])
    position = tile_col.selectbox("Image to look at", list(range(len(names))), key="filters_tile",
                                  format_func=lambda p: names[p])
    tile = frame.images[position]
    tile = drawing.enlarged(tile, max(1, round(TILE_WIDTH / max(tile.shape[:2]))))
    where = f"{controls.layer} · " if controls.layer else ""
    tile_col.image(tile, width=tile.shape[1],
                   caption=f"{where}{names[position]} · {measured(controls)} {frame.activations[position]:.3f}")
    if frame.dead[position]:
        tile_col.warning("Dead filter: it had no gradient on the starting image and never came alive, "
                         "so this image shows nothing it responds to. Robust mode tries to revive such filters.")
    climbed = "activation + diversity term" if controls.show == "Diversity" else measured(controls)
    settling = filters.settling_from(vm, controls.mode, frame.steps)
    chart_col.altair_chart(activation_chart(frame, position, climbed, settling), width="stretch")
    if settling is not None and settling <= frame.step:
        chart_col.caption(f"From step {settling} (dashed) the random transforms only shift the image by up to "
                          "2 px, so each step scores nearly the image shown: the curve jumps there.")
    if controls.show == "Class" and frame.done:
        tile_col.caption("What the model sees in it: " + ", ".join(
            f"{p.label} {p.probability:.0%}" if p.probability is not None else f"{p.label} {p.value:.3g}"
            for p in common.predictions(vm, frame.images[position], 3)))


def download(frame, controls: FilterControls, model_name: str) -> None:
    what = controls.layer or "classes"
    file_name = f"{model_name}-{what}-{controls.show.lower()}-{controls.mode}.png".replace("/", "_")
    st.download_button("Download grid PNG", drawing.png_bytes(shown_grid(frame.images)[0]), file_name=file_name,
                       mime="image/png", icon=":material/download:", key="filters_download")


def grow(vm, controls: FilterControls, request: tuple, view: Placeholders) -> None:
    """Start a run and stream it (``go_on``). Its generator and live lr stay in session_state, so that
    the learning rate changed while it streams reruns the page and the run goes on with the new lr."""
    try:
        common.limits().check_run(steps=controls.steps, size=controls.size, images=controls.images())
    except vizcore.VizcoreError as error:
        st.error(str(error))
        return
    run = st.session_state[GROWING] = {"request": live_request(vm, controls), "frames": None, "live": LiveSettings(),
                                       "lock": threading.Lock(), "running": True}
    go_on(vm, controls, request, view, run)


def go_on(vm, controls: FilterControls, request: tuple, view: Placeholders, run: dict) -> None:
    """In its turn of the server's run queue, stream the run's images into the placeholders from where
    they are, keeping the latest frame in session_state. The frames are asked for once the first turn
    comes, so a grid that another user's run stored meanwhile is read from the cache, not computed
    again. A widget changed meanwhile interrupts this script run and leaves the generator to the next;
    the previous script run lets go of it at its next frame (the lock)."""
    def keep(frame) -> None:
        st.session_state[RESULT] = {"request": request, "frame": frame}

    def streaming() -> None:
        if run["frames"] is None:
            run["frames"] = controls.frames(vm, run["live"])
        common.stream(run["frames"], keep, lambda frame: draw(frame, view, controls, vm), close=False)

    with run["lock"]:
        if not run["running"]:
            return
        try:
            common.in_turn("filters", streaming, view.status)
        except vizcore.VizcoreError as error:
            st.error(str(error))
        run["running"] = False  # finished, failed or ended by the queue (not a rerun: that leaves it running)


def live_request(vm, controls: FilterControls) -> tuple:
    """A request with its learning rate left out: what a run goes on answering while its lr changes."""
    return common.model_identity(vm), astuple(replace(controls, lr=0.0))


def stop_growing(run: dict) -> None:
    """End a streaming run at its current frame (its generator closed once its step is done)."""
    with run["lock"]:
        if run["frames"] is not None:
            run["frames"].close()
        run["running"] = False


def checked_request(vm, controls: FilterControls):
    """The stored run of these exact filters (Filters only), else None; stops the page on a bad request."""
    try:  # bad parameters show here, before Run
        if controls.show == "Filters":
            return atlas.load(vm, controls.layer, filters.check_filters(vm, controls.layer, controls.filters),
                              controls.settings(vm))
        controls.frames(vm).close()  # checks everything, computes nothing
    except vizcore.VizcoreError as error:
        st.error(str(error))
        st.stop()
    return None


def main() -> None:
    vm = common.page("Filters", "Images grown from noise by gradient ascent until a filter, a neuron or a class "
                                "fires as much as it can.")
    problems = st.container()  # a link's values that could not be used, under the title
    model_sizes(vm)
    controls = filter_controls(vm)
    links.share(shared(controls))
    links.show_problems(problems)
    warming = common.warm_up(vm, controls.layer, controls.mode) if controls.layer else None
    cached = checked_request(vm, controls)
    run_requested = common.run_and_stop_buttons("filters_run", "filters_stop", "Keep the images made so far.",
                                                disabled=cached is not None,
                                                run_help="Already computed: shown below." if cached else None)
    view = Placeholders.below()
    # what the stored frame must answer, in plain values (each rerun defines FilterControls anew)
    request = (common.model_identity(vm), astuple(controls))
    growing = st.session_state.get(GROWING)
    if growing and growing["running"] and (run_requested or st.session_state.get("filters_stop")
                                           or growing["request"] != live_request(vm, controls)):
        stop_growing(growing)  # Stop, Run, or another request than the lr
    if run_requested:
        if warming is not None:
            warming.join()  # never trace the same step in two threads at once
        grow(vm, controls, request, view)
    elif growing and growing["running"]:  # the lr (or no setting of the run) changed while it streamed
        try:
            growing["live"].update(lr=controls.lr)
        except vizcore.VizcoreError as error:
            st.error(f"{error} The run goes on with its learning rate as it was.")
        go_on(vm, controls, request, view, growing)
    stored = st.session_state.get(RESULT)
    frame = cached or (stored["frame"] if stored and stored["request"] == request else None)
    if frame is None:
        view.status.info(f"Press **Run** to grow {RUN_WORDS[controls.show]}.")
        return
    if not run_requested:
        draw(frame, view, controls, vm, stopped=not frame.done)
    download(frame, controls, vm.name)
    inspector(frame, controls, vm)


RUN_WORDS = {"Filters": "one image per filter", "Neuron": "one image per neuron",
             "Class": "what the model thinks each class looks like", "Diversity": "several images of the filter",
             "Mix": "a row from one filter to the other"}

main()
