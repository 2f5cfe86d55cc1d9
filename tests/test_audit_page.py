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


def _audited(at, root):
    at.text_input[0].set_value(str(root / "photos")).run()
    at.button(key="audit_run").click().run()
    assert not at.exception, at.exception
    return at.session_state["audit_summary"][1].measures


def test_a_clicked_confusion_cell_shows_its_photos_and_opens_one_in_heatmaps(page):
    at, root = page
    measures = _audited(at, root)
    before = _coffee_pictures(at)
    row = measures["classes"].index("espresso")
    at.session_state["audit_cell"] = {"selection": {"rows": [], "columns": [], "cells": [(row, "espresso")]}}
    at.run()
    assert not at.exception, at.exception
    assert any("True espresso, predicted espresso" in m.value for m in at.markdown)
    assert _coffee_pictures(at) == before + 1  # the cell's one photo, with its map (the galleries show it too)
    assert at.button(key="audit_cell_open_0").label == "Open in Heatmaps"
    at.button(key="audit_cell_open_0").click().run(timeout=600)
    assert not at.exception, at.exception
    _, working = at.session_state["_working_photo"]  # the photo carried: the session's working photo
    assert (working.source, working.upload.name) == ("Upload", "coffee.png")
    assert "Heatmaps" in [t.value for t in at.title]  # the page switched
    assert at.radio(key="heat_source").value == "Upload"
    assert at.selectbox(key="heat_class").value == _class_index(at, "espresso")  # the predicted class, not reset


def _coffee_pictures(at):
    return sum("espresso/coffee.png" in caption for image in at.image for caption in image.captions)


def _class_index(at, name):
    option = next(o for o in at.selectbox(key="heat_class").options if o.startswith(f"{name} ·"))
    return int(option.rsplit("·", 1)[1])


def test_a_clicked_reliability_bin_shows_its_photos(page):
    at, root = page
    measures = _audited(at, root)
    reliability = measures["reliability"]
    filled = [at_ for at_, count in enumerate(reliability["count"]) if count]
    at.session_state["audit_bin"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    edges = reliability["bins"]
    title = f"Confidence {edges[filled[0]]:.2f}–{edges[filled[0] + 1]:.2f}"
    assert any(title in m.value for m in at.markdown)
    assert at.button(key="audit_bin_open_0").label == "Open in Heatmaps"


def test_the_summary_so_far_counts_the_stored_rows(page):
    from vizcore.audit import store

    at, root = page
    _audited(at, root)
    out = at.session_state["audit_summary"][0]  # the audit folder the page ran into
    assert store.tally(out) == {"stored": 3, "skipped": 0, "labelled": 3, "correct": 2}


def _zip_of(folder: Path, extra: dict[str, bytes] | None = None) -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for path in sorted(folder.rglob("*.png")):
            archive.write(path, f"photos/{path.relative_to(folder).as_posix()}")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return out.getvalue()


def test_an_uploaded_zip_is_audited_like_a_folder(page, tmp_path, monkeypatch):
    from vizcore.audit import roots

    at, root = page
    monkeypatch.setattr(roots, "unpacked_dir", lambda: tmp_path / "zips")
    at.radio(key="audit_source").set_value("Upload a zip").run()
    at.file_uploader(key="audit_zip").set_value(("photos.zip", _zip_of(root / "photos"), "application/zip")).run()
    at.button(key="audit_run").click().run()
    assert not at.exception, at.exception
    assert not at.error
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["photos"] == "3" and metrics["accuracy"] == "66.7%"  # labelled by the zip's class folders


def test_a_zip_with_a_path_leaving_its_folder_is_refused_in_words(page, tmp_path, monkeypatch):
    from vizcore.audit import roots

    at, root = page
    monkeypatch.setattr(roots, "unpacked_dir", lambda: tmp_path / "zips")
    evil = _zip_of(root / "photos", {"../../evil.png": b"x"})
    at.radio(key="audit_source").set_value("Upload a zip").run()
    at.file_uploader(key="audit_zip").set_value(("evil.zip", evil, "application/zip")).run()
    assert not at.exception, at.exception
    assert "a path that leaves its folder" in at.error[0].value
    assert not (tmp_path / "zips").exists() or not any((tmp_path / "zips").iterdir())
    assert not at.metric  # nothing audited


def test_a_photo_opens_in_why_with_its_class_and_the_audited_folder_gives_the_examples(page):
    at, root = page
    measures = _audited(at, root)
    row = measures["classes"].index("espresso")
    at.session_state["audit_cell"] = {"selection": {"rows": [], "columns": [], "cells": [(row, "espresso")]}}
    at.run()
    assert at.button(key="audit_cell_open_why_0").label == "Open in Why this class?"
    at.session_state["why_show_features"] = False  # the carried photo and examples are tested, not the pictures
    at.button(key="audit_cell_open_why_0").click().run(timeout=600)
    assert not at.exception, at.exception
    assert "Why this class?" in [t.value for t in at.title]  # the page switched
    _, working = at.session_state["_working_photo"]
    assert working.upload.name == "coffee.png"
    espresso = next(i for i in range(1000) if at.selectbox(key="why_class").format_func(i).startswith("espresso ·"))
    assert at.selectbox(key="why_class").value == espresso  # the audit's predicted class, not reset
    assert at.toggle(key="why_use_audit").value is True
    captions = " ".join(c.value for c in at.caption)
    assert f"Examples come from the audited folder {root / 'photos'} (3 photos)" in captions


def test_a_stopped_run_keeps_its_tally_and_a_finished_one_shows_without_a_run(page):
    import shutil

    from vizcore.audit import store

    at, root = page
    _audited(at, root)
    out = at.session_state["audit_summary"][0]
    del at.session_state["audit_summary"]
    at.run()  # the page opened again on the same folder: the finished audit is read, not run again
    assert {metric.label: metric.value for metric in at.metric}["accuracy"] == "66.7%"
    (out / store.MERGED).unlink()  # as a run stopped after storing its photos, before merging them
    shutil.rmtree(out / "shards")
    at.run()
    assert not at.metric
    line = next(m.value for m in at.markdown if "photos done" in m.value)
    assert "**3** photos done" in line and "accuracy so far **66.7%**" in line and "Run** resumes" in line
