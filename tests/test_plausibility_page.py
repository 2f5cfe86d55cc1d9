"""The Filters page's plausibility table under a finished grid: one row per picture, the same numbers
as ``vizcore.plausibility`` measures on the grid's pictures, and a plain word where nothing is measured."""
from __future__ import annotations

import numpy as np
import pytest

from vizcore import examples, plausibility

@pytest.fixture
def page(filters_page):
    return filters_page


def finished_run(at, show: str):
    """A 3-step classic run at 66 px of one view (a class view: espresso, 2 images)."""
    at.get("button_group")[0].set_value(show).run()
    if show == "Class":
        at.multiselect(key="filters_classes_efficientnet_lite0").set_value([967])
    else:
        at.selectbox(key="filters_layer_efficientnet_lite0").set_value("block2a_expand_conv")
    if show == "Filters":
        next(group for group in at.get("button_group") if group.key == "filters_count").set_value(4)
    at.number_input(key="filters_steps_classic").set_value(3)
    at.number_input(key="filters_class_size_classic" if show == "Class" else "filters_size_classic").set_value(66)
    at.run()
    assert not at.exception and not at.error, (at.exception, at.error)
    at.button(key="filters_run").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    return at.session_state["filters_result"]["frame"]


def test_a_finished_filter_grid_shows_each_pictures_share_of_the_best_photo(page):
    frame = finished_run(page, "Filters")
    table = page.dataframe[0].value
    assert list(table["picture"]) == [f"filter {i}" for i in range(4)]
    files = examples.image_files(examples.default_folders())
    vm = page.session_state["model"]
    found = examples.index(vm, "block2a_expand_conv", files)
    expected = plausibility.channel_ratios(vm, "block2a_expand_conv", frame.filters, frame.images, found)
    assert np.allclose(table["vs best photo"], 100 * expected, rtol=1e-4)
    assert any("as a share of the highest among" in caption.value for caption in page.caption)


def test_a_finished_class_grid_shows_the_score_share_and_what_lite1_and_lite2_call_it(page):
    frame = finished_run(page, "Class")
    table = page.dataframe[0].value
    assert list(table.columns) == ["picture", "vs best photo", "Lite1", "Lite2"]
    assert len(table) == len(frame.images) == 2
    assert set(table["Lite1"]) | set(table["Lite2"]) <= {"first", "top 5", "no"}
    files = examples.image_files(examples.default_folders())
    expected = plausibility.class_ratios(page.session_state["model"], frame.filters, frame.images, files)
    assert np.allclose(table["vs best photo"], 100 * expected, rtol=1e-4)


def test_a_mix_says_plainly_that_nothing_is_measured(page):
    finished_run(page, "Mix")
    assert not page.dataframe
    assert any("no real photo to compare with" in caption.value for caption in page.caption)


def test_each_tile_gets_its_share_and_the_judges_calls_written_under_it():
    from ui.plausibility_view import labelled, tile_labels

    scores = {"ratios": np.array([0.84, np.nan]), "judges": {"Lite1": ["first", "no"], "Lite2": ["top 5", "no"]}}
    labels = tile_labels(scores)
    assert labels == ["84% · L1 first · L2 top 5", "n/a · L1 no · L2 no"]  # n/a: no photo fires it
    assert tile_labels({"ratios": np.array([2.5]), "judges": {}}) == ["250%"]
    tiles = np.full((2, 96, 96, 3), 90, np.uint8)
    shown = labelled(tiles, labels)
    assert shown.shape[0] == 2 and shown.shape[2] == 96 and shown.shape[1] > 96
    assert np.array_equal(shown[:, :96], tiles)  # the pictures themselves untouched
    strip = shown[:, 96:]
    assert strip.max() > 200 and (strip > 200).mean() < 0.3  # light text on the black strip
    assert not np.array_equal(strip[0], strip[1])  # each its own label
