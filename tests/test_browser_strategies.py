"""The Audit page's Strategies view in a real browser: a model with a planted shortcut (tests/planted.py)
in the server's models folder audits a folder under the server's roots; the view shows the class's
clusters with the marked photos' cluster flagged at the top-left corner, and a click on a point of the
embedding shows that photo."""
from __future__ import annotations

import io
import os
import re
import shutil

import numpy as np
import pytest
from browser import audit_folder, exception_boxes, screenshot, streamlit_server, wait_for_app
from PIL import Image
from planted import photo_folder, trained_model

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/chromium") and not shutil.which("chromium"),
                                reason="Debian's chromium is not installed (.ci/run installs it)")
TIMEOUT = 300_000  # ms: a cold start plus a run, on 2 CPU cores shared with other sessions
LEGEND = 60  # px: the embedding's legend, under its points


@pytest.fixture(scope="module")
def planted_server(tmp_path_factory):
    """A server with the planted model in its models folder and a photo folder under its audit roots."""
    root = tmp_path_factory.mktemp("strategies-root")
    models = root / "models"
    models.mkdir()
    trained_model(models)
    (models / "planted.txt").rename(models / "planted.labels.txt")
    photos = photo_folder(root / "photos", 16, 0.5, seed=5)
    limits = root / "vizcore.toml"
    limits.write_text(f'[audit]\nroots = ["{root}"]\n')
    with streamlit_server(env={"VIZCORE_LIMITS": str(limits), "VIZCORE_MODELS_DIR": str(models)}) as url:
        yield url, photos


def test_the_strategies_view_flags_the_planted_mark(planted_server, browser):
    url, photos = planted_server
    page = audit_folder(browser, url, photos, 1400, TIMEOUT, query="?model=planted")
    page.get_by_role("tab", name="Strategies").click()
    page.get_by_text("from the eigengap").first.wait_for()
    wait_for_app(page)
    assert page.get_by_text("1 flagged").count() == 1
    flag = page.get_by_text("Flagged: these 8 photos are decided by the top-left corner")
    flag.scroll_into_view_if_needed()
    assert flag.count() == 1
    assert page.locator('[data-testid="stVegaLiteChart"]').count() == 2  # the eigengap and the embedding
    embedding = page.locator('[data-testid="stVegaLiteChart"]').nth(1)
    embedding.scroll_into_view_if_needed()
    x, y = coloured_point(embedding.screenshot())  # a canvas: no element to click, so a point found by its colour
    box = embedding.bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.get_by_text(re.compile(r"^red/[mp]\d+\.png · cluster \d$")).wait_for()
    screenshot(page, "audit-strategies")
    assert not exception_boxes(page)


def coloured_point(png: bytes) -> tuple[int, int]:
    """(x, y) of a coloured pixel of a chart's points, above its legend (the last LEGEND px)."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    colourful = (pixels.max(axis=2) - pixels.min(axis=2))[:-LEGEND] > 80
    rows, cols = np.nonzero(colourful)
    assert len(rows), "no point drawn on the embedding"
    return int(cols[len(cols) // 2]), int(rows[len(rows) // 2])
