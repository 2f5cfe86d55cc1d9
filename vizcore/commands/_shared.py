"""What the CLI subcommands share: the model arguments, JSON output, output paths, a progress bar."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import RequestError
from ..registry import USER_SCALINGS


def print_json(payload) -> None:
    """Write one JSON document on stdout."""
    json.dump(payload, sys.stdout, indent=None if not sys.stdout.isatty() else 2)
    sys.stdout.write("\n")


def add_model_argument(parser: argparse.ArgumentParser, *, optional: bool = False) -> None:
    """MODEL (``optional``: it may be left out, the command checks when it needs it), plus the options
    that say how to read a user's own model."""
    parser.add_argument(
        "model",
        metavar="MODEL",
        nargs="?" if optional else None,
        help="registry name (efficientnet_lite0, vgg16, ...), a model "
        "of your models folder by name, or a path to a .keras / .h5 file",
    )
    parser.add_argument(
        "--scaling",
        choices=list(USER_SCALINGS),
        help="your model: how it expects pixels scaled (default: remembered beside the file, "
        "else suggested from the model, else 0-1)",
    )
    parser.add_argument("--labels", metavar="FILE", help="your model: class names, one per line")
    parser.add_argument(
        "--head",
        choices=["softmax", "logits", "binary", "multilabel", "regression"],
        help="your model: what its output means (default: read from its last layer)",
    )
    parser.add_argument("--output", metavar="N|NAME", help="your model with several outputs: which one (default 0)")
    parser.add_argument(
        "--custom-objects",
        metavar="FILE.py",
        help="your model: a Python file registering its custom classes "
        "(@keras.saving.register_keras_serializable()); also $VIZCORE_CUSTOM_OBJECTS",
    )


def model_from_args(args):
    from ..loading import load_model
    from ..user_models import import_custom_objects

    if getattr(args, "custom_objects", None):
        import_custom_objects(args.custom_objects)
    return load_model(args.model, scaling=args.scaling, labels_path=args.labels, head=args.head, output=args.output)


def writable_path(path: str, suffix: str) -> Path:
    """An output path, checked before any work: its folder exists and the suffix is right."""
    target = Path(path)
    if target.suffix.lower() != suffix:
        raise RequestError(f"{path!r} should end in {suffix}.")
    if not target.parent.is_dir():
        raise RequestError(f"Cannot write {path!r}: the folder {str(target.parent)!r} does not exist.")
    return target


class ProgressBar:
    """A one-line progress bar on stderr: ``label [#####.....] 12/30 detail``."""

    def __init__(self, total: int, label: str = "", width: int = 30, stream=None):
        self.total, self.label, self.width = max(total, 1), label, width
        self.stream = stream or sys.stderr

    def update(self, done: int, detail: str = "") -> None:
        filled = int(self.width * min(done, self.total) / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total} {detail}".rstrip() + " ")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def add_ascent_arguments(parser) -> None:
    """--mode, --param, --images, --steps, --lr, --size and --seed: how a feature visualisation climbs
    (filters, atlas, visualize); :func:`ascent_mode` reads --mode and --param together."""
    parser.add_argument(
        "--mode",
        choices=["classic", "robust"],
        help="classic (default): the Keras example; robust: Lucid's transforms (cleaner, slower)",
    )
    parser.add_argument(
        "--param",
        choices=["fourier", "maco"],
        default="fourier",
        help="robust mode's picture: fourier (default, Lucid's 1/f spectrum) or maco (a natural photos' "
        "magnitude, only the phase optimised, random crops: Fel et al., 2023; implies --mode robust)",
    )
    parser.add_argument(
        "--images", metavar="DIR", help="maco: the photos its magnitude spectrum comes from (default: the samples)"
    )
    parser.add_argument("--steps", type=int, help="optimisation steps (default: 30 classic, 96 robust, 256 maco)")
    parser.add_argument("--lr", type=float, help="step size (default: 10 classic, 0.1 robust, 0.2 maco)")
    parser.add_argument(
        "--size", type=int, metavar="PX", help="image side in pixels (default: 180 classic, ~128 robust and maco)"
    )
    parser.add_argument("--seed", type=int, default=0, help="same seed, same images (default 0)")


def add_class_arguments(parser: argparse.ArgumentParser) -> None:
    """An audit's class (``--class``, required) and which of its photos count (``--by``): strategies and concepts."""
    parser.add_argument("--class", dest="class_name", metavar="C", required=True, help="the class: name or number")
    parser.add_argument(
        "--by",
        choices=["true", "predicted"],
        default="true",
        help="the class's photos: labelled it (default), or called it",
    )


def ascent_mode(args) -> str:
    """The engine's mode of --mode and --param: classic, robust or maco.

    Raises:
        RequestError: --param maco with --mode classic, --images without --param maco or not a folder.
    """
    if args.param == "maco":
        if args.mode == "classic":
            raise RequestError("--param maco is a picture of robust mode: give --mode robust or leave --mode out.")
        if args.images and not Path(args.images).is_dir():
            raise RequestError(f"No folder at {args.images!r} to take MaCo's spectrum from.")
        return "maco"
    if args.images:
        raise RequestError("--images gives MaCo's spectrum: use it with --param maco.")
    return args.mode or "classic"


def write_png(image, path: Path) -> Path:
    """Write an RGB uint8 image as a PNG, making its folder; RequestError (one line) if it cannot."""
    from ..drawing import png_bytes

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png_bytes(image))
    except OSError as error:
        raise RequestError(f"Cannot write {path}: {error.strerror or error}") from None
    return path


def check_transparency(path: str | None, mode: str) -> Path | None:
    """``--transparency``'s PNG path, checked before the model loads; RequestError unless a MaCo run."""
    if path is None:
        return None
    if mode != "maco":
        raise RequestError("--transparency needs a MaCo run: add --param maco.")
    return writable_path(path, ".png")


def write_transparency(frame, path: Path, cols: int = 8) -> Path:
    """Write a MaCo run's pictures as a grid, each picture's transparency map as its opacity."""
    from ..drawing import grid
    from ..transparency import with_transparency

    return write_png(grid(with_transparency(frame.images, frame.transparency), cols=cols), path)
