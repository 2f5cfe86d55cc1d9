"""Requests as values: a Filters or a map request is checked once, frozen, hashable, and every layer
below takes it as it is (the checks are counted here)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vizcore import atlas, cam, filters, objectives, requests
from vizcore.cam import request as cam_request_module
from vizcore.errors import RequestError
from vizcore.models import VizModel


class Counter:
    """Wraps a function (or a method) and counts its calls."""

    def __init__(self, monkeypatch, owner, name: str):
        self.calls = 0
        original = getattr(owner, name)

        def counted(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)


def photo(seed: int = 0, size=(40, 52)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def test_a_filters_run_checks_its_request_once(tiny_model, monkeypatch, tmp_path):
    monkeypatch.setenv("VIZCORE_CACHE_DIR", str(tmp_path))
    checks = {name: Counter(monkeypatch, requests, name) for name in ("check_filters", "settings")}
    objective_checks = Counter(monkeypatch, objectives.Objective, "checked")
    request = requests.filter_request(tiny_model, "filters", "conv_2", [1, 2], mode="robust", size=40, steps=2, seed=3)
    made = {name: counter.calls for name, counter in checks.items()} | {"objective": objective_checks.calls}
    assert made == {"check_filters": 1, "settings": 1, "objective": 1}
    frames = list(atlas.visualize(tiny_model, request))  # computed, stored ...
    again = list(atlas.visualize(tiny_model, request))  # ... and served from the cache
    assert frames[-1].done and again[0].cached and again[0].filters == (1, 2)
    ran = {name: counter.calls for name, counter in checks.items()} | {"objective": objective_checks.calls}
    assert ran == made  # nothing below the request checked anything again


def test_a_bad_filters_request_fails_when_made_before_any_work(tiny_model):
    with pytest.raises(RequestError, match="Filter 8 out of range"):
        requests.filter_request(tiny_model, "filters", "conv_2", [8])
    with pytest.raises(RequestError, match="Unknown request"):
        requests.filter_request(tiny_model, "grids", "conv_2", [1])
    with pytest.raises(RequestError, match="give two filters"):
        requests.filter_request(tiny_model, "mix", "conv_2", [1, 2, 3])
    with pytest.raises(RequestError, match="steps"):
        requests.filter_request(tiny_model, "filters", "conv_2", [1], steps=0)


def test_filter_requests_are_frozen_hashable_values(tiny_model):
    one = requests.filter_request(tiny_model, "neurons", "conv_2", [1, 2], steps=3, seed=1)
    same = requests.filter_request(tiny_model, "neurons", "conv_2", (1, 2), steps=3, seed=1)
    other = requests.filter_request(tiny_model, "neurons", "conv_2", [1, 2], steps=4, seed=1)
    assert one == same and hash(one) == hash(same) and one != other
    assert len({one, same, other}) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.layer = "conv_3"  # type: ignore[misc]
    assert one.images == 2 and one.settings.steps == 3


def test_every_show_is_a_request_the_loop_runs(tiny_model):
    shows = {
        "filters": dict(indices=[0, 1]), "neurons": dict(indices=[0], x=1, y=2), "classes": dict(indices=[1], count=2),
        "diverse": dict(indices=[3], count=2), "mix": dict(indices=[0, 5], count=3),
    }
    for show, options in shows.items():
        request = requests.filter_request(tiny_model, show, "conv_2", steps=2, size=40, mode="robust", **options)
        frame = list(filters.run(tiny_model, request))[-1]
        assert frame.done and len(frame.images) == request.images, show


def test_a_map_request_reads_and_resizes_the_photo_once(tiny_model, monkeypatch):
    image = photo()
    reads = Counter(monkeypatch, cam_request_module, "rgb_image")
    resizes = Counter(monkeypatch, VizModel, "resize_for_input")
    request = cam.cam_request(tiny_model, image, method="gradcam", layer="conv_3")
    result = cam.explain(tiny_model, request)
    cam.faithfulness(tiny_model, result)
    cam.trust_metrics(tiny_model, result, steps=3)
    assert (reads.calls, resizes.calls) == (1, 1)
    assert result.request is request and request.inputs.shape == (32, 32, 3)
    assert not request.photo.flags.writeable and image.flags.writeable  # the caller's photo is left as it was


def test_map_requests_compare_by_photo_and_settings(tiny_model):
    one = cam.cam_request(tiny_model, photo(0), class_index=1)
    assert one == cam.cam_request(tiny_model, photo(0), class_index=1)
    assert one != cam.cam_request(tiny_model, photo(1), class_index=1)
    assert one != one.but(tiny_model, class_index=2) and one.but(tiny_model, class_index=1) == one
    assert len({one, cam.cam_request(tiny_model, photo(0), class_index=1)}) == 1
    with pytest.raises(RequestError, match="class index 9 out of range"):
        one.but(tiny_model, class_index=9)


def test_channel_probes_come_from_the_method_record(tiny_model):
    probing = [name for name, record in cam.METHODS.items() if record.channel_budget is not None]
    assert probing == ["scorecam"]
    score = cam.cam_request(tiny_model, photo(), method="scorecam", top_k=3)
    assert score.top_k == 3 and score.but(tiny_model, method="gradcam").top_k is None
    assert cam.cam_request(tiny_model, photo(), method="layercam", top_k=3).top_k is None  # no probes: dropped


# --- the pages: one check a script run ----------------------------------------------------------


def app_page(path: str):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=300)
    at.run()
    return at.switch_page(path).run()


def test_a_filters_run_on_the_page_checks_its_request_once(monkeypatch, tmp_path):
    monkeypatch.setenv("VIZCORE_CACHE_DIR", str(tmp_path))
    at = app_page("pages/filters.py")
    at.selectbox(key="filters_layer_efficientnet_lite0").set_value("block2a_expand_conv")
    next(group for group in at.get("button_group") if group.key == "filters_count").set_value(4)
    at.number_input(key="filters_steps_classic").set_value(3)
    at.number_input(key="filters_size_classic").set_value(66)
    at.run()
    checks = Counter(monkeypatch, requests, "check_filters")
    made = Counter(monkeypatch, requests, "filter_request")
    at.button(key="filters_run").click().run()  # the page script re-imports the names it uses: counted too
    assert not at.exception and not at.error, (at.exception, at.error)
    assert at.session_state["filters_result"]["frame"].done
    assert (made.calls, checks.calls) == (1, 1)  # the widgets' request, checked once; the run took it as it was


def test_a_heatmaps_rerun_reads_and_resizes_the_photo_once(monkeypatch):
    at = app_page("pages/heatmaps.py")
    assert not at.exception and at.metric[0].label == "Faithfulness"
    reads = Counter(monkeypatch, cam_request_module, "rgb_image")
    resizes = []
    resize = VizModel.resize_for_input
    monkeypatch.setattr(VizModel, "resize_for_input", lambda vm, image: resizes.append(image.shape) or resize(vm, image))
    at.selectbox(key="heat_class").set_value(834).run()  # another class: a new map, its trust scores
    assert not at.exception and at.metric[0].label == "Faithfulness"
    assert reads.calls == 1 and len(resizes) == 1, (reads.calls, resizes)


def test_a_dream_request_is_checked_once_and_run_as_it_is(tiny_model, monkeypatch):
    from vizcore import dream

    settings_checks, mix_checks = Counter(monkeypatch, dream, "check_settings"), Counter(monkeypatch, dream, "check_mix")
    request = dream.dream_request(tiny_model, photo(size=(64, 64)), {"conv_2": 1.0}, steps=2, octaves=1, seed=0)
    assert (settings_checks.calls, mix_checks.calls) == (1, 1)
    frames = list(dream.run(tiny_model, request))
    assert frames[-1].step == 2 and (settings_checks.calls, mix_checks.calls) == (1, 1)
    again = dream.dream_request(tiny_model, photo(size=(64, 64)), {"conv_2": 1.0}, steps=2, octaves=1, seed=0)
    assert again == request and hash(again) == hash(request) and not request.photo.flags.writeable
    with pytest.raises(RequestError, match="steps"):
        dream.dream_request(tiny_model, photo(size=(64, 64)), {"conv_2": 1.0}, steps=0)
