"""``why MODEL IMAGE``: which channels of a layer made the class's score, their pictures and real examples."""

from __future__ import annotations

import argparse

from ..images import load_image
from ._shared import ProgressBar, add_model_argument, model_from_args, print_json, writable_path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "why",
        help="why this class? the channels that made the score, with pictures and examples",
        description="Attribute the class's pre-softmax score to a layer's channels (activation × gradient; "
        "exact for a global average pooling → Dense head) and list the best ones.",
    )
    add_model_argument(parser)
    parser.add_argument("image", metavar="IMAGE")
    parser.add_argument("--class", dest="class_name", metavar="C", help="class index or label (default: top-1)")
    parser.add_argument(
        "--contrast", "--vs", dest="contrast", metavar="C2", help="why the class rather than this one (index or label)"
    )
    parser.add_argument("--layer", metavar="L", help="a layer with spatial extent (default: the heatmaps' layer)")
    parser.add_argument("--top", type=int, metavar="K", help="channels listed (default 8, up to the layer's channels)")
    parser.add_argument(
        "--images",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of photos to find example patches in (besides the samples and $VIZCORE_IMAGES_DIR); repeatable",
    )
    parser.add_argument(
        "--audit",
        metavar="AUDIT_DIR",
        help="take example patches from the photos a `vizcore audit` read (its --out folder) instead of the samples",
    )
    parser.add_argument("--patches", type=int, default=4, metavar="N", help="example patches per channel (default 4)")
    parser.add_argument("--steps", type=int, metavar="N", help="robust feature visualisation steps (default 96)")
    parser.add_argument("--out", metavar="panel.png", help="write the Why panel (features, maps, shares, examples)")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the numbers as JSON (each channel's contribution map on the layer's grid, where it counted "
        "most and where it fired most)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import examples, why, why_drawing
    from ..checks import whole_number
    from ..expressions import class_index

    out = writable_path(args.out, ".png") if args.out else None
    whole_number("--patches", args.patches, 1)
    image = load_image(args.image)
    files = _example_files(args)  # checked, like the photo, before the model loads
    vm = model_from_args(args)
    chosen = class_index(vm, args.class_name) if args.class_name is not None else None
    contrast = class_index(vm, args.contrast) if args.contrast is not None else None
    result = why.explain(vm, image, class_index=chosen, contrast=contrast, layer=args.layer, top=args.top)
    found = _index(vm, result.layer, files)
    patches = {c.channel: examples.best_patches(vm, found, c.channel, args.patches) for c in result.channels}
    if out is not None:
        from ..drawing import png_bytes

        features = _features(vm, result, args.steps)
        pictures = {c.channel: features[i] for i, c in enumerate(result.channels)}
        crops = {channel: [p.image for p in found_patches] for channel, found_patches in patches.items()}
        out.write_bytes(png_bytes(why_drawing.panel(result, image, features=pictures, examples=crops)))
    _report(args, vm, result, found, patches, out)
    return 0


def _example_files(args) -> list:
    """The photos the example patches come from: an audit's (``--audit``) or the samples', with ``--images``."""
    from .. import examples

    if args.audit:
        from ..audit import audited_photos

        return audited_photos(args.audit, examples.MAX_AUDITED) + examples.image_files(args.images)
    return examples.image_files(examples.default_folders(args.images))


def _index(vm, layer: str, files):
    from .. import examples

    bar, found = None, None
    for progress in examples.indexing(vm, layer, files):
        bar = bar or ProgressBar(progress.total, "examples")
        bar.update(progress.done, "cached" if progress.found is not None and progress.found.cached else "")
        found = progress.found
    if bar:
        bar.close()
    return found


def _features(vm, result, steps):
    from .. import atlas

    bar, frame = None, None
    for frame in atlas.why_features(vm, result, steps=steps):
        bar = bar or ProgressBar(frame.steps, "features")
        bar.update(frame.step, "cached" if frame.cached else "")
    if bar:
        bar.close()
    return frame.images


def _report(args, vm, result, found, patches, out) -> None:
    if args.json:
        payload = result.as_dict(vm.name)
        for row in payload["channels"]:
            row["examples"] = [
                {"file": p.file, "activation": round(p.activation, 6), "box": list(p.box)}
                for p in patches[row["channel"]]
            ]
        payload["examples_indexed"], payload["examples_skipped"] = len(found.files), len(found.skipped)
        payload["panel"] = str(out) if out else None
        print_json(payload)
        return
    what = f"{result.label} (class {result.class_index})"
    if result.contrast_index is not None:
        what += f" rather than {result.contrast_label} (class {result.contrast_index})"
    total = f" = channels {result.contributions.sum():+.4f} + bias {result.bias:+.4f}" if result.exact else ""
    print(f"why {what} · {result.layer} · logit {result.logit:+.4f}{total}")
    print(result.note)
    for rank, channel in enumerate(result.channels, 1):
        best = ", ".join(p.file.rsplit("/", 1)[-1] for p in patches[channel.channel][:2])
        print(
            f"{rank}. channel {channel.channel}: {channel.contribution:+.4f} ({channel.share:+.1%}), "
            f"counted most at y={channel.peak[0]} x={channel.peak[1]}, "
            f"fired most at y={channel.fired_at[0]} x={channel.fired_at[1]}; best examples: {best}"
        )
    skipped = f", {len(found.skipped)} skipped" if found.skipped else ""
    print(f"examples from {len(found.files)} photos{skipped}" + (f"; wrote {out}" if out else ""))
