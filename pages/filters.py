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
whole factor, each pixel a sharp block (never blurred by the browser). The pickers of what a run targets
(layer, filters, neuron, classes, rows) are in ``ui.filter_pickers``.
"""
from __future__ import annotations

import threading
from dataclasses import astuple, dataclass, replace

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

import vizcore
from ui import links, predictions, runs, warm
from ui.accentuation import accentuation_view
from ui.cache_keys import model_identity
from ui.colours import ACCENT
from ui.filter_pickers import (
    class_picker,
    diversity_picker,
    filter_picker,
    filters_text,
    layer_picker,
    mix_picker,
    neuron_picker,
    picture_picker,
    transparency_switch,
)
from ui.frame import page
from ui.plausibility_view import labelled, plausibility_line, plausibility_table
from ui.streaming import stream
from ui.widgets import starting
from vizcore import atlas, drawing, filters, transparency
from vizcore.live import LiveSettings
from vizcore.requests import filter_request

COLS = 8                     # grid columns (fewer if fewer filters)
MARGIN = 5                   # px between tiles
TILE_WIDTH = 320             # px, the picked tile shown large (about: enlarged by a whole factor)
MIN_TILE_SHOWN = 96          # px: smaller tiles (a 28- or 32-px model's) are enlarged in the grid, without blur
SMOOTHING = 25               # the activation curve's running mean spans 1/SMOOTHING of the steps
RESULT = "filters_result"    # session_state: the latest frame and the request it answers
GROWING = "filters_growing"  # session_state: the run streaming (its generator and live lr), across reruns
SHOWS = {  # what to show: its one-line note
    "Filters": "one image per filter of the layer",
    "Neuron": "one image per filter, maximising one position of its map (the centre)",
    "Class": "what the model thinks a class looks like",
    "Diversity": "several different images of one filter",
    "Mix": "a row blending one filter into another",
    "Accentuate": "a channel or a class strengthened in your own photo",
}
PAGE_MODES = ("classic", "robust")  # the mode radio; robust's picture (Fourier or MaCo) is picked below it
MODE_NOTES = {
    "classic": "the Keras example: pixels, normalised gradient steps (fast, noisy)",
    "robust": "Lucid: random transforms (small shifts only in the second half), Adam, and a picture below "
    "(cleaner, slower)",
}


@dataclass(frozen=True)
class FilterControls:
    """What the widgets ask for: what to show, on which layer, and how to grow the images."""
    layer: str                # "" for a class
    filters: tuple[int, ...]  # filters (Filters, Neuron), (filter,) (Diversity), (first, second) (Mix), classes
    mode: str                 # a key of filters.MODES (maco: robust mode's MaCo picture)
    steps: int
    lr: float
    size: int                 # px, the side of each image
    seed: int
    show: str = "Filters"     # a key of SHOWS
    count: int = 1            # images per class (Class), images (Diversity, Mix)
    diversity: float = filters.DIVERSITY
    x: int | None = None      # Neuron: the position on the layer's map (None: its centre)
    y: int | None = None

    def request(self, vm) -> vizcore.requests.FilterRequest:
        """The engine's request for these widgets, checked once (RequestError if a value is out of range)."""
        options = dict(mode=self.mode, steps=self.steps, lr=self.lr, size=self.size, seed=self.seed)
        if self.show in ("Class", "Diversity", "Mix"):
            options["count"] = self.count
        if self.show == "Diversity":
            options["diversity"] = self.diversity
        if self.show == "Neuron":
            options.update(x=self.x, y=self.y)
        return filter_request(vm, ENGINE_SHOWS[self.show], self.layer, self.filters, **options)


ENGINE_SHOWS = {"Filters": "filters", "Neuron": "neurons", "Class": "classes", "Diversity": "diverse", "Mix": "mix"}


@dataclass
class Placeholders:
    """Where a frame is drawn: its status line, its progress bar and its grid, top to bottom."""
    status: st.delta_generator.DeltaGenerator
    progress: st.delta_generator.DeltaGenerator
    grid: st.delta_generator.DeltaGenerator

    @classmethod
    def below(cls) -> Placeholders:
        return cls(st.empty(), st.empty(), st.empty())


def shown_grid(images: np.ndarray, labels: list[str] | None = None) -> tuple[np.ndarray, int]:
    """The grid of tiles as drawn (each with its label under it, if given), and the whole factor its tiles
    were enlarged by (1: as made)."""
    factor = max(1, -(-MIN_TILE_SHOWN // max(images.shape[1:3])))
    tiles = np.stack([drawing.enlarged(tile, factor) for tile in images]) if factor > 1 else images
    return drawing.grid(labelled(tiles, labels) if labels else tiles, cols=COLS, margin=MARGIN), factor


def size_key(mode: str, show: str) -> str:
    """The image-size widget's key: one per mode, and the class view's apart (its images start larger)."""
    return f"filters_class_size_{mode}" if show == "Class" else f"filters_size_{mode}"


def default_size(vm, mode: str, show: str) -> int:
    """The mode's image side for this model (a 28-px model's filters are 28 px); a class image at least
    the model's own input side (224 px for a 224-px model), so that it is drawn sharp, never stretched."""
    size = filters.settings(vm, mode).size
    if show == "Class" and not filters.small_model_side(vm):
        size = max(size, min(max(vm.input_size), filters.MAX_SIZE))
    return min(size, runs.limits().max_size)


def model_sizes(vm) -> None:
    """Start each image size at this model's own default (``default_size``) when the model changes,
    and whenever its widget was dropped (another view or page shown)."""
    fresh = st.session_state.get("filters_size_owner") != model_identity(vm)
    for mode in filters.MODES:
        for show in ("Filters", "Class"):
            if fresh or size_key(mode, show) not in st.session_state:
                st.session_state[size_key(mode, show)] = default_size(vm, mode, show)
    st.session_state["filters_size_owner"] = model_identity(vm)


def filter_controls(vm) -> FilterControls:
    """What to show, its layer and targets, and the numbers; stops the page with an error if they can't be read."""
    links.linked("show", "filters_show", links.one_of(SHOWS), "Filters")
    show = st.segmented_control("What to show", list(SHOWS), key=starting("filters_show", "Filters"), required=True,
                                help=" · ".join(f"**{name}**: {note}" for name, note in SHOWS.items()))
    if show == "Accentuate":
        accentuation_view(vm)
        st.stop()
    if show == "Class" and not vm.is_classifier:
        st.error(f"{vm.name} has no class output to visualise; pick another view.")
        st.stop()
    layer_col, mode_col = st.columns([3, 2])
    layer = layer_picker(vm, layer_col) if show != "Class" else ""
    classes = class_picker(vm, layer_col) if show == "Class" else {}
    links.linked("mode", "filters_mode", links.one_of(PAGE_MODES), PAGE_MODES[0])
    mode = mode_col.radio("Mode", PAGE_MODES, horizontal=True, key="filters_mode",
                          captions=[MODE_NOTES[m] for m in PAGE_MODES])
    mode = picture_picker(mode_col) if mode == "robust" else mode
    if show == "Class" and mode == "classic":
        layer_col.caption(":material/lightbulb: Robust mode makes class images the model recognises; classic "
                          "pixels mostly stay noise to the eye.")
    pickers = {"Filters": filter_picker, "Neuron": neuron_picker, "Diversity": diversity_picker, "Mix": mix_picker}
    targets = classes or pickers[show](vm, layer)
    defaults, server = filters.settings(vm, mode), runs.limits()
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


def shared(controls: FilterControls) -> dict:
    """What the link keeps of a request (the URL's keys for it)."""
    maco = controls.mode == "maco"
    values = {"show": controls.show, "layer": controls.layer or None, "mode": "robust" if maco else controls.mode,
              "picture": "MaCo" if maco else None, "steps": controls.steps, "lr": controls.lr,
              "size": controls.size, "seed": controls.seed}
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


def draw(frame, view: Placeholders, controls: FilterControls, vm, *, stopped: bool = False, labels=None) -> None:
    """The status line, the progress bar and the grid of one frame (its tiles' ``labels`` under them)."""
    view.status.markdown(status_line(frame, stopped, measured(controls)))
    view.progress.progress(frame.step / frame.steps)
    grid, factor = shown_grid(pictures(frame), labels)
    caption = grid_caption(frame, controls, vm) + (f", enlarged {factor}×" if factor > 1 else "")
    view.grid.image(grid, width="content", caption=caption)  # pixel for pixel (narrowed only to fit), never stretched


def pictures(frame) -> np.ndarray:
    """The frame's images, with MaCo's transparency map as their opacity when the switch is on."""
    if frame.transparency is None or not st.session_state.get("filters_transparency"):
        return frame.images
    return transparency.with_transparency(frame.images, frame.transparency)


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
    tile = pictures(frame)[position]
    tile = drawing.enlarged(tile, max(1, round(TILE_WIDTH / max(tile.shape[:2]))))
    where = f"{controls.layer} · " if controls.layer else ""
    tile_col.image(tile, width="content",  # its own width, narrowed to fit a narrow column
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
    if frame.done:
        plausibility_line(tile_col, vm, controls.show, controls.layer, frame.filters[position], frame.images[position])
    if controls.show == "Class" and frame.done:
        tile_col.caption("What the model sees in it: " + ", ".join(
            f"{p.label} {p.probability:.0%}" if p.probability is not None else f"{p.label} {p.value:.3g}"
            for p in predictions.predictions(vm, frame.images[position], 3)))


def download(frame, controls: FilterControls, model_name: str) -> None:
    what = controls.layer or "classes"
    file_name = f"{model_name}-{what}-{controls.show.lower()}-{controls.mode}.png".replace("/", "_")
    st.download_button("Download grid PNG", drawing.png_bytes(shown_grid(frame.images)[0]), file_name=file_name,
                       mime="image/png", icon=":material/download:", key="filters_download")


def grow(vm, controls: FilterControls, engine_request, request: tuple, view: Placeholders) -> None:
    """Start a run of the checked ``engine_request`` and stream it (``go_on``). Its generator and live lr
    stay in session_state, so that the learning rate changed while it streams reruns the page and the
    run goes on with the new lr."""
    try:
        runs.limits().check_run(steps=controls.steps, size=controls.size, images=engine_request.images)
    except vizcore.VizcoreError as error:
        st.error(str(error))
        return
    run = st.session_state[GROWING] = {"request": live_request(vm, controls), "engine_request": engine_request,
                                       "frames": None, "live": LiveSettings(), "lock": threading.Lock(),
                                       "running": True}
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
            run["frames"] = stored_or_run(vm, run["engine_request"], run["live"])
        stream(run["frames"], keep, lambda frame: draw(frame, view, controls, vm), close=False)

    with run["lock"]:
        if not run["running"]:
            return
        try:
            runs.in_turn("filters", streaming, view.status)
        except vizcore.VizcoreError as error:
            st.error(str(error))
        run["running"] = False  # finished, failed or ended by the queue (not a rerun: that leaves it running)


def stored_or_run(vm, engine_request, live):
    """The run through the disk cache (atlas), except MaCo's: the atlas keeps no transparency map."""
    if engine_request.settings.mode == "maco":
        return filters.run(vm, engine_request, live)
    return atlas.visualize(vm, engine_request, live=live)


def live_request(vm, controls: FilterControls) -> tuple:
    """A request with its learning rate left out: what a run goes on answering while its lr changes."""
    return model_identity(vm), astuple(replace(controls, lr=0.0))


def stop_growing(run: dict) -> None:
    """End a streaming run at its current frame (its generator closed once its step is done)."""
    with run["lock"]:
        if run["frames"] is not None:
            run["frames"].close()
        run["running"] = False


def checked_request(vm, controls: FilterControls):
    """(the engine's request, checked once, and its stored run or None); stops the page on a bad request."""
    try:  # bad parameters show here, before Run
        engine_request = controls.request(vm)
        return engine_request, atlas.load(vm, engine_request) if engine_request.settings.mode != "maco" else None
    except vizcore.VizcoreError as error:
        st.error(str(error))
        st.stop()
        raise  # (st.stop ends the script run)


def main() -> None:
    vm = page("Filters", "Images grown from noise by gradient ascent until a filter, a neuron or a class "
                         "fires as much as it can.")
    problems = st.container()  # a link's values that could not be used, under the title
    model_sizes(vm)
    controls = filter_controls(vm)
    links.share(shared(controls))
    links.show_problems(problems)
    warming = warm.warm_up(vm, controls.layer, controls.mode) if controls.layer else None
    engine_request, cached = checked_request(vm, controls)
    run_requested = runs.run_and_stop_buttons("filters_run", "filters_stop", "Keep the images made so far.",
                                              disabled=cached is not None,
                                              run_help="Already computed: shown below." if cached else None)
    if controls.mode == "maco":
        transparency_switch(st)
    view = Placeholders.below()
    # what the stored frame must answer, in plain values (each rerun defines FilterControls anew)
    request = (model_identity(vm), astuple(controls))
    growing = st.session_state.get(GROWING)
    if growing and growing["running"] and (run_requested or st.session_state.get("filters_stop")
                                           or growing["request"] != live_request(vm, controls)):
        stop_growing(growing)  # Stop, Run, or another request than the lr
    if run_requested:
        if warming is not None:
            warming.join()  # never trace the same step in two threads at once
        grow(vm, controls, engine_request, request, view)
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
    labels = plausibility_table(vm, controls.show, controls.layer, frame, tile_names(frame, controls, vm))
    if not run_requested or labels:  # a finished grid is drawn again, each tile's plausibility under it
        draw(frame, view, controls, vm, stopped=not frame.done, labels=labels)
    download(frame, controls, vm.name)
    inspector(frame, controls, vm)


RUN_WORDS = {"Filters": "one image per filter", "Neuron": "one image per neuron",
             "Class": "what the model thinks each class looks like", "Diversity": "several images of the filter",
             "Mix": "a row from one filter to the other"}

main()
