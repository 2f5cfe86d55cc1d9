"""One bounded cache per model for compiled functions and views, shared by every thread.

Compiled ``tf.function`` steps and ``keras.Model`` views are costly to build and are kept per
model; each cache is bounded (least recently used dropped first) and dies with its model
(a weak reference), so evicted models free their graphs.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable


class PerModel:
    """``cache.get(vm, key, build)``: ``build()`` once per (model, key), at most ``size`` keys a model."""

    def __init__(self, size: int):
        self.size = size
        self._entries: weakref.WeakKeyDictionary[object, OrderedDict] = weakref.WeakKeyDictionary()
        self._lock = threading.RLock()  # a build may use another key of the same cache

    def get(self, model, key: Hashable, build: Callable):
        with self._lock:
            entries = self._entries.setdefault(model, OrderedDict())
            if key not in entries:
                entries[key] = build()
            entries.move_to_end(key)
            while len(entries) > self.size:
                entries.popitem(last=False)
            return entries[key]

    def entries(self, model) -> OrderedDict:
        """The model's entries, least recently used first (for tests and introspection)."""
        with self._lock:
            return self._entries.setdefault(model, OrderedDict())
