"""Long runs on a shared server: the Run and Stop buttons, the server's limits, the run queue.

A long run (a grid, a dream, a ranking) starts from ``run_button`` (a click that survives a rerun)
and runs in its turn (``in_turn``): one run per user and page, as many at once as the server's
limits (``vizcore.limits``, read once per process) allow, short work first.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Literal, TypeVar

import streamlit as st

import vizcore

OWNER = "_run_owner"                   # session_state: this session's id in the run queue
WAIT_REDRAW_SECONDS = 1.5              # a queued run's place is redrawn at least this often (Stop answers then)

Result = TypeVar("Result")


# --- Run and Stop --------------------------------------------------------------------------------

def run_button(place, label: str, key: str, **options) -> bool:
    """A button that starts a run; True in the rerun that its click started.

    Its callback sets a flag in the session, read and cleared here, so a click survives a rerun
    that comes before the page draws the button (a plain button's True would be lost).

    Args:
        place: where to draw it (``st``, a column, a container); options: ``st.button``'s.
    """
    requested = f"{key}_requested"
    place.button(label, key=key, on_click=_set_flag, args=(requested,), **options)
    return st.session_state.pop(requested, False)


def run_and_stop_buttons(run_key: str, stop_key: str, stop_help: str, *, in_columns: bool = False,
                         disabled: bool = False, run_help: str | None = None) -> bool:
    """Run and Stop side by side; True in the rerun that a click on Run started.

    Stop needs no code: its click reruns the script, which interrupts a stream, and the page then
    draws the frame the stream had reached.

    Args:
        in_columns: the two buttons in two equal columns, each as wide as its column.
    """
    run_place, stop_place = st.columns(2) if in_columns else [st.container(horizontal=True)] * 2
    width: Literal["stretch", "content"] = "stretch" if in_columns else "content"
    requested = run_button(run_place, "Run", run_key, type="primary", icon=":material/play_arrow:", width=width,
                           disabled=disabled, help=run_help)
    stop_place.button("Stop", icon=":material/stop:", key=stop_key, width=width, help=stop_help)
    return requested


def _set_flag(key: str) -> None:
    st.session_state[key] = True


# --- sharing the server: long runs take turns, short work goes first ------------------------------

@st.cache_resource(show_spinner=False)
def server_limits():
    """The limits of this server (``vizcore.limits``), read once per process; the run queue sized by them."""
    from vizcore import limits, scheduler
    try:
        chosen, problem = limits.read(), None
    except vizcore.RequestError as error:
        chosen, problem = limits.Limits(), f"{error} The default limits apply."
    scheduler.configure(chosen.runs_at_once, chosen.queue_length)
    return chosen, problem


def limits():
    """This server's limits (``vizcore.limits.Limits``)."""
    return server_limits()[0]


def limits_problem() -> None:
    """In the sidebar, under the model picker: what is wrong with the limits file, if anything."""
    problem = server_limits()[1]
    if problem:
        st.sidebar.error(problem)


def in_turn(page_name: str, work: Callable[[], Result], place=None) -> Result | None:
    """Run ``work`` (a long run: a grid, a dream, a ranking) in its turn of the server's run queue.

    While it waits, ``place`` (default: a placeholder here) tells the user how many runs are ahead
    (redrawn when that changes and every WAIT_REDRAW_SECONDS, which lets Stop and other widgets
    interrupt the wait). One run
    per user and page: a new one replaces the old. A closed tab ends the run at its next drawn
    frame or redrawn place: Streamlit stops a disconnected session's script at its next ``st`` call.
    Returns what ``work`` returned; None after an st.error for a full queue, or when the run was
    cancelled.
    """
    from vizcore import scheduler
    server_limits()
    place = place if place is not None else st.empty()
    shown = {"ahead": None, "at": 0.0}

    def waiting(ahead: int) -> None:
        if ahead == shown["ahead"] and time.monotonic() - shown["at"] < WAIT_REDRAW_SECONDS:
            return  # a class of waiting users costs the server and their browsers little
        shown.update(ahead=ahead, at=time.monotonic())
        runs = "run is" if ahead == 1 else "runs are"
        place.info(f":material/hourglass_top: Waiting for your turn: {ahead} {runs} ahead of you. It starts on "
                   "its own; Stop leaves the line.")

    try:
        with scheduler.process_queue().turn(session_owner(), page_name, on_wait=waiting):
            place.empty()
            return work()
    except scheduler.QueueFull as error:
        place.empty()
        st.error(str(error))  # here, not in the placeholder, which the page may fill again
    except scheduler.Cancelled:
        pass
    return None


def session_owner() -> str:
    """Who a run belongs to in the queue: this browser session (an id kept in its session_state)."""
    return st.session_state.setdefault(OWNER, uuid.uuid4().hex)
