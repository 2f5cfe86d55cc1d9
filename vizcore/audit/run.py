"""The audit loop: a folder's photos through a model in batches, one stored row a photo, resumable.

:func:`audit` is a generator: it yields a :class:`Progress` after every stored batch and never
draws anything, so the CLI's progress bar, the page's and the tests all run the same loop. Photos
already stored with the same key (vizcore.audit.store) are skipped; a photo that cannot be read is
stored as a row with its ``error`` and counted as skipped, never fatal. Photos are decoded on a
thread, one batch ahead of the model.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .. import cam
from ..checks import whole_number
from ..errors import ImageError
from ..images import load_image
from ..labels import imagenet_labels
from ..models import VizModel, model_fingerprint
from .batch import TOP, predict_and_explain, top_classes
from .folder import Photo, discover
from .maps import map_stats
from .store import FORMAT, done_keys, file_digest, open_folder, row_key, write_part, write_shard

DEFAULT_BATCH = 16  # photos per forward + backward pass
MAX_BATCH = 512  # more gains nothing on a CPU and risks memory
SINGLE_LABEL = ("softmax", "logits", "binary")  # heads with one class per photo
DECODE_SIDE = 2  # photos decode to at most this many times the model's input side (a phone's 12 MP JPEG
# decodes at 1/4 size in draft mode, ~10× faster; the input then differs from a whole decode's by
# about a quarter of a grey level on average)


@dataclass(frozen=True)
class AuditSettings:
    """What a row depends on besides the model and the photo (the batch size changes no number)."""

    layer: str
    method: str = cam.DEFAULT_METHOD
    metrics: bool = False  # deletion and insertion AUC of each predicted-class map
    batch_size: int = DEFAULT_BATCH

    def stored(self) -> dict:
        """The settings that key the rows."""
        return {"layer": self.layer, "method": self.method, "metrics": self.metrics}


def settings(vm: VizModel, *, layer: str | None = None, method: str = cam.DEFAULT_METHOD,
             metrics: bool = False, batch_size: int = DEFAULT_BATCH) -> AuditSettings:  # fmt: skip
    """Settings checked at the door: a known method, a spatial layer (None: the default), a batch size."""
    vm.require_head()
    cam.checked_method(method)
    batch_size = whole_number("--batch", batch_size, 1, MAX_BATCH)
    return AuditSettings(cam.core.target_layer(vm, layer), method, bool(metrics), batch_size)


class Progress(NamedTuple):
    """Where a run stands, after each stored batch."""

    done: int  # photos of this shard stored, before this run or by it
    total: int  # photos of this shard
    computed: int  # photos computed by this run
    skipped: int  # photos of this run that could not be read
    seconds: float  # time this run spent computing

    @property
    def seconds_left(self) -> float | None:
        """An estimate from this run's pace; None before the first batch."""
        if not self.computed:
            return None
        return self.seconds / self.computed * (self.total - self.done)


def manifest(vm: VizModel, audit_settings: AuditSettings, source: Path, root: Path, layout: str) -> dict:
    """What audit.json records: the model, its classes and the settings (a merge reads them)."""
    head = vm.require_head()
    run_key = row_key(model_fingerprint(vm), repr(sorted(audit_settings.stored().items())))
    return {
        "format": FORMAT,
        "model": vm.name,
        "fingerprint": model_fingerprint(vm),
        "head": head.kind,
        "classes": [vm.label(index) for index in range(vm.classes)],
        "settings": audit_settings.stored(),
        "run_key": run_key,
        "source": str(source.resolve()),
        "root": str(root.resolve()),  # photos' paths are relative to it
        "layout": layout,
    }


def audit(
    vm: VizModel, source: str | Path, out: str | Path, audit_settings: AuditSettings, shard: tuple[int, int] = (0, 1)
) -> Iterator[Progress]:
    """Audit the photos of ``source`` (a folder or a CSV) into the folder ``out``, batch by batch.

    Args:
        shard: (index, count): this run takes every count-th photo from the index-th, in path order.
            Shards (and a whole run) are then merged and summarised by :func:`vizcore.audit.finish`.

    Yields:
        A Progress before the first batch and after each stored one.

    Raises:
        RequestError: a missing folder, no photos, unknown labels, an audit folder of another model.
    """
    out, source = Path(out), Path(source)
    dataset = discover(source, tuple(vm.label(i) for i in range(vm.classes)), vm.require_head().kind,
                       imagenet=vm.labels == imagenet_labels())  # fmt: skip
    about = manifest(vm, audit_settings, source, dataset.root, dataset.layout)
    open_folder(out, about)
    index, count = shard
    mine = [_keyed(photo, about["run_key"]) for photo in dataset.photos[index::count]]
    done = done_keys(out)
    todo = [item for item in mine if (item.photo.name, item.key) not in done]
    progress = Progress(len(mine) - len(todo), len(mine), 0, 0, 0.0)
    yield progress
    started = time.perf_counter()
    for rows in _rows_by_batch(vm, todo, audit_settings):
        write_part(out, rows)
        skipped = progress.skipped + sum(row["error"] is not None for row in rows)
        progress = Progress(progress.done + len(rows), progress.total, progress.computed + len(rows), skipped,
                            time.perf_counter() - started)  # fmt: skip
        yield progress
    write_shard(out, index, count, [(item.photo.name, item.key) for item in mine])


class Keyed(NamedTuple):
    """A photo with its file's digest and its row's key."""

    photo: Photo
    digest: str
    key: str


def _keyed(photo: Photo, run_key: str) -> Keyed:
    digest = file_digest(photo.path)
    return Keyed(photo, digest, row_key(run_key, digest))


def _rows_by_batch(vm: VizModel, todo: Sequence[Keyed], audit_settings: AuditSettings):
    """Each batch's rows; the next batch's photos are decoded on a thread while this one computes."""
    size = audit_settings.batch_size
    batches = [todo[at : at + size] for at in range(0, len(todo), size)]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-decode") as pool:
        pending = pool.submit(_decoded, vm, batches[0]) if batches else None
        for number, batch in enumerate(batches):
            decoded = pending.result() if pending is not None else []
            pending = pool.submit(_decoded, vm, batches[number + 1]) if number + 1 < len(batches) else None
            yield audit_batch(vm, batch, decoded, audit_settings)


def _decoded(vm: VizModel, batch: Sequence[Keyed]) -> list[np.ndarray | str]:
    """Each photo at the model's input size, or why it cannot be read (never raised: one bad file skips itself)."""
    decoded: list[np.ndarray | str] = []
    for item in batch:
        try:
            decoded.append(vm.resize_for_input(load_image(item.photo.path, max_side=DECODE_SIDE * max(vm.input_size))))
        except ImageError as error:
            decoded.append(str(error))
        except Exception as error:  # anything else a damaged file makes a decoder raise
            decoded.append(f"The file could not be read ({type(error).__name__}: {error}).".splitlines()[0])
    return decoded


def audit_batch(
    vm: VizModel, batch: Sequence[Keyed], decoded: Sequence[np.ndarray | str], audit_settings: AuditSettings
) -> list[dict]:
    """The rows of one batch: every photo's predictions, maps and statistics, or its error."""
    good = [at for at, item in enumerate(decoded) if not isinstance(item, str)]
    rows: list = [_error_row(keyed, item) if isinstance(item, str) else None for keyed, item in zip(batch, decoded)]
    if good:
        photos = np.stack([decoded[at] for at in good])
        targets = [batch[at].photo.target for at in good]
        for at, row in zip(good, _photo_rows(vm, photos, targets, audit_settings)):
            rows[at] = {**_identity(batch[at]), **row}
    return rows


def _identity(keyed: Keyed) -> dict:
    return {"path": keyed.photo.name, "key": keyed.key, "digest": keyed.digest}


def _error_row(keyed: Keyed, error: str) -> dict:
    return {**_identity(keyed), "error": error, **_target_columns(keyed.photo.target)}


def _target_columns(target) -> dict:
    """The true_* columns of a target (a class index, label indices, values, or None)."""
    if isinstance(target, tuple) and target and isinstance(target[0], float):
        return {"true_values": list(target)}
    if isinstance(target, tuple):
        return {"true_labels": list(target)}
    return {"true_index": target}


def _photo_rows(vm: VizModel, photos: np.ndarray, targets: list, audit_settings: AuditSettings) -> list[dict]:
    """Predictions, maps, statistics (and with --metrics, deletion and insertion) of decoded photos."""
    head = vm.require_head()
    first = np.full(len(photos), 0 if head.kind == "regression" else -1)
    labelled = head.kind in SINGLE_LABEL and any(target is not None for target in targets)
    seconds = np.array([-1 if target is None else target for target in targets]) if labelled else None
    result = predict_and_explain(
        vm,
        photos,
        first,
        layer=audit_settings.layer,
        method=audit_settings.method,
        batch_size=audit_settings.batch_size,
        seconds=seconds,
    )  # one forward pass: the predicted class's maps and, for labelled photos, the true class's
    rows = [_prediction(head.kind, scores, target) for scores, target in zip(result.scores, targets)]
    wrong = [at for at, row in enumerate(rows) if row.get("correct") is False and head.kind in SINGLE_LABEL]
    true_maps = {at: result.second_maps[at] for at in wrong} if result.second_maps is not None else {}
    for at, row in enumerate(rows):
        grid = result.maps[at]
        row.update(_map_columns(grid, true_maps.get(at)))
        if audit_settings.metrics:
            row.update(_faithfulness(vm, photos[at], grid, int(result.targets[at])))
    return rows


def _prediction(kind: str, scores: np.ndarray, target) -> dict:
    """Top-5, confidence, margin and correctness of one photo's scores (probabilities or values)."""
    row = {**_target_columns(target), "error": None}
    if kind == "regression":
        row.update(pred_index=0, top_indices=list(range(min(TOP, len(scores)))), top_scores=scores[:TOP].tolist(),
                   outputs=scores.tolist())  # fmt: skip
        return row
    top = top_classes(scores[None])[0]
    ranked = scores[top]
    row.update(
        pred_index=int(top[0]),
        confidence=float(ranked[0]),
        margin=float(ranked[0] - ranked[1]) if len(ranked) > 1 else float(ranked[0]),
        top_indices=top.tolist(),
        top_scores=ranked.astype(float).tolist(),
    )
    if kind == "multilabel":
        row["outputs"] = scores.tolist()
        if target is not None:
            row["correct"] = set(np.flatnonzero(scores > 0.5).tolist()) == set(target)
    elif target is not None:
        row["correct"] = int(top[0]) == int(target)
    return row


def _map_columns(grid: np.ndarray, true_grid: np.ndarray | None) -> dict:
    stats = map_stats(grid)
    return {
        "map_height": grid.shape[0],
        "map_width": grid.shape[1],
        "map": grid.ravel().tolist(),
        "true_map": None if true_grid is None else true_grid.ravel().tolist(),
        **stats._asdict(),
    }


def _faithfulness(vm: VizModel, photo: np.ndarray, grid: np.ndarray, class_index: int) -> dict:
    """Deletion and insertion AUC of the map (Petsiuk et al., 2018), via vizcore.cam.metrics."""
    given = cam.given_map(vm, photo, grid, class_index)
    return {"deletion": cam.deletion(vm, given).auc, "insertion": cam.insertion(vm, given).auc}
