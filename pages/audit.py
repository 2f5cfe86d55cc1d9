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
from ui import audited, photos, runs
from ui.audit_concepts import concepts_view
from ui.audit_strategies import strategies_view
from ui.cache_keys import array_digest, model_identity
from ui.frame import page
from ui.streaming import stream
from vizcore import RequestError, audit, cam
from vizcore.atlas import model_fingerprint
from vizcore.audit import roots, store, zipped
from vizcore.audit.report import charts, gallery_picture
from vizcore.audit.summary import GALLERIES, photos_where

BATCH = 16            # photos per pass
GALLERY_COLUMNS = 4   # photos per gallery row
CELL_PHOTOS = 12      # photos shown for a clicked cell or bin
SUMMARY = "audit_summary"  # session_state: (audit folder, Summary) of the last finished run
OPEN_PAGE = "audit_open_page"  # session_state: a photo was carried to this page, switch there
HEATMAPS, WHY = "pages/heatmaps.py", "pages/why.py"
CARRY_PROBLEM = "audit_carry_problem"  # session_state: why a photo could not be carried
UNPACKED = "audit_unpacked"  # session_state: (upload's file id, the folder it unpacked to)
SERVER, ZIP = "Folder on the server", "Upload a zip"


def _carry(target: str, model: str, path: str, class_index: int, method: str) -> None:
    """An "Open in Heatmaps" or "Open in Why this class?" click's callback (it runs before the rerun): the
    photo becomes the session's working photo (kept in the server's store, as an upload is) and the target
    page's class and map method take the audit's, as chosen for this model and photo (so that the page does
    not reset them to its defaults)."""
    try:
        data = Path(path).read_bytes()
        image = photos.decode_image(data)
    except (OSError, vizcore.ImageError) as error:
        st.session_state[CARRY_PROBLEM] = f"{Path(path).name} can't be opened: {error}"
        return
    stored = photos.store().put(data, Path(path).name)
    photos.choose(replace(photos.working()[1], source=photos.UPLOAD, upload=stored))
    owner = f"{model}/{array_digest(image)}"
    if target == HEATMAPS:
        st.session_state["heat_class"], st.session_state["heat_class_owner"] = class_index, owner
        if method in cam.METHODS:
            st.session_state["heat_method"] = method
    else:
        st.session_state["why_class"], st.session_state["why_class_owner"] = class_index, owner
        st.session_state["why_contrast"], st.session_state["why_contrast_owner"] = -1, owner
        st.session_state["why_map_method"] = method
    st.session_state[OPEN_PAGE] = target


vm = page("Audit a photo folder", "The model across your photos: where it is wrong, whether it is "
                 "confident when wrong, where it looks. Class subfolders, a flat folder or a CSV of path,label.")
if target := st.session_state.pop(OPEN_PAGE, None):
    st.switch_page(target)
if problem := st.session_state.pop(CARRY_PROBLEM, None):
    st.error(problem)


def folder_on_the_server(allowed: tuple[Path, ...]) -> Path | None:
    """A folder typed by the user, if it lies under the server's roots (refused in words otherwise)."""
    listed = ", ".join(map(str, allowed)) or "none"
    typed = st.text_input("Folder on the server", placeholder=str(allowed[0]) if allowed else "",
                          help=f"Only folders under {listed} (.streamlit/vizcore.toml, [audit] roots).")
    return roots.allowed_folder(typed, allowed) if typed else None


def uploaded_zip() -> Path | None:
    """The folder an uploaded zip unpacked to (once per upload), or None before one is uploaded."""
    bounds = runs.limits()
    upload = st.file_uploader("Zip of photos", type="zip", key="audit_zip", max_upload_size=bounds.zip_mb,
                              help=f"Class subfolders, a flat folder or a CSV of path,label, zipped: at most "
                                   f"{bounds.zip_photos} photos and {bounds.zip_mb} MB.")
    if upload is None:
        return None
    kept = st.session_state.get(UNPACKED)
    if kept is None or kept[0] != upload.file_id:
        with st.spinner(f"Unpacking {upload.name}…"):
            unpacked = zipped.unpack(upload.getvalue(), roots.unpacked_dir(), bounds)
        st.session_state[UNPACKED] = (upload.file_id, unpacked)
    return st.session_state[UNPACKED][1]


try:
    allowed = roots.allowed_roots()
except RequestError as error:
    st.error(str(error))
    allowed = ()
source = st.radio("Photos", [SERVER, ZIP], index=0 if allowed else 1, horizontal=True, key="audit_source",
                  help="A folder the server lists, or a zip you upload.")
folder, problem = None, None
try:
    folder = uploaded_zip() if source == ZIP else folder_on_the_server(allowed)
except RequestError as error:
    problem = str(error)
metrics = st.checkbox("Measure deletion and insertion AUC (slower)")
requested = runs.run_and_stop_buttons("audit_run", "audit_stop", "Stop: a later Run resumes where it stopped.")
if problem:
    st.error(problem)
if folder is None:
    st.stop()
try:
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


def tally_line(total: int | None = None) -> str | None:
    """Photos stored so far (this run's and an earlier run's), the accuracy on them and the skipped; None
    before any is stored."""
    counts = store.tally(out)
    if not counts["stored"]:
        return None
    accuracy = (f"accuracy so far **{counts['correct'] / counts['labelled']:.1%}** on {counts['labelled']} "
                "labelled photos" if counts["labelled"] else "no labelled photo yet")
    skipped = f" · {counts['skipped']} skipped" if counts["skipped"] else ""
    of = f" of {total}" if total else ""
    return f":material/monitoring: **{counts['stored']}**{of} photos done · {accuracy}{skipped}"


def grow(progress) -> None:
    """The summary so far, from the rows stored."""
    so_far.markdown(tally_line(progress.total) or "")


def finished_stamp(out_dir: Path) -> float | None:
    """The merged rows' time when they hold every part stored (a finished audit); None otherwise."""
    merged = out_dir / store.MERGED
    if not merged.is_file():
        return None
    stamp = merged.stat().st_mtime
    parts = out_dir / "parts"
    newer = parts.is_dir() and any(part.stat().st_mtime > stamp for part in parts.glob("*.parquet"))
    return None if newer else stamp


@st.cache_data(max_entries=4, show_spinner="Reading the earlier audit…")
def earlier_summary(out_dir: str, stamp: float) -> audit.Summary:
    """The summary of an audit finished earlier (``stamp``: its merged rows' time, for the cache)."""
    return audit.finish(Path(out_dir), merge=False)


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
    """Photos with their maps, each opening in Heatmaps or Why this class? on its predicted class."""
    columns = st.columns(GALLERY_COLUMNS)
    model = model_identity(vm)
    for at, entry in enumerate(entries):
        place = columns[at % GALLERY_COLUMNS]
        wrong = entry["label"] not in (None, entry["predicted"])
        caption = entry["predicted"] + (f" (true {entry['label']}, its map on the right)" if wrong else "")
        if entry["confidence"] is not None:
            caption += f" · {entry['confidence']:.0%}"
        place.image(gallery_picture(entry, root), caption=f"{caption} · {entry['path']}")
        carried = (model, str(root / entry["path"]), class_index(entry), measures["method"])
        place.button("Open in Heatmaps", icon=":material/open_in_new:", key=f"{key}_{at}", on_click=_carry,
                     args=(HEATMAPS, *carried), help=f"This photo on Heatmaps, explaining {entry['predicted']}.")
        place.button("Open in Why this class?", icon=":material/psychology_alt:", key=f"{key}_why_{at}",
                     on_click=_carry, args=(WHY, *carried),
                     help=f"Which learned features made {entry['predicted']}, on the Why page.")


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
if summary is None and (stamp := finished_stamp(out)) is not None:  # audited before: shown without a Run
    summary = earlier_summary(str(out), stamp)
if summary is None:
    if line := tally_line():  # a stopped (or cut-off) run: what is stored stays, and Run goes on from it
        so_far.markdown(f"{line} · :material/pause_circle: stopped: **Run** resumes here, without computing "
                        "these photos again.")
    st.stop()
measures = summary.measures
root = folder if folder.is_dir() else folder.parent
audited.remember(out, root)  # the Why page's example photos, from now on
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
