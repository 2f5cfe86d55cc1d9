"""Shared fixtures: tiny models built in the test (fast) and the bundled Lite0 (real behaviour).

Tests never download anything. Converted weights go to a per-run cache directory unless
VIZCORE_CACHE_DIR is already set (CI keeps one between test modules of a run).
"""
from __future__ import annotations

import fcntl
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/browser.py
os.environ.setdefault("VIZCORE_CACHE_DIR", tempfile.mkdtemp(prefix="vizcore-test-cache-"))
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="vizcore-test-keras-"))  # never a real download
# Set in the main process before pytest-xdist starts its workers, so they share these folders.
os.environ.setdefault("VIZCORE_TEST_LOCKS", tempfile.mkdtemp(prefix="vizcore-test-locks-"))

# The suite runs in two pytest-xdist workers (pytest.ini: -n 2 --dist loadfile), a module at a time
# each. Modules go out longest first (seconds on a 2-core machine, measured: --junitxml of a whole run)
# so that no long one is left for the end; modules not named here follow, in their own order.
LONGEST_FIRST = (
    "test_filters", "test_own_models", "test_browser_working_set", "test_browser_pages", "test_browser_own_model",
    "test_trust", "test_cli_maco", "test_why", "test_audit_engine", "test_browser_why", "test_browser_classroom",
    "test_pages_own_model", "test_abuse", "test_browser_audit", "test_browser_fresh_page", "test_dream",
    "test_browser_strategies", "test_browser_offline", "test_accentuation", "test_maco", "test_audit_page",
    "test_browser_filters",
    "test_browser", "test_cam", "test_links", "test_visualize", "test_photos", "test_browser_links",
    "test_browser_trust", "test_requests", "test_browser_maco", "test_models", "test_concepts", "test_objectives",
    "test_cli", "test_browser_live", "test_warm_up", "test_ui_trust", "test_images",
)
# Modules whose tests time themselves against the machine (a heatmap while runs queue, against the
# same alone): while one of their tests runs, the other worker waits between its tests.
ALONE = ("test_browser_classroom",)


def pytest_collection_modifyitems(config, items):
    rank = {name: number for number, name in enumerate(LONGEST_FIRST)}
    module = lambda item: item.module.__name__ if item.module else ""  # noqa: E731
    items.sort(key=lambda item: rank.get(module(item), len(rank)))  # stable: a module keeps its order


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Setup, call and teardown of a test in ALONE hold the machine; any other test shares it. A
    writer-first lock between the workers: a test in ALONE first takes the turnstile, which keeps
    the other worker from starting its next test, then waits for the one it is running."""
    folder = Path(os.environ["VIZCORE_TEST_LOCKS"])
    alone = item.module.__name__ in ALONE
    with open(folder / "turnstile", "a") as turnstile, open(folder / "machine", "a") as machine:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        fcntl.flock(machine, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        if not alone:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            return (yield)
        finally:
            fcntl.flock(machine, fcntl.LOCK_UN)
            fcntl.flock(turnstile, fcntl.LOCK_UN)

SAMPLES = ROOT / "assets" / "samples"


def test_steps(default: int) -> int:
    """Optimisation steps for tests; VIZCORE_TEST_STEPS caps them (never weakens assertions)."""
    cap = os.environ.get("VIZCORE_TEST_STEPS")
    return min(default, int(cap)) if cap else default


@pytest.fixture(scope="session")
def lite0():
    import vizcore
    return vizcore.load_model("efficientnet_lite0")


@pytest.fixture(scope="session")
def tiny_model():
    """A tiny 3-conv classifier on 32×32 inputs, random but fixed weights: fast unit tests."""
    import keras
    from vizcore.models import VizModel

    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 3), name="input")
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv_1")(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv_2")(x)
    x = keras.layers.Conv2D(10, 3, padding="same", activation="relu", name="conv_3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(4, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name="tiny")
    return VizModel("tiny", model, (32, 32), ("zero", "one", "two", "three"), "unit")


APP_TEST_TIMEOUT = 300  # s: TensorFlow import, model load and a short run on a cold process


@pytest.fixture
def filters_page():
    """The app in Streamlit's AppTest, switched to the Filters page."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=APP_TEST_TIMEOUT)
    at.run()
    return at.switch_page("pages/filters.py").run()


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    import vizcore
    return vizcore.load_image(SAMPLES / "grace_hopper.jpg")


@pytest.fixture(scope="session")
def samples() -> dict[str, np.ndarray]:
    import vizcore
    return {path.stem: vizcore.load_image(path) for path in sorted(SAMPLES.glob("*.jpg"))}


@pytest.fixture(scope="session")
def shared_server():
    """One real `streamlit run app.py` for the browser modules that need nothing of their own (per
    xdist worker): the model loads and its steps trace once, not once per module. Yields its URL;
    its log is checked module by module (``server``), and whole when it stops."""
    from browser import streamlit_process
    with streamlit_process() as (url, _):
        yield url


@pytest.fixture(scope="module")
def server(request):
    """A real `streamlit run app.py` for the module's tests. A module that needs a server of its own
    (its first request is what it tests) says so with ``FRESH_SERVER = True``, or is named
    test_browser_fresh*; the others share one, and the part of its log their tests wrote must hold no
    warning or traceback (checked as the module ends)."""
    if getattr(request.module, "FRESH_SERVER", False) or request.module.__name__.startswith("test_browser_fresh"):
        from browser import streamlit_server
        with streamlit_server() as url:
            yield url
        return
    from browser import ARTIFACTS, log_problems
    url = request.getfixturevalue("shared_server")
    log_path = ARTIFACTS / f"streamlit-{url.rsplit(':', 1)[1]}.log"  # as browser.streamlit_process names it
    start = log_path.stat().st_size
    yield url
    with open(log_path, "rb") as log:
        log.seek(start)
        problems = log_problems(log.read().decode(errors="replace"))
    assert not problems, f"the server log {log_path.name} has warnings or tracebacks:\n" + "\n".join(problems)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, driven by Playwright's Python package."""
    from playwright.sync_api import sync_playwright
    from browser import launch_chromium
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()
