"""`--param maco` on the command line: a real subprocess, JSON on stdout, one line on stderr for bad input."""
import json
import re

import numpy as np
import pytest
from test_cli import assert_one_line_error, vizcore

from vizcore import examples, load_image, plausibility


def test_filters_with_maco_give_json_a_transparency_grid_and_each_filters_plausibility(tmp_path, lite0):
    out, seen, tiles = tmp_path / "grid.png", tmp_path / "seen.png", tmp_path / "tiles"
    result = vizcore("filters", "efficientnet_lite0", "block2a_expand_conv", "--filters", "0-1", "--param", "maco",
                     "--steps", "2", "--size", "64", "--out", str(out), "--transparency", str(seen), "--json",
                     "--plausibility", "--tiles", str(tiles))
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["mode"] == "maco" and payload["size"] == 64 and len(payload["filters"]) == 2
    assert out.stat().st_size > 0 and seen.stat().st_size > 0
    assert not np.array_equal(load_image(out), load_image(seen))  # the transparency map dims the pictures
    pictures = np.stack([load_image(path) for path in sorted(tiles.iterdir())])  # PNG: the very pixels measured
    found = examples.index(lite0, "block2a_expand_conv", examples.image_files(examples.default_folders()))
    expected = plausibility.channel_ratios(lite0, "block2a_expand_conv", [0, 1], pictures, found)
    assert [row["vs_best_photo"] for row in payload["filters"]] == pytest.approx(expected, abs=1e-4)


def test_filters_plausibility_without_json_says_one_line_per_filter(tmp_path):
    result = vizcore("filters", "efficientnet_lite0", "block2a_expand_conv", "--filters", "3,5", "--steps", "2",
                     "--size", "66", "--out", str(tmp_path / "grid.png"), "--plausibility", "--no-cache")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["filter 3", "filter 5"]
    assert all(re.fullmatch(r"filter \d: \d+% of the best of \d+ real photos' peak", line) for line in lines), lines


@pytest.mark.parametrize("args, words", [
    (["--mode", "classic", "--param", "maco"], "--param maco is a picture of robust mode"),
    (["--param", "maco", "--images", "/no/such/folder"], "No folder at '/no/such/folder'"),
    (["--images", "assets/samples"], "use it with --param maco"),
    (["--mode", "robust", "--transparency", "t.png"], "--transparency needs a MaCo run"),
])
def test_bad_maco_arguments_say_so_in_one_line(args, words):
    result = vizcore("filters", "efficientnet_lite0", "block2a_expand_conv", "--filters", "0", "--steps", "1",
                     "--size", "48", "--out", "/tmp/vizcore-maco-cli.png", *args)
    assert_one_line_error(result, words)


def test_visualize_measures_a_channel_picture_against_the_best_photo_and_writes_its_transparency(tmp_path):
    out, seen = tmp_path / "grid.png", tmp_path / "seen.png"
    result = vizcore("visualize", "efficientnet_lite0", "block2a_expand_conv:3", "--param", "maco", "--steps", "2",
                     "--size", "64", "--batch", "2", "--json", "--plausibility", "--out", str(out),
                     "--transparency", str(seen))
    assert result.returncode == 0, result.stderr
    assert load_image(seen).shape == load_image(out).shape and not np.array_equal(load_image(out), load_image(seen))
    rows = json.loads(result.stdout)["images"]
    assert [sorted(row["plausibility"]) for row in rows] == [["transfer", "vs_best_photo"]] * 2
    assert all(isinstance(row["plausibility"]["vs_best_photo"], float) for row in rows)
    assert all(row["plausibility"]["transfer"] is None for row in rows)  # a channel: no class to call it by


def test_visualize_plausibility_of_a_neuron_is_refused_before_the_run():
    result = vizcore("visualize", "efficientnet_lite0", "neuron:block2a_expand_conv:3", "--steps", "2", "--json",
                     "--plausibility")
    assert_one_line_error(result, "--plausibility measures pictures of one channel or one class")


@pytest.mark.parametrize("args, words", [
    (["--transparency", "/tmp/seen.png"], "--transparency needs a MaCo run: add --param maco"),
    (["--param", "maco", "--transparency", "/tmp/seen.jpg"], "should end in .png"),
    (["--param", "maco", "--transparency", "/no/such/folder/seen.png"], "does not exist"),
])
def test_visualize_transparency_is_refused_before_the_model_loads(args, words):
    result = vizcore("visualize", "not_a_model", "block2a_expand_conv:3", "--steps", "1", *args)
    assert_one_line_error(result, words)  # (an unknown model: the check came first)
