"""``audit MODEL FOLDER --out DIR``: the model across a folder of photos (predictions, maps, calibration),
stored in Parquet, resumable and shardable, with a self-contained report.html; ``audit --merge DIR``
joins the shards of an array job."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import RequestError
from ._shared import ProgressBar, add_model_argument, model_from_args, print_json
from .filters import _duration, _parse_shard

JSON_KEYS = ("images", "skipped", "accuracy", "per_class", "confusion", "classes", "ece", "reliability")
EXTRA_KEYS = ("model", "head", "layer", "method", "metrics", "labelled", "mae", "r2", "outputs", "predicted")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="run a model over a folder of photos: accuracy, calibration, maps, galleries, report.html",
        description="Audit a model on a folder of photos (class subfolders, a flat folder, or a CSV of path,label). "
        "Rows go to DIR/audit.parquet; a rerun resumes; DIR/report.html opens offline.",
    )
    add_model_argument(parser, optional=True)  # MODEL and FOLDER may be left out with --merge (checked in run)
    parser.add_argument("folder", metavar="FOLDER", nargs="?", help="a folder of photos, or a .csv of path,label rows")
    parser.add_argument("--out", metavar="DIR", help="the audit folder: rows, summary.json, report.html")
    parser.add_argument("--layer", metavar="L", help="target layer of the maps (default: the last spatial one)")
    parser.add_argument(
        "--method", default="gradcam", metavar="M", help="gradcam (default), gradcam++, layercam, scorecam"
    )
    parser.add_argument("--metrics", action="store_true", help="also measure each map's deletion and insertion AUC")
    parser.add_argument("--batch", type=int, default=16, metavar="N", help="photos per pass (default 16)")
    parser.add_argument(
        "--shard",
        metavar="I/N",
        help="audit every N-th photo from the I-th (0 ≤ I < N); auto/N reads an array job's index "
        "(SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX); merge the shards with --merge DIR",
    )
    parser.add_argument(
        "--merge", metavar="DIR", help="join the finished shards in DIR and write its summary and report"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import audit

    if args.merge:
        return _merge(args)
    if not args.model or not args.folder or not args.out:
        raise RequestError("audit needs MODEL, FOLDER and --out DIR (or --merge DIR to join shards)")
    shard, shards = _parse_shard(args.shard)
    vm = model_from_args(args)
    settings = audit.settings(vm, layer=args.layer, method=args.method, metrics=args.metrics, batch_size=args.batch)
    _run_with_progress(
        audit.audit(vm, args.folder, args.out, settings, (shard, shards)),
        f"audit {shard}/{shards}" if shards > 1 else "audit",
    )
    if shards > 1:
        print(f"shard {shard}/{shards} done in {args.out}: merge the shards with `vizcore audit --merge {args.out}`",
              file=sys.stderr)  # fmt: skip
        return 0
    _report(args, audit.finish(args.out), Path(args.out))
    return 0


def _merge(args) -> int:
    from .. import audit

    if args.model or args.folder:
        raise RequestError("--merge DIR takes no MODEL or FOLDER: it joins the shards already in DIR")
    _report(args, audit.finish(args.merge), Path(args.merge))
    return 0


def _run_with_progress(progress_events, label: str) -> None:
    """Drive the audit loop, drawing a progress bar with the pace and the time left on stderr."""
    bar = None
    for progress in progress_events:
        bar = bar or ProgressBar(progress.total, label)
        left = progress.seconds_left
        if progress.done == progress.total and not progress.computed:
            pace = "every photo stored already"
        else:
            pace = f"{progress.computed / progress.seconds:.1f} photos/s" if progress.seconds else "starting"
        detail = pace + (f" · about {_duration(left)} left" if left is not None else "")
        if progress.skipped:
            detail += f" · {progress.skipped} skipped"
        bar.update(progress.done, detail)
    if bar is not None:
        bar.close()


def _report(args, summary, out: Path) -> None:
    measures = summary.measures
    if args.json:
        print_json({key: measures.get(key) for key in JSON_KEYS + EXTRA_KEYS if key in measures})
        return
    line = f"{measures['images']} photos audited, {len(measures['skipped'])} skipped"
    if measures.get("accuracy") is not None:
        line += f" · accuracy {measures['accuracy']:.1%} on {measures['labelled']} labelled"
    if measures.get("ece") is not None:
        line += f" · ECE {measures['ece']:.3f}"
    if measures.get("mae") is not None:
        line += f" · MAE {measures['mae']:.4g}" + (
            f" · R² {measures['r2']:.3f}" if measures.get("r2") is not None else ""
        )
    print(line)
    for skipped in measures["skipped"]:
        print(f"skipped {skipped['path']}: {skipped['reason']}")
    print(f"wrote {out / 'audit.parquet'}, {out / 'summary.json'} and {out / 'report.html'}")
