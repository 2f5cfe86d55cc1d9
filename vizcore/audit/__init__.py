"""Audit a folder of photos: the model across the user's data, batched, stored, resumable, sharded.

* :mod:`.folder` — which photos, and what each should be called (class subfolders, flat, CSV);
* :mod:`.batch` — predictions and maps of a batch in one forward and backward pass;
* :mod:`.maps` — a map's centre of mass, border share and entropy;
* :mod:`.store` — the Parquet rows, keyed so that reruns resume, shards and their merge;
* :mod:`.run` — the loop (a generator of progress) and its settings;
* :mod:`.summary` — accuracy, per-class P/R/F1, confusion, calibration, mean maps, galleries;
* :mod:`.report` — the self-contained HTML report.

``audit(vm, folder, out, settings(vm))`` runs; :func:`finish` merges a folder's shards and writes
``summary.json`` and ``report.html`` beside ``audit.parquet``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import store
from .report import REPORT, write_report
from .run import AuditSettings, Progress, audit, settings
from .summary import Summary, summarise

SUMMARY = "summary.json"

__all__ = [
    "AuditSettings",
    "Progress",
    "Summary",
    "audit",
    "audited_photos",
    "finish",
    "settings",
    "summarise",
    "REPORT",
    "SUMMARY",
]


def finish(out: str | Path, merge: bool = True) -> Summary:
    """Merge the audit folder's shards (or read its merged rows), summarise, write summary.json and report.html.

    Raises:
        RequestError: not an audit folder, or shards still missing.
    """
    out = Path(out)
    manifest = store.read_manifest(out)
    assert manifest is not None  # required=True raised otherwise
    table = store.merge(out) if merge else store.read_merged(out)
    summary = summarise(table, manifest)
    (out / SUMMARY).write_text(json.dumps(summary.measures, indent=1))
    write_report(out, summary, manifest)
    return summary


def audited_photos(out: str | Path, limit: int | None = None) -> list[Path]:
    """The photos an audit folder's merged rows read (skipped files left out), as files on disk: the
    Why page's and ``vizcore why --audit``'s example photos, so that patches come from the user's data.

    With more than ``limit`` photos, ``limit`` of them spread evenly over the sorted paths (so every
    class subfolder keeps its share). Photos removed since the audit are left out.

    Raises:
        RequestError: not an audit folder, or not merged yet.
    """
    out = Path(out)
    manifest = store.read_manifest(out)
    assert manifest is not None  # required=True raised otherwise
    root = Path(manifest["root"])
    table = store.read_merged(out).select(["path", "error"])
    paths = [
        path for path, error in zip(table.column("path").to_pylist(), table.column("error").to_pylist()) if not error
    ]
    if limit is not None and len(paths) > limit:
        paths = [paths[at] for at in np.unique(np.linspace(0, len(paths) - 1, limit).round().astype(int))]
    return [root / path for path in paths if (root / path).is_file()]
