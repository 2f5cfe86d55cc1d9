"""Streaming a run: every frame kept, a frame drawn at most every ``REDRAW_SECONDS``, the last always.

The engine's loops yield frames and never touch a widget; ``stream`` is the one place a page turns
them into drawing, so that a fast loop never waits on the browser and Stop leaves the frames made.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TypeVar

REDRAW_SECONDS = 0.25                  # a stream is drawn at most this often (its last frame always)

Frame = TypeVar("Frame")


def stream(frames: Iterable[Frame], keep: Callable[[Frame], None], draw: Callable[[Frame], None],
           seconds: float = REDRAW_SECONDS, *, close: bool = True) -> None:
    """Keep every frame of a run; draw one at most every ``seconds``, and always the last.

    ``keep`` stores the frame (in the session, so that Stop leaves it behind) and may update cheap
    widgets; ``draw`` redraws the costly ones (images), so a fast loop never waits on the browser.
    The frames' generator is closed however the loop ends (Stop, a closed tab), so its run ends too;
    with ``close=False`` an interrupted generator is left as it is, for the next script run to go on
    with (a run tweaked live: the page keeps it in session_state and ends it itself).
    """
    drawn_at, undrawn = float("-inf"), None
    running = iter(frames)
    try:
        for frame in running:
            keep(frame)
            undrawn = frame
            if time.perf_counter() - drawn_at >= seconds:
                draw(frame)
                drawn_at, undrawn = time.perf_counter(), None
    finally:
        end = getattr(running, "close", None) if close else None  # a generator: its run ends here (Stop)
        if end is not None:
            end()
    if undrawn is not None:
        draw(undrawn)
