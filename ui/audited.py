"""The folder this session audited last: the Why page takes its example patches from its photos.

The Audit page remembers the audit folder it shows (:func:`remember`); the Why page asks for its
photos (:func:`photos`) and offers them instead of the bundled samples.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

import vizcore
from vizcore import audit, examples

KEY = "audited_folder"  # session_state: (the audit folder, the photo folder it read)


def remember(out: Path, folder: Path) -> None:
    st.session_state[KEY] = (out, folder)


@st.cache_data(max_entries=4, show_spinner=False)
def _photos(out: str, stamp: float) -> list[Path]:
    return audit.audited_photos(out, examples.MAX_AUDITED)


def photos() -> tuple[Path, list[Path]] | None:
    """(the audited photo folder, up to ``examples.MAX_AUDITED`` of its photos), or None when this
    session has audited nothing (or its audit folder is gone)."""
    kept = st.session_state.get(KEY)
    if kept is None:
        return None
    out, folder = kept
    try:
        found = _photos(str(out), (out / audit.store.MERGED).stat().st_mtime)
    except (OSError, vizcore.VizcoreError):
        return None
    return (folder, found) if found else None
