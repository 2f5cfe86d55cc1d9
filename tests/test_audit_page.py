"""The Audit page (AppTest): a folder under the server's listed roots is audited in its turn and its
summary, charts and galleries drawn; a folder outside the roots is refused in words."""
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "assets" / "samples"


@pytest.fixture
def page(tmp_path, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    photos = tmp_path / "photos"
    for folder, sample in (("military_uniform", "grace_hopper"), ("espresso", "coffee"), ("espresso", "cat")):
        (photos / folder).mkdir(parents=True, exist_ok=True)
        Image.open(SAMPLES / f"{sample}.jpg").save(photos / folder / f"{sample}.png")
    settings = tmp_path / "vizcore.toml"
    settings.write_text(f'[audit]\nroots = ["{tmp_path}"]\n')
    monkeypatch.setenv("VIZCORE_LIMITS", str(settings))
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    return at.switch_page("pages/audit.py").run(), tmp_path


def test_page_audits_a_folder_under_the_roots_and_draws_the_summary(page):
    at, root = page
    at.text_input[0].set_value(str(root / "photos")).run()
    at.button(key="audit_run").click().run()
    assert not at.exception, at.exception
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["photos"] == "3" and metrics["accuracy"] == "66.7%"
    assert [s.value for s in at.subheader][:3] == ["Confusion matrix", "Calibration", "Mean map per class"]
    assert "Confidently wrong" in [s.value for s in at.subheader]


def test_page_refuses_a_folder_outside_the_roots(page):
    at, _ = page
    at.text_input[0].set_value("/etc").run()
    assert "is not under a folder this server allows" in at.error[0].value
