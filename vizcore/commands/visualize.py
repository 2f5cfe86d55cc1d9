"""``visualize MODEL EXPRESSION``: images that maximise a sum of weighted channels, neurons and classes.

The expression's grammar is :mod:`vizcore.expressions`'; the run is :func:`vizcore.filters.visualize_objective`.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..checks import whole_number
from ..errors import RequestError
from ._shared import (
    ProgressBar,
    add_ascent_arguments,
    add_model_argument,
    ascent_mode,
    check_transparency,
    model_from_args,
    print_json,
    writable_path,
    write_png,
    write_transparency,
)

TOP = 5  # predictions per image in --json
SHOWN_TOP = 3  # predictions per image in the summary
MAX_FRAMES = 100  # progress updates in a run (a frame renders every image)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "visualize",
        help="images that maximise an expression of channels, neurons and classes",
        description="Optimise images for a sum of weighted terms, e.g. "
        '"block4a_expand_conv:12 + 0.5*class:espresso". Terms: LAYER:CHANNEL (a channel\'s mean), '
        "neuron:LAYER:CHANNEL (its centre neuron), class:INDEX or class:LABEL (a class's pre-softmax score), "
        "each with an optional WEIGHT* in front. Put a space before + and - between terms; an expression "
        "that starts with - goes last, after --.",
    )
    add_model_argument(parser)
    parser.add_argument(
        "expression",
        metavar="EXPRESSION",
        help='e.g. "block4a_expand_conv:12 - 0.5*neuron:block4a_expand_conv:40 + 2*class:espresso"',
    )
    add_ascent_arguments(parser)
    parser.add_argument(
        "--batch", type=int, default=1, metavar="N", help="make N images from different starts (default 1)"
    )
    parser.add_argument(
        "--diversity",
        type=float,
        metavar="W",
        help="push the batch's images apart: add W × diversity on the layer of the first layer term",
    )
    parser.add_argument("--out", metavar="GRID.png", help="write the images as one grid")
    parser.add_argument("--tiles", metavar="DIR", help="write one PNG per image into DIR (image_0000.png, …)")
    parser.add_argument(
        "--transparency", metavar="GRID.png", help="maco: write the grid with its transparency maps as opacity"
    )
    parser.add_argument("--json", action="store_true", help="print each image's value and top-5 predictions as JSON")
    parser.add_argument(
        "--plausibility",
        action="store_true",
        help="with --json, for an expression of one channel or class term: each image against the best real photo "
        "(the samples and --images), and for a class, whether the other bundled Lites call it by its class",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = writable_path(args.out, ".png") if args.out else None
    tiles = _tiles_folder(args.tiles) if args.tiles else None
    mode = ascent_mode(args)  # checked before the model loads (and before TensorFlow is imported)
    seen = check_transparency(args.transparency, mode)
    from .. import expressions
    from ..requests import MAX_IMAGES, objective_request

    batch = whole_number("--batch", args.batch, 1, MAX_IMAGES)
    if args.plausibility:
        _measured_target(args.expression)  # checked before the run
    vm = model_from_args(args)
    goal = expressions.parse(vm, args.expression, mode)
    objective = _with_diversity(goal, args.diversity, batch)
    request = objective_request(
        vm, objective, range(batch), image_seeds=range(batch), report=goal if objective is not goal else None,
        count=batch, mode=mode, steps=args.steps, lr=args.lr, size=args.size, seed=args.seed, photos=args.images,
    )  # fmt: skip
    ascent_settings = request.settings
    frame = _climb(vm, request)
    tile_paths = _write_tiles(frame.images, tiles) if tiles else []
    if out:
        _write_grid(frame.images, out)
    if seen:
        write_transparency(frame, seen)
    predictions = [_predictions(vm, image) for image in frame.images] if vm.is_classifier else None
    images = _image_rows(frame, predictions)
    if args.plausibility:
        for image_row, measured in zip(images, _plausibility(vm, args, frame.images)):
            image_row["plausibility"] = measured
    if args.json:
        print_json(
            {
                "model": vm.name,
                "expression": args.expression,
                "objective": repr(goal),
                "diversity": args.diversity,
                **ascent_settings._asdict(),
                "grid": str(out) if out else None,
                "tiles": [str(path) for path in tile_paths] if tiles else None,
                "images": images,
            }
        )
    else:
        _summary(vm, goal, ascent_settings, images, ([out] if out else []) + tile_paths)
    return 0


def _plausibility(vm, args, pictures) -> list[dict]:
    """Each picture against the best real photo, and for a class, how the other Lites call it
    (:mod:`vizcore.plausibility`); RequestError unless the expression is one channel or class term."""
    from .. import examples, expressions, plausibility
    from ..loading import load_model

    target = _measured_target(args.expression)
    files = examples.image_files(examples.default_folders([args.images] if args.images else []))
    transfers: list[dict | None] = [None] * len(pictures)
    if target.kind == "class":
        index = expressions.class_index(vm, target.which)
        ratios = plausibility.class_ratio(vm, index, pictures, files)
        judges = [load_model(name) for name in plausibility.judges_for(vm)]
        transfers = [{judge.name: _called(judge, index, picture) for judge in judges} for picture in pictures]
    else:
        layer, channel = vm.layer(target.layer).name, int(target.which)
        ratios = plausibility.channel_ratio(vm, layer, channel, pictures, examples.index(vm, layer, files))
    shares = [None] * len(pictures) if ratios is None else [round(float(ratio), 4) for ratio in ratios]
    return [{"vs_best_photo": share, "transfer": called} for share, called in zip(shares, transfers)]


def _measured_target(expression: str):
    """The one channel or class term whose pictures --plausibility measures; RequestError otherwise."""
    from .. import expressions

    weighted = [(weight, expressions.read_target(term)) for weight, term in expressions.weighted_terms(expression)]
    if len(weighted) != 1 or weighted[0][0] <= 0 or weighted[0][1].kind == "neuron":
        raise RequestError("--plausibility measures pictures of one channel or one class: give one such term.")
    return weighted[0][1]


def _called(judge, index: int, picture) -> dict:
    """Whether ``judge`` calls the picture by class ``index``: first, and within its top 5."""
    from ..plausibility import TOP, transfer_counts

    counted = transfer_counts(judge.name, [index], [[p.index for p in judge.predict(picture, TOP)]])
    return {"top1": bool(counted.top1), "top5": bool(counted.top5)}


def _tiles_folder(path: str) -> Path:
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise RequestError(f"Cannot write tiles into {path!r}: it is a file, not a folder.")
    return folder


def _with_diversity(goal, weight: float | None, batch: int):
    """The expression, plus ``weight`` × diversity when asked (a batch of two images at least)."""
    from .. import expressions

    if weight is None:
        return goal
    if batch < 2:
        raise RequestError(f"--diversity pushes a batch's images apart: give --batch 2 or more (got {batch}).")
    return expressions.with_diversity(goal, weight)


def _climb(vm, request):
    """Run the ascent with a progress bar on stderr; the final frame (values: the expression alone)."""
    from .. import filters

    request = dataclasses.replace(request, every=max(1, request.settings.steps // MAX_FRAMES))
    bar, frame = None, None
    for frame in filters.run(vm, request):
        bar = bar or ProgressBar(frame.steps, "visualize")
        bar.update(frame.step, f"mean value {frame.activations.mean():.3f}")
    if bar:
        bar.close()
    assert frame is not None  # a run yields at least the last step's frame
    return frame


def _write_grid(images, out: Path) -> None:
    from ..drawing import grid

    write_png(grid(images), out)


def _write_tiles(images, tiles: Path) -> list[Path]:
    return [write_png(image, tiles / f"image_{index:04d}.png") for index, image in enumerate(images)]


def _predictions(vm, image) -> list[dict]:
    return [
        {
            "index": prediction.index,
            "label": prediction.label,
            "probability": None if prediction.probability is None else round(prediction.probability, 6),
            "value": round(prediction.value, 6),
        }
        for prediction in vm.predict(image, TOP)
    ]


def _image_rows(frame, predictions: list[list[dict]] | None) -> list[dict]:
    return [
        {
            "image": index,
            "value": round(float(value), 6),
            "dead": bool(dead),
            "predictions": predictions[index] if predictions is not None else None,
        }
        for index, (value, dead) in enumerate(zip(frame.activations, frame.dead))
    ]


def _summary(vm, goal, ascent_settings, images: list[dict], written: list[Path]) -> None:
    count = f"{len(images)} image" + ("s" if len(images) != 1 else "")
    print(f"{goal!r} on {vm.name}: {count}, {ascent_settings.mode}, {ascent_settings.steps} steps")
    for row in images:
        seen = ", ".join(_shown(prediction) for prediction in (row["predictions"] or [])[:SHOWN_TOP])
        dead = " (no gradient: dead)" if row["dead"] else ""
        print(f"image {row['image']}: value {row['value']:.4g}{dead}" + (f" · model sees {seen}" if seen else ""))
    if written:
        print("wrote " + ", ".join(str(path) for path in written[:3]) + (" …" if len(written) > 3 else ""))


def _shown(prediction: dict) -> str:
    if prediction["probability"] is None:
        return f"{prediction['label']} {prediction['value']:.4g}"
    return f"{prediction['label']} {prediction['probability']:.1%}"
