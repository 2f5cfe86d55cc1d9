"""Expressions (vizcore.expressions) and the ``visualize`` command: text → objective, every bad
expression refused in plain words, the CLI's images, values and predictions."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vizcore
from vizcore import ModelError, RequestError, expressions, objectives
from vizcore.filters import visualize_objective

ROOT = Path(__file__).resolve().parent.parent
STEPS, SIZE, TILE = 3, 66, 16  # classic mode crops 25 px from each side: 66 px → 16 px images


def weights(objective):
    return [float(term.weight[0]) for term in objective.terms]


def targets(objective):
    """(kind, layer, index) of each term."""
    return [(term.kind, term.layer if term.layer != objectives.SCORES else None, int(term.arrays[0][0]))
            for term in objective.terms]


# --- text → weighted terms (no model) -------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("conv_1:3", [(1.0, "conv_1:3")]),
    ("conv_1:3 + 0.5*conv_2:4", [(1.0, "conv_1:3"), (0.5, "conv_2:4")]),
    ("conv_1:3 - 0.5 * conv_2:4", [(1.0, "conv_1:3"), (-0.5, "conv_2:4")]),
    ("-2*class:1 +conv_1:3", [(-2.0, "class:1"), (1.0, "conv_1:3")]),
    ("  - 0.5*class:1  ", [(-0.5, "class:1")]),
    ("conv_1:3 + -0.5*conv_2:4 - -1*class:2", [(1.0, "conv_1:3"), (-0.5, "conv_2:4"), (1.0, "class:2")]),
    ("1e-2*conv_1:3 + 2.*conv_1:4 + .5*conv_1:5", [(0.01, "conv_1:3"), (2.0, "conv_1:4"), (0.5, "conv_1:5")]),
    ("conv-1:3 + class:go-kart - class:jack-o'-lantern",  # a sign glued to a word is part of the name
     [(1.0, "conv-1:3"), (1.0, "class:go-kart"), (-1.0, "class:jack-o'-lantern")]),
])
def test_terms_split_at_signs_after_a_space_and_carry_their_weights(text, expected):
    assert expressions.weighted_terms(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("conv_1:3", ("channel", "conv_1", "3")),
    ("outer/conv_a : 12", ("channel", "outer/conv_a", "12")),
    ("neuron:conv_2:7", ("neuron", "conv_2", "7")),
    ("Neuron:outer/conv_a:0", ("neuron", "outer/conv_a", "0")),
    ("class:963", ("class", "", "963")),
    ("CLASS:  coffee   mug", ("class", "", "coffee mug")),
])
def test_targets_are_read_as_channels_neurons_or_classes(text, expected):
    assert tuple(expressions.read_target(text))[:3] == expected


# --- text → objective, on a model -------------------------------------------------------------------

def test_an_expression_is_the_objective_written_by_hand(tiny_model):
    parsed = expressions.parse(tiny_model, "conv_1:2 + 0.5*conv_3:4 - class:two + 2 * neuron:conv_2:7")
    by_hand = (objectives.channel("conv_1", 2) + 0.5 * objectives.channel("conv_3", 4)
               - objectives.class_logit(2) + 2 * objectives.neuron("conv_2", 7)).checked(tiny_model)
    assert parsed.structure == by_hand.structure
    assert weights(parsed) == weights(by_hand) == [1.0, 0.5, -1.0, 2.0]
    assert targets(parsed) == [("channel", "conv_1", 2), ("channel", "conv_3", 4), ("class", None, 2),
                               ("neuron", "conv_2", 7)]


def test_a_channel_leaves_the_border_out_as_filters_do(tiny_model):
    assert expressions.parse(tiny_model, "conv_1:0", mode="classic").terms[0].static == (2,)
    assert expressions.parse(tiny_model, "conv_1:0", mode="robust").terms[0].static == (0,)


def test_an_expression_climbs(tiny_model):
    objective = expressions.parse(tiny_model, "conv_3:4 + 0.1*class:two")
    *_, final = visualize_objective(tiny_model, objective, steps=8, size=SIZE)
    assert final.history[-1, 0] > final.history[0, 0]


@pytest.mark.parametrize("text, index", [
    ("class:963", 963),
    ("class:espresso", 967),        # exact, though "espresso maker" holds the word too
    ("class:ESPRESSO", 967),
    ("class:coffee", 504),          # the one label with the word: coffee mug (not coffeepot)
    ("class:go-kart", 573),
    ("class:jack-o'-lantern", 607),
])
def test_a_class_by_index_or_by_label(lite0, text, index):
    assert targets(expressions.parse(lite0, text)) == [("class", None, index)]


def test_lite0_expression_with_a_nested_weight(lite0):
    parsed = expressions.parse(lite0, "block4a_expand_conv:12 + 0.5*block4a_expand_conv:40 - 0.25 * class:espresso")
    assert targets(parsed) == [("channel", "block4a_expand_conv", 12), ("channel", "block4a_expand_conv", 40),
                               ("class", None, 967)]
    assert weights(parsed) == [1.0, 0.5, -0.25]


BAD = [  # (expression, words of the one-line message, which quote the bad part)
    ("", "The expression is empty"),
    ("   ", "The expression is empty"),
    ("+", "A term is missing after the last '+' in '+'"),
    ("conv_1:1 -", "A term is missing after the last '-' in 'conv_1:1 -'"),
    ("2*", "Nothing follows '2*'"),
    ("*conv_1:1", "No weight before '*' in '*conv_1:1'"),
    ("x*conv_1:1", "The weight 'x' in 'x*conv_1:1' is not a number"),
    ("conv_1:1*2", "Put the weight first in 'conv_1:1*2'"),
    ("2*3*conv_1:1", "'2*3*conv_1:1' has more than one '*'"),
    ("conv_1:", "'conv_1:' has no channel after ':'"),
    ("conv_1", "'conv_1' has no ':CHANNEL'"),
    (":3", "':3' names no layer"),
    ("conv_1:x", "The channel 'x' in 'conv_1:x' is not a whole number"),
    ("conv_1:1.5", "The channel '1.5' in 'conv_1:1.5' is not a whole number"),
    ("class:", "'class:' names no class"),
    ("neuron:conv_1", "'neuron:conv_1' needs a layer and a channel"),
    ("conv_9:1", "In 'conv_9:1': tiny has no layer 'conv_9'. Try one of: conv_1, conv_2, conv_3"),
    ("conv_1:6", "In 'conv_1:6': Channel 6 out of range: layer conv_1 has 6 channels (0–5)"),
    ("conv_1:-1", "In 'conv_1:-1': Channel -1 out of range"),
    ("conv_1:1 + neuron:conv_2:8", "In 'neuron:conv_2:8': Channel 8 out of range: layer conv_2 has 8 channels"),
    ("class:4", "In 'class:4': Class 4 out of range: tiny has 4 classes (0–3)"),
    ("class:four", "tiny has no class 'four'. Write class:INDEX (0–3) or class:LABEL"),
    ("class:tow", "tiny has no class 'tow'. Closest: 'two' (2)"),
    ("conv_1:1+conv_2:2", "put a space before + and -"),
    ("class:1+class:2", "put a space before + and -"),
]


@pytest.mark.parametrize("text, words", BAD, ids=[f"{i}:{text!r}" for i, (text, _) in enumerate(BAD)])
def test_a_bad_expression_says_what_is_wrong_in_one_line(tiny_model, text, words):
    with pytest.raises(RequestError) as raised:
        expressions.parse(tiny_model, text)
    assert words in str(raised.value) and "\n" not in str(raised.value)


def test_no_hint_about_spaces_for_a_name_with_a_dash(lite0):
    with pytest.raises(RequestError) as raised:
        expressions.parse(lite0, "class:go-kartt")
    assert "Closest: 'go-kart' (573)" in str(raised.value) and "space" not in str(raised.value)


@pytest.mark.parametrize("text, words", [
    ("class:crane", "The class 'crane' could be 'crane' (134) or 'crane' (517): write class:INDEX, e.g. class:134"),
    ("class:terrier", "or 13 more"),
    ("class:espreso", "has no class 'espreso'. Closest: 'espresso' (967), 'espresso maker' (550)"),
    ("class:zzzzq", "has no class 'zzzzq'. Write class:INDEX (0–999) or class:LABEL."),
    ("class:???", "has no class '???'. Write class:INDEX"),  # no words: matches no label
    ("class:cranes", "Closest: 'crane' (134), 'crane' (517)"),
])
def test_an_ambiguous_or_unknown_class_names_the_candidates(lite0, text, words):
    with pytest.raises(RequestError) as raised:
        expressions.parse(lite0, text)
    assert words in str(raised.value), str(raised.value)


@pytest.fixture(scope="module")
def headless(tmp_path_factory):
    """A model whose output is a feature map: layers to climb, no class."""
    import keras

    from vizcore.models import VizModel
    keras.utils.set_random_seed(1)
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(5, 3, activation="relu", name="conv")(inputs), name="headless")
    path = tmp_path_factory.mktemp("headless") / "headless.keras"
    model.save(path)
    return VizModel("headless", model, (32, 32), (), "unit"), str(path)


def test_a_class_of_a_model_without_a_head_is_refused(headless):
    vm, _ = headless
    assert targets(expressions.parse(vm, "conv:4")) == [("channel", "conv", 4)]
    with pytest.raises(ModelError, match="does not output a class vector"):
        expressions.parse(vm, "conv:4 + class:1")


def test_diversity_goes_on_the_first_layer_term(tiny_model):
    objective = expressions.with_diversity(expressions.parse(tiny_model, "class:1 + conv_2:3 + conv_3:1"), 2.0)
    assert objective.terms[-1].kind == "diversity" and objective.terms[-1].layer == "conv_2"
    assert weights(objective)[-1] == 2.0 and objective.couples_batch
    with pytest.raises(RequestError, match="reads none: add a term like LAYER:CHANNEL"):
        expressions.with_diversity(expressions.parse(tiny_model, "class:1"), 2.0)
    with pytest.raises(RequestError, match="zero or a positive number"):
        expressions.with_diversity(expressions.parse(tiny_model, "conv_1:1"), -1.0)


# --- the command ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_file(tiny_model, tmp_path_factory):
    """The tiny model as a user brings it: a .keras file and its labels file."""
    folder = tmp_path_factory.mktemp("tiny")
    tiny_model.keras.save(folder / "tiny.keras")
    (folder / "labels.txt").write_text("\n".join(tiny_model.labels) + "\n")
    return str(folder / "tiny.keras"), str(folder / "labels.txt")


def cli(capsys, *args):
    from vizcore.cli import main
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def visualize(capsys, tiny_file, expression, *options):
    model, labels = tiny_file
    return cli(capsys, "visualize", model, expression, "--labels", labels, "--scaling", "0-1",
               "--steps", str(STEPS), "--size", str(SIZE), *options)


def test_cli_writes_grid_tiles_values_and_top5(tiny_model, tiny_file, tmp_path, capsys):
    from PIL import Image
    expression = "conv_3:4 + 0.5*class:two"
    code, out, err = visualize(capsys, tiny_file, expression, "--batch", "3", "--diversity", "1",
                               "--out", str(tmp_path / "grid.png"), "--tiles", str(tmp_path / "tiles"), "--json")
    assert code == 0, err
    assert f"{STEPS}/{STEPS}" in err  # the progress bar
    payload = json.loads(out)
    assert payload["objective"] == "1·channel(conv_3, 4) + 0.5·class(2)" and payload["diversity"] == 1.0
    assert {payload[key] for key in ("mode", "steps", "size", "seed")} == {"classic", STEPS, SIZE, 0}
    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.format == "PNG" and grid.size == (3 * TILE + 2 * 5, TILE)
    tiles = [tmp_path / "tiles" / f"image_{i:04d}.png" for i in range(3)]
    assert payload["tiles"] == [str(path) for path in tiles] and payload["grid"] == str(tmp_path / "grid.png")
    pixels = [np.asarray(Image.open(path).convert("RGB")) for path in tiles]
    assert all(image.shape == (TILE, TILE, 3) for image in pixels)
    assert not np.array_equal(pixels[0], pixels[1])  # each image has its own start

    # values: the expression alone (without the diversity term) on each finished image, as the engine gives them
    objective = expressions.parse(tiny_model, expression)
    *_, final = visualize_objective(tiny_model, expressions.with_diversity(objective, 1.0), range(3),
                                    image_seeds=range(3), report=objective, count=3, steps=STEPS, size=SIZE, seed=0)
    values = [row["value"] for row in payload["images"]]
    np.testing.assert_allclose(values, final.activations, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(final.images, np.stack(pixels))

    # predictions: the top classes of each finished image (the tiny model has four), as the file's model sees it
    model, labels = tiny_file
    user_model = vizcore.load_model(model, labels_path=labels, scaling="0-1")
    for row, image in zip(payload["images"], pixels):
        expected = user_model.predict(image, 5)
        assert [p["index"] for p in row["predictions"]] == [p.index for p in expected]
        assert [p["label"] for p in row["predictions"]] == [p.label for p in expected]
        np.testing.assert_allclose([p["probability"] for p in row["predictions"]],
                                   [p.probability for p in expected], atol=1e-5)


def test_cli_summary_without_json(tiny_file, tmp_path, capsys):
    code, out, err = visualize(capsys, tiny_file, "neuron:conv_2:1 - 0.5*conv_3:2", "--out", str(tmp_path / "g.png"))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "1·neuron(conv_2, 1, -1, -1) + -0.5·channel(conv_3, 2) on tiny: 1 image, classic, 3 steps"
    assert lines[1].startswith("image 0: value ") and "model sees" in lines[1]
    assert lines[-1] == f"wrote {tmp_path / 'g.png'}"


def test_cli_a_model_without_a_head_gets_no_predictions(headless, capsys):
    _, path = headless
    code, out, err = cli(capsys, "visualize", path, "conv:2", "--steps", "2", "--size", str(SIZE), "--json")
    assert code == 0, err
    assert [row["predictions"] for row in json.loads(out)["images"]] == [None]


@pytest.mark.parametrize("expression, options, words", [
    ("conv_9:1", [], "In 'conv_9:1': tiny has no layer 'conv_9'"),
    ("conv_3:10", [], "In 'conv_3:10': Channel 10 out of range"),
    ("class:four", [], "tiny has no class 'four'"),
    ("conv_1:", [], "'conv_1:' has no channel after ':'"),
    ("+", [], "A term is missing after the last '+'"),
    ("2*", [], "Nothing follows '2*'"),
    ("half*conv_1:1", [], "The weight 'half' in 'half*conv_1:1' is not a number"),
    ("class:1", ["--batch", "2", "--diversity", "1"], "reads none: add a term like LAYER:CHANNEL"),
    ("conv_1:1", ["--diversity", "1"], "--diversity pushes a batch's images apart: give --batch 2 or more"),
    ("conv_1:1", ["--diversity", "-1", "--batch", "2"], "The diversity weight must be zero or a positive number"),
    ("conv_1:1", ["--batch", "0"], "--batch must be between 1 and 256"),
    ("conv_1:1", ["--out", "grid.jpg"], "'grid.jpg' should end in .png"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tiny_file, capsys, expression, options, words):
    code, out, err = visualize(capsys, tiny_file, expression, *options)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err and "Traceback" not in err, err


def test_cli_as_a_user_runs_it(tiny_file):
    """A real process: a bad expression is one line on stderr and exit 2, no traceback."""
    model, _ = tiny_file
    result = subprocess.run([sys.executable, "-m", "vizcore", "visualize", model, "conv_1:1 + 0.5*conv_2:99"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ})
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "vizcore: error: In 'conv_2:99': Channel 99 out of range: layer conv_2 has 8 channels (0–7)."]
