"""DeepDream: the mix's loss rises, sizes hold, max_loss stops early, tiles agree, seeds repeat;
bad requests raise RequestError; the page (AppTest) and the CLI (one real subprocess runs its commands)."""
import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import conftest
from own_models import refuse_model_loading, run_cli
from vizcore import drawing

ROOT = Path(__file__).resolve().parent.parent
STEPS = conftest.test_steps(6)  # ascent steps per octave in these tests


@pytest.fixture(scope="module")
def dream():
    from vizcore import dream as module
    return module


@pytest.fixture(scope="module")
def photo(samples) -> np.ndarray:
    """The cat at 240×160: two octaves of the default Lite0 mix fit, and steps are fast."""
    return np.asarray(Image.fromarray(samples["cat"]).resize((240, 160), Image.Resampling.LANCZOS))


@pytest.fixture(scope="module")
def mix(dream, lite0) -> dict:
    return dream.default_layers(lite0)


# --- the dream -------------------------------------------------------------------------------

def test_dream_raises_the_mix_loss(dream, lite0, photo, mix):
    frames = list(dream.dream(lite0, photo, mix, steps=STEPS, octaves=2))
    assert [f.octave for f in frames] == [1] * STEPS + [2] * STEPS
    assert dream.dream_loss_of(lite0, frames[-1].image, mix) > 1.1 * dream.dream_loss_of(lite0, photo, mix)
    last_octave = [f.loss for f in frames if f.octave == 2]
    assert last_octave == sorted(last_octave), last_octave  # each step climbs


def test_every_frame_has_the_input_size(dream, lite0):
    odd = np.random.default_rng(0).integers(0, 256, (131, 203, 3), dtype=np.uint8)  # 3 octaves just fit
    frames = list(dream.dream(lite0, odd, {"block4c_add": 1.0}, steps=2, octaves=3))
    assert [(f.octave, f.step) for f in frames] == [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2)]
    assert all(f.image.shape == odd.shape and f.image.dtype == np.uint8 for f in frames)


def test_every_yields_fewer_frames_and_always_the_last(dream, tiny_model):
    image = np.full((40, 50, 3), 128, np.uint8)
    frames = list(dream.dream(tiny_model, image, {"conv_3": 1.0}, steps=5, octaves=2, every=3))
    assert [(f.octave, f.step) for f in frames] == [(1, 3), (2, 1), (2, 4), (2, 5)]


def test_max_loss_ends_each_octave_early(dream, lite0, photo, mix):
    steps = max(4, STEPS)
    free = list(dream.dream(lite0, photo, mix, steps=steps, octaves=1))
    max_loss = (free[1].loss + free[2].loss) / 2
    capped = list(dream.dream(lite0, photo, mix, steps=steps, octaves=1, max_loss=max_loss))
    assert [f.loss for f in capped] == [f.loss for f in free[:3]]  # stops right after passing it
    two_octaves = list(dream.dream(lite0, photo, mix, steps=steps, octaves=2, max_loss=max_loss))
    assert len(two_octaves) < 2 * steps and {f.octave for f in two_octaves} == {1, 2}
    for octave in (1, 2):
        losses = [f.loss for f in two_octaves if f.octave == octave]
        assert all(loss <= max_loss for loss in losses[:-1]) and losses[-1] > max_loss


def test_tiled_and_untiled_gradients_agree_on_a_photo_smaller_than_the_tile(dream, lite0, photo, mix):
    loss, gradients = dream.dream_gradients(lite0, photo, mix)
    tiled_loss, tiled_gradients = dream.dream_gradients(lite0, photo, mix, tile=512, seed=3)
    assert tiled_loss == pytest.approx(loss, rel=1e-5)
    np.testing.assert_allclose(tiled_gradients, gradients, atol=1e-4)  # normalised: mean |g| is 1
    untiled = list(dream.dream(lite0, photo, mix, steps=2, octaves=1))[-1].image
    tiled = list(dream.dream(lite0, photo, mix, steps=2, octaves=1, tile=512, seed=3))[-1].image
    assert np.abs(untiled.astype(int) - tiled).max() <= 1


def test_tiles_cover_the_photo_and_roll_only_cut_axes(dream):
    rng = np.random.default_rng(0)
    tile_size, starts_y, starts_x, shift = dream.tile_layout((300, 1000), 400, rng)
    assert tile_size == (300, 400) and list(starts_y) == [0] and shift[0] == 0
    assert starts_x[0] == 0 and starts_x[-1] + 400 == 1000 and np.all(np.diff(starts_x) <= 400)
    assert 0 <= shift[1] < 1000


def test_a_photo_larger_than_the_tile_dreams_tile_by_tile(dream, lite0, samples, mix):
    cat = samples["cat"]  # 451×300, tiles of 160: 3 × 2 tiles
    frames = list(dream.dream(lite0, cat, mix, steps=2, octaves=1, tile=160, seed=0))
    assert frames[-1].image.shape == cat.shape
    assert dream.dream_loss_of(lite0, frames[-1].image, mix) > dream.dream_loss_of(lite0, cat, mix)


def test_the_same_seed_dreams_the_same(dream, lite0, samples, mix):
    cat = samples["cat"]
    run = lambda seed: [f.image for f in dream.dream(lite0, cat, mix, steps=2, octaves=1, tile=200, seed=seed)]
    first, again, other = run(7), run(7), run(8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[-1], other[-1])  # the roll differs


def test_a_model_with_a_fixed_input_size_dreams_at_any_size(dream):
    import keras
    from vizcore.models import VizModel
    keras.utils.set_random_seed(1)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(inputs)
    x = keras.layers.Conv2D(6, 3, strides=2, padding="same", name="conv_b")(x)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x))
    fixed = VizModel("fixed", keras.Model(inputs, outputs), (32, 32), ("a", "b", "c"), "unit")
    image = np.random.default_rng(0).integers(0, 256, (45, 70, 3), dtype=np.uint8)
    frames = list(dream.dream(fixed, image, {"conv_b": 1.0}, steps=2, octaves=2))
    assert frames[-1].image.shape == image.shape and frames[-1].loss > frames[0].loss


def test_compiled_dreamers_are_shared_and_bounded(dream, tiny_model, monkeypatch):
    """Dreamers live in ascent's per-model cache of compiled functions, beside their gradient and frame
    passes: with room for 4 entries, 2 dreamers (and 2 passes) are kept."""
    from vizcore import ascent
    monkeypatch.setattr(ascent, "MAX_COMPILED", 4)
    first = dream._dreamer(tiny_model, ("conv_1",))
    assert dream._dreamer(tiny_model, ("conv_1",)) is first
    for names in [("conv_2",), ("conv_1",), ("conv_3",)]:  # conv_1 used again: conv_2 is the oldest
        dream._dreamer(tiny_model, names)
    kept = [key[1] for key in ascent._COMPILED.entries(tiny_model) if key[0] == "dreamer"]
    assert kept == [("conv_1",), ("conv_3",)]
    assert dream._dreamer(tiny_model, ("conv_1",)) is first


def test_default_mixes_name_real_layers(dream, lite0, tiny_model):
    assert dream.default_layers(lite0) == dream.DEFAULT_LAYERS["efficientnet_lite0"]
    fallback = dream.default_layers(tiny_model)
    assert fallback and set(fallback) <= {"conv_1", "conv_2", "conv_3"} and min(fallback.values()) > 0


@pytest.mark.parametrize("name, builder", [("inception_v3", "InceptionV3"), ("vgg19", "VGG19"), ("vgg16", "VGG16"),
                                           ("resnet50v2", "ResNet50V2"), ("xception", "Xception"),
                                           ("mobilenet_v2", "MobileNetV2"), ("efficientnet_b0", "EfficientNetB0")])
def test_zoo_default_mixes_name_real_layers(dream, name, builder):
    import keras
    model = getattr(keras.applications, builder)(weights=None, include_top=False)  # architecture only, no download
    names = {layer.name for layer in model.layers}
    assert set(dream.DEFAULT_LAYERS[name]) <= names


# --- bad requests ----------------------------------------------------------------------------

# --- a dream tweaked live --------------------------------------------------------------------

def live_run(dream, vm, image, layers, change_after: int, change: dict, **options):
    """The frames of a dream whose live settings get ``change`` once ``change_after`` frames are in,
    and its LiveSettings."""
    from vizcore.live import LiveSettings
    live = LiveSettings()
    frames = []
    for frame in dream.dream(vm, image, layers, live=live, **options):
        frames.append(frame)
        if len(frames) == change_after:
            live.update(**change)
    return frames, live


@pytest.fixture(scope="module")
def grey_noise(dream) -> np.ndarray:
    return dream.noise_image(40, 50, seed=3)


def test_a_live_lr_change_takes_effect_at_the_next_step_on_the_image_reached(dream, tiny_model, grey_noise):
    from vizcore.live import Change
    options = dict(steps=4, octaves=1, lr=0.01)
    plain = list(dream.dream(tiny_model, grey_noise, {"conv_3": 1.0}, **options))
    changed, live = live_run(dream, tiny_model, grey_noise, {"conv_3": 1.0}, 2, {"lr": 0.1}, **options)
    assert live.changes == [Change(3, "lr", 0.1, 0.01)]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(plain[:2], changed[:2]))
    assert changed[2].loss == pytest.approx(plain[2].loss)  # step 3 starts from the image step 2 reached
    moved = lambda frames, k: np.abs(frames[k].image.astype(int) - frames[k - 1].image.astype(int)).mean()  # noqa: E731
    assert moved(changed, 2) > 4 * moved(plain, 2)  # ten times the step: the pixels move much further


def test_a_live_mix_change_reweights_or_swaps_the_layers_from_the_next_step(dream, tiny_model, grey_noise):
    options = dict(steps=3, octaves=1)
    plain = list(dream.dream(tiny_model, grey_noise, {"conv_3": 1.0}, **options))
    heavier, live = live_run(dream, tiny_model, grey_noise, {"conv_3": 1.0}, 1, {"layers": {"conv_3": 3.0}}, **options)
    assert [(c.step, c.name) for c in live.changes] == [(2, "layers")]
    assert heavier[1].loss == pytest.approx(3 * plain[1].loss, rel=1e-4)  # the same image, weighed three times
    swapped, live = live_run(dream, tiny_model, grey_noise, {"conv_3": 1.0}, 1, {"layers": {"conv_2": 1.0}}, **options)
    assert live.changes[0].value == {"conv_2": 1.0} and len(swapped) == 3
    assert swapped[1].loss != pytest.approx(plain[1].loss)


def test_live_steps_end_the_octave_early_or_late(dream, tiny_model, grey_noise):
    fewer, live = live_run(dream, tiny_model, grey_noise, {"conv_3": 1.0}, 2, {"steps": 3}, steps=5, octaves=2)
    assert [(f.octave, f.step, f.steps) for f in fewer] == [(1, 1, 5), (1, 2, 5), (1, 3, 3), (2, 1, 3), (2, 2, 3),
                                                            (2, 3, 3)]
    assert [f.taken for f in fewer] == [1, 2, 3, 4, 5, 6]
    below, _ = live_run(dream, tiny_model, grey_noise, {"conv_3": 1.0}, 3, {"steps": 1}, steps=4, octaves=2)
    assert [(f.octave, f.step) for f in below] == [(1, 1), (1, 2), (1, 3), (2, 1)]  # octave 1 ends at once


def test_steps_lowered_between_frames_still_yield_the_last_frame(dream, tiny_model, grey_noise, monkeypatch):
    """A change made while a step runs (from another thread) may end the dream on a step that was not
    to be shown (``every``): its frame still comes."""
    from vizcore import scheduler
    from vizcore.live import LiveSettings
    live, checkpoints = LiveSettings(), []

    def checkpoint() -> None:  # the page lowers the steps while step 4 runs
        checkpoints.append(1)
        if len(checkpoints) == 5:
            live.update(steps=4)

    monkeypatch.setattr(scheduler, "checkpoint", checkpoint)
    frames = list(dream.dream(tiny_model, grey_noise, {"conv_3": 1.0}, steps=6, octaves=1, every=3, live=live))
    assert [(f.step, f.taken) for f in frames] == [(3, 3), (4, 4)]


def test_a_live_octave_scale_sizes_the_octaves_to_come(dream, tiny_model, grey_noise, monkeypatch):
    shapes = []
    step = dream._DreamStepper._step

    def recording(self, image, detail=None):
        shapes.append(tuple(image.shape[1:3]))
        return step(self, image, detail)

    monkeypatch.setattr(dream._DreamStepper, "_step", recording)
    list(dream.dream(tiny_model, grey_noise, {"conv_3": 1.0}, steps=1, octaves=3, octave_scale=1.1))
    assert shapes == [(33, 41), (36, 45), (40, 50)]
    shapes.clear()
    _, live = live_run(dream, tiny_model, grey_noise, {"conv_3": 1.0}, 1, {"octave_scale": 1.5}, steps=1, octaves=3,
                       octave_scale=1.1)
    assert [(c.step, c.name) for c in live.changes] == [(2, "octave_scale")]
    assert shapes == [(33, 41), (33, 41), (40, 50)]  # octave 2 at 1.5 would be smaller than octave 1: kept


def test_jitter_rolls_the_image_at_random_and_back(dream, tiny_model, grey_noise):
    run = lambda **options: [f.image for f in dream.dream(tiny_model, grey_noise, {"conv_3": 1.0}, steps=3,  # noqa: E731
                                                         octaves=1, seed=4, **options)]
    still, jittered, again = run(), run(jitter=8), run(jitter=8)
    assert all(np.array_equal(a, b) for a, b in zip(jittered, again))  # seeded
    assert not np.array_equal(still[-1], jittered[-1])
    assert np.array_equal(still[-1], run(jitter=0)[-1])  # 0: as without jitter
    rolled, _ = live_run(dream, tiny_model, grey_noise, {"conv_3": 1.0}, 2, {"jitter": 8}, steps=3, octaves=1, seed=4)
    assert np.array_equal(rolled[1].image, still[1]) and not np.array_equal(rolled[2].image, still[2])


def test_a_bad_live_change_raises_and_changes_nothing(dream, tiny_model, grey_noise):
    from vizcore import RequestError
    from vizcore.live import LiveSettings
    live = LiveSettings()
    frames = dream.dream(tiny_model, grey_noise, {"conv_3": 1.0}, steps=3, octaves=1, live=live)
    next(frames)
    for bad, words in [({"lr": -1.0}, "lr (learning rate) must be positive"), ({"layers": {}}, "layer mix is empty"),
                       ({"steps": 0}, "steps must be at least 1"), ({"jitter": -2}, "jitter must be between 0"),
                       ({"octave_scale": 1.0}, "octave scale must be greater than 1")]:
        with pytest.raises(RequestError) as caught:
            live.update(**bad)
        assert words in str(caught.value)
    assert live.update(lr=dream.LR) == [] and len(list(frames)) == 2 and live.changes == []


MIX = {"block4c_add": 1.0, "block5c_add": 1.5}


@pytest.mark.parametrize("layers, options, words", [
    ({"nope": 1.0}, {}, "has no layer 'nope'"),
    ({"avg_pool": 1.0}, {}, "no spatial (4-D) output"),
    ({}, {}, "layer mix is empty"),
    ({"block4c_add": -1.0}, {}, "Layer weight -1.0 for block4c_add must be zero or positive"),
    ({"block4c_add": 0.0}, {}, "Every layer weight is zero"),
    (MIX, {"lr": -0.01}, "lr (learning rate) must be positive, got -0.01"),
    (MIX, {"lr": 0.0}, "lr (learning rate) must be positive, got 0.0"),
    (MIX, {"steps": 0}, "steps must be at least 1, got 0"),
    (MIX, {"octaves": 0}, "octaves must be at least 1, got 0"),
    (MIX, {"octave_scale": 1.0}, "octave scale must be greater than 1, got 1.0"),
    (MIX, {"octave_scale": 0.7}, "octave scale must be greater than 1, got 0.7"),
    (MIX, {"max_loss": -5.0}, "max loss must be positive"),
    (MIX, {"tile": 40}, "tile 40 is too small"),
    (MIX, {"octaves": 6}, "too small for 6 octaves at scale 1.4"),
])
def test_bad_requests_raise_before_the_first_step(dream, lite0, photo, layers, options, words):
    from vizcore import RequestError
    with pytest.raises(RequestError) as caught:
        dream.dream(lite0, photo, layers, **options)  # raises on call, not on the first next()
    assert words in str(caught.value)


def test_a_photo_too_small_for_the_octaves_says_how_large_it_must_be(dream, lite0):
    from vizcore import RequestError
    with pytest.raises(RequestError, match=r"100×100 pixels, too small for 3 octaves.*at least 128 pixels a side"):
        dream.dream(lite0, np.zeros((100, 100, 3), np.uint8), MIX)


def test_the_image_must_be_rgb_uint8(dream, lite0):
    from vizcore import RequestError
    with pytest.raises(RequestError, match="RGB uint8"):
        dream.dream(lite0, np.zeros((200, 200), np.float32), MIX)


# --- starts and outputs ----------------------------------------------------------------------

def test_noise_start_is_seeded_grey_noise(dream):
    noise = dream.noise_image(120, 90, seed=5)
    assert noise.shape == (120, 90, 3) and noise.dtype == np.uint8
    assert 120 < noise.mean() < 136 and noise.std() > 1
    assert np.array_equal(noise, dream.noise_image(120, 90, seed=5))
    assert not np.array_equal(noise, dream.noise_image(120, 90, seed=6))


@pytest.mark.parametrize("text, mix", [("a:1.0,b:1.5", {"a": 1.0, "b": 1.5}), ("a", {"a": 1.0}),
                                       (" a : 2 , , b:0.5 ", {"a": 2.0, "b": 0.5}), ("", {})])
def test_parse_layer_mix(dream, text, mix):
    assert dream.parse_layer_mix(text) == mix


def test_gif_frames_keep_about_gif_frames_thumbnails_and_the_latest(dream):
    start = np.zeros((900, 600, 3), np.uint8)
    kept = drawing.GifFrames(start, total_steps=10 * drawing.GIF_FRAMES)
    for step in range(1, 10 * drawing.GIF_FRAMES + 4):  # a run that went 3 steps past a kept one
        kept.add(np.full_like(start, step % 256))
    frames = kept.frames()
    assert len(frames) == 1 + drawing.GIF_FRAMES + 1 and max(frames[0].shape[:2]) == drawing.GIF_SIDE
    assert frames[-1][0, 0, 0] == (10 * drawing.GIF_FRAMES + 3) % 256  # the latest frame closes the GIF


def test_animation_gif_loops_over_the_frames(dream):
    frames = [np.full((600, 300, 3), value, np.uint8) for value in (0, 80, 160, 240)]
    gif = Image.open(io.BytesIO(drawing.animation_gif(frames, max_side=200)))
    assert gif.format == "GIF" and gif.n_frames == 4 and gif.size == (100, 200) and gif.info["loop"] == 0


# --- the page --------------------------------------------------------------------------------

@pytest.fixture
def page():
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    at.switch_page("pages/dream.py").run()
    assert not at.exception, at.exception
    at.selectbox(key="dream_sample").set_value("cat")
    at.slider(key="dream_steps").set_value(2)
    at.slider(key="dream_octaves").set_value(2)
    return at.run()


def test_page_dreams_and_offers_the_png_and_the_gif(page):
    assert page.multiselect(key="dream_layers_efficientnet_lite0").value == ["block4c_add", "block5c_add"]
    page.button(key="dream_run_button").click().run()
    assert not page.exception and not page.error, (page.exception, page.error)
    assert [image.captions for image in page.get("image")] == [["Before"], ["After"]]
    assert page.get("progress")[0].proto.text.startswith("Done · Octave 2/2 · step 2/2")
    assert len(page.get("download_button")) == 2
    run = page.session_state["dream_run"]
    assert run["after"].shape == run["before"].shape and not np.array_equal(run["after"], run["before"])
    assert len(run["gif_frames"].frames()) == 1 + 4
    assert [row["octave"] for row in run["losses"]] == ["octave 1"] * 2 + ["octave 2"] * 2


def test_page_stop_keeps_the_frame_reached(page):
    page.button(key="dream_run_button").click().run()
    run = page.session_state["dream_run"]
    midway = np.full_like(run["after"], 77)  # what an interrupted run leaves: status running, a frame
    page.session_state["dream_run"] = {**run, "status": "running", "after": midway, "position": 2}
    page.button(key="dream_stop").click().run()
    assert not page.exception
    assert [image.captions for image in page.get("image")] == [["Before"], ["After (stopped)"]]
    assert page.get("progress")[0].proto.text.startswith("Stopped ·")
    assert np.array_equal(page.session_state["dream_run"]["after"], midway)


def no_layers(at):
    at.multiselect(key="dream_layers_efficientnet_lite0").set_value([])


def too_many_octaves(at):
    at.slider(key="dream_octaves").set_value(6)


def zero_weights(at):
    for name in ("block4c_add", "block5c_add"):
        at.slider(key=f"dream_weight_efficientnet_lite0_{name}").set_value(0.0)


@pytest.mark.parametrize("change, words", [(no_layers, "layer mix is empty"),
                                           (too_many_octaves, "too small for 6 octaves"),
                                           (zero_weights, "Every layer weight is zero")])
def test_page_bad_settings_show_an_error(page, change, words):
    change(page)
    page.run()
    page.button(key="dream_run_button").click().run()
    assert not page.exception
    assert any(words in error.value for error in page.error), [e.value for e in page.error]


def test_page_tiles_large_photos_by_default(page, dream):
    assert page.selectbox(key="dream_tile").value == "Auto"
    assert dream.auto_tile((768, 1100)) == dream.AUTO_TILE and dream.auto_tile((600, 512)) is None


def test_page_dreams_from_noise(page):
    page.radio(key="dream_source").set_value("Noise").run()
    page.slider(key="dream_octaves").set_value(1)
    page.button(key="dream_run_button").click().run()
    assert not page.exception and not page.error
    assert page.session_state["dream_run"]["after"].shape == (448, 448, 3)


# --- the CLI ---------------------------------------------------------------------------------

BAD_INPUT = [
    (["assets/samples/cat.jpg", "--layers", "nope:1"], "efficientnet_lite0 has no layer 'nope'"),
    (["assets/samples/cat.jpg", "--steps", "0"], "steps must be at least 1, got 0"),
    (["assets/samples/cat.jpg", "--octave-scale", "1"], "octave scale must be greater than 1"),
    (["noise", "--noise-size", "90x90"], "too small for 3 octaves"),
    (["assets/samples/cat.jpg", "--out", "dream.jpg"], "should end in .png"),
]


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory) -> tuple[Path, dict[str, subprocess.CompletedProcess]]:
    """Every CLI command of this module, run in ONE interpreter as ``python -m vizcore`` runs them
    (own_models.run_cli: TensorFlow is imported once, not once a command); the folder they write to."""
    folder = tmp_path_factory.mktemp("dream-cli")
    commands = {
        "noise": ["dream", "efficientnet_lite0", "noise", "--noise-size", "180x150", "--octaves", "2", "--steps", "2",
                  "--layers", "block4c_add:1.0,block5c_add:1.5", "--seed", "3", "--out", str(folder / "dream.png"),
                  "--frames", str(folder / "frames"), "--gif", str(folder / "run.gif"), "--json"],
        "max loss": ["dream", "efficientnet_lite0", "assets/samples/cat.jpg", "--octaves", "1", "--steps", "5",
                     "--max-loss", "1", "--out", str(folder / "d.png"), "--json"],
    }
    for number, (args, _) in enumerate(BAD_INPUT):
        args = args if "--out" in args else [*args, "--out", str(folder / "unused-dream.png")]
        commands[f"bad {number}"] = ["dream", "efficientnet_lite0", *args]
    return folder, run_cli(commands)


def test_cli_dreams_noise_with_frames_gif_and_json(cli_runs):
    folder, runs = cli_runs
    out, frames, gif, result = folder / "dream.png", folder / "frames", folder / "run.gif", runs["noise"]
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["layers"] == {"block4c_add": 1.0, "block5c_add": 1.5} and payload["size"] == [180, 150]
    assert payload["steps_run"] == 4 and not payload["stopped_early"]
    assert [(h["octave"], h["step"]) for h in payload["history"]] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert Image.open(out).size == (180, 150) and len(list(frames.glob("frame_*.png"))) == 4
    assert Image.open(gif).n_frames == 5  # the start, then every step
    assert "dream [" in result.stderr  # the progress bar


def test_cli_max_loss_reports_an_early_stop(cli_runs):
    result = cli_runs[1]["max loss"]
    payload = json.loads(result.stdout)
    assert result.returncode == 0 and payload["stopped_early"] and payload["steps_run"] == 1


@pytest.mark.parametrize("number, words", [(number, words) for number, (_, words) in enumerate(BAD_INPUT)],
                         ids=[" ".join(args) for args, _ in BAD_INPUT])
def test_cli_bad_input_is_one_line_and_exit_2(cli_runs, number, words):
    result = cli_runs[1][f"bad {number}"]
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("args", [["--steps", "0"], ["--octave-scale", "1"], ["--lr", "0"], ["--tile", "0"]])
def test_cli_settings_are_checked_before_the_model_loads(args, monkeypatch, capsys, tmp_path):
    from vizcore.cli import main
    from vizcore.commands import dream as command

    refuse_model_loading(monkeypatch, command)
    photo, out = str(ROOT / "assets" / "samples" / "cat.jpg"), str(tmp_path / "unused.png")
    assert main(["dream", "efficientnet_lite0", photo, *args, "--out", out]) == 2
    assert "vizcore: error: " in capsys.readouterr().err
