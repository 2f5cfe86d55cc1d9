"""A page opened while a long run goes on, in real browsers, on a server of its own: the first
Heatmaps page ever opened there, while a dream streams, shows its map and trust panel within a loose
bound, traces nothing itself (the model's map passes were traced ahead, when it loaded), and the
dream goes on. The server notes its events (VIZCORE_TIMELINE), which the test reads back."""
from __future__ import annotations

import json
import os
import shutil
import time

import pytest
from browser import exception_boxes, screenshot, streamlit_process, wait_for_app

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/chromium") and not shutil.which("chromium"),
                                reason="Debian's chromium is not installed (.ci/run installs it)")
TIMEOUT = 300_000   # ms
LONG_DREAM = "dream?photo=coffee&steps=100&octaves=3"  # minutes of work: it runs all through the test
FRESH_MAP_SECONDS = 60  # loose: a fresh page's map on 2 shared cores (about 3 s alone, 15-40 s traced per session before)


def events(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_page_opened_during_a_long_run_traces_nothing_and_answers(browser, tmp_path):
    timeline = tmp_path / "timeline.jsonl"
    with streamlit_process({"VIZCORE_TIMELINE": str(timeline)}) as (server, _):
        dreamer = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        dreamer.set_default_timeout(TIMEOUT)
        dreamer.goto(f"{server}/{LONG_DREAM}")  # the first page: it loads the model (and warms it up)
        dreamer.get_by_text("Press Run to dream.").wait_for()
        wait_for_app(dreamer)
        dreamer.get_by_role("button", name="Run").click()
        dreamer.get_by_text("Octave 1/3 · step").first.wait_for()

        student = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        student.set_default_timeout(TIMEOUT)
        start = time.perf_counter()
        student.goto(f"{server}/heatmaps?photo=rocket&class=812")
        student.get_by_text("Grad-CAM on ").first.wait_for()
        map_seconds = time.perf_counter() - start
        student.get_by_text("Deletion AUC").first.wait_for()  # the trust panel's scores
        wait_for_app(student)
        screenshot(student, "fresh-page-during-a-dream")
        assert map_seconds <= FRESH_MAP_SECONDS, map_seconds
        assert not exception_boxes(student)
        assert dreamer.get_by_text("Stopped").count() == 0  # the dream goes on
        assert dreamer.get_by_text("Octave").count() >= 1
        student.context.close()
        dreamer.context.close()

    noted = events(timeline)
    warm = [event for event in noted if event["event"] == "warming the model up end"]
    assert len(warm) == 1, warm  # once for the process, though two sessions loaded the model
    traced = [event for event in noted if event["event"] == "tracing" and event["what"].startswith(("cam ", "class "))]
    assert traced and all(event["thread"].startswith("vizcore-warm-") for event in traced), traced
    maps = [event for event in noted if event["event"] == "map end"]
    assert maps and maps[0]["seconds"] < 5, maps  # the map itself: no tracing, no waiting on one
