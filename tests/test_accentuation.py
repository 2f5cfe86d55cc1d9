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
    ({"distance": 0}, "distance"), ({"steps": 0}, "steps"), ({"lr": -1}, "lr"),
])
def test_bad_settings_are_refused(tiny_model, options, words):
    with pytest.raises(RequestError, match=words):
        accentuate.accentuate(tiny_model, photo(), objectives.channel("conv_3", 4, border=0), **options)


def test_one_objective_row_only(tiny_model):
    with pytest.raises(RequestError, match="one objective"):
        accentuate.accentuate(tiny_model, photo(), objectives.channel("conv_3", [1, 2], border=0))
