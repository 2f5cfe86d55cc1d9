"""Filter visualisation: ascent works, frames stream, batches and chunks agree, bad input is refused."""
import itertools
import json

import numpy as np
import pytest

from conftest import test_steps as capped_steps
from vizcore import RequestError, ascent, atlas, drawing, filters, objectives, step_rules
from vizcore.filters import visualize

LITE_LAYER = "block3a_expand_conv"  # a linear convolution: no filter is dead


def classic_climber(vm, layer):
    return ascent.engine(vm, step_rules.classic(180), objectives.channel(layer, [0], border=2).checked(vm))


def classic_step(vm, layer):
    """The compiled classic step of a layer's filters (from the per-model cache)."""
    return classic_climber(vm, layer).step()


def classic_measure(vm, layer):
    return classic_climber(vm, layer).measure()


def grid(vm, layer, indices, **settings):
    """A checked request for a grid of filters."""
    return filters.filter_request(vm, "filters", layer, indices, **settings)


def last(frames):
    *_, final = frames
    return final


@pytest.fixture(scope="module")
def dead_model():
    """A 1×1 convolution whose filter 0 needs a bright image to fire (bias −2) and filter 1 always fires."""
    import keras
    from vizcore.models import VizModel

    inputs = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(2, 1, activation="relu", name="conv")
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(
        keras.layers.GlobalAveragePooling2D()(conv(inputs)))
    model = keras.Model(inputs, outputs)
    conv.set_weights([np.ones((1, 1, 3, 2), np.float32), np.array([-2.0, 0.0], np.float32)])
    return VizModel("dead", model, (32, 32), ("a", "b"), "unit")


# --- ascent raises each filter's activation -----------------------------------------------------

def rises(history: np.ndarray, window: int = 5) -> np.ndarray:
    """Per filter: is the objective's mean over the last steps above its mean over the first ones?"""
    return history[-window:].mean(axis=0) > history[:window].mean(axis=0)


def test_classic_ascent_raises_every_live_filter_on_the_tiny_model(tiny_model):
    final = last(visualize(tiny_model, "conv_3", range(10), size=66, steps=capped_steps(20), seed=1))
    live = ~final.dead
    assert live.sum() >= 5, final.dead
    assert np.all(final.activations[live] > final.initial[live] * 1.5), (final.initial, final.activations)
    assert np.all(final.activations[final.dead] == 0)


def test_robust_ascent_raises_every_filter_on_the_tiny_model(tiny_model):
    final = last(visualize(tiny_model, "conv_3", range(10), mode="robust", size=32, steps=capped_steps(40), seed=1))
    assert np.all(final.activations > final.initial), (final.initial, final.activations)
    assert np.mean(final.activations / np.maximum(final.initial, 1e-9)) > 1.2


def test_classic_ascent_raises_every_filter_on_the_bundled_model(lite0):
    final = last(visualize(lite0, LITE_LAYER, range(8), steps=capped_steps(10), size=96, seed=0))
    assert not final.dead.any()
    assert np.all(final.activations > final.initial + 1.0), (final.initial, final.activations)
    assert final.images.shape == (8, 96 - 2 * filters.CROP, 96 - 2 * filters.CROP, 3)
    assert final.images.dtype == np.uint8


def test_robust_ascent_raises_every_filter_on_the_bundled_model(lite0):
    final = last(visualize(lite0, LITE_LAYER, range(8), mode="robust", steps=capped_steps(64), size=64, seed=0))
    # the objective is the activation under random transforms: it rises for every filter; on the
    # untransformed image too, except for a filter that a flat grey start already excites (filter 1)
    assert np.all(rises(final.history, 8)), final.history
    assert np.sum(final.activations > final.initial + 1.0) >= 7, (final.initial, final.activations)
    assert final.images.shape == (8, 64, 64, 3)


@pytest.mark.parametrize("mode, size, steps", [("classic", 96, 10), ("robust", 64, 32)])
def test_image_i_excites_filter_i_more_than_the_other_images_do(lite0, mode, size, steps):
    final = last(visualize(lite0, LITE_LAYER, range(8), mode=mode, size=size, steps=capped_steps(steps), seed=0))
    features = np.asarray(lite0.extractor([LITE_LAYER])(lite0.preprocess(final.images)))
    response = features[..., :8].mean(axis=(1, 2))  # response[image j, filter k]
    assert np.array_equal(response.argmax(axis=0), np.arange(8)), np.round(response, 1)


# --- dead filters -------------------------------------------------------------------------------

def test_classic_reports_a_dead_filter(dead_model):
    final = last(visualize(dead_model, "conv", [0, 1], size=66, steps=5, seed=0))
    assert final.dead.tolist() == [True, False]
    assert final.activations[0] == 0 and final.activations[1] > final.initial[1]


def test_robust_revives_a_dead_filter(dead_model):
    frames = list(visualize(dead_model, "conv", [0, 1], mode="robust", size=32, steps=40, seed=0))
    # step 1 takes the real gradient: filter 0 has none; the next steps redirect ReLU gradients
    assert all(frame.dead.tolist() == [True, False] for frame in frames[:filters.RELU_OVERRIDE_STEPS + 1])
    assert frames[-1].dead.tolist() == [False, False]  # real gradients again, and filter 0 has one: alive
    assert frames[-1].initial[0] == 0 and frames[-1].activations[0] > 0


# --- streaming, determinism, chunks ---------------------------------------------------------------

def test_frames_stream_every_k_steps_and_after_the_last(tiny_model):
    frames = list(visualize(tiny_model, "conv_2", [0, 3, 5], steps=7, every=3, size=66, seed=0))
    assert [frame.step for frame in frames] == [3, 6, 7]
    assert [frame.done for frame in frames] == [False, False, True]
    assert all(frame.filters == (0, 3, 5) and frame.images.shape == (3, 16, 16, 3) for frame in frames)
    assert frames[-1].history.shape == (7, 3) and frames[0].history.shape == (3, 3)
    np.testing.assert_array_equal(frames[0].activations, frames[0].history[-1])
    assert frames[0].initial is None and frames[-1].initial.shape == (3,)


@pytest.mark.parametrize("mode, size", [("classic", 66), ("robust", 48)])
def test_same_seed_same_images_other_seed_other_images(tiny_model, mode, size):
    run = dict(mode=mode, size=size, steps=capped_steps(6))
    first = last(visualize(tiny_model, "conv_3", range(4), seed=3, **run))
    again = last(visualize(tiny_model, "conv_3", range(4), seed=3, **run))
    other = last(visualize(tiny_model, "conv_3", range(4), seed=4, **run))
    np.testing.assert_array_equal(first.images, again.images)
    assert not np.array_equal(first.images, other.images)


def test_a_filter_gets_the_same_start_wherever_it_sits_in_the_request(tiny_model):
    together = last(visualize(tiny_model, "conv_3", [2, 7], size=66, steps=1, seed=5))
    alone = last(visualize(tiny_model, "conv_3", [7], size=66, steps=1, seed=5))
    np.testing.assert_allclose(together.initial[1], alone.initial[0], rtol=1e-5)


@pytest.mark.parametrize("mode, size, steps", [("classic", 96, 10), ("robust", 64, 12)])
def test_chunked_and_single_batch_runs_agree(lite0, mode, size, steps):
    run = dict(mode=mode, size=size, steps=capped_steps(steps), seed=2)
    single = last(visualize(lite0, LITE_LAYER, range(7), chunk_size=7, **run))
    chunked = last(visualize(lite0, LITE_LAYER, range(7), chunk_size=3, **run))
    # batch sizes change oneDNN's summation order, nothing else: pixels agree to rounding
    difference = np.abs(single.images.astype(float) - chunked.images)
    assert difference.mean() < 1.0 and np.percentile(difference, 99) <= 12, (difference.mean(), difference.max())
    np.testing.assert_allclose(single.activations, chunked.activations, rtol=0.02, atol=0.05)
    np.testing.assert_array_equal(single.dead, chunked.dead)


def test_the_step_is_traced_once_for_every_size_and_batch(tiny_model):
    for size, count in [(66, 2), (80, 5), (70, 1)]:
        last(visualize(tiny_model, "conv_1", range(count), size=size, steps=2, seed=0))
    assert classic_step(tiny_model, "conv_1").experimental_get_tracing_count() == 1


def test_a_live_lr_change_takes_effect_at_the_next_step_without_a_new_trace(tiny_model):
    """The page changes the lr while a grid streams: from the next step on, on the images reached."""
    from vizcore.live import Change, LiveSettings
    run = dict(size=66, steps=4, seed=0, lr=1.0)
    plain = list(visualize(tiny_model, "conv_1", [1, 2], **run))  # filter 0 is dead on the grey start
    live, changed = LiveSettings(), []
    for frame in visualize(tiny_model, "conv_1", [1, 2], live=live, **run):
        changed.append(frame)
        if frame.step == 2:
            live.update(lr=30.0)
    assert live.changes == [Change(3, "lr", 30.0, 1.0)]
    np.testing.assert_array_equal(changed[1].images, plain[1].images)
    np.testing.assert_allclose(changed[2].history[2], plain[2].history[2], rtol=1e-5)  # step 3 scored step 2's images
    assert not np.array_equal(changed[3].images, plain[3].images)
    assert np.all(changed[3].activations > plain[3].activations)  # thirty times the step climbs further
    assert classic_step(tiny_model, "conv_1").experimental_get_tracing_count() == 1


def test_large_requests_are_chunked_by_default(lite0):
    assert 1 <= step_rules.classic(180).chunk_size(180) == filters.CHUNK_PIXELS // 180 ** 2 < 64
    assert 1 <= step_rules.robust(lite0).chunk_size(filters.settings(lite0, "robust").size) < 64


# --- grid ---------------------------------------------------------------------------------------

def test_grid_places_tiles_row_by_row_with_margins():
    tiles = np.stack([np.full((4, 6, 3), 10 * (i + 1), np.uint8) for i in range(10)])
    canvas = drawing.grid(tiles, cols=4, margin=2, background=255)
    assert canvas.shape == (3 * 4 + 2 * 2, 4 * 6 + 3 * 2, 3) and canvas.dtype == np.uint8
    for index in range(10):
        top, left = (index // 4) * 6, (index % 4) * 8
        assert np.all(canvas[top:top + 4, left:left + 6] == 10 * (index + 1))
    assert np.all(canvas[4:6] == 255) and np.all(canvas[:, 6:8] == 255)  # margins
    assert np.all(canvas[12:, 16:] == 255)                                # the empty last cells


def test_grid_of_fewer_images_than_columns_and_the_keras_layout():
    assert drawing.grid(np.zeros((3, 5, 5, 3), np.uint8), cols=8, margin=1).shape == (5, 17, 3)
    assert drawing.grid(np.zeros((64, 130, 130, 3), np.uint8)).shape == (8 * 130 + 35, 8 * 130 + 35, 3)


@pytest.mark.parametrize("images, options", [(np.zeros((0, 4, 4, 3)), {}), (np.zeros((4, 4, 3)), {}),
                                             (np.zeros((2, 4, 4, 3)), {"cols": 0})])
def test_grid_refuses_bad_input(images, options):
    with pytest.raises(RequestError):
        drawing.grid(images, **options)


# --- the disk cache -------------------------------------------------------------------------------

@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("VIZCORE_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_a_cache_hit_returns_identical_pixels(tiny_model, cache_dir):
    run = dict(mode="classic", size=66, steps=4, seed=9)
    computed = list(atlas.visualize(tiny_model, grid(tiny_model, "conv_2", [1, 2, 3], **run)))
    assert not any(frame.cached for frame in computed)
    stored = list((cache_dir / "atlas" / "tiny" / "conv_2").rglob("*.npz"))
    assert len(stored) == 1
    cached = list(atlas.visualize(tiny_model, grid(tiny_model, "conv_2", [1, 2, 3], **run)))
    assert len(cached) == 1 and cached[0].cached and cached[0].done
    for field in ("images", "activations", "dead", "history", "initial"):
        np.testing.assert_array_equal(getattr(cached[0], field), getattr(computed[-1], field))
    assert cached[0].filters == (1, 2, 3)


def test_the_cache_key_covers_filters_and_parameters(tiny_model, cache_dir):
    base = dict(mode="classic", size=66, steps=2, seed=0)
    last(atlas.visualize(tiny_model, grid(tiny_model, "conv_2", [1, 2], **base)))
    for layer, indices, change in [("conv_2", [2, 3], {}), ("conv_3", [1, 2], {}), ("conv_2", [1, 2], {"seed": 1}),
                                   ("conv_2", [1, 2], {"steps": 3}), ("conv_2", [1, 2], {"size": 70}),
                                   ("conv_2", [1, 2], {"lr": 5.0}), ("conv_2", [1, 2], {"mode": "robust"})]:
        assert atlas.load(tiny_model, grid(tiny_model, layer, indices, **{**base, **change})) is None


def test_any_part_of_stored_runs_is_served_in_the_order_asked(tiny_model, cache_dir):
    run = dict(mode="robust", size=40, steps=3, seed=5)
    first = last(atlas.visualize(tiny_model, grid(tiny_model, "conv_2", range(0, 4), **run)))
    second = last(atlas.visualize(tiny_model, grid(tiny_model, "conv_2", range(4, 7), **run)))
    part = atlas.load(tiny_model, grid(tiny_model, "conv_2", [5, 2, 3], **run))  # across both runs, out of order
    assert part is not None and part.cached and part.filters == (5, 2, 3)
    np.testing.assert_array_equal(part.images, np.stack([second.images[1], first.images[2], first.images[3]]))
    np.testing.assert_array_equal(part.history[:, 0], second.history[:, 1])
    np.testing.assert_array_equal(part.activations[1:], first.activations[2:])
    fresh = last(filters.visualize(tiny_model, "conv_2", [5, 2, 3], **run))  # what a run of just these makes
    np.testing.assert_allclose(part.activations, fresh.activations, rtol=1e-3, atol=1e-3)
    assert atlas.load(tiny_model, grid(tiny_model, "conv_2", [6, 7], **run)) is None  # 7 was never made


def test_random_runs_stopped_runs_and_corrupt_files_are_not_served(tiny_model, cache_dir):
    last(atlas.visualize(tiny_model, grid(tiny_model, "conv_1", [0], size=66, steps=2, seed=None)))
    frames = atlas.visualize(tiny_model, grid(tiny_model, "conv_1", [0], size=66, steps=3, seed=0))
    next(frames)
    frames.close()  # stopped after one step
    assert not list(cache_dir.rglob("*.npz"))
    last(atlas.visualize(tiny_model, grid(tiny_model, "conv_1", [0], size=66, steps=2, seed=0)))
    (path,) = cache_dir.rglob("*.npz")
    path.write_bytes(path.read_bytes()[:100])
    again = list(atlas.visualize(tiny_model, grid(tiny_model, "conv_1", [0], size=66, steps=2, seed=0)))
    assert not again[-1].cached and again[-1].done


# --- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("layer, indices, options, words", [
    ("nope", [0], {}, "has no layer 'nope'"),
    ("predictions", [0], {}, "no spatial (4-D) output"),
    ("conv_3", [10], {}, "Filter 10 out of range: layer conv_3 has 10 filters"),
    ("conv_3", [-1], {}, "Filter -1 out of range"),
    ("conv_3", [], {}, "No filters requested"),
    ("conv_3", [1.5], {}, "whole numbers"),
    ("conv_3", [0], {"steps": 0}, "steps must be between 1 and 2000, got 0"),
    ("conv_3", [0], {"steps": 10**6}, "steps must be between 1 and 2000"),
    ("conv_3", [0], {"size": 60}, "classic mode crops 25 px"),
    ("conv_3", [0], {"size": 16, "mode": "robust"}, "size must be between 32 and 512"),
    ("conv_3", [0], {"size": 4096}, "size must be between"),
    ("conv_3", [0], {"lr": 0}, "lr (learning rate) must be a positive number, got 0"),
    ("conv_3", [0], {"lr": float("nan")}, "positive number"),
    ("conv_3", [0], {"mode": "fancy"}, "Unknown mode 'fancy'"),
    ("conv_3", [0], {"seed": -3}, "seed must be between"),
    ("conv_3", [0], {"every": 0}, "every must be between"),
])
def test_bad_requests_raise_a_clear_request_error(tiny_model, layer, indices, options, words):
    with pytest.raises(RequestError) as error:
        visualize(tiny_model, layer, indices, **options)  # refused before any work, not at the first frame
    assert words in str(error.value)


@pytest.mark.parametrize("text, expected", [("0-3", [0, 1, 2, 3]), ("5, 1,2-3", [5, 1, 2, 3]), ("7", [7])])
def test_parse_filters(text, expected):
    assert filters.parse_filters(text) == expected


@pytest.mark.parametrize("text", ["", "a", "3-1", "1-x", "0-999999"])
def test_parse_filters_refuses_unreadable_lists(text):
    with pytest.raises(RequestError):
        filters.parse_filters(text)


def test_robust_defaults_follow_the_model_input_size(tiny_model, lite0):
    assert filters.settings(lite0, "robust")[1:4] == (filters.ROBUST_STEPS, filters.ROBUST_LR, 128)
    assert filters.settings(lite0, "classic")[1:4] == (30, 10.0, 180)
    assert filters.settings(tiny_model, "robust").size == filters.MIN_SIZE["robust"]  # 32-px model: the floor
    assert filters.settings(lite0, "robust", steps=5, lr=0.1, size=96, seed=4) == ("robust", 5, 0.1, 96, 4)


# --- CLI ------------------------------------------------------------------------------------------

def cli(capsys, *args):
    from vizcore.cli import main
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def tiny_file(tiny_model, tmp_path):
    path = tmp_path / "tiny.keras"
    tiny_model.keras.save(path)
    return str(path)


def test_cli_filters_writes_grid_tiles_and_json(tiny_file, cache_dir, tmp_path, capsys):
    from PIL import Image
    code, out, err = cli(capsys, "filters", tiny_file, "conv_3", "--filters", "0-2,5", "--steps", "3", "--size", "66",
                         "--out", str(tmp_path / "grid.png"), "--tiles", str(tmp_path / "tiles"), "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["layer"] == "conv_3" and payload["steps"] == 3 and payload["cached"] is False
    assert [row["index"] for row in payload["filters"]] == [0, 1, 2, 5]
    assert all(set(row) == {"index", "activation", "dead"} for row in payload["filters"])
    assert Image.open(tmp_path / "grid.png").size == (4 * 16 + 3 * 5, 16)
    assert sorted(p.name for p in (tmp_path / "tiles").iterdir()) == [f"conv_3_{i:04d}.png" for i in (0, 1, 2, 5)]
    assert "3/3" in err  # the progress bar
    code, out, _ = cli(capsys, "filters", tiny_file, "conv_3", "--filters", "0-2,5", "--steps", "3", "--size", "66",
                       "--out", str(tmp_path / "grid2.png"), "--json")
    assert json.loads(out)["cached"] is True
    assert (tmp_path / "grid.png").read_bytes() == (tmp_path / "grid2.png").read_bytes()


def test_cli_atlas_shards_by_layer(tiny_file, cache_dir, tmp_path, capsys):
    outputs = []
    for shard in ("0/2", "1/2"):
        code, out, err = cli(capsys, "atlas", tiny_file, "--out", str(tmp_path / "atlas"), "--steps", "2",
                             "--size", "66", "--shard", shard, "--json")
        assert code == 0, err
        outputs.append([row["layer"] for row in json.loads(out)["layers"]])
    assert outputs == [["conv_1", "conv_3"], ["conv_2"]]
    assert sorted(p.name for p in (tmp_path / "atlas").glob("*.png")) == ["conv_1.png", "conv_2.png", "conv_3.png"]
    summary = json.loads((tmp_path / "atlas" / "conv_2.json").read_text())
    assert len(summary["filters"]) == 8 and summary["mode"] == "classic"


def test_cli_atlas_resumes_from_the_parts_stored_and_estimates_the_time_left(tiny_file, cache_dir, tmp_path, capsys,
                                                                             monkeypatch):
    from vizcore.commands import filters as command
    monkeypatch.setattr(command, "PART", 3)  # conv_2's 8 filters in parts 0–2, 3–5, 6–7
    run = ["atlas", tiny_file, "--layers", "conv_2", "--out", str(tmp_path / "atlas"), "--steps", "2", "--size",
           "66", "--json"]
    code, out, err = cli(capsys, *run[:2], "--filters", "0-2", *run[2:])  # a first run stopped after one part
    assert code == 0, err
    code, out, err = cli(capsys, *run)
    assert code == 0, err
    assert "[1/3] conv_2 0–2" in err and "[2/3" in err and "[3/3 · about" in err and "left] conv_2 6–7" in err
    assert err.count("cached") == 1  # the part stored before is not computed again
    assert json.loads(out)["layers"][0]["cached"] is False
    code, out, err = cli(capsys, *run)
    assert json.loads(out)["layers"][0]["cached"] is True


@pytest.mark.parametrize("shard, environ, expected", [
    (None, {}, (0, 1)),
    ("2/5", {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "4"}, (2, 5)),
    (None, {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"}, (3, 4)),
    (None, {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "4", "SLURM_ARRAY_TASK_COUNT": "3"}, (1, 3)),
    ("auto/6", {"JOB_COMPLETION_INDEX": "4"}, (4, 6)),
    (None, {"JOB_COMPLETION_INDEX": "4"}, (0, 1)),  # a Kubernetes pod that does not say how many: all layers
])
def test_the_shard_comes_from_the_flag_or_the_array_job(shard, environ, expected):
    from vizcore.commands.filters import _parse_shard
    assert _parse_shard(shard, environ) == expected


@pytest.mark.parametrize("shard, environ, words", [
    ("auto", {}, "--shard auto needs an array job's index"),
    ("auto/3", {"JOB_COMPLETION_INDEX": "3"}, "needs 0 ≤ I < N"),
    (None, {"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "4"}, "not a whole number"),
    ("1-2", {}, "must look like I/N"),
])
def test_a_bad_shard_is_refused_in_words(shard, environ, words):
    from vizcore.commands.filters import _parse_shard
    with pytest.raises(RequestError, match=words):
        _parse_shard(shard, environ)


@pytest.mark.parametrize("args, words", [
    (["filters", "{model}", "conv_9", "--out", "g.png"], "has no layer 'conv_9'"),
    (["filters", "{model}", "conv_3", "--filters", "0-10", "--out", "g.png"], "Filter 10 out of range"),
    (["filters", "{model}", "conv_3", "--steps", "0", "--out", "g.png"], "steps must be between"),
    (["filters", "{model}", "conv_3", "--lr", "-1", "--out", "g.png"], "lr (learning rate) must be a positive"),
    (["filters", "{model}", "conv_3", "--size", "20", "--out", "g.png"], "size must be between"),
    (["filters", "{model}", "conv_3", "--filters", "x", "--out", "g.png"], "Cannot read filters"),
    (["atlas", "{model}", "--out", "d", "--shard", "2/2"], "--shard I/N needs"),
    (["atlas", "{model}", "--out", "d", "--layers", "conv_1", "nope"], "has no layer 'nope'"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tiny_file, cache_dir, capsys, args, words):
    code, out, err = cli(capsys, *[arg.format(model=tiny_file) for arg in args])
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err, err


def test_cli_as_a_user_runs_it(cache_dir, tmp_path):
    """A real process, both commands in one interpreter (own_models.run_cli: one TensorFlow import)."""
    from own_models import run_cli
    runs = run_cli({
        "grid": ["filters", "efficientnet_lite0", "block2a_expand_conv", "--filters", "0-3", "--steps", "2", "--size",
                 "66", "--out", str(tmp_path / "g.png"), "--json"],
        "flat layer": ["filters", "efficientnet_lite0", "avg_pool", "--out", "g.png"],
    })
    result = runs["grid"]
    assert result.returncode == 0, result.stderr
    assert [row["index"] for row in json.loads(result.stdout)["filters"]] == [0, 1, 2, 3]
    result = runs["flat layer"]
    assert result.returncode == 2 and "no spatial (4-D) output" in result.stderr and "Traceback" not in result.stderr


# --- the page -------------------------------------------------------------------------------------

PAGE_TIMEOUT = 300  # TensorFlow import, model load and a short run on a cold process


@pytest.fixture
def page(filters_page):
    return filters_page


def small_run(at, layer="block2a_expand_conv", seed=4321):
    at.selectbox(key="filters_layer_efficientnet_lite0").set_value(layer)
    next(group for group in at.get("button_group") if group.key == "filters_count").set_value(4)
    at.number_input(key="filters_steps_classic").set_value(3)
    at.number_input(key="filters_size_classic").set_value(66)
    at.number_input(key="filters_seed").set_value(seed)
    return at


def test_page_runs_streams_and_then_serves_the_run_from_the_cache(page):
    assert not page.exception, page.exception
    labels = page.selectbox(key="filters_layer_efficientnet_lite0").options
    assert "block2a_expand_conv · 96 filters" in labels
    assert any("Press **Run**" in info.value for info in page.info)
    small_run(page).button(key="filters_run").click().run()
    assert not page.exception and not page.error, (page.exception, page.error)
    assert page.markdown[0].value.startswith("Step 3 / 3 · mean activation")
    assert len(page.get("image")) == 2  # the grid and the picked tile
    assert page.selectbox(key="filters_tile").options == [f"filter {i}" for i in range(4)]
    assert page.get("download_button") and page.get("vega_lite_chart")
    frame = page.session_state["filters_result"]["frame"]
    assert frame.done and frame.filters == (0, 1, 2, 3) and frame.images.shape == (4, 16, 16, 3)
    page.run()  # any later view: the stored run appears at once, marked as cached
    assert "cached" in page.markdown[0].value and page.button(key="filters_run").disabled
    page.selectbox(key="filters_tile").set_value(2).run()
    assert "filter 2" in page.get("image")[1].proto.imgs[0].caption


def test_page_keeps_the_images_of_a_stopped_run(page):
    small_run(page, seed=98765).button(key="filters_run").click().run()
    frame = page.session_state["filters_result"]["frame"]
    stopped = frame._replace(step=1, history=frame.history[:1])  # what a Stop after the first step leaves
    from vizcore import atlas as atlas_module
    import shutil
    shutil.rmtree(atlas_module.atlas_dir(), ignore_errors=True)  # not in the cache: the session's frame shows
    page.session_state["filters_result"] = {**page.session_state["filters_result"], "frame": stopped}
    page.button(key="filters_stop").click().run()
    assert not page.exception
    assert "stopped" in page.markdown[0].value and "Step 1 / 3" in page.markdown[0].value
    assert len(page.get("image")) == 2 and not page.button(key="filters_run").disabled


@pytest.mark.parametrize("change, words", [
    (lambda at: at.number_input(key="filters_size_classic").set_value(40), "classic mode crops 25 px"),
    (lambda at: at.number_input(key="filters_lr_classic").set_value(0.0), "must be a positive number"),
    (lambda at: at.number_input(key="filters_start").set_value(500), "Filter 500 out of range"),
    (lambda at: at.radio(key="filters_pick").set_value("List").run().text_input(key="filters_list").set_value("0-999"),
     "Filter 96 out of range"),
    (lambda at: at.radio(key="filters_pick").set_value("List").run().text_input(key="filters_list").set_value("a-b"),
     "Cannot read filters"),
])
def test_page_shows_bad_input_as_an_error(page, change, words):
    page.selectbox(key="filters_layer_efficientnet_lite0").set_value("block2a_expand_conv")
    change(page)
    page.run()
    assert not page.exception
    assert any(words in error.value for error in page.error), [error.value for error in page.error]


def test_prepare_traces_ahead_so_a_run_traces_nothing(tiny_model):
    filters.prepare(tiny_model, "conv_1", "robust")
    climber = ascent.engine(tiny_model, step_rules.robust(tiny_model), objectives.channel("conv_1", [0], border=0)
                            .checked(tiny_model))
    compiled = [climber.step(), climber.step(redirect=True), climber.step(settle=True), climber.measure()]
    assert [function.experimental_get_tracing_count() for function in compiled] == [1, 1, 1, 1]
    last(visualize(tiny_model, "conv_1", range(3), mode="robust", size=40, steps=30, seed=0))
    assert [function.experimental_get_tracing_count() for function in compiled] == [1, 1, 1, 1]
    with pytest.raises(RequestError):
        filters.prepare(tiny_model, "nope", "classic")


def test_a_robust_run_settles_for_its_second_half_and_never_while_redirecting(lite0):
    robust, classic = step_rules.robust(lite0), step_rules.classic(180)
    settling = [step for step in range(1, 97) if robust.settles(step, 96)]
    assert settling == list(range(49, 97))
    for steps in (1, 2, 3, 4, 8, 20, 40, 96, 500):
        assert not any(robust.settles(k, steps) and robust.redirects(k, steps) for k in range(1, steps + 1))
    assert not any(classic.settles(k, 30) for k in range(1, 31))
    assert filters.settling_from(lite0, "robust", 96) == 49 and filters.settling_from(lite0, "robust", 2) is None
    assert filters.settling_from(lite0, "classic", 30) is None


def test_the_default_robust_run_reaches_the_activation_of_256_steps_at_lucids_rate(lite0, monkeypatch):
    """Issue 13's goal on an early layer (the hardest of three measured in bench_filters): 96 steps at
    lr 0.1 settling for the second half reach ≥ 95 % of what 256 steps at lr 0.05 without settling
    reach, on the finished images. The same 96 steps without settling fall short: the check can fail."""

    def activation(**options):
        frames = visualize(lite0, "block3a_expand_conv", range(4), mode="robust", seed=0, every=1000, **options)
        return float(np.mean(last(frames).activations))

    settled = activation()
    monkeypatch.setattr(step_rules, "SETTLE_SHARE", 0.0)
    before = activation(steps=256, lr=0.05)
    assert settled >= 0.95 * before
    assert activation() < 0.95 * before


def test_compiled_steps_are_kept_for_recent_layers_only(tiny_model, monkeypatch):
    monkeypatch.setattr(ascent, "MAX_COMPILED", 2)
    for layer in ("conv_1", "conv_2", "conv_3"):
        classic_step(tiny_model, layer)
        classic_measure(tiny_model, layer)
    kept = list(ascent._COMPILED.entries(tiny_model))
    assert [key[0] for key in kept] == ["step", "measure"] and all("conv_3" in str(key) for key in kept)


# --- neurons, classes, diverse sets, mixes -----------------------------------------------------------

CLASSES = [1, 9, 130, 207, 285, 309, 417, 504, 963, 967]  # goldfish … espresso: animals, objects, food


def test_class_images_are_recognised_by_the_model(lite0):
    """Robust class visualisations: the finished image's top-5 holds its class for at least 8 of 10."""
    frame = last(filters.classes(lite0, CLASSES, mode="robust", size=128, steps=64, seed=0, every=64))
    assert frame.filters == tuple(CLASSES) and frame.images.shape == (10, 128, 128, 3)
    held = [index in [p.index for p in lite0.predict(image, 5)] for index, image in zip(CLASSES, frame.images)]
    assert sum(held) >= 8, held
    assert np.all(frame.activations > frame.initial)


def test_several_images_per_class_start_apart(tiny_model):
    frame = last(filters.classes(tiny_model, [1, 3], per_class=2, steps=2, size=66, seed=0))
    assert frame.filters == (1, 1, 3, 3)
    assert not np.array_equal(frame.images[0], frame.images[1])


def test_class_needs_a_head_and_a_class_in_range(tiny_model):
    with pytest.raises(RequestError, match="Class 4 out of range"):
        filters.classes(tiny_model, [0, 4])
    with pytest.raises(RequestError, match="at most"):
        filters.classes(tiny_model, list(range(4)), per_class=100)


def channel_means(vm, layer, images):
    outputs = vm.extractor([layer])(vm.preprocess(images))
    return np.asarray(outputs).mean(axis=(1, 2))


def test_diversity_pushes_images_apart_and_keeps_them_on_the_filter(lite0):
    layer, index = "block5a_expand_conv", 10
    options = dict(count=4, mode="robust", size=96, steps=96, seed=0, every=96)
    alone = last(filters.diverse(lite0, layer, index, weight=0.0, **options))
    apart = last(filters.diverse(lite0, layer, index, weight=filters.DIVERSITY, **options))

    def spread(frame):
        features = channel_means(lite0, layer, frame.images)
        return np.mean([np.linalg.norm(features[i] - features[j]) for i, j in itertools.combinations(range(4), 2)])

    assert spread(apart) > 1.5 * spread(alone), (spread(apart), spread(alone))
    assert np.all(apart.activations >= 0.8 * alone.activations.mean()), (apart.activations, alone.activations)
    assert apart.filters == (index,) * 4


def test_a_mix_moves_from_one_filter_to_the_other(lite0):
    layer, first, second = "block4a_expand_conv", 3, 17
    frame = last(filters.mix(lite0, layer, first, second, count=5, size=128, steps=20, seed=0))
    means = channel_means(lite0, layer, frame.images)
    assert means[0, first] > means[-1, first] and means[-1, second] > means[0, second]
    assert np.corrcoef(np.arange(5), means[:, first])[0, 1] < -0.8
    assert np.corrcoef(np.arange(5), means[:, second])[0, 1] > 0.8


def test_neurons_climb_the_centre_position(lite0, tiny_model):
    frame = last(filters.neurons(lite0, LITE_LAYER, [0, 3], steps=5, size=96, seed=0))
    assert np.all(frame.activations > frame.initial)
    features = np.asarray(lite0.extractor([LITE_LAYER])(lite0.preprocess(frame.images)))
    centre = features[:, features.shape[1] // 2, features.shape[2] // 2, :]
    corner = features[:, 1, 1, :]
    assert centre[0, 0] > corner[0, 0] and centre[1, 3] > corner[1, 3]  # the centre, not the whole map
    with pytest.raises(RequestError, match="outside"):
        filters.neurons(tiny_model, "conv_2", [0], x=500)


# --- the page: what to show, and links ---------------------------------------------------------------

def small_view(at, show: str):
    """A small classic run of one "What to show" choice on block2a_expand_conv."""
    at.get("button_group")[0].set_value(show).run()
    assert not at.exception, at.exception
    if show != "Class":
        at.selectbox(key="filters_layer_efficientnet_lite0").set_value("block2a_expand_conv")
    at.number_input(key="filters_steps_classic").set_value(3)
    at.number_input(key="filters_class_size_classic" if show == "Class" else "filters_size_classic").set_value(80)
    at.number_input(key="filters_seed").set_value(11)
    return at


def test_class_images_start_at_the_model_input_size_and_the_layer_views_keep_theirs(page):
    page.get("button_group")[0].set_value("Class").run()
    assert page.number_input(key="filters_class_size_classic").value == 224  # Lite0 takes 224 px
    page.radio(key="filters_mode").set_value("robust").run()
    assert page.number_input(key="filters_class_size_robust").value == 224
    page.get("button_group")[0].set_value("Filters").run()
    assert not page.exception, page.exception
    assert page.number_input(key="filters_size_robust").value == filters.robust_size(page.session_state["model"])
    page.radio(key="filters_mode").set_value("classic").run()
    assert page.number_input(key="filters_size_classic").value == filters.CLASSIC["size"]


@pytest.mark.parametrize("show, setup, names", [
    ("Neuron", lambda at: None, [f"filter {i}" for i in range(16)]),
    ("Class", lambda at: at.multiselect(key="filters_classes_efficientnet_lite0").set_value([1, 967]),
     ["goldfish · 1", "goldfish · 2", "espresso · 1", "espresso · 2"]),
    ("Diversity", lambda at: at.number_input(key="filters_diverse_filter").set_value(5),
     [f"filter 5 · image {i}" for i in range(1, 5)]),
    ("Mix", lambda at: at.number_input(key="filters_mix_second").set_value(7),
     ["100% filter 0 + 0% filter 7", "75% filter 0 + 25% filter 7", "50% filter 0 + 50% filter 7",
      "25% filter 0 + 75% filter 7", "0% filter 0 + 100% filter 7"]),
])
def test_page_shows_each_view(page, show, setup, names):
    small_view(page, show)
    setup(page)
    page.run()
    assert not page.exception and not page.error, (page.exception, page.error)
    page.button(key="filters_run").click().run()
    assert not page.exception and not page.error, (page.exception, page.error)
    frame = page.session_state["filters_result"]["frame"]
    assert frame.done and len(frame.images) == len(names)
    tiles = page.selectbox(key="filters_tile")
    assert tiles.options == names
    assert page.get("download_button") and page.get("vega_lite_chart") and len(page.get("image")) == 2
    assert page.markdown[0].value.startswith("Step 3 / 3")
    if show == "Class":
        assert any("What the model sees in it" in caption.value for caption in page.caption)


def filters_page_opened(**query):
    from pathlib import Path
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=PAGE_TIMEOUT)
    at.query_params.update(query)
    at.switch_page("pages/filters.py").run()
    assert not at.exception, at.exception
    return at


def test_a_shared_link_reopens_the_same_view(page):
    small_view(page, "Mix")
    page.number_input(key="filters_mix_first").set_value(3)
    page.number_input(key="filters_mix_second").set_value(9)
    page.run()
    link = dict(page.query_params)
    assert link["show"] == "Mix" and link["from"] == "3" and link["to"] == "9" and link["size"] == "80"
    page.button(key="filters_run").click().run()
    made = page.session_state["filters_result"]["frame"]
    opened = filters_page_opened(**link)  # a new session opened on the copied link
    assert not opened.warning, [warning.value for warning in opened.warning]
    assert opened.number_input(key="filters_mix_first").value == 3
    assert opened.number_input(key="filters_seed").value == 11
    opened.button(key="filters_run").click().run()
    again = opened.session_state["filters_result"]["frame"]
    np.testing.assert_array_equal(again.images, made.images)  # the same view, pixel for pixel


def test_a_filters_link_sets_a_list_of_filters_and_a_class_link_its_classes():
    at = filters_page_opened(show="Filters", layer="block2a_expand_conv", filters="0-3,12", mode="robust")
    assert at.radio(key="filters_pick").value == "List" and at.text_input(key="filters_list").value == "0-3,12"
    assert at.radio(key="filters_mode").value == "robust"
    at = filters_page_opened(show="Class", **{"class": ["963", "1"]}, images="4")
    assert at.multiselect(key="filters_classes_efficientnet_lite0").value == [963, 1]
    assert at.query_params["class"] == ["963", "1"] and at.query_params["images"] == "4"


def test_a_link_with_garbage_says_so_and_shows_the_defaults():
    at = filters_page_opened(show="Dream", layer="nope", mode="fast", steps="abc", lr="-1", size="9999", seed="x",
                             filters="5-2")
    lines = "\n".join(warning.value for warning in at.warning)
    for words in ["show `Dream` is not one of Filters, Neuron, Class, Diversity, Mix or Accentuate",
                  "layer `nope` is not a layer of efficientnet_lite0", "mode `fast`", "steps `abc`", "lr `-1`",
                  "size `9999`", "seed `x`", "filters `5-2` is not a list of filters"]:
        assert words in lines, lines
    assert not at.error
    assert at.radio(key="filters_mode").value == "classic" and at.number_input(key="filters_steps_classic").value == 30
    assert at.query_params["show"] == "Filters" and at.query_params["steps"] == "30"
