"""Where an audit's results live: one Parquet row a photo, in a folder that runs resume and shards share.

Layout of an audit folder::

    audit.json           the model (name, fingerprint, head, class names) and the settings
    parts/*.parquet      rows as computed, one file a batch, each written whole (a killed run loses
                         at most the batch it was computing)
    shards/I-of-N.json   written by shard I when it finishes: the rows (path, key) it answers for
    audit.parquet        the merged rows of every shard, sorted by path: open it with pandas or DuckDB

A row's ``key`` digests the model's fingerprint, the settings and the photo file's bytes: a rerun (or
a stopped run started again) skips every photo whose (path, key) is stored, so an unchanged photo is
never computed twice, and a changed one (or another model, layer or method) is.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import RequestError

FORMAT = 1  # bump when a row's meaning changes: every stored row is then computed again
MANIFEST = "audit.json"
MERGED = "audit.parquet"

SCHEMA = pa.schema(
    [
        ("path", pa.string()),  # relative to the audited folder, with "/"
        ("key", pa.string()),  # model fingerprint × settings × file digest
        ("digest", pa.string()),  # sha256 of the file's bytes (first 32 hex digits)
        ("error", pa.string()),  # why the photo was skipped; null for a photo audited
        ("true_index", pa.int64()),  # the class it should be called (single-label heads)
        ("true_labels", pa.list_(pa.int64())),  # multi-label: the labels it should have
        ("true_values", pa.list_(pa.float64())),  # regression: the values it should give
        ("pred_index", pa.int64()),  # top-1 class (regression: output 0)
        ("confidence", pa.float64()),  # top-1 probability (regression: null)
        ("margin", pa.float64()),  # top-1 minus top-2 probability (regression: null)
        ("correct", pa.bool_()),  # null without a label
        ("top_indices", pa.list_(pa.int64())),  # top-5 classes, most probable first
        ("top_scores", pa.list_(pa.float64())),  # their probabilities
        ("outputs", pa.list_(pa.float32())),  # multi-label and regression: every output
        ("map_height", pa.int32()),
        ("map_width", pa.int32()),
        ("map", pa.list_(pa.float32())),  # the predicted class's map, row-major, [0, 1]
        ("true_map", pa.list_(pa.float32())),  # the true class's map when the prediction is wrong
        ("centre_row", pa.float64()),  # map statistics: vizcore.audit.maps
        ("centre_col", pa.float64()),
        ("border_share", pa.float64()),
        ("entropy", pa.float64()),
        ("deletion", pa.float64()),  # --metrics: deletion AUC (lower is better)
        ("insertion", pa.float64()),  # --metrics: insertion AUC (higher is better)
    ]
)
KEY_COLUMNS = ["path", "key"]


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (32 hex digits); "" for a file that cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return ""
    return digest.hexdigest()[:32]


def row_key(run_key: str, digest: str) -> str:
    """The key of a photo's row: the run's (model and settings) and the file's digest."""
    return hashlib.sha256(f"{FORMAT}|{run_key}|{digest}".encode()).hexdigest()[:32]


def open_folder(out: Path, manifest: dict) -> None:
    """Make (or reopen) an audit folder for a model and settings; RequestError if it holds another's."""
    if out.exists() and not out.is_dir():
        raise RequestError(f"--out {str(out)!r} is a file; give a folder for the audit.")
    out.mkdir(parents=True, exist_ok=True)
    found = read_manifest(out, required=False)
    if found is not None and found.get("run_key") != manifest["run_key"]:
        raise RequestError(
            f"{str(out)!r} holds an audit of {found.get('model')!r} with other settings "
            f"({found.get('settings')}); give another --out for this one."
        )
    if found is None:
        _write_atomically(out / MANIFEST, json.dumps(manifest, indent=1).encode())
    (out / "parts").mkdir(exist_ok=True)
    (out / "shards").mkdir(exist_ok=True)


def read_manifest(out: Path, required: bool = True) -> dict | None:
    """The audit folder's model and settings; None (or RequestError if ``required``) when there is none."""
    path = out / MANIFEST
    if not path.is_file():
        if required:
            raise RequestError(
                f"{str(out)!r} is not an audit folder (no {MANIFEST}): run `vizcore audit` into it first."
            )
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise RequestError(f"{path} is damaged ({error}); remove the folder and run again.") from None


def done_keys(out: Path) -> set[tuple[str, str]]:
    """(path, key) of every row stored in the folder's parts."""
    done: set[tuple[str, str]] = set()
    for part in _parts(out):
        table = pq.read_table(part, columns=KEY_COLUMNS)
        done.update(zip(table.column("path").to_pylist(), table.column("key").to_pylist()))
    return done


_SEQUENCE = iter(range(1 << 62))
_SEQUENCE_LOCK = threading.Lock()


def write_part(out: Path, rows: Sequence[dict]) -> Path:
    """Store a batch's rows as one Parquet file, written whole (a temporary file renamed)."""
    with _SEQUENCE_LOCK:
        number = next(_SEQUENCE)
    path = out / "parts" / f"{time.time_ns()}-{os.getpid()}-{number}.parquet"
    table = pa.Table.from_pylist(list(rows), schema=SCHEMA)
    partial = path.with_name("." + path.name)
    pq.write_table(table, partial)
    os.replace(partial, path)
    return path


def write_shard(out: Path, shard: int, shards: int, listed: Iterable[tuple[str, str]]) -> None:
    """Mark shard ``shard`` of ``shards`` finished, with the rows (path, key) it answers for; marks of
    an earlier split of the folder (another N) go, since a merge joins the shards of one split."""
    for mark in (out / "shards").glob("*-of-*.json"):
        if not mark.name.endswith(f"-of-{shards}.json"):
            mark.unlink(missing_ok=True)
    payload = {"shard": shard, "shards": shards, "rows": [list(item) for item in listed]}
    _write_atomically(out / "shards" / f"{shard}-of-{shards}.json", json.dumps(payload).encode())


def merge(out: Path) -> pa.Table:
    """Every finished shard's rows, one a (path, key), sorted by path; also written to audit.parquet.

    Raises:
        RequestError: no shard has finished, shards of different counts, or shards still missing.
    """
    wanted = _finished_rows(out)
    tables = [pq.read_table(part, schema=SCHEMA) for part in _parts(out)]
    table = pa.concat_tables(tables) if tables else SCHEMA.empty_table()
    keep: dict[tuple[str, str], int] = {}
    for position, item in enumerate(zip(table.column("path").to_pylist(), table.column("key").to_pylist())):
        if item in wanted:
            keep[item] = position  # a row stored twice (two runs racing) counts once
    missing = len(wanted) - len(keep)
    if missing:
        raise RequestError(
            f"{missing} rows the shards list are not stored in {str(out)!r}/parts: run the shards again."
        )
    order = sorted(keep, key=lambda item: item[0])
    merged = table.take(pa.array([keep[item] for item in order], pa.int64()))
    pq.write_table(merged, out / ".merged.parquet")
    os.replace(out / ".merged.parquet", out / MERGED)
    return merged


def _finished_rows(out: Path) -> set[tuple[str, str]]:
    marks = sorted((out / "shards").glob("*-of-*.json")) if (out / "shards").is_dir() else []
    if not marks:
        raise RequestError(f"No finished shard in {str(out)!r}: run `vizcore audit ... --out {out}` first.")
    payloads = [json.loads(mark.read_text()) for mark in marks]
    counts = {payload["shards"] for payload in payloads}
    if len(counts) != 1:
        raise RequestError(f"{str(out)!r} holds shards of runs split {sorted(counts)} ways; keep one split.")
    count = counts.pop()
    missing = sorted(set(range(count)) - {payload["shard"] for payload in payloads})
    if missing:
        names = ", ".join(f"{index}/{count}" for index in missing)
        raise RequestError(f"Shards {names} have not finished in {str(out)!r}: run them, then merge.")
    return {(path, key) for payload in payloads for path, key in payload["rows"]}


def read_merged(out: Path, columns: Sequence[str] | None = None) -> pa.Table:
    """The merged rows of an audit folder (only ``columns``, if given); RequestError if it has not been merged."""
    path = out / MERGED
    if not path.is_file():
        raise RequestError(f"{str(out)!r} has no {MERGED}: run `vizcore audit --merge {out}`.")
    return pq.read_table(path, columns=list(columns) if columns is not None else None)


def _parts(out: Path) -> list[Path]:
    folder = out / "parts"
    return sorted(folder.glob("[!.]*.parquet")) if folder.is_dir() else []


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{os.getpid()}.{path.name}")
    partial.write_bytes(data)
    os.replace(partial, path)


def tally(out: Path) -> dict[str, int]:
    """How far a run has got, from the parts stored so far: photos stored, skipped, labelled and right.

    Reads only the ``error`` and ``correct`` columns, so a page can redraw it after every batch.
    """
    counts = {"stored": 0, "skipped": 0, "labelled": 0, "correct": 0}
    for part in _parts(Path(out)):
        try:
            table = pq.read_table(part, columns=["error", "correct"])
        except (OSError, pa.ArrowException):  # a part being replaced by a merge: counted next time
            continue
        errors, correct = table.column("error").to_pylist(), table.column("correct").to_pylist()
        counts["stored"] += len(errors)
        counts["skipped"] += sum(error is not None for error in errors)
        counts["labelled"] += sum(value is not None for value in correct)
        counts["correct"] += sum(value is True for value in correct)
    return counts
