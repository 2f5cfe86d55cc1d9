"""Shared fixtures: tiny models built in the test (fast) and the bundled Lite0 (real behaviour).

Tests never download anything. Converted weights go to a per-run cache directory unless
VIZCORE_CACHE_DIR is already set (CI keeps one between test modules of a run).
"""
from __future__ import annotations

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


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    import vizcore
    return vizcore.load_image(SAMPLES / "grace_hopper.jpg")


@pytest.fixture(scope="session")
def samples() -> dict[str, np.ndarray]:
    import vizcore
    return {path.stem: vizcore.load_image(path) for path in sorted(SAMPLES.glob("*.jpg"))}


@pytest.fixture(scope="module")
def server():
    """A real `streamlit run app.py` for the module (each browser module gets a fresh server)."""
    from browser import streamlit_server
    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, driven by Playwright's Python package."""
    from playwright.sync_api import sync_playwright
    from browser import launch_chromium
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()
