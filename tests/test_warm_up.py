"""A fresh page waits on nobody's warm-up: the compiled passes of a map and its trust scores are traced
once per model ahead of the first photo (vizcore.cam.prepare, ui.warm.warm_model), Streamlit's
after-run ``keras.backend.clear_session`` is kept from clearing (ui.keras_state), and a server's time
can be traced (vizcore.timeline)."""
from __future__ import annotations

import gc
import json

import numpy as np
import pytest
from conftest import ROOT


def tracings(view) -> tuple[int, int]:
    return (view.activations_and_gradients.experimental_get_tracing_count(),
            view.class_probabilities.experimental_get_tracing_count())


def test_prepare_traces_a_maps_passes_once_and_the_first_map_traces_nothing(tiny_model):
    from vizcore import cam

    view = cam.compiled_view(tiny_model, cam.default_layer(tiny_model))
    cam.prepare(tiny_model)
    assert tracings(view) == (1, 1)
    photo = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    result = cam.heatmap(tiny_model, photo, class_index=2)
    cam.faithfulness(tiny_model, result)
    cam.prepare(tiny_model)  # again: nothing new
    assert tracings(view) == (1, 1)


def test_prepare_names_a_layer_without_extent(tiny_model):
    import vizcore
    from vizcore import cam

    with pytest.raises(vizcore.RequestError, match="pool"):
        cam.prepare(tiny_model, "pool")


def test_warm_model_starts_once_per_model_and_leaves_it_ready(tiny_model):
    from ui import warm
    from vizcore import cam

    thread = warm.warm_model(tiny_model)
    assert warm.warm_model(tiny_model) is None  # once per model and process
    if thread is not None:  # another test may have warmed it first
        thread.join(60)
    assert tracings(cam.compiled_view(tiny_model, cam.default_layer(tiny_model))) == (1, 1)


def test_warm_model_keeps_quiet_about_a_model_it_cannot_warm():
    import keras

    from ui import warm
    from vizcore.models import VizModel

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs), name="no_head")  # no class vector
    thread = warm.warm_model(VizModel("no_head", model, (8, 8), (), "unit"))
    thread.join(60)
    assert not thread.is_alive()


def test_streamlits_after_run_clear_session_keeps_kerass_state():
    import keras
    from keras.src.backend.common import global_state

    from ui import keras_state

    original = keras.utils.clear_session
    assert keras_state.keep() and keras_state.kept()
    global_state.set_global_attribute("vizcore_probe", 1)
    keras.backend.clear_session()  # what Streamlit calls after each script run
    assert global_state.get_global_attribute("vizcore_probe") == 1
    assert keras.utils.clear_session is original  # Keras' own name still clears
    keras.utils.clear_session(free_memory=False)
    assert global_state.get_global_attribute("vizcore_probe") is None
    gc.collect()


def test_an_app_run_keeps_kerass_state_from_then_on():
    import keras
    from streamlit.testing.v1 import AppTest

    from ui import keras_state

    keras.backend.clear_session = keras.utils.clear_session  # as Keras made it
    assert not keras_state.kept()
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    assert not app.exception
    assert keras_state.kept()


def test_the_timeline_is_silent_when_off_and_notes_spans_when_on(tmp_path, monkeypatch):
    from vizcore import timeline

    monkeypatch.delenv("VIZCORE_TIMELINE", raising=False)
    timeline.mark("nothing")
    with timeline.span("nothing either"):
        pass
    assert not list(tmp_path.iterdir())
    target = tmp_path / "timeline.jsonl"
    monkeypatch.setenv("VIZCORE_TIMELINE", str(target))
    with timeline.session("abc"), timeline.span("map", layer="top"):
        timeline.mark("tracing", what="cam")
    events = [json.loads(line) for line in target.read_text().splitlines()]
    assert [event["event"] for event in events] == ["map start", "tracing", "map end"]
    assert all(event["session"] == "abc" and event["t"] > 0 for event in events)
    assert events[2]["layer"] == "top" and events[2]["seconds"] >= 0
