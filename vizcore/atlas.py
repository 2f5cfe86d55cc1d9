"""A disk cache of finished filter runs: an atlas of the model on the user's own machine.

A run is keyed by the model (its name and a digest of its weights), the layer, the filter
indices and the resolved :class:`vizcore.filters.AscentSettings` (mode, steps, lr, size, seed), and
stored as one ``.npz`` under ``weights_cache_dir() / "atlas" / MODEL / LAYER / SETTINGS``. A layer
computed once (on the Filters page, by ``vizcore filters`` or ``vizcore atlas``) shows at once after
a restart, and so does any part of it: filters 0–15 are served from a stored 0–63. Runs without a
seed are random, so they are neither looked up nor stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import weakref
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from . import filters as filters_module
from .filters import AscentSettings, FilterFrame
from .live import LiveSettings
from .models import VizModel, weights_cache_dir

FORMAT = 4  # bump whenever the algorithm changes the pixels a run produces

_FINGERPRINTS: weakref.WeakKeyDictionary[VizModel, str] = weakref.WeakKeyDictionary()
_WEIGHTS_DIGESTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # keras.Model → digest
_LOCK = threading.Lock()


def atlas_dir() -> Path:
    """Where finished runs live: ``$VIZCORE_CACHE_DIR/atlas`` or the user cache."""
    return weights_cache_dir() / "atlas"


def model_fingerprint(vm: VizModel) -> str:
    """A digest of the model's name, input scaling and weights (the weights hashed once per Keras model,
    so a user's model opened again with other settings is not hashed again)."""
    with _LOCK:
        if vm not in _FINGERPRINTS:
            if vm.keras not in _WEIGHTS_DIGESTS:
                digest = hashlib.sha256()
                for weight in vm.keras.weights:
                    digest.update(weight.path.encode())
                    digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
                _WEIGHTS_DIGESTS[vm.keras] = digest.hexdigest()
            identity = f"{vm.name}|{vm.scaling}|{_WEIGHTS_DIGESTS[vm.keras]}"
            _FINGERPRINTS[vm] = hashlib.sha256(identity.encode()).hexdigest()[:20]
        return _FINGERPRINTS[vm]


def _request(vm: VizModel, layer: str, filters: Sequence[int], ascent_settings: AscentSettings) -> dict:
    return {**_settings_request(vm, layer, ascent_settings), "filters": [int(i) for i in filters]}


def _settings_request(vm: VizModel, layer: str, ascent_settings: AscentSettings) -> dict:
    """What every image of a run depends on besides its own filter (the model, layer and settings)."""
    return {
        "format": FORMAT,
        "model": vm.name,
        "weights": model_fingerprint(vm),
        "layer": layer,
        **ascent_settings._asdict(),
    }


def _digest(request: dict, length: int) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:length]


def layer_dir(vm: VizModel, layer: str, ascent_settings: AscentSettings) -> Path:
    """The folder of every stored run of one layer with these settings (any filters)."""
    settings_key = _digest(_settings_request(vm, layer, ascent_settings), 16)
    return atlas_dir() / _safe(vm.name) / _safe(layer) / settings_key


def run_path(vm: VizModel, layer: str, filters: Sequence[int], ascent_settings: AscentSettings) -> Path:
    """The file a run is stored in."""
    return layer_dir(vm, layer, ascent_settings) / f"{_digest(_request(vm, layer, filters, ascent_settings), 24)}.npz"


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", name) or "_"


FIELDS = ("images", "activations", "dead", "history", "initial")  # per filter: along axis 0 (history: axis 1)
_UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)  # missing, half-written or corrupt


def load(vm: VizModel, layer: str, filters: Sequence[int], ascent_settings: AscentSettings) -> FilterFrame | None:
    """The stored final frame of these filters (``cached=True``), or None.

    Each filter's image depends only on the model, layer, settings and its own index (its start is
    seeded by (seed, filter) and every image of a batch gets the same transforms), so the frame is
    put together from any stored runs of the layer with these settings: a grid of filters 0–15 is
    served from a stored 0–63, or from 0–7 and 8–15.
    """
    if ascent_settings.seed is None:
        return None
    filters = [int(i) for i in filters]
    exact = _read(run_path(vm, layer, filters, ascent_settings), _request(vm, layer, filters, ascent_settings))
    if exact is not None:
        return _frame(exact, filters, ascent_settings)
    found: dict[int, tuple[Path, int]] = {}
    for path in sorted(layer_dir(vm, layer, ascent_settings).glob("[!.]*.npz")):
        for position, index in enumerate(_stored_filters(path, vm, layer, ascent_settings)):
            found.setdefault(index, (path, position))
        if all(index in found for index in filters):
            return _frame(_gathered(filters, found), filters, ascent_settings)
    return None


def _stored_filters(path: Path, vm: VizModel, layer: str, ascent_settings: AscentSettings) -> list[int]:
    """The filters a stored run holds (none if it is unreadable or of other settings)."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            request = json.loads(str(stored["request"]))
    except _UNREADABLE:
        return []
    wanted = _settings_request(vm, layer, ascent_settings)
    if {key: request.get(key) for key in wanted} != wanted:
        return []
    return [int(i) for i in request.get("filters", [])]


def _read(path: Path, request: dict) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as stored:
            if json.loads(str(stored["request"])) != request:
                return None
            return {field: stored[field] for field in FIELDS}
    except _UNREADABLE:
        return None


def _gathered(filters: list[int], found: dict[int, tuple[Path, int]]) -> dict | None:
    """The stored arrays of each filter, in the order asked, read from the runs that hold them."""
    runs: dict[Path, dict] = {}
    for path, _ in found.values():
        if path not in runs:
            try:
                with np.load(path, allow_pickle=False) as stored:
                    runs[path] = {field: stored[field] for field in FIELDS}
            except _UNREADABLE:
                return None
    picked = [runs[found[index][0]] for index in filters]
    positions = [found[index][1] for index in filters]
    gathered = {
        field: np.stack([run[field][position] for run, position in zip(picked, positions)])
        for field in FIELDS
        if field != "history"
    }
    gathered["history"] = np.stack([run["history"][:, position] for run, position in zip(picked, positions)], axis=1)
    return gathered


def _frame(arrays: dict | None, filters: list[int], ascent_settings: AscentSettings) -> FilterFrame | None:
    if arrays is None:
        return None
    return FilterFrame(
        ascent_settings.steps,
        ascent_settings.steps,
        arrays["images"],
        arrays["activations"],
        arrays["dead"],
        arrays["history"],
        arrays["initial"],
        tuple(filters),
        cached=True,
    )


def save(vm: VizModel, layer: str, ascent_settings: AscentSettings, frame: FilterFrame) -> Path | None:
    """Store a finished run (written to a temporary file, then renamed); None if it has no seed."""
    if ascent_settings.seed is None or not frame.done:
        return None
    path = run_path(vm, layer, frame.filters, ascent_settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.npz")
    with open(partial, "wb") as file:
        np.savez_compressed(
            file,
            request=json.dumps(_request(vm, layer, frame.filters, ascent_settings)),
            images=frame.images,
            activations=frame.activations,
            dead=frame.dead,
            history=frame.history,
            initial=np.asarray(frame.initial),
        )
    os.replace(partial, path)
    return path


def visualize(
    vm: VizModel,
    layer: str,
    filters: Sequence[int],
    *,
    mode: str = "classic",
    steps: int | None = None,
    lr: float | None = None,
    size: int | None = None,
    seed: int | None = None,
    every: int = 1,
    use_cache: bool = True,
    live: LiveSettings | None = None,
) -> Iterator[FilterFrame]:
    """:func:`vizcore.filters.visualize` through the cache: a stored run is one cached frame.

    A run that finishes is stored; a run stopped early, or whose lr was changed live (``live``, as
    in :func:`vizcore.filters.visualize`), is not: its images are not those of its settings.

    Raises:
        RequestError: as :func:`vizcore.filters.visualize`, before any work.
    """
    filters = filters_module.check_filters(vm, layer, filters)
    ascent_settings = filters_module.settings(vm, mode, steps=steps, lr=lr, size=size, seed=seed)
    cached = load(vm, layer, filters, ascent_settings) if use_cache else None
    if cached is not None:
        return iter([cached])
    frames = filters_module.visualize(
        vm,
        layer,
        filters,
        mode=ascent_settings.mode,
        steps=ascent_settings.steps,
        lr=ascent_settings.lr,
        size=ascent_settings.size,
        seed=ascent_settings.seed,
        every=every,
        live=live,
    )
    return _storing(vm, layer, ascent_settings, frames, live)


def _storing(
    vm: VizModel, layer: str, ascent_settings: AscentSettings, frames: Iterator[FilterFrame], live: LiveSettings | None
) -> Iterator[FilterFrame]:
    for frame in frames:
        if frame.done and not (live is not None and live.changes):
            save(vm, layer, ascent_settings, frame)
        yield frame
