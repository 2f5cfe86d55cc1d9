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


# --- a whole grid at once ----------------------------------------------------------------------------

def test_a_grids_channel_ratios_in_one_pass_equal_each_pictures_own(tiny_model, samples):
    files = examples.image_files([SAMPLES])
    found = examples.index(tiny_model, "conv_2", files)
    pictures = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    channels = [3, 0, 3, 5]
    ratios = plausibility.channel_ratios(tiny_model, "conv_2", channels, pictures, found)
    one_by_one = [plausibility.channel_ratio(tiny_model, "conv_2", c, p[None], found)
                  for c, p in zip(channels, pictures)]
    assert ratios == pytest.approx([r[0] if r is not None else np.nan for r in one_by_one], rel=1e-5, nan_ok=True)
    maps = np.asarray(tiny_model.extractor(["conv_2"])(tiny_model.preprocess(
        np.stack([tiny_model.resize_for_input(p) for p in pictures]))))  # NumPy reference: the map's max / best photo's
    reference = [maps[i, ..., c].max() / found.peaks[:, c].max() for i, c in enumerate(channels)]
    assert ratios == pytest.approx(reference, rel=1e-5, nan_ok=True)


def test_the_best_photo_scores_one_for_its_channel_and_a_grey_picture_scores_low(tiny_model, samples):
    files = examples.image_files([SAMPLES])
    found = examples.index(tiny_model, "conv_2", files)
    channel = int(np.argmax(found.peaks.max(axis=0)))
    best = examples.model_view(tiny_model, str(found.files[int(np.argmax(found.peaks[:, channel]))]))
    grey = np.full_like(best, 128)
    ratios = plausibility.channel_ratios(tiny_model, "conv_2", [channel, channel], np.stack([best, grey]), found)
    assert ratios[0] == pytest.approx(1.0, rel=1e-4) and ratios[1] < 0.9


def test_the_channel_ratios_need_one_channel_per_picture(tiny_model, samples):
    found = examples.index(tiny_model, "conv_2", examples.image_files([SAMPLES]))
    with pytest.raises(RequestError, match="2 channels but 1 pictures"):
        plausibility.channel_ratios(tiny_model, "conv_2", [0, 1], np.zeros((1, 8, 8, 3), np.uint8), found)


def test_a_class_is_measured_against_the_photos_that_show_it():
    scored = np.array([[9.0, 1.0, 5.0, 0.5, 0.2, 0.1, 0.0], [0.1, 8.0, 6.0, 0.3, 0.2, 2.0, 7.0]])
    # TOP = 5: photo 0 shows classes 0, 1, 2, 3, 4; photo 1 shows 1, 2, 3, 5, 6
    best = plausibility.best_of_class(scored, [0, 2, 4, 6, 5])
    np.testing.assert_allclose(best, [9.0, 6.0, 0.2, 7.0, 2.0])
    lowest = np.array([[9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0]])
    assert plausibility.best_of_class(lowest, [6])[0] == 0.0  # 7th of 7: no photo shows it
    assert plausibility.best_of_class(None, [1])[0] == 0.0


def test_class_ratios_and_calls_in_one_pass_equal_each_pictures_own(lite0):
    files = examples.image_files([SAMPLES])
    coffee = examples.model_view(lite0, str(SAMPLES / "coffee.jpg"))
    noise = np.random.default_rng(1).integers(0, 256, coffee.shape, dtype=np.uint8)
    pictures, classes = np.stack([coffee, noise, coffee]), [967, 967, 1]  # espresso, espresso, goldfish
    ratios = plausibility.class_ratios(lite0, classes, pictures, files)
    one_by_one = [plausibility.class_ratio(lite0, c, p[None], files) for c, p in zip(classes, pictures)]
    assert ratios == pytest.approx([np.nan if r is None else r[0] for r in one_by_one], rel=1e-4, nan_ok=True)
    assert ratios[0] == pytest.approx(1.0, rel=1e-4) and ratios[1] < 0.5  # noise is no espresso
    assert np.isnan(ratios[2])  # no sample is a goldfish: nothing to compare with, not thousands of percent
    called = plausibility.calls(lite0, classes, pictures)
    assert [(c.top1, c.top5) for c in called] == [(1, 1), (0, 0), (0, 0)]  # coffee is espresso, not a goldfish
    assert called == [plausibility.transfer([lite0], [c], p[None])[0] for c, p in zip(classes, pictures)]
