"""`--param maco` on the command line: a real subprocess, JSON on stdout, one line on stderr for bad input."""
import json

import pytest
from test_cli import assert_one_line_error, vizcore


def test_visualize_a_class_with_maco_gives_json_and_a_transparency_grid(tmp_path):
    out, seen = tmp_path / "grid.png", tmp_path / "seen.png"
    result = vizcore("filters", "efficientnet_lite0", "block2a_expand_conv", "--filters", "0-1", "--param", "maco",
                     "--steps", "2", "--size", "64", "--out", str(out), "--transparency", str(seen), "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["mode"] == "maco" and payload["size"] == 64 and len(payload["filters"]) == 2
    assert out.stat().st_size > 0 and seen.stat().st_size > 0


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


def test_visualize_measures_a_channel_picture_against_the_best_photo():
    result = vizcore("visualize", "efficientnet_lite0", "block2a_expand_conv:3", "--param", "maco", "--steps", "2",
                     "--size", "64", "--batch", "2", "--json", "--plausibility")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["images"]
    assert [sorted(row["plausibility"]) for row in rows] == [["transfer", "vs_best_photo"]] * 2
    assert all(isinstance(row["plausibility"]["vs_best_photo"], float) for row in rows)
    assert all(row["plausibility"]["transfer"] is None for row in rows)  # a channel: no class to call it by


def test_visualize_plausibility_of_a_neuron_is_refused_before_the_run():
    result = vizcore("visualize", "efficientnet_lite0", "neuron:block2a_expand_conv:3", "--steps", "2", "--json",
                     "--plausibility")
    assert_one_line_error(result, "--plausibility measures pictures of one channel or one class")
