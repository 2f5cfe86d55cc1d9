"""Audit: the picked model across a folder of photos on the server: accuracy, calibration, maps, galleries.

Thin: the folder is typed (and must lie under the server's ``[audit] roots``), ``vizcore.audit`` runs
in its turn of the run queue and streams its progress (photos done and the accuracy so far, read
from the rows stored), and the page draws the summary, the charts and the galleries the engine
returns, with the report and the Parquet rows to download. A click on a count of the confusion
matrix, or on a confidence bin, shows that cell's photos with their maps; each photo opens in
Heatmaps with its predicted class. A stopped run resumes from the photos stored when Run is clicked
again.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import streamlit as st

import vizcore
from ui import photos, runs
from ui.audit_concepts import concepts_view
from ui.audit_strategies import strategies_view
from ui.cache_keys import array_digest, model_identity
from ui.frame import page
from ui.streaming import stream
from vizcore import RequestError, audit, cam
from vizcore.atlas import model_fingerprint
from vizcore.audit import roots, store
from vizcore.audit.report import charts, gallery_picture
from vizcore.audit.summary import GALLERIES, photos_where

BATCH = 16            # photos per pass
GALLERY_COLUMNS = 4   # photos per gallery row
CELL_PHOTOS = 12      # photos shown for a clicked cell or bin
SUMMARY = "audit_summary"  # session_state: (audit folder, Summary) of the last finished run
OPEN_HEATMAPS = "audit_open_heatmaps"  # session_state: a photo was carried to Heatmaps, switch there
CARRY_PROBLEM = "audit_carry_problem"  # session_state: why a photo could not be carried


def _carry_to_heatmaps(model: str, path: str, class_index: int, method: str) -> None:
    """An "Open in Heatmaps" click's callback (it runs before the rerun): the photo becomes the session's
    working photo (kept in the server's store, as an upload is) and Heatmaps' class and method take the
    audit's, as chosen for this model and photo (so that Heatmaps does not reset them to its defaults)."""
    try:
        data = Path(path).read_bytes()
        image = photos.decode_image(data)
    except (OSError, vizcore.ImageError) as error:
        st.session_state[CARRY_PROBLEM] = f"{Path(path).name} can't be opened in Heatmaps: {error}"
        return
    stored = photos.store().put(data, Path(path).name)
    photos.choose(replace(photos.working()[1], source=photos.UPLOAD, upload=stored))
    st.session_state["heat_class"], st.session_state["heat_class_owner"] = class_index, f"{model}/{array_digest(image)}"
    if method in cam.METHODS:
        st.session_state["heat_method"] = method
    st.session_state[OPEN_HEATMAPS] = True


vm = page("Audit a photo folder", "The model across your photos: where it is wrong, whether it is "
                 "confident when wrong, where it looks. Class subfolders, a flat folder or a CSV of path,label.")
if st.session_state.pop(OPEN_HEATMAPS, False):
    st.switch_page("pages/heatmaps.py")
if problem := st.session_state.pop(CARRY_PROBLEM, None):
    st.error(problem)
try:
    allowed = roots.allowed_roots()
except RequestError as error:
    st.error(str(error))
    st.stop()
listed = ", ".join(map(str, allowed)) or "none"
typed = st.text_input("Folder on the server", placeholder=str(allowed[0]) if allowed else "",
                      help=f"Only folders under {listed} (.streamlit/vizcore.toml, [audit] roots).")
metrics = st.checkbox("Measure deletion and insertion AUC (slower)")
requested = runs.run_and_stop_buttons("audit_run", "audit_stop", "Stop: a later Run resumes where it stopped.")
if not typed:
    st.stop()
try:
    folder = roots.allowed_folder(typed, allowed)
    settings = audit.settings(vm, metrics=metrics, batch_size=BATCH)
except RequestError as error:
    st.error(str(error))
    st.stop()
out = roots.audit_dir(folder, model_fingerprint(vm))
queue = st.empty()  # the run's place in the server's run queue while it waits
bar = st.progress(0.0, text="Ready: Run audits the folder (photos stored already are not computed again).")
so_far = st.empty()  # the summary as it grows


def show(progress) -> None:
    left = f" · about {progress.seconds_left:.0f} s left" if progress.seconds_left is not None else ""
    bar.progress(progress.done / max(progress.total, 1), text=f"{progress.done}/{progress.total} photos{left}")


def grow(progress) -> None:
    """The summary so far, from the rows stored (this run's and an earlier run's)."""
    counts = store.tally(out)
    accuracy = (f"accuracy so far **{counts['correct'] / counts['labelled']:.1%}** on {counts['labelled']} "
                "labelled photos" if counts["labelled"] else "no labelled photo yet")
    skipped = f" · {counts['skipped']} skipped" if counts["skipped"] else ""
    so_far.markdown(f":material/monitoring: **{counts['stored']}** of {progress.total} photos done · "
                    f"{accuracy}{skipped}")


def work():
    stream(audit.audit(vm, folder, out, settings), show, grow)
    return audit.finish(out)


@st.cache_data(max_entries=8, show_spinner=False)
def chosen_photos(out_dir: str, stamp: float, true: str | None, predicted: str | None,
                  confidence_bin: int | None) -> list[dict]:
    """The photos of a clicked cell or bin (``stamp``: the merged rows' modification time, for the cache)."""
    folder_out = Path(out_dir)
    return photos_where(store.read_merged(folder_out), store.read_manifest(folder_out), true=true,
                        predicted=predicted, confidence_bin=confidence_bin, limit=CELL_PHOTOS)


def picked_cell(measures: dict) -> tuple[str, str] | None:
    """The confusion matrix as a table; the (true, predicted) pair of the count clicked, if any."""
    classes = measures["classes"]
    table = pd.DataFrame(measures["confusion"], index=pd.Index(classes, name="true ↓ · predicted →"), columns=classes)
    st.caption("Click a count to see its photos with their maps.")
    event = st.dataframe(table, on_select="rerun", selection_mode="single-cell", key="audit_cell")
    for row, column in event["selection"].get("cells") or []:
        if 0 <= row < len(classes) and column in classes:
            return classes[row], column
    return None


def picked_bin(reliability: dict) -> int | None:
    """The calibration bins with photos as a table; the bin of the row clicked, if any."""
    edges = reliability["bins"]
    filled = [at for at, count in enumerate(reliability["count"]) if count]
    table = pd.DataFrame({
        "confidence": [f"{edges[at]:.2f}–{edges[at + 1]:.2f}" for at in filled],
        "photos": [reliability["count"][at] for at in filled],
        "accuracy": [reliability["accuracy"][at] for at in filled],
        "mean confidence": [reliability["confidence"][at] for at in filled],
    })
    st.caption("Click a bin to see its photos.")
    event = st.dataframe(table, on_select="rerun", selection_mode="single-row", key="audit_bin", hide_index=True)
    rows = event["selection"].get("rows") or []
    return filled[rows[0]] if rows and 0 <= rows[0] < len(filled) else None


def photo_grid(entries: list[dict], root: Path, key: str, class_index) -> None:
    """Photos with their maps, each with "Open in Heatmaps" on its predicted class."""
    columns = st.columns(GALLERY_COLUMNS)
    model = model_identity(vm)
    for at, entry in enumerate(entries):
        place = columns[at % GALLERY_COLUMNS]
        wrong = entry["label"] not in (None, entry["predicted"])
        caption = entry["predicted"] + (f" (true {entry['label']}, its map on the right)" if wrong else "")
        if entry["confidence"] is not None:
            caption += f" · {entry['confidence']:.0%}"
        place.image(gallery_picture(entry, root), caption=f"{caption} · {entry['path']}")
        place.button("Open in Heatmaps", icon=":material/open_in_new:", key=f"{key}_{at}",
                     on_click=_carry_to_heatmaps,
                     args=(model, str(root / entry["path"]), class_index(entry), measures["method"]),
                     help=f"This photo on the Heatmaps page, explaining {entry['predicted']}.")


kept = st.session_state.get(SUMMARY)
summary = kept[1] if kept and kept[0] == out else None
if requested:
    try:
        finished = runs.in_turn("audit", work, queue)
    except RequestError as error:
        st.error(str(error))
        st.stop()
    if finished is not None:
        summary = finished
        st.session_state[SUMMARY] = (out, summary)
    so_far.empty()
if summary is None:
    st.stop()
measures = summary.measures
root = folder if folder.is_dir() else folder.parent
names = list(store.read_manifest(out)["classes"])
stamp = (out / store.MERGED).stat().st_mtime
cards = st.columns(4)
cards[0].metric("photos", measures["images"])
cards[1].metric("skipped", len(measures["skipped"]))
if measures.get("accuracy") is not None:
    cards[2].metric("accuracy", f"{measures['accuracy']:.1%}")
if measures.get("ece") is not None:
    cards[3].metric("ECE (15 bins)", f"{measures['ece']:.3f}")
for title, png in charts(summary):
    st.subheader(title)
    st.image(png)
    if title == "Confusion matrix" and (cell := picked_cell(measures)):
        true, predicted = cell
        shown = chosen_photos(str(out), stamp, true, predicted, None)
        st.markdown(f"**True {true}, predicted {predicted}**: {len(shown)} photo{'s' * (len(shown) != 1)}"
                    + (f" (the {CELL_PHOTOS} most confident)" if len(shown) == CELL_PHOTOS else ""))
        photo_grid(shown, root, "audit_cell_open", lambda entry: entry["pred_index"])
    single_label = measures["head"] != "multilabel"
    if title == "Calibration" and single_label and (at := picked_bin(measures["reliability"])) is not None:
        shown = chosen_photos(str(out), stamp, None, None, at)
        edges = measures["reliability"]["bins"]
        st.markdown(f"**Confidence {edges[at]:.2f}–{edges[at + 1]:.2f}**: {len(shown)} photos")
        photo_grid(shown, root, "audit_bin_open", lambda entry: entry["pred_index"])
if measures["per_class"]:
    st.subheader("Per class")
    st.dataframe(pd.DataFrame(measures["per_class"]).T, width="stretch")
for name, entries in summary.galleries.items():
    st.subheader(GALLERIES[name])
    photo_grid(entries, root, f"audit_{name}_open", lambda entry: names.index(entry["predicted"]))
for skipped in measures["skipped"]:
    st.warning(f"Skipped {skipped['path']}: {skipped['reason']}")
st.subheader("Per class: the model's strategies and concepts")
strategies_tab, concepts_tab = st.tabs(["Strategies", "Concepts"])
with strategies_tab:
    strategies_view(out, root, measures.get("classes") or names)
with concepts_tab:
    concepts_view(vm, out, root, measures.get("classes") or names)
downloads = st.columns(2)
downloads[0].download_button("report.html", (out / audit.REPORT).read_bytes(), "report.html", "text/html")
downloads[1].download_button("audit.parquet", (out / store.MERGED).read_bytes(), "audit.parquet")
