"""Audit: the picked model across a folder of photos on the server: accuracy, calibration, maps, galleries.

Thin: the folder is typed (and must lie under the server's ``[audit] roots``), ``vizcore.audit`` runs
in its turn of the run queue and streams its progress, and the page draws the summary, the charts
and the galleries the engine returns, with the report and the Parquet rows to download. A stopped
run resumes from the photos stored when Run is clicked again.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import runs
from ui.frame import page
from ui.streaming import stream
from vizcore import RequestError, audit
from vizcore.atlas import model_fingerprint
from vizcore.audit import roots, store
from vizcore.audit.report import charts, gallery_picture
from vizcore.audit.summary import GALLERIES

BATCH = 16            # photos per pass
GALLERY_COLUMNS = 4   # photos per gallery row
SUMMARY = "audit_summary"  # session_state: (audit folder, Summary) of the last finished run

vm = page("Audit a photo folder", "The model across your photos: where it is wrong, whether it is "
                 "confident when wrong, where it looks. Class subfolders, a flat folder or a CSV of path,label.")
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
bar = st.progress(0.0, text="Ready: Run audits the folder (photos stored already are not computed again).")


def show(progress) -> None:
    left = f" · about {progress.seconds_left:.0f} s left" if progress.seconds_left is not None else ""
    bar.progress(progress.done / max(progress.total, 1), text=f"{progress.done}/{progress.total} photos{left}")


def work():
    stream(audit.audit(vm, folder, out, settings), show, lambda progress: None)
    return audit.finish(out)


kept = st.session_state.get(SUMMARY)
summary = kept[1] if kept and kept[0] == out else None
if requested:
    try:
        summary = runs.in_turn("audit", work)
    except RequestError as error:
        st.error(str(error))
        st.stop()
    st.session_state[SUMMARY] = (out, summary)
if summary is None:
    st.stop()
measures = summary.measures
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
if measures["per_class"]:
    st.subheader("Per class")
    st.dataframe(pd.DataFrame(measures["per_class"]).T, width="stretch")
root = folder if folder.is_dir() else folder.parent
for name, entries in summary.galleries.items():
    st.subheader(GALLERIES[name])
    columns = st.columns(GALLERY_COLUMNS)
    for at, entry in enumerate(entries):
        wrong = entry["label"] not in (None, entry["predicted"])
        caption = entry["predicted"] + (f" (true {entry['label']}, its map on the right)" if wrong else "")
        columns[at % GALLERY_COLUMNS].image(gallery_picture(entry, root), caption=f"{caption} · {entry['path']}")
for skipped in measures["skipped"]:
    st.warning(f"Skipped {skipped['path']}: {skipped['reason']}")
downloads = st.columns(2)
downloads[0].download_button("report.html", (out / audit.REPORT).read_bytes(), "report.html", "text/html")
downloads[1].download_button("audit.parquet", (out / store.MERGED).read_bytes(), "audit.parquet")
