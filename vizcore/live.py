"""Settings a running loop reads between its steps while someone else changes them: a run tweaked live.

A long run (a dream, a filter grid) is a generator that takes many steps. Its caller (the app's
page, reading its widgets) may change some of its settings while it runs: the learning rate, the
layer mix, the steps. :class:`LiveSettings` is the thread-safe holder between the two. The engine
calls :meth:`LiveSettings.begin` with the run's starting values and a check, and
:meth:`LiveSettings.take` before every step; the caller calls :meth:`LiveSettings.update`, which
checks the new values at once (a bad one raises :class:`~vizcore.errors.RequestError` and changes
nothing) and hands them to the loop's next step. Each change is recorded with the step that first
used it (:class:`Change`), so a chart can mark where it happened.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple


class Change(NamedTuple):
    """A setting changed during a run."""

    step: int  # the first step (counted over the whole run, from 1) that used the new value
    name: str
    value: Any
    previous: Any


class LiveSettings:
    """A run's settings, changed by one thread and read by the run's loop between its steps."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, Any] | None = None  # in use by the loop
        self._pending: dict[str, Any] = {}  # asked for, not yet taken by a step
        self._changes: list[Change] = []
        self._check: Callable[[Mapping[str, Any]], None] = lambda values: None

    def begin(
        self, values: Mapping[str, Any], check: Callable[[Mapping[str, Any]], None], *, checked: bool = False
    ) -> None:
        """Start a run at ``values``; ``check(values)`` raises RequestError for values it cannot take (the
        values of a request checked already, ``checked``, are not checked again; later updates are)."""
        if not checked:
            check(values)
        with self._lock:
            self._values, self._pending, self._changes, self._check = dict(values), {}, [], check

    @property
    def started(self) -> bool:
        return self._values is not None

    def update(self, **values: Any) -> list[str]:
        """Ask for ``values`` from the run's next step on; returns the names of those that change.

        Raises:
            RequestError: the settings with these values are not valid (nothing is changed).
            RuntimeError: the run has not begun (no values to change yet).
        """
        with self._lock:
            if self._values is None:
                raise RuntimeError("the run has not begun: its settings cannot change yet")
            unknown = set(values) - set(self._values)
            if unknown:
                raise KeyError(f"not a live setting of this run: {', '.join(sorted(unknown))}")
            wanted = {**self._values, **self._pending, **values}
            if wanted == {**self._values, **self._pending}:
                return []
            self._check(wanted)
            self._pending = {name: value for name, value in wanted.items() if value != self._values[name]}
            return [name for name in values if values[name] != self._values[name]]

    def take(self, step: int) -> dict[str, Any]:
        """The values for ``step`` (counted over the whole run, from 1): the changes asked for so far
        take effect here and are recorded."""
        with self._lock:
            if self._values is None:
                raise RuntimeError("the run has not begun")
            for name, value in self._pending.items():
                self._changes.append(Change(step, name, value, self._values[name]))
            self._values.update(self._pending)
            self._pending = {}
            return dict(self._values)

    @property
    def values(self) -> dict[str, Any]:
        """The values the loop uses now (not those still waiting for its next step)."""
        with self._lock:
            return dict(self._values or {})

    @property
    def changes(self) -> list[Change]:
        """Every change so far, in the order the steps took them."""
        with self._lock:
            return list(self._changes)
