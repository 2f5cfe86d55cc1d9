"""The one place that reaches into Streamlit's runtime: which session a script runs for, and whether
its browser tab is still open (a closed tab's queued and running work is cancelled)."""
from __future__ import annotations

from collections.abc import Callable

from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

NO_SESSION = "no session"  # a script run outside a server's session (a bare AppTest)


def session_id() -> str:
    context = get_script_run_ctx()
    return context.session_id if context is not None else NO_SESSION


def alive_check() -> Callable[[], bool]:
    """A function that says whether this session is still connected (always True without a server)."""
    identity = session_id()
    if not runtime.exists() or identity == NO_SESSION:
        return lambda: True
    server = runtime.get_instance()
    return lambda: server.is_active_session(identity)
