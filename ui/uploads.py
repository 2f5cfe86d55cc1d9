"""Uploaded model files on the server's disk (photos: ``ui.photos``): hashed once, stored once per content,
within a budget.

An upload is hashed once (per uploader file id) and copied to a folder named by its digest, where
the file keeps the user's name, which messages show. Old uploads go first when the
``kept_models_mb`` budget of the server's limits is spent.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from pathlib import Path

import streamlit as st

from ui import runs
from vizcore.photo_store import safe_name

HASH_CHUNK = 16 * 2**20                # bytes hashed at a time


def uploads_dir() -> Path:
    """Where the server keeps what users upload: models (here) and photos (``ui.photos``)."""
    from vizcore.models import weights_cache_dir
    return weights_cache_dir() / "uploads"


def stored_upload(upload, suffix: str) -> tuple[Path, str]:
    """(cache file, sha256) of an uploaded file: hashed once per upload, written once per content, as
    ``uploads/models/<digest>/<the user's file name>`` so that every message names the file as the user did."""
    known = st.session_state.get(f"_digest_{suffix}")
    if known and known[0] == upload.file_id:
        digest = known[1]
    else:
        digest = sha256(upload.getbuffer())
        st.session_state[f"_digest_{suffix}"] = (upload.file_id, digest)
    folder = uploads_dir() / "models" / digest
    path = folder / safe_name(upload.name)
    kept = [other for other in folder.glob("*") if other.suffix.lower() == suffix] if folder.is_dir() else []
    if kept:
        if not path.exists():  # the same file uploaded under another name: messages name it as uploaded now
            with contextlib.suppress(FileExistsError):
                os.link(kept[0], path)
        os.utime(folder)  # recently used: kept longest
        return path, digest
    folder.mkdir(parents=True, exist_ok=True)  # first time, or removed to make room: written again from the session
    partial = folder / f".{os.getpid()}.partial"
    partial.write_bytes(upload.getbuffer())
    os.replace(partial, path)
    forget_old_uploads()
    return path, digest


def sha256(buffer) -> str:
    digest, view = hashlib.sha256(), memoryview(buffer)
    for start in range(0, len(view), HASH_CHUNK):
        digest.update(view[start:start + HASH_CHUNK])
    return digest.hexdigest()


def forget_old_uploads() -> None:
    """Keep model uploads on disk within the ``kept_models_mb`` budget of the server's limits, the least
    recently used removed first and the newest always kept (a loaded model no longer needs its file)."""
    folders = sorted((path for path in (uploads_dir() / "models").glob("*") if path.is_dir()),
                     key=lambda path: path.stat().st_mtime, reverse=True)
    budget, used = runs.limits().kept_models_mb * 2**20, 0
    for number, folder in enumerate(folders):
        used += sum(file.stat().st_size for file in folder.glob("*") if file.is_file())
        if number and used > budget:
            shutil.rmtree(folder, ignore_errors=True)


def file_identity(path: Path) -> str:
    """Changes when the file is replaced: its path, size and modification time."""
    if not path.is_file():
        return f"{path}:missing"
    stat = path.stat()
    return f"{path}:{stat.st_size}:{stat.st_mtime_ns}"
