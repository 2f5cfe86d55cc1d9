"""Feature accentuation (Hamblin et al., 2024): from the user's photo, within its distance, the objective raised."""
import numpy as np
import pytest

from vizcore import accentuate, objectives
from vizcore.errors import RequestError


def photo(side: int = 48) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(40, 215, (side, side, 3)).astype(np.uint8)


@pytest.mark.parametrize("distance", [0.02, 0.06])
def test_accentuation_stays_within_its_distance_and_raises_a_channel(tiny_model, distance):
    original = photo()
    frames = list(accentuate.accentuate(tiny_model, original, objectives.channel("conv_3", 4, border=0),
                                        distance=distance, steps=12, lr=0.02))
    result = accentuate.finished(tiny_model, original, frames[-1])
    assert result.photo.shape == result.picture.shape == result.difference.shape == (32, 32, 3)
    assert result.distance <= distance + 1 / 255  # up to the rounding to uint8
    assert result.distance > distance / 2  # it went as far as it was let
    assert result.after > result.before


def test_a_class_is_accentuated_too(tiny_model):
    frames = list(accentuate.accentuate(tiny_model, photo(), objectives.class_logit(1), steps=8, lr=0.02))
    assert frames[-1].activations[0] > frames[-1].initial[0]


def test_the_difference_is_grey_where_nothing_changed(tiny_model):
    original = tiny_model.resize_for_input(photo())
    frame = list(accentuate.accentuate(tiny_model, original, objectives.channel("conv_3", 4, border=0),
                                       steps=1))[-1]
    unchanged = frame._replace(images=original[None])
    result = accentuate.finished(tiny_model, original, unchanged)
    assert np.all(result.difference == 128) and result.distance == 0.0


@pytest.mark.parametrize("options, words", [
    ({"distance": 0}, "distance"), ({"steps": 0}, "steps"), ({"lr": -1}, "lr"), ({"smoothing": -1}, "smoothing"),
])
def test_bad_settings_are_refused(tiny_model, options, words):
    with pytest.raises(RequestError, match=words):
        accentuate.accentuate(tiny_model, photo(), objectives.channel("conv_3", 4, border=0), **options)


def test_one_objective_row_only(tiny_model):
    with pytest.raises(RequestError, match="one objective"):
        accentuate.accentuate(tiny_model, photo(), objectives.channel("conv_3", [1, 2], border=0))


def fine_share(change: np.ndarray) -> float:
    """The share of a change's power above a quarter of the sampling rate (cycles per picture > side / 4)."""
    side = change.shape[0]
    power = np.abs(np.fft.rfft2(change - change.mean(axis=(0, 1)), axes=(0, 1))) ** 2
    cycles = np.hypot(np.fft.fftfreq(side)[:, None] * side, np.fft.rfftfreq(side)[None, :] * side)
    return float(power[cycles > side / 4].sum() / power.sum())


@pytest.mark.parametrize("smoothing, fine", [(accentuate.SMOOTHING, False), (0.0, True)])
def test_the_change_is_made_of_coarse_patterns_not_pixel_noise(tiny_model, smoothing, fine):
    """The preconditioned change (1 / f ** SMOOTHING) keeps most of its power in coarse frequencies;
    without it (smoothing 0, every frequency alike) the same climb is mostly fine noise."""
    original = photo()
    frames = list(accentuate.accentuate(tiny_model, original, objectives.channel("conv_3", 4, border=0),
                                        distance=0.06, steps=12, smoothing=smoothing))
    result = accentuate.finished(tiny_model, original, frames[-1])
    change = result.picture.astype(np.float64) - result.photo.astype(np.float64)
    assert result.after > result.before
    assert (fine_share(change) > 0.2) is fine, fine_share(change)


# --- the pages (AppTest) ------------------------------------------------------------------------------

def opened(page: str, **state):
    """A fresh session whose first run is ``page``, with ``state`` set before it."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=600)
    for key, value in state.items():
        at.session_state[key] = value
    at.query_params.update({"show": "Accentuate"} if page == "filters" else {"photo": "coffee"})
    at.switch_page(f"pages/{page}.py")
    return at.run()


def shown(at) -> dict[str, str]:
    """Each accentuation image's caption → its kind (photo, picture, difference)."""
    captions = [caption for image in at.get("image") for caption in image.captions]
    return {caption: kind for caption in captions for kind, words in
            (("photo", "the photo"), ("picture", "accentuated: "), ("difference", "what changed")) if words in caption}


def test_filters_accentuate_view_shows_the_photo_the_picture_and_the_change():
    at = opened("filters")
    assert not at.exception and not at.error, (at.exception, at.error)
    assert not shown(at) and any("Press **Run**" in info.value for info in at.info)
    at.segmented_control(key="accentuate_distance").set_value("subtle")
    at.button(key="accentuate_run").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    captions = shown(at)
    assert sorted(captions.values()) == ["difference", "photo", "picture"]
    picture = next(caption for caption, kind in captions.items() if kind == "picture")
    before, after = (float(number) for number in picture.split(": ")[1].split(" → "))
    assert picture.startswith("channel 0 accentuated") and after > before
    distance = float(next(caption for caption, kind in captions.items() if kind == "difference").split()[-1])
    assert 0.02 < distance <= 0.04 + 1 / 255  # "subtle": went most of its way, never past it
    downloads = [button.proto for button in at.get("download_button")]
    assert [button.label for button in downloads] == ["Download PNG"]


def test_why_shows_what_a_top_channel_and_each_neuron_group_see_in_the_photo():
    at = opened("why", why_steps=2, why_show_features=False, why_groups=2)
    assert not at.exception and not at.error, (at.exception, at.error)
    switches = [switch for switch in at.toggle if switch.key.startswith("why_accentuate_")]
    assert len(switches) == 8 and not shown(at)
    switches[0].set_value(True).run()
    assert not at.exception and not at.error, (at.exception, at.error)
    captions = shown(at)
    assert sorted(captions.values()) == ["difference", "photo", "picture"]
    channel = int(switches[0].key.rsplit("_", 1)[1])
    assert any(caption.startswith(f"channel {channel} accentuated") for caption in captions)

    at.toggle(key="why_groups_accentuate").set_value(True).run()  # under the neuron groups
    assert not at.exception and not at.error, (at.exception, at.error)
    captions = [caption for image in at.get("image") for caption in image.captions]
    groups = [caption for caption in captions if caption.startswith("group ") and " accentuated: " in caption]
    assert len(groups) == 2 and captions.count("what changed") == 2
    for picture in groups:  # each group's mix of channels raised in the photo
        before, after = (float(number) for number in picture.split(": ")[1].split(" → "))
        assert after > before


# --- the CLI ------------------------------------------------------------------------------------------

def test_cli_writes_the_three_side_by_side_the_picture_and_the_numbers(tmp_path, capsys):
    import json

    from conftest import SAMPLES
    from PIL import Image

    from vizcore.cli import main

    side, alone = tmp_path / "side.png", tmp_path / "picture.png"
    assert main(["accentuate", "efficientnet_lite0", str(SAMPLES / "cat.jpg"), "0.5*top_conv:3 + 0.5*top_conv:40",
                 "--steps", "4", "--distance", "0.05", "--out", str(side), "--picture", str(alone), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["after"] > payload["before"] and 0 < payload["distance_reached"] <= 0.05 + 1 / 255
    assert payload["steps"] == 4 and payload["smoothing"] == accentuate.SMOOTHING
    picture = np.asarray(Image.open(alone))
    assert picture.shape == (224, 224, 3)
    row = np.asarray(Image.open(side))
    assert row.shape == (224, 3 * 224 + 2 * 5, 3)  # drawing.grid: 5 px between the three
    assert np.array_equal(row[:, 229:453], picture)  # the middle one is the picture


@pytest.mark.parametrize("extra, words", [
    (["--distance", "0"], "distance must be a positive number"),
    (["--smoothing", "9"], "smoothing must be between 0 and 3"),
    (["--steps", "0"], "steps"),
    (["--out", "side.jpg"], "should end in .png"),
])
def test_cli_bad_settings_are_one_line_before_the_model_loads(monkeypatch, capsys, extra, words):
    from conftest import SAMPLES
    from own_models import refuse_model_loading

    from vizcore.cli import main
    from vizcore.commands import accentuate as command

    refuse_model_loading(monkeypatch, command)
    assert main(["accentuate", "efficientnet_lite0", str(SAMPLES / "cat.jpg"), "top_conv:3", *extra]) == 2
    captured = capsys.readouterr()
    error = captured.err.strip()
    assert words in error and len(error.splitlines()) == 1 and captured.out == ""


@pytest.mark.parametrize("image, expression, words", [
    ("missing.jpg", "top_conv:3", "missing.jpg"),
    ("cat.jpg", "no_such_layer:3", "no_such_layer"),
    ("cat.jpg", "top_conv:99999", "99999"),
])
def test_cli_a_bad_photo_or_expression_is_one_line(capsys, image, expression, words):
    from conftest import SAMPLES

    from vizcore.cli import main

    assert main(["accentuate", "efficientnet_lite0", str(SAMPLES / image), expression]) == 2
    captured = capsys.readouterr()
    error = captured.err.strip()
    assert words in error and len(error.splitlines()) == 1 and error.startswith("vizcore: error: ")
