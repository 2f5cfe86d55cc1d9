"""Values kept in memory within a budget of bytes, least recently used dropped first.

A server where every student brings a model keeps those models (and what is compiled for them)
within :class:`MemoryBudget`: each value is built once however many threads ask for it at once,
counted at the size its ``size`` function gives, and the least recently used values are dropped
once the total is over the budget (the value just asked for is always kept, even alone over it).
``builds`` and ``drops`` count what the budget cost, for benches and the app's status.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Value = TypeVar("Value")


class MemoryBudget(Generic[Value]):
    """``budget.get(key, build, size)``: ``build()`` once per key while it is kept, within ``limit`` bytes."""

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError("a memory budget holds at least one byte")
        self.limit = limit
        self._values: OrderedDict[Hashable, tuple[Value, int]] = OrderedDict()
        self._building: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()
        self.builds = 0
        self.drops = 0

    def get(self, key: Hashable, build: Callable[[], Value], size: Callable[[Value], int]) -> Value:
        """The value for ``key``, built (and sized) if it is not kept; others may be dropped to make room."""
        while True:
            with self._lock:
                if key in self._values:
                    self._values.move_to_end(key)
                    return self._values[key][0]
                building = self._building.get(key)
                if building is None:  # this thread builds it; others asking for it wait below
                    building = self._building[key] = threading.Lock()
                    building.acquire()
                    break
            with building:  # another thread builds it: wait, then look again
                pass
        try:
            value = build()
            with self._lock:
                self.builds += 1
                self._values[key] = (value, max(int(size(value)), 0))
                self._make_room(keep=key)
            return value
        finally:
            with self._lock:
                del self._building[key]
            building.release()

    def _make_room(self, keep: Hashable) -> None:
        while self.used > self.limit and len(self._values) > 1:
            oldest = next(iter(self._values))
            if oldest == keep:
                self._values.move_to_end(oldest)
                continue
            del self._values[oldest]
            self.drops += 1

    @property
    def used(self) -> int:
        """Bytes counted for the values kept."""
        return sum(bytes_ for _, bytes_ in list(self._values.values()))

    def keys(self) -> list[Hashable]:
        """The keys kept, least recently used first."""
        with self._lock:
            return list(self._values)
