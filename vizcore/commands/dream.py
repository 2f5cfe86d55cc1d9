"""``dream MODEL IMAGE --out dream.png``: DeepDream a photo (or noise) with a layer mix."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..errors import RequestError
from ..images import load_image
from ._shared import ProgressBar, add_model_argument, model_from_args, print_json, writable_path

NOISE = "noise"  # the IMAGE word for a dream from noise


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "dream",
        help="DeepDream a photo or noise with a mix of layers",
        description="Amplify what a mix of layers sees in a photo, octave by octave.",
    )
    add_model_argument(parser)
    parser.add_argument("image", metavar="IMAGE", help=f"a photo, or the word {NOISE!r} to dream from noise")
    parser.add_argument(
        "--layers",
        metavar="L1:W1,L2:W2",
        help="layer mix, e.g. block4c_add:1.0,block5c_add:1.5 (default: the model's mix)",
    )
    parser.add_argument("--steps", type=int, default=20, help="ascent steps per octave (default 20)")
    parser.add_argument("--lr", type=float, default=0.01, help="step size (default 0.01)")
    parser.add_argument("--octaves", type=int, default=3, help="number of scales (default 3)")
    parser.add_argument("--octave-scale", type=float, default=1.4, help="size ratio between octaves (default 1.4)")
    parser.add_argument("--max-loss", type=float, metavar="X", help="end an octave once its loss exceeds X")
    parser.add_argument("--tile", type=int, metavar="PX", help="dream in tiles of PX pixels (bounded memory)")
    parser.add_argument("--seed", type=int, help="seed for the tiles' random roll and the noise start")
    parser.add_argument(
        "--noise-size", default="448x448", metavar="WxH", help="size of a noise start (default 448x448)"
    )
    parser.add_argument("--out", required=True, metavar="dream.png", help="where to write the dream")
    parser.add_argument("--frames", metavar="DIR", help="also write every frame as DIR/frame_0001.png, …")
    parser.add_argument("--gif", metavar="run.gif", help="also write an animated GIF of the run")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import drawing, dream

    out, gif_path = writable_path(args.out, ".png"), writable_path(args.gif, ".gif") if args.gif else None
    frames_dir = _frames_dir(args.frames) if args.frames else None
    dream.check_settings(
        steps=args.steps, lr=args.lr, octaves=args.octaves, octave_scale=args.octave_scale, max_loss=args.max_loss,
        tile=args.tile, every=1,
    )  # fmt: skip
    image = _start_image(args, dream)  # checked, like the settings, before the model loads
    vm = model_from_args(args)
    layers = dream.parse_layer_mix(args.layers) if args.layers is not None else dream.default_layers(vm)
    request = dream.dream_request(
        vm,
        image,
        layers,
        steps=args.steps,
        lr=args.lr,
        octaves=args.octaves,
        octave_scale=args.octave_scale,
        max_loss=args.max_loss,
        tile=args.tile,
        seed=args.seed,
    )
    frames = dream.run(vm, request)
    started, history, last = time.perf_counter(), [], None
    gif_frames = drawing.GifFrames(image, args.octaves * args.steps) if gif_path else None
    bar = ProgressBar(args.octaves * args.steps, label="dream")
    for index, frame in enumerate(frames, 1):
        bar.update(
            (frame.octave - 1) * args.steps + frame.step, f"octave {frame.octave}/{args.octaves} loss {frame.loss:.2f}"
        )
        history.append({"octave": frame.octave, "step": frame.step, "loss": round(frame.loss, 4)})
        if frames_dir:
            (frames_dir / f"frame_{index:04d}.png").write_bytes(drawing.png_bytes(frame.image))
        if gif_frames:
            gif_frames.add(frame.image)
        last = frame
    bar.close()
    assert last is not None  # dream() yields at least the last step's frame
    out.write_bytes(drawing.png_bytes(last.image))
    if gif_path and gif_frames:
        gif_path.write_bytes(gif_frames.gif())
    _report(args, vm, layers, image, history, time.perf_counter() - started, out, frames_dir, gif_path)
    return 0


def _start_image(args, dream):
    if args.image != NOISE:
        return load_image(args.image)
    width, _, height = args.noise_size.lower().partition("x")
    try:
        return dream.noise_image(int(height), int(width), seed=args.seed)
    except ValueError:
        raise RequestError(f"--noise-size {args.noise_size!r} should be WIDTHxHEIGHT, e.g. 448x448.") from None


def _frames_dir(path: str) -> Path:
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise RequestError(f"--frames {path!r} is a file, not a folder.")
    if not folder.parent.is_dir():
        raise RequestError(f"Cannot create {path!r}: the folder {str(folder.parent)!r} does not exist.")
    folder.mkdir(exist_ok=True)
    return folder


def _report(args, vm, layers, image, history, seconds, out, frames_dir, gif_path) -> None:
    mix = ", ".join(f"{name}:{weight:g}" for name, weight in layers.items())
    steps_run = len(history)
    if args.json:
        print_json(
            {
                "model": vm.name,
                "layers": layers,
                "size": [int(image.shape[1]), int(image.shape[0])],
                "steps": args.steps,
                "octaves": args.octaves,
                "steps_run": steps_run,
                "stopped_early": steps_run < args.steps * args.octaves,
                "loss_start": history[0]["loss"],
                "loss_final": history[-1]["loss"],
                "history": history,
                "seconds": round(seconds, 2),
                "out": str(out),
                "frames": str(frames_dir) if frames_dir else None,
                "gif": str(gif_path) if gif_path else None,
            }
        )
        return
    early = " (max loss reached)" if steps_run < args.steps * args.octaves else ""
    print(
        f"dreamed {steps_run} steps over {args.octaves} octaves{early} with {mix} on {vm.name}: "
        f"loss {history[0]['loss']:.2f} → {history[-1]['loss']:.2f} in {seconds:.1f} s"
    )
    written = (
        [str(out)]
        + ([f"{steps_run} frames in {frames_dir}"] if frames_dir else [])
        + ([str(gif_path)] if gif_path else [])
    )
    print("wrote " + ", ".join(written))
