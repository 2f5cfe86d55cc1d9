"""``python -m vizcore``: the engine on the command line.

Subcommands live in ``vizcore/commands/<name>.py``, each with ``register(subparsers)`` that adds
its parser and sets ``func(args) -> int``. Errors meant for users print one line on stderr and
exit non-zero; there is never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import commands
from .errors import VizcoreError

EXIT_USER_ERROR = 2  # bad input: unknown model, unreadable image, out-of-range parameter
EXIT_INTERNAL = 1  # anything unexpected (reported in one line, too)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(EXIT_USER_ERROR, f"vizcore: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m vizcore", description="See what convolutional networks learn.")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):  # commands/_shared.py: the helpers the commands share
            continue
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


def run() -> None:
    """The installed ``vizcore`` command."""
    raise SystemExit(main())
