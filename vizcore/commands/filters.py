"""``filters MODEL LAYER`` (one grid) and ``atlas MODEL`` (grids for many layers, shardable)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..errors import RequestError
from ._shared import (
    ProgressBar,
    add_ascent_arguments,
    add_model_argument,
    ascent_mode,
    check_transparency,
    model_from_args,
    print_json,
    write_png,
    write_transparency,
)

DEFAULT_COUNT = 64  # filters per layer when --filters is not given: the first 64 (or all, if fewer)
PART = 16  # atlas: filters computed and stored together; a stopped atlas resumes from the last stored part


def register(subparsers) -> None:
    parser = subparsers.add_parser("filters", help="visualise what a layer's filters respond to, as a grid")
    add_model_argument(parser)
    parser.add_argument("layer", metavar="LAYER", help="a layer with spatial output (see `vizcore layers MODEL`)")
    _add_run_arguments(parser)
    parser.add_argument("--out", required=True, metavar="GRID.png", help="where to write the grid")
    parser.add_argument("--tiles", metavar="DIR", help="also write one PNG per filter into DIR")
    parser.add_argument(
        "--transparency", metavar="GRID.png", help="maco: also write the grid with its transparency maps as opacity"
    )
    parser.add_argument(
        "--plausibility",
        action="store_true",
        help="each filter's picture against the best real photo (the samples and --images): its peak activation "
        "over the best photo's, as vs_best_photo in --json, else one line per filter",
    )
    parser.set_defaults(func=filters_command)

    parser = subparsers.add_parser("atlas", help="precompute filter grids for many layers (cached)")
    add_model_argument(parser)
    parser.add_argument("--layers", nargs="+", metavar="LAYER", help="default: every Conv2D layer")
    _add_run_arguments(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="a folder for LAYER.png and LAYER.json")
    parser.add_argument(
        "--shard",
        metavar="I/N",
        help="do only layers I, I+N, I+2N, … (0 ≤ I < N) to spread the work over N jobs; default: the array "
        "job's own index (Slurm: SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT; Kubernetes Indexed Jobs: "
        "JOB_COMPLETION_INDEX with --shard auto/N), else 0/1",
    )
    parser.set_defaults(func=atlas_command)


def _add_run_arguments(parser) -> None:
    parser.add_argument(
        "--filters",
        metavar="LIST",
        help=f"indices and ranges, e.g. 0-63 or 3,17,40-43 (default: the first {DEFAULT_COUNT})",
    )
    add_ascent_arguments(parser)
    parser.add_argument("--cols", type=int, default=8, help="grid columns (default 8)")
    parser.add_argument("--no-cache", action="store_true", help="recompute even if this run is in the atlas cache")
    parser.add_argument("--json", action="store_true", help="print each filter's activation and deadness as JSON")


def _filter_indices(args, channels: int) -> list[int]:
    from ..filters import parse_filters

    return parse_filters(args.filters) if args.filters else list(range(min(DEFAULT_COUNT, channels)))


def file_name(layer: str) -> str:
    """A layer's path as one file name: nested models' names joined by "__" instead of "/"."""
    return layer.replace("/", "__")


def _request(vm, layer: str, indices, args):
    """The run's request, checked once: every layer and index of a command is checked before any work."""
    from ..requests import filter_request

    return filter_request(
        vm, "filters", layer, indices, mode=ascent_mode(args), steps=args.steps, lr=args.lr, size=args.size,
        seed=args.seed, photos=args.images,
    )  # fmt: skip


def _settings(vm, args):
    from ..requests import settings

    return settings(vm, ascent_mode(args), steps=args.steps, lr=args.lr, size=args.size, seed=args.seed)


def _run(vm, request, args, label: str):
    """Run (or fetch from the cache) one request with a progress bar on stderr; the final frame. MaCo's
    runs are not cached: the atlas keeps no transparency map."""
    from .. import atlas, filters

    bar, frame = None, None
    maco = request.settings.mode == "maco"
    for frame in filters.run(vm, request) if maco else atlas.visualize(vm, request, use_cache=not args.no_cache):
        bar = bar or ProgressBar(frame.steps, label)
        bar.update(frame.step, "cached" if frame.cached else f"mean activation {frame.activations.mean():.3f}")
    if bar:
        bar.close()
    return frame


def _check_cols(cols: int) -> None:
    if cols < 1:
        raise RequestError(f"--cols must be at least 1, got {cols}")


def _filter_rows(frame) -> list[dict]:
    return [
        {"index": index, "activation": round(float(activation), 6), "dead": bool(dead)}
        for index, activation, dead in zip(frame.filters, frame.activations, frame.dead)
    ]


def _vs_best_photo(vm, args, frame) -> tuple[list[float | None], int]:
    """Each filter's picture: its peak over the best photo's peak of that filter, in one pass (None: no photo
    fires the filter), and how many photos were compared (:func:`vizcore.plausibility.channel_ratios`)."""
    from .. import examples, plausibility

    files = examples.image_files(examples.default_folders([args.images] if args.images else []))
    found = examples.index(vm, args.layer, files)
    ratios = plausibility.channel_ratios(vm, args.layer, frame.filters, frame.images, found)
    return [None if ratio != ratio else round(float(ratio), 4) for ratio in ratios], len(found.files)  # NaN: None


def _print_plausibility(rows: list[dict], photos: int) -> None:
    for row in rows:
        share = row["vs_best_photo"]
        said = f"{share:.0%} of the best of {photos} real photos' peak" if share is not None else "no photo fires it"
        print(f"filter {row['index']}: {said}")


def filters_command(args) -> int:
    from ..drawing import grid

    _check_cols(args.cols)
    seen = check_transparency(args.transparency, ascent_mode(args))  # the arguments checked before the model loads
    vm = model_from_args(args)
    args.layer = vm.layer(args.layer).name  # the full path of a layer inside a nested model
    request = _request(vm, args.layer, _filter_indices(args, vm.layer(args.layer).channels), args)
    ascent_settings = request.settings
    frame = _run(vm, request, args, args.layer)
    out = Path(args.out)
    write_png(grid(frame.images, cols=args.cols), out)
    if args.tiles:
        for index, image in zip(frame.filters, frame.images):
            write_png(image, Path(args.tiles) / f"{file_name(args.layer)}_{index:04d}.png")
    if seen:
        write_transparency(frame, seen, args.cols)
    rows = _filter_rows(frame)
    if args.plausibility:
        shares, photos = _vs_best_photo(vm, args, frame)
        for row, share in zip(rows, shares):
            row["vs_best_photo"] = share
        if not args.json:
            _print_plausibility(rows, photos)
    if args.json:
        print_json(
            {
                "model": vm.name,
                "layer": args.layer,
                **ascent_settings._asdict(),
                "cached": frame.cached,
                "grid": str(out),
                "tiles": args.tiles,
                "filters": rows,
            }
        )
    return 0


def _parse_shard(text: str | None, environ=None) -> tuple[int, int]:
    """(index, count) from ``--shard I/N`` or ``auto/N``, or from an array job's environment."""
    environ = os.environ if environ is None else environ
    if text is None or text == "auto" or text.startswith("auto/"):
        count_text = text.partition("/")[2] if text else ""
        found = _array_job_shard(environ, count_text)
        if found is not None:
            return found
        if text is None:
            return 0, 1
        raise RequestError(
            "--shard auto needs an array job's index: SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT (Slurm), or "
            "JOB_COMPLETION_INDEX with --shard auto/N (a Kubernetes Indexed Job of N completions)"
        )
    index_text, slash, count_text = text.partition("/")
    try:
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise RequestError(f"--shard must look like I/N (e.g. 0/4) or auto, got {text!r}") from None
    return _checked_shard(index, count, slash, text)


def _array_job_shard(environ, count_text: str) -> tuple[int, int] | None:
    """The shard of a Slurm array task (ids from SLURM_ARRAY_TASK_MIN) or a Kubernetes Indexed Job's pod."""
    try:
        if "SLURM_ARRAY_TASK_ID" in environ:
            index = int(environ["SLURM_ARRAY_TASK_ID"]) - int(environ.get("SLURM_ARRAY_TASK_MIN", 0))
            count, where = int(count_text or environ["SLURM_ARRAY_TASK_COUNT"]), "Slurm array task"
        elif "JOB_COMPLETION_INDEX" in environ and count_text:
            index, count, where = int(environ["JOB_COMPLETION_INDEX"]), int(count_text), "completion index"
        else:
            return None
    except (KeyError, ValueError):
        raise RequestError(
            "The array job's index or count is not a whole number (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT, "
            "JOB_COMPLETION_INDEX) or the count is missing: give --shard I/N"
        ) from None
    return _checked_shard(index, count, "/", f"{where} {index} of {count}")


def _checked_shard(index: int, count: int, slash: str, text: str) -> tuple[int, int]:
    if not slash or count < 1 or not 0 <= index < count:
        raise RequestError(f"--shard I/N needs 0 ≤ I < N, got {text!r}")
    return index, count


class _Clock:
    """The atlas's place in its plan and an estimate of the time left (from the parts computed so far)."""

    def __init__(self, parts: int):
        self.parts, self.finished, self.computed, self.seconds = parts, 0, 0, 0.0
        self.started = time.perf_counter()
        self.cached: dict[str, bool] = {}
        self.layer = ""

    def label(self, layer: str, part) -> str:
        self.started, self.layer = time.perf_counter(), layer
        left = self.parts - self.finished
        estimate = f" · about {_duration(self.seconds / self.computed * left)} left" if self.computed else ""
        return f"[{self.finished + 1}/{self.parts}{estimate}] {layer} {part[0]}–{part[-1]}"

    def done(self, cached: bool) -> None:
        self.finished += 1
        self.cached[self.layer] = self.cached.get(self.layer, True) and cached
        if not cached:
            self.computed += 1
            self.seconds += time.perf_counter() - self.started

    def all_cached(self, layer: str) -> bool:
        return self.cached.get(layer, True)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def atlas_command(args) -> int:
    from .. import atlas
    from ..drawing import grid

    _check_cols(args.cols)
    shard, shards = _parse_shard(args.shard)
    vm = model_from_args(args)
    layers = (
        [vm.layer(layer).name for layer in args.layers]
        if args.layers
        else [info.name for info in vm.conv_layers() if info.kind == "Conv2D"]
    )
    plan = [_request(vm, layer, _filter_indices(args, vm.layer(layer).channels), args) for layer in layers]
    plan = plan[shard::shards]  # every layer and index checked before any work
    ascent_settings = plan[0].settings if plan else _settings(vm, args)  # (a shard may get no layer)
    parts = {
        request.layer: [_request(vm, request.layer, request.indices[at : at + PART], args)
                        for at in range(0, len(request.indices), PART)]
        for request in plan
    }  # fmt: skip
    out, rows, clock = Path(args.out), [], _Clock(sum(map(len, parts.values())))
    for request in plan:
        layer, indices = request.layer, request.indices
        for part in parts[layer]:
            frame = _run(vm, part, args, clock.label(layer, part.indices))
            clock.done(frame.cached)
        frame = atlas.load(vm, request) or _run(vm, request, args, layer)
        write_png(grid(frame.images, cols=args.cols), out / f"{file_name(layer)}.png")
        summary = {"model": vm.name, "layer": layer, **ascent_settings._asdict(), "filters": _filter_rows(frame)}
        (out / f"{file_name(layer)}.json").write_text(json.dumps(summary))
        rows.append(
            {
                "layer": layer,
                "grid": str(out / f"{file_name(layer)}.png"),
                "cached": clock.all_cached(layer),
                "filters": len(indices),
                "dead": int(frame.dead.sum()),
            }
        )
    if args.json:
        print_json({"model": vm.name, "shard": f"{shard}/{shards}", **ascent_settings._asdict(), "layers": rows})
    return 0
