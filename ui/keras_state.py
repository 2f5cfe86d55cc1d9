"""Keras' global state kept across script runs: Streamlit would clear it after every run of every session.

After each script run, Streamlit's script runner calls ``keras.backend.clear_session()`` if Keras
is imported (``_clean_problem_modules`` in ``streamlit/runtime/scriptrunner/script_runner.py``),
for scripts that build a new model on every run. The app builds its models once per process and
shares them between sessions, so here the call only costs:

* a full garbage collection of a heap that holds the models: 0.3–1.9 s each, measured with 16
  sessions (``VIZCORE_TIMELINE``), during which every thread of the server stops, the other
  sessions' maps and streams included; a class's reruns made it a third of the server's time;
* TensorFlow's eager kernel cache, dropped: the next prediction builds its kernels again;
* Keras' global state replaced under whichever thread is building a view at that moment.

:func:`keep` makes ``keras.backend.clear_session`` (the name Streamlit calls) do nothing in this
process, once Keras is imported; ``keras.utils.clear_session`` is left as Keras made it, for
anyone who means to clear. This module is the one place the app changes a framework's behaviour.
"""

from __future__ import annotations

import sys


def _kept(*args, **kwargs) -> None:
    """In place of ``keras.backend.clear_session`` (see the module): the state is kept."""


def keep() -> bool:
    """Stop Streamlit's after-run ``clear_session`` in this process. Cheap and idempotent; does nothing
    (False) until something has imported Keras, so the app never imports TensorFlow for it."""
    keras = sys.modules.get("keras")
    if keras is None:
        return False
    keras.backend.clear_session = _kept
    return True


def kept() -> bool:
    """True once :func:`keep` has taken effect."""
    keras = sys.modules.get("keras")
    return keras is not None and keras.backend.clear_session is _kept
