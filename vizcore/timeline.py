"""Where a server's time goes: timestamped events, one JSON line each, when VIZCORE_TIMELINE names a file.

Off (no file named) every call returns at once and writes nothing. On, the app and the engine mark
what a session waits on: its script's start and end, a model loading, a compiled step tracing, a
long run pausing for short work, a map, a set of metrics. ``bench/timeline.py`` reads the file
back as one line per session, so a slow page shows which of these it waited on.

    VIZCORE_TIMELINE=/tmp/timeline.jsonl streamlit run app.py
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

_lock = threading.Lock()
_local = threading.local()  # .session: the session a thread works for (set by the app per script run)


def path() -> str | None:
    """The file events go to, or None (off)."""
    return os.environ.get("VIZCORE_TIMELINE") or None


def enabled() -> bool:
    return path() is not None


def mark(event: str, **fields: Any) -> None:
    """Note ``event`` now, with the thread and session that noted it (nothing when off)."""
    target = path()
    if target is None:
        return
    record = {
        "t": round(time.time(), 4),
        "event": event,
        "thread": threading.current_thread().name,
        "session": getattr(_local, "session", None),
        **fields,
    }
    line = json.dumps(record, default=str)
    with _lock, open(target, "a") as out:
        out.write(line + "\n")


@contextlib.contextmanager
def span(event: str, **fields: Any) -> Iterator[None]:
    """Note the start and the end of a block (the end with its seconds)."""
    if path() is None:
        yield
        return
    start = time.perf_counter()
    mark(f"{event} start", **fields)
    try:
        yield
    finally:
        mark(f"{event} end", seconds=round(time.perf_counter() - start, 3), **fields)


@contextlib.contextmanager
def session(name: str | None) -> Iterator[None]:
    """The events this thread notes in the block belong to session ``name``."""
    previous = getattr(_local, "session", None)
    _local.session = name
    try:
        yield
    finally:
        _local.session = previous
