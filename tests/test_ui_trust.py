"""The trust panel's words and charts ("Can I trust this map?", ui.trust) for every value the metrics can
give: ordinary, zero, negative (a drop that is a rise), rounding to zero, saturated (100 %, the whole photo)
and not measured (NaN, empty). Each row is a sentence the page would show."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

from ui import trust
from vizcore import cam

FRACTIONS = tuple(np.linspace(0.0, 1.0, 11).tolist())  # deletion and insertion: 0, 10 %, ..., 100 %
NAN = float("nan")


def faithfulness(cam_drop: float, random_drop: float) -> cam.Faithfulness:
    """Drops at the 10 % removal (the share the sentence reads) between others that would read otherwise."""
    return cam.Faithfulness(0.2, 0.5, (0.025, 0.05, 0.1, 0.2), (0.9, 0.9, cam_drop, 0.9), (0.7, 0.7, random_drop, 0.7))


def curve(*scores: float) -> cam.Curve:
    return cam.Curve(FRACTIONS[: len(scores)], scores, 0.0)


def road(morf: float, lerf: float) -> cam.Road:
    percentiles = (10, 20, 30)
    return cam.Road(percentiles, 0.5, (morf,) * len(percentiles), (lerf,) * len(percentiles), (lerf - morf) / 2)


def reads_right(sentence: str) -> bool:
    """No negative zero, no bare 0 %, no "nan" and no float noise such as 0.000000."""
    return not re.search(r"-0(?![.\d])|-0\.0+\b|(?<![\d.])0%|nan|0\.0000", sentence)


@pytest.mark.parametrize("cam_drop, random_drop, expected", [
    (0.93, 0.58, "Hiding the hottest 10% of the photo lowers the confidence by 93%; hiding 10% at random lowers "
                 "the confidence by 58%."),
    (-0.05, 0.58, "Hiding the hottest 10% of the photo raises the confidence by 5%; hiding 10% at random lowers "
                  "the confidence by 58%."),
    (0.0, -0.004, "Hiding the hottest 10% of the photo barely changes the confidence; hiding 10% at random barely "
                  "changes the confidence."),
    (-0.0, 0.004, "Hiding the hottest 10% of the photo barely changes the confidence; hiding 10% at random barely "
                  "changes the confidence."),
    (1.0, 0.995, "Hiding the hottest 10% of the photo lowers the confidence by 100%; hiding 10% at random lowers "
                 "the confidence by 100%."),
    (NAN, 0.5, "The confidence could not be measured with parts of the photo hidden."),
])
def test_faithfulness_line(cam_drop, random_drop, expected):
    sentence = trust.faithfulness_line(faithfulness(cam_drop, random_drop))
    assert sentence == expected and reads_right(sentence)


def test_faithfulness_line_with_nothing_measured():
    empty = cam.Faithfulness(NAN, 0.5, (), (), ())
    expected = "The output could not be measured with parts of the photo hidden."
    assert trust.faithfulness_line(empty, "output") == expected
    assert trust.faithfulness_verdict(NAN) == "the map could not be scored on this photo"


@pytest.mark.parametrize("scores, what, expected", [
    ((0.5, 0.4, 0.2, 0.1), "confidence", "Blurring the hottest 20% of the photo halves the confidence."),
    ((0.5, 0.4) + (0.3,) * 8 + (0.25,), "confidence", "Only blurring the whole photo halves the confidence."),
    ((0.5,) * 11, "confidence", "Blurring even the whole photo keeps over half the confidence."),
    ((0.0,) * 11, "confidence", "The photo itself gives no confidence to take away."),
    ((-2.0, -1.0, 0.5), "output", "The photo itself gives no output to take away."),
    ((0.5, NAN, 0.1), "confidence", "The confidence could not be measured as the photo was blurred."),
    ((), "confidence", "The confidence could not be measured as the photo was blurred."),
])
def test_deletion_line(scores, what, expected):
    sentence = trust.deletion_line(curve(*scores), what)
    assert sentence == expected and reads_right(sentence)


@pytest.mark.parametrize("scores, what, expected", [
    ((0.0, 0.05, 0.3) + (0.4,) * 7 + (0.5,), "confidence",
     "The hottest 20% of the photo, sharp in a blurred one, gives back half the confidence."),
    ((0.3,) * 10 + (0.5,), "confidence", "The blurred photo alone already gives back half the confidence."),
    ((0.0,) * 10 + (0.5,), "confidence", "Only the whole photo, sharp, gives back half the confidence."),
    ((0.0,) * 11, "confidence", "The photo itself gives no confidence to give back."),
    ((1.0, 0.5, -0.5), "negated output", "The photo itself gives no negated output to give back."),
    ((0.0, NAN, 0.5), "confidence", "The confidence could not be measured as the photo came back."),
])
def test_insertion_line(scores, what, expected):
    sentence = trust.insertion_line(curve(*scores), what)
    assert sentence == expected and reads_right(sentence)


@pytest.mark.parametrize("morf, lerf, what, expected", [
    (-0.17, -0.05, "confidence", "On average, removing its most relevant pixels lowers the confidence by 17 "
                                 "percentage points; removing its least relevant lowers the confidence by 5 "
                                 "percentage points."),
    (-0.17, 0.02, "confidence", "On average, removing its most relevant pixels lowers the confidence by 17 "
                                "percentage points; removing its least relevant raises the confidence by 2 "
                                "percentage points."),
    (-0.01, 0.004, "confidence", "On average, removing its most relevant pixels lowers the confidence by 1 "
                                 "percentage point; removing its least relevant barely changes the confidence."),
    (0.0, -0.0, "confidence", "On average, removing its most relevant pixels barely changes the confidence; "
                              "removing its least relevant barely changes the confidence."),
    (-1.0, 0.0, "confidence", "On average, removing its most relevant pixels takes all of the confidence away; "
                              "removing its least relevant barely changes the confidence."),
    (-0.0123, 0.5, "output", "On average, removing its most relevant pixels lowers the output by 0.0123; "
                             "removing its least relevant raises the output by 0.5."),
    (0.0, -0.0, "output", "On average, removing its most relevant pixels leaves the output unchanged; "
                          "removing its least relevant leaves the output unchanged."),
    (NAN, -0.1, "confidence", "ROAD could not measure the confidence on this photo."),
])
def test_road_line(morf, lerf, what, expected):
    sentence = trust.road_line(road(morf, lerf), what)
    assert sentence == expected and reads_right(sentence)


@pytest.mark.parametrize("value, digits, expected", [
    (0.1234, 2, "+0.12"), (-0.5, 3, "-0.500"), (-0.0001, 2, "+0.00"), (-0.0, 3, "+0.000"), (NAN, 2, "n/a"),
])
def test_signed_scores_never_read_minus_zero(value, digits, expected):
    assert trust.signed(value, digits) == expected


@pytest.mark.parametrize("share, expected", [(0.2, "20%"), (-0.004, "0%"), (0.0, "0%"), (1.0, "100%")])
def test_percent(share, expected):
    assert trust.percent(share) == expected


def metrics_with(value: float) -> tuple[cam.Faithfulness, cam.TrustMetrics]:
    """Every curve at ``value``: what the charts get when hiding pixels changes nothing (or nothing was measured)."""
    flat = cam.Curve(FRACTIONS, (value,) * len(FRACTIONS), value)
    return (cam.Faithfulness(0.0, 0.5, (0.025, 0.05, 0.1, 0.2), (value,) * 4, (value,) * 4),
            cam.TrustMetrics(flat, flat, cam.Road((10, 50, 90), 0.5, (value,) * 3, (value,) * 3, 0.0)))


@pytest.mark.parametrize("value, domain", [(0.0, [0, 0.05]), (-0.004, [-0.029, 0.021]), (1.0, [0.975, 1.025]),
                                           (NAN, [0, 1])])
def test_flat_curves_get_an_axis_with_a_range(value, domain):
    for chart in trust.trust_charts(*metrics_with(value), "confidence"):
        spec = chart.to_dict()
        y = spec["encoding"]["y"]
        assert y["axis"]["format"] == ".0%" and spec["encoding"]["x"]["axis"]["format"] == ".0%"
        assert y["scale"]["domain"] == pytest.approx(domain)
        assert "hconcat" not in spec and "width" not in spec  # one chart a column, as wide as its column


def test_curves_that_vary_keep_altairs_own_range():
    faithfulness = cam.Faithfulness(0.3, 0.5, (0.025, 0.05, 0.1, 0.2), (0.2, 0.4, 0.8, 0.9), (0.1, 0.2, 0.3, 0.5))
    deletion = cam.Curve(FRACTIONS, tuple(np.linspace(0.5, 0.0, 11)), 0.25)
    road_ = cam.Road((10, 50, 90), 0.5, (-0.1, -0.3, -0.5), (0.0, -0.1, -0.2), 0.1)
    charts = trust.trust_charts(faithfulness, cam.TrustMetrics(deletion, deletion, road_), "output")
    assert ["domain" not in chart.to_dict()["encoding"]["y"].get("scale", {}) for chart in charts] == [True] * 3
    assert [chart.to_dict()["encoding"]["y"]["axis"]["format"] for chart in charts] == [".0%", "~g", "~g"]
    assert [chart.to_dict()["title"] for chart in charts] == ["Faithfulness", "Deletion and insertion", "ROAD"]


@pytest.mark.parametrize("depends, other_uniform, expected", [
    (True, False, "differs from this one: the map depends on the class."),
    (False, False, "looks much like this one: the map says little about this class in particular."),
    (None, True, "cannot be compared with this one: that map is uniform, with no order of pixels to compare."),
    (None, False, "cannot be compared with this one: this class's map is uniform, with no order of pixels to "
                  "compare."),
])
def test_class_check_line(depends, other_uniform, expected):
    heatmap = np.zeros((7, 7), np.float32) if other_uniform else np.random.default_rng(1).random((7, 7))
    rank = NAN if depends is None else 0.2
    check = cam.ClassCheck(3, "tench", heatmap, rank, 0.5, depends)
    assert trust.class_check_line(check) == f"Class check: the map of tench, a class drawn at random, {expected}"
    assert math.isnan(rank) or trust.similarity(rank, 0.5) == "Spearman +0.20 · SSIM 0.50"


def test_reads_right_catches_what_the_old_wording_printed():
    """The filter above is the table's second check: it flags the sentences the panel used to print."""
    for old in ("The hottest 0% of the photo, sharp in a blurred one, gives back half the confidence.",
                "Removing its most relevant pixels costs -0% of the confidence on average, its least relevant -2%.",
                "Hiding the hottest 10% of the photo raises the confidence by -0%.", "an axis at 0.000000%"):
        assert not reads_right(old), old
    assert reads_right("Blurring the hottest 10% of the photo halves the confidence; 100% and 0.25 are fine.")
