"""Dream: DeepDream a photo (or noise) with a mix of layers, and watch it dream.

Widgets are read into a layer mix and a ``DreamControls``; ``vizcore.dream.dream`` yields frames;
this page draws them live. The run (one press of Run and what it made) lives in
``st.session_state["dream_run"]`` and is updated at every frame, so Stop (or any other widget)
interrupts the script and the rerun shows the frame reached. Layers
are listed through nested models by their paths; a one-channel model dreams in grey. The photo,
the layer mix, steps, learning rate, octaves and seed are kept in the URL (``pages.links``): a
copied link sets the same dream up.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

import vizcore
from pages import common, links
from vizcore import drawing, dream

WEIGHT_MAX = 3.0           # largest layer weight on the sliders
STEPS_MAX = 100            # longest octave on the steps slider
OCTAVES_MAX = 6            # most octaves on the slider
LR_CHOICES = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1)  # learning rates offered
TILE_AUTO, TILE_OFF = "Auto", "Off"
TILE_CHOICES = (TILE_AUTO, TILE_OFF, 256, 384, 512, 768)  # tile sides (px) for big photos
LOSS_CHART_HEIGHT = 180    # px
RUN_KEY = "dream_run"      # session_state: the current or last run
SEED_MAX = 2**31 - 1
WEIGHT = "~"               # a layer's weight in a link: layers=name~2.5 (name alone: its default weight)
DEFAULT_PHOTO = "grace hopper"


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

    def options(self, image: np.ndarray) -> dict:
        """``dream.dream`` keywords for this image (the tile choice resolved for its size)."""
        return {"steps": self.steps, "lr": self.lr, "octaves": self.octaves, "octave_scale": self.octave_scale,
                "max_loss": self.max_loss, "tile": resolved_tile(self.tile, image), "seed": self.seed}


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
    short = common.short_layer_names(names)
    linked_mix(vm, names, defaults)
    chosen = st.multiselect("Layers to dream with", names, default=list(defaults), key=f"dream_layers_{vm.name}",
                            format_func=short.get,
                            help="Early layers dream strokes and textures, later ones eyes, fur and object parts. "
                                 "Layers inside a nested model go by their own name when no other layer shares it.")
    if not chosen:
        return {}
    columns = st.columns(min(len(chosen), 3))
    return {name: columns[i % len(columns)].slider(
                short[name], 0.0, WEIGHT_MAX, float(defaults.get(name, 1.0)), 0.1,
                key=f"dream_weight_{vm.name}_{name}", help=f"Weight of {name} in the dream.")
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
    return min(STEPS_MAX, common.limits().max_steps)


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
    steps = left.slider("Steps per octave", 1, most_steps(), min(dream.STEPS, most_steps()), key="dream_steps")
    lr = right.select_slider("Learning rate", LR_CHOICES, value=dream.LR, key="dream_lr",
                             help="Pixels move by about this share of their range per step.")
    octaves = left.slider("Octaves", 1, OCTAVES_MAX, dream.OCTAVES, key="dream_octaves",
                          help="Scales from small to full size: more octaves, larger patterns.")
    octave_scale = right.slider("Octave scale", 1.1, 2.0, dream.OCTAVE_SCALE, 0.05, key="dream_octave_scale")
    max_loss = left.number_input("Max loss (0 = none)", 0.0, value=0.0, step=50.0, key="dream_max_loss",
                                 help="End an octave once its loss passes this.")
    tile = right.selectbox("Tile", TILE_CHOICES, key="dream_tile",
                           format_func=lambda t: f"{t} px" if isinstance(t, int) else t,
                           help=f"Dream big photos tile by tile (with a random shift) to bound memory. "
                                f"Auto: {dream.AUTO_TILE} px tiles above {dream.AUTO_TILE_ABOVE} px.")
    seed = st.number_input("Seed", 0, SEED_MAX, 0, key="dream_seed", help="Fixes the tiles' shift and the noise.")
    return DreamControls(steps, lr, octaves, octave_scale, max_loss or None, tile, int(seed))


def resolved_tile(tile, image: np.ndarray) -> int | None:
    """The tile choice for this image (Auto: vizcore.dream.auto_tile)."""
    if tile == TILE_AUTO:
        return dream.auto_tile(image.shape[:2])
    return None if tile == TILE_OFF else int(tile)


def new_run(key: tuple, before: np.ndarray, controls: DreamControls) -> dict:
    """A run as it starts: what it is for (``key``: the model and the photo), its frames so far, its status."""
    total = controls.octaves * controls.steps
    return {"key": key, "before": before, "after": before, "losses": [], "gif_frames": drawing.GifFrames(before, total),
            "label": "", "status": "running", "total": total, "steps": controls.steps,
            "octaves": controls.octaves, "seconds": 0.0}


def record(run: dict, frame: dream.DreamFrame, seconds: float) -> None:
    """Keep the frame in the session's run, so an interrupted script leaves it behind."""
    run["after"], run["seconds"] = frame.image, seconds
    run["gif_frames"].add(frame.image)
    run["losses"].append({"step": len(run["losses"]) + 1, "loss": frame.loss, "octave": f"octave {frame.octave}"})
    run["position"] = (frame.octave - 1) * run["steps"] + frame.step
    run["label"] = (f"Octave {frame.octave}/{run['octaves']} · step {frame.step}/{run['steps']} · "
                    f"loss {frame.loss:.1f} · {seconds:.1f} s")


def draw(run: dict, view: Placeholders) -> None:
    """A run's progress, loss and before/after pair."""
    draw_progress(run, view)
    draw_images(run, view)


def draw_progress(run: dict, view: Placeholders) -> None:
    """The progress bar, its line of text and the loss chart (cheap: drawn at every step)."""
    fraction = 1.0 if run["status"] == "finished" else min(run.get("position", 0) / run["total"], 1.0)
    text = {"running": run["label"] or "Starting…", "finished": f"Done · {run['label']}",
            "stopped": f"Stopped · {run['label'] or 'before the first step'}"}[run["status"]]
    view.progress.progress(fraction, text=text)
    if run["losses"]:
        view.chart.line_chart(pd.DataFrame(run["losses"]), x="step", y="loss", color="octave",
                              height=LOSS_CHART_HEIGHT, x_label="step", y_label="dream loss")


def draw_images(run: dict, view: Placeholders) -> None:
    view.before.image(run["before"], caption="Before", width="stretch")
    caption = {"running": "Dreaming…", "finished": "After", "stopped": "After (stopped)"}[run["status"]]
    view.after.image(run["after"], caption=caption, width="stretch")


def stream_dream(vm, image: np.ndarray, mix: dict, controls: DreamControls, key: tuple, view: Placeholders) -> None:
    """Start the dream and stream its frames into a new run; bad settings show an st.error and nothing starts."""
    try:
        frames = dream.dream(vm, image, mix, **controls.options(image))
    except vizcore.VizcoreError as error:
        st.error(str(error))
        return
    run = st.session_state[RUN_KEY] = new_run(key, image, controls)
    started = time.perf_counter()
    draw(run, view)

    def keep(frame: dream.DreamFrame) -> None:
        record(run, frame, time.perf_counter() - started)
        draw_progress(run, view)

    try:
        common.stream(frames, keep, lambda frame: draw_images(run, view))
    except vizcore.VizcoreError as error:  # a check the engine can only make once it runs
        run["status"] = "stopped"
        draw(run, view)
        st.error(str(error))
        return
    run["status"] = "finished"
    draw(run, view)


def downloads(run: dict) -> None:
    """PNG of the frame shown and an animated GIF of the run (built once, kept in the run)."""
    if run.get("downloads_at") != run["gif_frames"].count:
        run["png"], run["gif"] = drawing.png_bytes(run["after"]), run["gif_frames"].gif()
        run["downloads_at"] = run["gif_frames"].count
    left, right = st.columns(2)
    left.download_button("Download PNG", run["png"], file_name="dream.png", mime="image/png",
                         icon=":material/download:", width="stretch", key="dream_download_png")
    right.download_button("Download GIF of the run", run["gif"], file_name="dream.gif", mime="image/gif",
                          icon=":material/animation:", width="stretch", key="dream_download_gif")


def main() -> None:
    vm = common.page("Dream", "DeepDream: the photo is nudged, octave by octave, towards whatever the chosen layers "
                              "respond to, so they see ever more of it.")
    problems = st.container()  # a link's values that could not be used, under the title
    inputs, results = st.columns([2, 3], gap="large")
    with inputs:
        links.linked_photo("dream", common.sample_paths(), DEFAULT_PHOTO, noise=True)
        source = common.image_picker("dream", allow_noise=True, default_sample=DEFAULT_PHOTO)
        mix = layer_mix(vm)
        controls = dream_controls()
        links.share(photo=links.shared_photo("dream"), layers=mix_in_link(mix, dream.default_layers(vm)),
                    **shared_controls(controls))
        links.show_problems(problems)
        run_requested = common.run_and_stop_buttons("dream_run_button", "dream_stop",
                                                    "Stop the dream and keep the current frame.", in_columns=True)
    with results:
        view = Placeholders.below()
    if source is None:
        results.info("Upload a photo, pick a sample or dream from noise.")
        return
    image = vm.as_seen(noise_start(controls.seed) if isinstance(source, str) else source)  # grey: as the model sees
    key = (common.model_identity(vm), common.array_digest(image))
    if run_requested:
        view.before.image(image, caption="Before", width="stretch")  # while the run waits for its turn
        with results:
            common.in_turn("dream", lambda: stream_dream(vm, image, mix, controls, key, view), view.progress)
    run = st.session_state.get(RUN_KEY)
    if run is None or run["key"] != key:
        view.before.image(image, caption="Before", width="stretch")
        view.after.info("Press **Run** to dream.")
        return
    if run["status"] == "running":  # this rerun interrupted it: Stop, or another widget
        run["status"] = "stopped"
    draw(run, view)
    with results:
        downloads(run)


main()
