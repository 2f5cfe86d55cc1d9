"""``accentuate MODEL IMAGE EXPRESSION``: what a channel, a mix of channels or a class sees in a photo.

Feature accentuation (Hamblin et al., 2024; :mod:`vizcore.accentuate`): the photo is changed, within an
RMS distance, so the expression (:mod:`vizcore.expressions`' grammar, one image) rises. Writes the
photo, the accentuated picture and their difference side by side, and the picture alone.
"""

from __future__ import annotations

import argparse

from ..images import load_image
from ._shared import ProgressBar, add_model_argument, model_from_args, print_json, writable_path, write_png


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "accentuate",
        help="what a channel, a mix of channels or a class sees in your photo (feature accentuation)",
        description="Change a photo, within a small distance, so that an expression rises: "
        '"block5a_expand_conv:12", "0.5*top_conv:3 + 0.5*top_conv:40" (a neuron group), "class:lion". '
        "Terms as in `visualize`.",
    )
    add_model_argument(parser)
    parser.add_argument("image", metavar="IMAGE", help="the photo")
    parser.add_argument("expression", metavar="EXPRESSION", help='e.g. "block5a_expand_conv:12" or "class:lion"')
    parser.add_argument(
        "--distance", type=float, metavar="D", help="RMS distance from the photo, 0-1 pixel units (default 0.08)"
    )
    parser.add_argument("--steps", type=int, metavar="N", help="Adam steps (default 48)")
    parser.add_argument("--lr", type=float, help="Adam step of the change (default 0.1)")
    parser.add_argument(
        "--smoothing", type=float, metavar="P", help="damp the change's frequencies by 1/f**P (default 0.75; 0: none)"
    )
    parser.add_argument("--seed", type=int, default=0, help="same seed, same picture (default 0)")
    parser.add_argument("--out", metavar="SIDE.png", help="write the photo, the picture and their difference")
    parser.add_argument("--picture", metavar="PICTURE.png", help="write the accentuated picture alone")
    parser.add_argument("--json", action="store_true", help="print the objective before and after, and the distance")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = writable_path(args.out, ".png") if args.out else None
    alone = writable_path(args.picture, ".png") if args.picture else None
    photo = load_image(args.image)  # checked, like the paths, before TensorFlow and the model load
    from .. import accentuate, expressions
    from ..drawing import grid

    distance, steps, lr, smoothing = accentuate.check_settings(  # before the model loads
        accentuate.DISTANCE if args.distance is None else args.distance,
        accentuate.STEPS if args.steps is None else args.steps,
        accentuate.LR if args.lr is None else args.lr,
        accentuate.SMOOTHING if args.smoothing is None else args.smoothing,
    )
    vm = model_from_args(args)
    objective = expressions.parse(vm, args.expression, "robust")  # a channel's mean over the whole map
    bar = ProgressBar(steps, "accentuate")
    frames = accentuate.accentuate(vm, photo, objective, distance=distance, steps=steps, lr=lr, smoothing=smoothing,
                                   seed=args.seed)  # fmt: skip
    for frame in frames:
        bar.update(frame.step, f"value {frame.activations[0]:.3f}")
    bar.close()
    result = accentuate.finished(vm, photo, frame)
    if out:
        write_png(grid(result.as_row(), cols=3), out)
    if alone:
        write_png(result.picture, alone)
    if args.json:
        print_json({"model": vm.name, "image": str(args.image), "expression": args.expression,
                    "objective": repr(objective), "distance": distance, "steps": steps, "lr": lr,
                    "smoothing": smoothing, "seed": args.seed, "before": result.before, "after": result.after,
                    "distance_reached": result.distance,
                    "out": str(out) if out else None, "picture": str(alone) if alone else None})  # fmt: skip
    else:
        wrote = "".join(f"; wrote {path}" for path in (out, alone) if path)
        print(f"{args.expression} on {args.image}: {result.before:.4g} → {result.after:.4g} "
              f"at RMS distance {result.distance:.3f}{wrote}")  # fmt: skip
    return 0
