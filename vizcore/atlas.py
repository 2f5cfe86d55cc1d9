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
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from . import filters as filters_module
from .filters import FilterFrame
from .live import LiveSettings
from .models import VizModel, model_fingerprint, weights_cache_dir
from .requests import AscentSettings, FilterRequest, filter_request
from .why import FEATURE_SEED, Why

FORMAT = 4  # bump whenever the algorithm changes the pixels a run produces


def atlas_dir() -> Path:
    """Where finished runs live: ``$VIZCORE_CACHE_DIR/atlas`` or the user cache."""
    return weights_cache_dir() / "atlas"


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


def load(vm: VizModel, request: FilterRequest) -> FilterFrame | None:
    """The stored final frame of a grid of filters with a seed (``cached=True``), or None.

    Each filter's image depends only on the model, layer, settings and its own index (its start is
    seeded by (seed, filter) and every image of a batch gets the same transforms), so the frame is
    put together from any stored runs of the layer with these settings: a grid of filters 0–15 is
    served from a stored 0–63, or from 0–7 and 8–15.
    """
    if request.show != "filters" or request.settings.seed is None:
        return None
    layer, filters, ascent_settings = request.layer, list(request.indices), request.settings
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


def save(vm: VizModel, request: FilterRequest, frame: FilterFrame) -> Path | None:
    """Store a finished grid of filters (written to a temporary file, then renamed); None if the
    request is of another show or has no seed."""
    layer, ascent_settings = request.layer, request.settings
    if request.show != "filters" or ascent_settings.seed is None or not frame.done:
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
    vm: VizModel, request: FilterRequest, *, use_cache: bool = True, live: LiveSettings | None = None
) -> Iterator[FilterFrame]:
    """:func:`vizcore.filters.run` through the cache: a stored grid of filters is one cached frame.

    A grid that finishes is stored; a run stopped early, or whose lr was changed live (``live``, as
    in :func:`vizcore.filters.run`), is not: its images are not those of its settings. Requests of
    other shows (neurons, classes, …) run as they are.
    """
    cached = load(vm, request) if use_cache else None
    if cached is not None:
        return iter([cached])
    return _storing(vm, request, filters_module.run(vm, request, live), live)


def _storing(
    vm: VizModel, request: FilterRequest, frames: Iterator[FilterFrame], live: LiveSettings | None
) -> Iterator[FilterFrame]:
    for frame in frames:
        if frame.done and not (live is not None and live.changes):
            save(vm, request, frame)
        yield frame


def why_features(
    vm: VizModel, why: Why, *, steps: int | None = None, size: int | None = None, every: int = 1, use_cache: bool = True
) -> Iterator[FilterFrame]:
    """Robust feature visualisations of a :class:`vizcore.why.Why`'s best channels (image i for
    ``why.channels[i]``), in one batch, through the atlas: one cached frame when a run of these filters
    is stored, else frames as they grow (every ``every`` steps). Seeded (``vizcore.why.FEATURE_SEED``),
    so that the atlas stores and finds them; settings as :func:`vizcore.filters.settings` (robust)."""
    channels = [channel.channel for channel in why.channels]
    request = filter_request(
        vm, "filters", why.layer, channels, mode="robust", steps=steps, size=size, seed=FEATURE_SEED, every=every
    )
    return visualize(vm, request, use_cache=use_cache)
