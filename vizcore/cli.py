"""``python -m vizcore``: the engine on the command line.

Subcommands live in ``vizcore/commands/<name>.py``, each with ``register(subparsers)`` that adds
its parser and sets ``func(args) -> int``. Errors meant for users print one line on stderr and
exit non-zero; there is never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from pathlib import Path

from . import commands
from .errors import RequestError, VizcoreError

EXIT_USER_ERROR = 2  # bad input: unknown model, unreadable image, out-of-range parameter
EXIT_INTERNAL = 1    # anything unexpected (reported in one line, too)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(EXIT_USER_ERROR, f"vizcore: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m vizcore", description="See what convolutional networks learn.")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{module_info.name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except VizcoreError as error:
        print(f"vizcore: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("vizcore: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # one line, never a traceback
        print(f"vizcore: internal error: {type(error).__name__}: {error}".splitlines()[0], file=sys.stderr)
        return EXIT_INTERNAL


def print_json(payload) -> None:
    """Write one JSON document on stdout."""
    json.dump(payload, sys.stdout, indent=None if not sys.stdout.isatty() else 2)
    sys.stdout.write("\n")


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    """MODEL, plus the options that say how to read a user's own model."""
    parser.add_argument("model", metavar="MODEL", help="registry name (efficientnet_lite0, vgg16, ...), a model "
                        "of your models folder by name, or a path to a .keras / .h5 file")
    parser.add_argument("--scaling", choices=["0-1", "-1-1", "caffe", "torch", "raw"],
                        help="your model: how it expects pixels scaled (default: remembered beside the file, "
                             "else suggested from the model, else 0-1)")
    parser.add_argument("--labels", metavar="FILE", help="your model: class names, one per line")
    parser.add_argument("--head", choices=["softmax", "logits", "binary", "multilabel", "regression"],
                        help="your model: what its output means (default: read from its last layer)")
    parser.add_argument("--output", metavar="N|NAME", help="your model with several outputs: which one (default 0)")
    parser.add_argument("--custom-objects", metavar="FILE.py",
                        help="your model: a Python file registering its custom classes "
                             "(@keras.saving.register_keras_serializable()); also $VIZCORE_CUSTOM_OBJECTS")


def model_from_args(args):
    from .models import load_model
    from .user_models import import_custom_objects
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
