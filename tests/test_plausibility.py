"""Plausibility: a picture against the best real photo, and whether other models call it by its class."""
import numpy as np
import pytest
from conftest import SAMPLES

from vizcore import examples, plausibility
from vizcore.errors import RequestError


def test_transfer_counts_match_a_hand_count():
    classes = [1, 2, 3, 4]
    rankings = [[1, 5, 6, 7, 8],    # first: top-1 and top-5
                [9, 2, 3, 4, 5],    # second: top-5 only
                [0, 4, 5, 6, 7],    # absent
                [9, 8, 7, 6, 5, 4]]  # sixth: not in the top 5
    counted = plausibility.transfer_counts("judge", classes, rankings)
    assert counted == plausibility.Transfer("judge", 1, 2, 4)


def test_transfer_counts_refuse_a_length_mismatch():
    with pytest.raises(RequestError):
        plausibility.transfer_counts("judge", [1, 2], [[1]])


def test_a_lite_is_judged_by_the_other_lites(lite0, tiny_model):
    assert plausibility.judges_for(lite0) == ("efficientnet_lite1", "efficientnet_lite2")
    assert plausibility.judges_for(tiny_model) == ()


def test_a_photo_that_is_its_folders_best_scores_one_and_the_others_less(tiny_model, samples):
    files = examples.image_files([SAMPLES])
    found = examples.index(tiny_model, "conv_2", files)
    channel = 3
    best = int(np.argmax(found.peaks[:, channel]))
    photos = np.stack([examples.model_view(tiny_model, str(file)) for file in found.files])
    ratios = plausibility.channel_ratio(tiny_model, "conv_2", channel, photos, found)
    assert ratios[best] == pytest.approx(1.0, rel=1e-4)
    assert np.all(ratios <= 1.0 + 1e-4) and ratios.min() < 0.999


def test_a_class_score_is_measured_against_the_best_photo_of_that_class(lite0):
    files = examples.image_files([SAMPLES])
    photos = np.stack([examples.model_view(lite0, str(file)) for file in files])
    espresso = 967
    ratios = plausibility.class_ratio(lite0, espresso, photos, files)
    assert ratios.max() == pytest.approx(1.0, rel=1e-4)
    assert files[int(np.argmax(ratios))].stem == "coffee"  # the coffee photo is the folder's best espresso
