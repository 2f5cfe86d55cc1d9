"""Dream: DeepDream a photo (or noise) with a mix of layers, and watch it dream.

Widgets are read into plain values; ``vizcore.dream.dream`` yields frames; this page draws
them live. The run lives in ``st.session_state["dream_run"]`` and is updated at every frame, so
Stop (or any other widget) interrupts the script and the rerun shows the frame reached. Layers
are listed through nested models by their paths; a one-channel model dreams in grey.
"""
from __future__ import annotations

import hashlib
import time

import numpy as np
import pandas as pd
import streamlit as st

import vizcore
from pages import common
from vizcore import dream

DRAW_INTERVAL = 0.25       # seconds between live redraws of the frame (progress and loss update every step)
WEIGHT_MAX = 3.0           # largest layer weight on the sliders
STEPS_MAX = 100            # longest octave on the steps slider
OCTAVES_MAX = 6            # most octaves on the slider
LR_CHOICES = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1)  # learning rates offered
TILE_AUTO, TILE_OFF = "Auto", "Off"
TILE_CHOICES = (TILE_AUTO, TILE_OFF, 256, 384, 512, 768)  # tile sides (px) for big photos
LOSS_CHART_HEIGHT = 180    # px
RUN_KEY = "dream_run"      # session_state: the current or last run
REQUEST_KEY = "dream_requested"  # session_state: Run was pressed (survives a rerun before the page draws)


@st.cache_data(max_entries=8, show_spinner=False)
def noise_start(seed: int) -> np.ndarray:
    return dream.noise_image(seed=seed)


def image_key(image: np.ndarray) -> str:
    return hashlib.sha1(image.tobytes() + str(image.shape).encode()).hexdigest()


def layer_mix(vm) -> dict[str, float]:
    """The layer multiselect and one weight slider per chosen layer → {layer: weight}."""
    defaults = dream.default_layers(vm)
    names = [info.name for info in vm.conv_layers()]
    short = common.short_layer_names(names)
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


def settings() -> dict:
    """Steps, learning rate, octaves, octave scale, max loss, tile and seed → dream() keywords."""
    left, right = st.columns(2)
    steps = left.slider("Steps per octave", 1, STEPS_MAX, dream.STEPS, key="dream_steps")
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
    seed = st.number_input("Seed", 0, 2**31 - 1, 0, key="dream_seed", help="Fixes the tiles' shift and the noise.")
    return {"steps": steps, "lr": lr, "octaves": octaves, "octave_scale": octave_scale,
            "max_loss": max_loss or None, "tile": tile, "seed": int(seed)}


def resolved_tile(tile, image: np.ndarray) -> int | None:
    """The tile choice for this image (Auto: vizcore.dream.auto_tile)."""
    if tile == TILE_AUTO:
        return dream.auto_tile(image.shape[:2])
    return None if tile == TILE_OFF else int(tile)


def request_run() -> None:
    """Run's callback: a flag in the session, so a rerun before the page draws does not lose the click."""
    st.session_state[REQUEST_KEY] = True


def new_run(key: str, before: np.ndarray, options: dict) -> dict:
    return {"key": key, "before": before, "after": before, "losses": [],
            "gif_frames": dream.GifFrames(before, options["octaves"] * options["steps"]),
            "label": "", "status": "running", "total": options["octaves"] * options["steps"], "steps": options["steps"],
            "octaves": options["octaves"], "seconds": 0.0}


def record(run: dict, frame: dream.DreamFrame, seconds: float) -> None:
    """Keep the frame in the session's run, so an interrupted script leaves it behind."""
    run["after"], run["seconds"] = frame.image, seconds
    run["gif_frames"].add(frame.image)
    run["losses"].append({"step": len(run["losses"]) + 1, "loss": frame.loss, "octave": f"octave {frame.octave}"})
    run["position"] = (frame.octave - 1) * run["steps"] + frame.step
    run["label"] = (f"Octave {frame.octave}/{run['octaves']} · step {frame.step}/{run['steps']} · "
                    f"loss {frame.loss:.1f} · {seconds:.1f} s")


def draw(run: dict, slots: dict, *, images: bool = True) -> None:
    """Progress, loss and (when ``images``) the before/after pair of a run."""
    fraction = 1.0 if run["status"] == "finished" else min(run.get("position", 0) / run["total"], 1.0)
    text = {"running": run["label"] or "Starting…", "finished": f"Done · {run['label']}",
            "stopped": f"Stopped · {run['label'] or 'before the first step'}"}[run["status"]]
    slots["progress"].progress(fraction, text=text)
    if run["losses"]:
        slots["chart"].line_chart(pd.DataFrame(run["losses"]), x="step", y="loss", color="octave",
                                  height=LOSS_CHART_HEIGHT, x_label="step", y_label="dream loss")
    if images:
        slots["before"].image(run["before"], caption="Before", width="stretch")
        caption = {"running": "Dreaming…", "finished": "After", "stopped": "After (stopped)"}[run["status"]]
        slots["after"].image(run["after"], caption=caption, width="stretch")


def run_dream(vm, image: np.ndarray, mix: dict, options: dict, key: str, slots: dict) -> None:
    """Start the dream and stream its frames; bad settings show an st.error and nothing starts."""
    try:
        frames = dream.dream(vm, image, mix, **options)
    except vizcore.VizcoreError as error:
        st.error(str(error))
        return
    run = st.session_state[RUN_KEY] = new_run(key, image, options)
    started = last_draw = time.perf_counter()
    draw(run, slots)
    try:
        for frame in frames:
            now = time.perf_counter()
            record(run, frame, now - started)
            redraw = now - last_draw >= DRAW_INTERVAL
            draw(run, slots, images=redraw)
            last_draw = now if redraw else last_draw
    except vizcore.VizcoreError as error:  # a check the engine can only make once it runs
        run["status"] = "stopped"
        draw(run, slots)
        st.error(str(error))
        return
    run["status"] = "finished"
    draw(run, slots)


def downloads(run: dict) -> None:
    """PNG of the frame shown and an animated GIF of the run (built once, kept in the run)."""
    if run.get("downloads_at") != run["gif_frames"].count:
        run["png"], run["gif"] = dream.png_bytes(run["after"]), run["gif_frames"].gif()
        run["downloads_at"] = run["gif_frames"].count
    left, right = st.columns(2)
    left.download_button("Download PNG", run["png"], file_name="dream.png", mime="image/png",
                         icon=":material/download:", width="stretch", key="dream_download_png")
    right.download_button("Download GIF of the run", run["gif"], file_name="dream.gif", mime="image/gif",
                          icon=":material/animation:", width="stretch", key="dream_download_gif")


def page() -> None:
    st.title("Dream")
    st.caption("DeepDream: the photo is nudged, octave by octave, towards whatever the chosen layers respond to, "
               "so they see ever more of it.")
    vm = common.current_model()
    if vm is None or not common.spatial_model(vm):
        st.stop()
    controls, results = st.columns([2, 3], gap="large")
    with controls:
        source = common.image_picker("dream", allow_noise=True)
        mix = layer_mix(vm)
        options = settings()
        run_column, stop_column = st.columns(2)
        run_column.button("Run", type="primary", icon=":material/play_arrow:", width="stretch", key="dream_run_button",
                          on_click=request_run)
        stop_column.button("Stop", icon=":material/stop:", width="stretch", key="dream_stop",
                           help="Stop the dream and keep the current frame.")
    with results:
        before, after = st.columns(2)
        slots = {"before": before.empty(), "after": after.empty(), "progress": st.empty(), "chart": st.empty()}
    run_clicked = st.session_state.pop(REQUEST_KEY, False)
    if source is None:
        results.info("Upload a photo, pick a sample or dream from noise.")
        return
    image = vm.as_seen(noise_start(options["seed"]) if isinstance(source, str) else source)  # grey: as the model sees it
    options["tile"] = resolved_tile(options["tile"], image)
    key = f"{common.model_key(vm)}:{image_key(image)}"
    run = st.session_state.get(RUN_KEY)
    if run_clicked:
        with results:
            run_dream(vm, image, mix, options, key, slots)
        run = st.session_state.get(RUN_KEY)
    if run is None or run["key"] != key:
        slots["before"].image(image, caption="Before", width="stretch")
        slots["after"].info("Press **Run** to dream.")
        return
    if run["status"] == "running":  # this rerun interrupted it: Stop, or another widget
        run["status"] = "stopped"
    draw(run, slots)
    with results:
        downloads(run)


page()
