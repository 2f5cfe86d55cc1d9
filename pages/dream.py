"""Dream: DeepDream a photo (or noise) with a mix of layers, and watch it dream, tweaking it live.

Widgets are read into a layer mix and a ``DreamControls``, checked once as a ``vizcore.dream.dream_request``;
``vizcore.dream.run`` yields its frames; this page draws them live. The run (one press of Run and what it made) lives in
``st.session_state["dream_run"]`` and is updated at every frame, with the engine's generator and
its ``vizcore.live.LiveSettings``. A widget changed while it dreams reruns the script, which
interrupts the stream but not the dream: the rerun hands the new layer mix, weights, steps,
learning rate, octave scale and jitter to the live settings (the engine takes them at its next
step) and goes on with the same generator, on the image reached; the chart marks each change.
Stop ends the dream; a new photo or model starts a new one. Layers are listed through nested
models by their paths; a one-channel model dreams in grey. The photo, the layer mix, steps,
learning rate, octaves and seed are kept in the URL (``ui.links``): a copied link sets the same
dream up.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

import vizcore
from ui import links, photos, runs
from ui.cache_keys import array_digest, model_identity
from ui.frame import page
from ui.streaming import stream
from ui.widgets import short_layer_names, starting
from vizcore import drawing, dream
from vizcore.live import Change, LiveSettings

WEIGHT_MAX = 3.0           # largest layer weight on the sliders
STEPS_MAX = 100            # longest octave on the steps slider
OCTAVES_MAX = 6            # most octaves on the slider
LR_CHOICES = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1)  # learning rates offered
TILE_AUTO, TILE_OFF = "Auto", "Off"
TILE_CHOICES = (TILE_AUTO, TILE_OFF, 256, 384, 512, 768)  # tile sides (px) for big photos
LOSS_CHART_HEIGHT = 200    # px
JITTER_MAX = 64            # px, the jitter slider's end
CHANGE_WORDS = {"lr": "lr", "steps": "steps", "octave_scale": "scale", "jitter": "jitter"}  # a change's mark
RUN_KEY = "dream_run"      # session_state: the current or last run
SEED_MAX = 2**31 - 1
WEIGHT = "~"               # a layer's weight in a link: layers=name~2.5 (name alone: its default weight)


@dataclass(frozen=True)
class DreamControls:
    """The dream's numbers, as the widgets give them."""
    steps: int                 # per octave
    lr: float
    octaves: int
    octave_scale: float
    max_loss: float | None     # end an octave once its loss passes this
    tile: int | str            # px, TILE_AUTO or TILE_OFF
    seed: int
    jitter: int = dream.JITTER  # px

    def options(self, image: np.ndarray) -> dict:
        """``dream.dream`` keywords for this image (the tile choice resolved for its size)."""
        return {"steps": self.steps, "lr": self.lr, "octaves": self.octaves, "octave_scale": self.octave_scale,
                "max_loss": self.max_loss, "tile": resolved_tile(self.tile, image), "seed": self.seed,
                "jitter": self.jitter}

    def live(self, mix: dict[str, float]) -> dict:
        """What a running dream takes at its next step (``dream.LIVE``)."""
        return {"layers": mix, "lr": self.lr, "steps": self.steps, "octave_scale": self.octave_scale,
                "jitter": self.jitter}


@dataclass
class Placeholders:
    """Where a run is drawn: the photo before and after, side by side, then its progress and loss."""
    before: st.delta_generator.DeltaGenerator
    after: st.delta_generator.DeltaGenerator
    progress: st.delta_generator.DeltaGenerator
    chart: st.delta_generator.DeltaGenerator

    @classmethod
    def below(cls) -> Placeholders:
        before, after = st.columns(2)
        return cls(before.empty(), after.empty(), st.empty(), st.empty())


@st.cache_data(max_entries=8, show_spinner=False)
def noise_start(seed: int) -> np.ndarray:
    return dream.noise_image(seed=seed)


def layer_mix(vm) -> dict[str, float]:
    """The layer multiselect and one weight slider per chosen layer → {layer: weight}."""
    defaults = dream.default_layers(vm)
    names = [info.name for info in vm.conv_layers()]
    short = short_layer_names(names)
    linked_mix(vm, names, defaults)
    chosen = st.multiselect("Layers to dream with", names, key=starting(f"dream_layers_{vm.name}", list(defaults)),
                            format_func=short.get, wrap=True,
                            help="Early layers dream strokes and textures, later ones eyes, fur and object parts. "
                                 "Layers inside a nested model go by their own name when no other layer shares it.")
    if not chosen:
        return {}
    columns = st.columns(min(len(chosen), 3))
    return {name: columns[i % len(columns)].slider(
                short[name], 0.0, WEIGHT_MAX, step=0.1, help=f"Weight of {name} in the dream.",
                key=starting(f"dream_weight_{vm.name}_{name}", float(defaults.get(name, 1.0))))
            for i, name in enumerate(chosen)}


def linked_mix(vm, names: list[str], defaults: dict[str, float]) -> None:
    """The layer picker and its weight sliders start at a link's mix, when the page opens from one."""
    mix = links.from_link("layers", lambda texts: mix_from_link(texts, names, defaults, vm.name), defaults,
                          title=mix_title, many=True)
    if mix:
        st.session_state[f"dream_layers_{vm.name}"] = list(mix)
        for name, weight in mix.items():
            st.session_state[f"dream_weight_{vm.name}_{name}"] = weight


def mix_title(mix: dict[str, float]) -> str:
    return "the default mix (" + ", ".join(f"{name} at {weight:g}" for name, weight in mix.items()) + ")"


def mix_from_link(texts: list[str], names: list[str], defaults: dict[str, float], model: str) -> dict[str, float]:
    """``["block4c_add", "block5c_add~1.5"]`` → {layer: weight}; ValueError naming the first item that is
    not a layer of the model with a weight from 0 to WEIGHT_MAX."""
    read_weight = links.number(0.0, WEIGHT_MAX)
    mix = {}
    for text in texts:
        name, marked, weight = text.partition(WEIGHT)
        if name not in names:
            raise ValueError(f"has {links.quoted(name)}, which is not a layer of {model} with feature maps")
        try:
            mix[name] = read_weight(weight) if marked else float(defaults.get(name, 1.0))
        except ValueError as reason:
            raise ValueError(f"gives {name} the weight {links.quoted(weight)}, which {reason}") from None
    return mix


def mix_in_link(mix: dict[str, float], defaults: dict[str, float]) -> list[str]:
    """A mix as the link's ``layers``: each layer's name, then ~weight unless it is its default."""
    return [name if weight == defaults.get(name, 1.0) else f"{name}{WEIGHT}{weight:g}" for name, weight in mix.items()]


def most_steps() -> int:
    """The steps slider's end: STEPS_MAX, or the server's cap on steps if lower."""
    return min(STEPS_MAX, runs.limits().max_steps)


def linked_controls() -> None:
    """Steps, learning rate, octaves and seed start at a link's, when the page opens from one."""
    links.linked("steps", "dream_steps", links.whole_number(1, most_steps()), min(dream.STEPS, most_steps()))
    links.linked("lr", "dream_lr", links.one_of(LR_CHOICES), dream.LR)
    links.linked("octaves", "dream_octaves", links.whole_number(1, OCTAVES_MAX), dream.OCTAVES)
    links.linked("seed", "dream_seed", links.whole_number(0, SEED_MAX), 0)


def shared_controls(controls: DreamControls) -> dict:
    return {"steps": controls.steps, "lr": controls.lr, "octaves": controls.octaves, "seed": controls.seed}


def dream_controls() -> DreamControls:
    """Steps, learning rate, octaves, octave scale, max loss, tile and seed."""
    linked_controls()
    left, right = st.columns(2)
    steps = left.slider("Steps per octave", 1, most_steps(),
                        key=starting("dream_steps", min(dream.STEPS, most_steps())))
    lr = right.select_slider("Learning rate", LR_CHOICES, key=starting("dream_lr", dream.LR),
                             help="Pixels move by about this share of their range per step.")
    octaves = left.slider("Octaves", 1, OCTAVES_MAX, key=starting("dream_octaves", dream.OCTAVES),
                          help="Scales from small to full size: more octaves, larger patterns.")
    octave_scale = right.slider("Octave scale", 1.1, 2.0, dream.OCTAVE_SCALE, 0.05, key="dream_octave_scale")
    max_loss = left.number_input("Max loss (0 = none)", 0.0, value=0.0, step=50.0, key="dream_max_loss",
                                 help="End an octave once its loss passes this.")
    tile = right.selectbox("Tile", TILE_CHOICES, key="dream_tile",
                           format_func=lambda t: f"{t} px" if isinstance(t, int) else t,
                           help=f"Dream big photos tile by tile (with a random shift) to bound memory. "
                                f"Auto: {dream.AUTO_TILE} px tiles above {dream.AUTO_TILE_ABOVE} px.")
    seed = left.number_input("Seed", 0, SEED_MAX, key=starting("dream_seed", 0),
                             help="Fixes the tiles' shift, the jitter and the noise.")
    jitter = right.slider("Jitter (px)", 0, JITTER_MAX, dream.JITTER, key="dream_jitter",
                          help="Roll the image by up to this many pixels at random before each step (and back "
                               "after), so no pixel stays at a border. 0: no roll.")
    st.caption(":material/bolt: Changes apply from the next step: layers, weights, steps, learning rate, octave "
               "scale and jitter tweak a running dream. Octaves, max loss, tile and seed apply at the next Run.")
    return DreamControls(steps, lr, octaves, octave_scale, max_loss or None, tile, int(seed), jitter)


def resolved_tile(tile, image: np.ndarray) -> int | None:
    """The tile choice for this image (Auto: vizcore.dream.auto_tile)."""
    if tile == TILE_AUTO:
        return dream.auto_tile(image.shape[:2])
    return None if tile == TILE_OFF else int(tile)


def new_run(key: tuple, before: np.ndarray, controls: DreamControls, frames, live: LiveSettings) -> dict:
    """A run as it starts: what it is for (``key``: the model and the photo), its frames so far, its status,
    and what goes on across reruns: the engine's ``frames``, its ``live`` settings and the lock held by the
    script run that streams it."""
    total = controls.octaves * controls.steps
    return {"key": key, "before": before, "after": before, "losses": [], "gif_frames": drawing.GifFrames(before, total),
            "label": "", "status": "running", "total": total, "octaves": controls.octaves, "seconds": 0.0,
            "started": time.perf_counter(), "frames": frames, "live": live, "lock": threading.Lock()}


def record(run: dict, frame: dream.DreamFrame) -> None:
    """Keep the frame in the session's run, so an interrupted script leaves it behind."""
    run["after"], run["seconds"] = frame.image, time.perf_counter() - run["started"]
    run["gif_frames"].add(frame.image)
    run["losses"].append({"step": frame.taken, "loss": frame.loss, "octave": f"octave {frame.octave}"})
    run["position"] = frame.taken
    run["total"] = frame.taken + frame.steps - frame.step + (run["octaves"] - frame.octave) * frame.steps
    run["label"] = (f"Octave {frame.octave}/{run['octaves']} · step {frame.step}/{frame.steps} · "
                    f"loss {frame.loss:.1f} · {run['seconds']:.1f} s")


def draw(run: dict, view: Placeholders) -> None:
    """A run's progress, loss and before/after pair."""
    draw_progress(run, view)
    draw_chart(run, view)
    draw_images(run, view)


def draw_progress(run: dict, view: Placeholders) -> None:
    """The progress bar and its line of text (cheap for the server and the browser: drawn at every step)."""
    fraction = 1.0 if run["status"] == "finished" else min(run.get("position", 0) / run["total"], 1.0)
    text = {"running": run["label"] or "Starting…", "finished": f"Done · {run['label']}",
            "stopped": f"Stopped · {run['label'] or 'before the first step'}"}[run["status"]]
    view.progress.progress(fraction, text=text)


def draw_chart(run: dict, view: Placeholders) -> None:
    """The loss chart and the changes made during the run (a Vega chart: drawn with the images, at most
    every ``ui.streaming.REDRAW_SECONDS``, since a browser takes far longer to draw it than a progress bar)."""
    losses = list(run["losses"])  # a copy: the script run that streams the dream may append to it meanwhile
    if losses:
        marks = change_marks(run["live"].changes if run.get("live") else [])
        with view.chart.container():
            st.altair_chart(loss_chart(losses, marks), width="stretch")
            if marks:
                st.caption("Changed during the run (dashed): " + "; ".join(
                    f"step {mark['step']}: {mark['label']}" for mark in marks) + ".")


def loss_chart(losses: list[dict], marks: list[dict]) -> alt.Chart:
    """The loss at every step, one colour per octave, with a dashed rule and a label where a setting changed."""
    x = alt.X("step:Q", title="step", axis=alt.Axis(format="d", tickMinStep=1, tickCount=6))
    y = alt.Y("loss:Q", title="dream loss", scale=alt.Scale(zero=False, nice=True),
              axis=alt.Axis(tickCount=4, format="~s", titlePadding=6))
    legend = alt.Legend(title=None, orient="top", direction="horizontal")
    chart = alt.Chart(pd.DataFrame(losses)).mark_line(point=len(losses) < 3).encode(
        x=x, y=y, color=alt.Color("octave:N", legend=legend))
    if marks:
        table = pd.DataFrame(marks)
        rules = alt.Chart(table).mark_rule(color="gray", strokeDash=[4, 3]).encode(x="step:Q")
        labels = alt.Chart(table).mark_text(align="left", baseline="top", dx=3, y=2, color="gray", fontSize=11).encode(
            x="step:Q", text="label:N")
        chart = chart + rules + labels
    return chart.properties(height=LOSS_CHART_HEIGHT)


def change_marks(changes: list[Change]) -> list[dict]:
    """One mark per step where settings changed: its step and a short label ("lr 0.02 · steps 10")."""
    at: dict[int, list[str]] = {}
    for change in changes:
        at.setdefault(change.step, []).append(change_words(change))
    return [{"step": step, "label": " · ".join(words)} for step, words in at.items()]


def change_words(change: Change) -> str:
    """A change in a few words: "lr 0.02", "steps 10", "scale 1.6", "jitter 8", "weights" or "layers"."""
    if change.name == "layers":
        return "weights" if set(change.value) == set(change.previous) else "layers"
    return f"{CHANGE_WORDS[change.name]} {change.value:g}"


def draw_images(run: dict, view: Placeholders) -> None:
    view.before.image(run["before"], caption="Before", width="stretch")
    caption = {"running": "Dreaming…", "finished": "After", "stopped": "After (stopped)"}[run["status"]]
    view.after.image(run["after"], caption=caption, width="stretch")


def start_dream(vm, image: np.ndarray, mix: dict, controls: DreamControls, key: tuple, view: Placeholders) -> None:
    """Start a new dream and stream it; bad settings show an st.error and nothing starts."""
    live = LiveSettings()
    try:
        request = dream.dream_request(vm, image, mix, **controls.options(image))  # checked once, here
        frames = dream.run(vm, request, live)
    except vizcore.VizcoreError as error:
        st.error(str(error))
        return
    st.session_state[RUN_KEY] = new_run(key, image, controls, frames, live)  # the run before it, if any, is let go
    go_on(st.session_state[RUN_KEY], view)


def tweak(run: dict, mix: dict, controls: DreamControls) -> None:
    """Hand the widgets' live settings to the running dream (from its next step); a value it cannot take
    shows an st.error and the dream goes on as it was."""
    try:
        run["live"].update(**controls.live(mix))
    except vizcore.VizcoreError as error:
        st.error(f"{error} The dream goes on with its settings as they were.")


def go_on(run: dict, view: Placeholders) -> None:
    """Stream the run's frames in its turn of the server's run queue, from where they are.

    The frame reached is drawn at once (a rerun shows it at once); the frames are taken once the
    script run that streamed them before lets go of them (at its next frame). A widget changed in
    the meantime interrupts this script run in turn and leaves the generator to the next one; the
    run queue ending the run (another run of this page, a full queue) stops it.
    """
    draw(run, view)
    with run["lock"]:
        if run["status"] == "running":
            runs.in_turn("dream", lambda: stream_on(run, view), view.progress)
        if run["status"] == "running":  # the queue ended it, or was full
            run["status"] = "stopped"


def stream_on(run: dict, view: Placeholders) -> None:
    """Stream the run's frames into the view until they end (finished) or fail (stopped, with an st.error)."""
    def keep(frame: dream.DreamFrame) -> None:
        record(run, frame)
        draw_progress(run, view)

    def redraw(frame: dream.DreamFrame) -> None:
        draw_chart(run, view)
        draw_images(run, view)

    try:
        stream(run["frames"], keep, redraw, close=False)
    except vizcore.VizcoreError as error:  # a check the engine can only make once it runs
        run["status"] = "stopped"
        st.error(str(error))
        return
    run["status"] = "finished"


def run_and_stop_buttons() -> tuple[bool, bool]:
    """Run and Stop side by side; each True in the rerun its click started (a click survives a rerun
    that comes first, as ``ui.runs.run_button``'s): Stop must end the dream, not let it go on."""
    run_place, stop_place = st.columns(2)
    run = runs.run_button(run_place, "Run", "dream_run_button", type="primary", icon=":material/play_arrow:",
                          width="stretch")
    stop = runs.run_button(stop_place, "Stop", "dream_stop", icon=":material/stop:", width="stretch",
                           help="Stop the dream and keep the current frame.")
    return run, stop


def stop(run: dict) -> None:
    """End a running dream, keeping the frame reached (its generator closed once its step is done)."""
    lock = run.get("lock") or threading.Lock()
    with lock:
        frames = run.get("frames")
        if frames is not None and hasattr(frames, "close"):
            frames.close()
        if run["status"] == "running":
            run["status"] = "stopped"


def downloads(run: dict) -> None:
    """PNG of the frame shown and an animated GIF of the run (built once, kept in the run)."""
    if run.get("downloads_at") != run["gif_frames"].count:
        run["png"], run["gif"] = drawing.png_bytes(run["after"]), run["gif_frames"].gif()
        run["downloads_at"] = run["gif_frames"].count
    left, right = st.columns(2)
    left.download_button("Download PNG", run["png"], file_name="dream.png", mime="image/png",
                         icon=":material/download:", width="stretch", key="dream_download_png")
    right.download_button("Download GIF", run["gif"], file_name="dream.gif", mime="image/gif",
                          icon=":material/animation:", width="stretch", key="dream_download_gif")


def main() -> None:
    vm = page("Dream", "DeepDream: the photo is nudged, octave by octave, towards whatever the chosen layers "
                       "respond to, so they see ever more of it.")
    problems = st.container()  # a link's values that could not be used, under the title
    inputs, results = st.columns([2, 3], gap="large")
    with inputs:
        source = photos.image_picker("dream", allow_noise=True)
        mix = layer_mix(vm)
        controls = dream_controls()
        links.share(photo=photos.in_link("dream"), layers=mix_in_link(mix, dream.default_layers(vm)),
                    **shared_controls(controls))
        links.show_problems(problems)
        run_requested, stop_requested = run_and_stop_buttons()
    with results:
        view = Placeholders.below()
    run = st.session_state.get(RUN_KEY)
    running = run is not None and run["status"] == "running"
    if running and (source is None or stop_requested):
        stop(run)
    if source is None:
        results.info("Upload a photo, pick a sample or dream from noise.")
        return
    image = vm.as_seen(noise_start(controls.seed) if isinstance(source, str) else source)  # grey: as the model sees
    key = (model_identity(vm), array_digest(image))
    if run_requested or (running and run["key"] != key):  # Run, or a new photo or model while it dreamed
        with results:
            start_dream(vm, image, mix, controls, key, view)
    elif run is not None and run["status"] == "running" and run["key"] == key:  # a widget changed while it dreamed
        with results:
            tweak(run, mix, controls)
            go_on(run, view)
    run = st.session_state.get(RUN_KEY)
    if run is None or run["key"] != key:
        view.before.image(image, caption="Before", width="stretch")
        view.after.info("Press **Run** to dream.")
        return
    draw(run, view)
    if run["status"] != "running":
        with results:
            downloads(run)


main()
