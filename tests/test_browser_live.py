"""Runs tweaked live in a real browser: a dream whose steps and learning rate change while it runs
goes on streaming from where it was (never "Stopped", Run never pressed again) and marks the change;
a filter grid whose learning rate changes while it streams goes on too.

The app server the browser modules share (fixtures in conftest); screenshots go to test-artifacts/.
"""
from __future__ import annotations

import os
import random
import re
import shutil

import pytest
from browser import choose, exception_boxes, screenshot, set_number, slide, wait_for_app

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/chromium") and not shutil.which("chromium"),
                                reason="Debian's chromium is not installed (.ci/run installs it)")
TIMEOUT = 300_000  # ms: a cold model load and a run, on 2 CPU cores shared with other sessions

# Every 50 ms, note the page's progress line (the dream's bar, the grid's status line: the first text
# that matches the pattern) if it changed.
WATCH = """(pattern) => {
    window.seen = [];
    const wanted = new RegExp(pattern);
    setInterval(() => {
        const lines = [...document.querySelectorAll('[data-testid="stProgress"], [data-testid="stMarkdownContainer"]')];
        const line = lines.map(element => element.innerText).find(text => wanted.test(text));
        if (line && line !== window.seen[window.seen.length - 1]) window.seen.push(line);
    }, 50);
}"""


# True once the dream's progress line shows a step after ``seen`` (of 100, in its only octave)
LATER_STEP = """(seen) => [...document.querySelectorAll('[data-testid="stProgress"]')].some(element => {
    const step = element.innerText.match(/step (\\d+)\\/100/);
    return step !== null && Number(step[1]) > seen;
})"""


def new_page(browser):
    page = browser.new_context(viewport={"width": 1400, "height": 1300}).new_page()
    page.set_default_timeout(TIMEOUT)
    return page


def seen(page) -> list[str]:
    return page.evaluate("() => window.seen")


def test_a_dream_changed_mid_run_keeps_streaming(server, browser):
    page = new_page(browser)
    page.goto(f"{server}/dream")
    page.get_by_text("Press Run to dream.").first.wait_for()
    wait_for_app(page)
    choose(page, "Sample", "cat")
    slide(page, "Octaves", "Home", "ArrowRight")  # 2 octaves of 20 steps
    wait_for_app(page)
    page.evaluate(WATCH, "Octave \\d|Starting|Stopped|Done")
    page.get_by_role("button", name="Run").click()
    page.get_by_text(re.compile(r"Octave 1/2 · step ([3-9]|1\d)/20")).first.wait_for()  # any later step: a
    # browser drawing under load may skip several
    slide(page, "Steps per octave", "ArrowRight")  # 21, from the next step on
    slide(page, "Learning rate", "ArrowRight")  # 0.02
    page.get_by_text(re.compile(r"Octave 2/2 · step [1-9]\d*/21")).first.wait_for()  # still dreaming, 21 steps
    caption = page.get_by_text("Changed during the run (dashed):")
    caption.wait_for()
    assert "steps 21" in caption.inner_text() and "lr 0.02" in caption.inner_text()
    screenshot(page, "dream-changed-mid-run")
    page.get_by_text("Done · Octave 2/2 · step 21/21").first.wait_for()
    lines = seen(page)
    assert not any("Stopped" in line for line in lines), lines
    steps = [(int(octave), int(step)) for octave, step in re.findall(r"Octave (\d)/2 · step (\d+)/", " ".join(lines))]
    assert steps == sorted(steps) and steps[-1] == (2, 21), lines  # one dream, never restarted
    page.get_by_role("button", name="Download GIF").wait_for()
    assert not exception_boxes(page)


def test_a_grid_whose_learning_rate_changes_keeps_streaming(server, browser):
    page = new_page(browser)
    seed = random.randrange(10**6)  # nothing stored: the grid is computed
    page.goto(f"{server}/filters?model=efficientnet_lite0&mode=classic&steps=60&size=100&seed={seed}"
              "&layer=block3b_project_conv&filters=0-3")
    page.get_by_text("Press Run to grow").wait_for()
    wait_for_app(page)
    page.evaluate(WATCH, "Step \\d+ / 60")
    page.get_by_role("button", name="Run").click()
    page.get_by_text(re.compile(r"Step [5-9] / 60|Step [1-3]\d / 60")).first.wait_for()
    set_number(page, "Learning rate", 20)
    page.get_by_text("Step 60 / 60").first.wait_for()
    wait_for_app(page)
    lines = seen(page)
    assert not any("stopped" in line for line in lines), lines
    steps = [int(step) for step in re.findall(r"Step (\d+) / 60", " ".join(lines))]
    assert steps == sorted(steps) and steps[-1] == 60, lines  # one run, never restarted
    page.get_by_role("button", name="Download grid PNG").wait_for()
    screenshot(page, "filters-lr-changed-mid-run")
    assert not exception_boxes(page)


def test_stop_still_ends_a_dream_that_goes_on_across_reruns(server, browser):
    page = new_page(browser)
    page.goto(f"{server}/dream?photo=cat&octaves=1&steps=100")
    page.get_by_text("Press Run to dream.").first.wait_for()
    wait_for_app(page)
    page.get_by_role("button", name="Run").click()
    running = page.get_by_text(re.compile(r"Octave 1/1 · step ([2-9]|[1-9]\d)/100")).first
    running.wait_for()  # any step from the second on: a browser drawing under load may skip several
    seen = int(re.search(r"step (\d+)/100", running.inner_text()).group(1))
    slide(page, "Learning rate", "ArrowRight")  # goes on...
    page.wait_for_function(LATER_STEP, arg=seen)
    page.get_by_role("button", name="Stop").click()  # ...until Stop
    stopped = page.get_by_text(re.compile(r"Stopped · Octave 1/1 · step \d+/100")).first
    stopped.wait_for()
    wait_for_app(page)
    reached = stopped.inner_text()
    page.wait_for_timeout(2000)
    assert stopped.inner_text() == reached and page.get_by_text("After (stopped)").count() == 1
    page.get_by_role("button", name="Download PNG").wait_for()
    assert not exception_boxes(page)
