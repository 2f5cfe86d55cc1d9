"""A disk cache of finished filter runs: an atlas of the model on the user's own machine.

A run is keyed by the model (its name and a digest of its weights), the layer, the filter
indices and the resolved :class:`vizcore.filters.AscentSettings` (mode, steps, lr, size, seed), and
stored as one ``.npz`` under ``weights_cache_dir() / "atlas" / MODEL / LAYER``. A layer computed
once (on the Filters page, by ``vizcore filters`` or ``vizcore atlas``) shows at once after a
restart. Runs without a seed are random, so they are neither looked up nor stored.
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
from .models import VizModel, weights_cache_dir

FORMAT = 3  # bump whenever the algorithm changes the pixels a run produces

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
    return {
        "format": FORMAT,
        "model": vm.name,
        "weights": model_fingerprint(vm),
        "layer": layer,
        "filters": [int(i) for i in filters],
        **ascent_settings._asdict(),
    }


def run_path(vm: VizModel, layer: str, filters: Sequence[int], ascent_settings: AscentSettings) -> Path:
    """The file a run is stored in."""
    request = json.dumps(_request(vm, layer, filters, ascent_settings), sort_keys=True)
    key = hashlib.sha256(request.encode()).hexdigest()[:24]
    return atlas_dir() / _safe(vm.name) / _safe(layer) / f"{key}.npz"


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", name) or "_"


def load(vm: VizModel, layer: str, filters: Sequence[int], ascent_settings: AscentSettings) -> FilterFrame | None:
    """The stored final frame of this exact run (``cached=True``), or None."""
    if ascent_settings.seed is None:
        return None
    path = run_path(vm, layer, filters, ascent_settings)
    try:
        with np.load(path, allow_pickle=False) as stored:
            if json.loads(str(stored["request"])) != _request(vm, layer, filters, ascent_settings):
                return None
            images, activations = stored["images"], stored["activations"]
            dead, history, initial = stored["dead"], stored["history"], stored["initial"]
    except (
        OSError,
        ValueError,
        KeyError,
        EOFError,
        zipfile.BadZipFile,
    ):  # missing, half-written by a crash or corrupt: a miss
        return None
    return FilterFrame(
        ascent_settings.steps,
        ascent_settings.steps,
        images,
        activations,
        dead,
        history,
        initial,
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
) -> Iterator[FilterFrame]:
    """:func:`vizcore.filters.visualize` through the cache: a stored run is one cached frame.

    A run that finishes is stored; a run stopped early is not.

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
    )
    return _storing(vm, layer, ascent_settings, frames)


def _storing(
    vm: VizModel, layer: str, ascent_settings: AscentSettings, frames: Iterator[FilterFrame]
) -> Iterator[FilterFrame]:
    for frame in frames:
        if frame.done:
            save(vm, layer, ascent_settings, frame)
        yield frame
