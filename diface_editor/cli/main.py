"""The ``diface`` command line. Each subcommand lives in its own module under ``diface_editor.cli``
and exposes ``register(subparsers)``, which adds its parser and sets ``func=run(args) -> int``.

Errors a user can fix (:class:`~diface_editor.core.errors.DifaceError`, missing files, bad values)
print one sentence and exit 1; ``-v`` adds the traceback. Any other exception also ends as one
sentence (naming its type and saying to run with ``-v`` for the traceback) and exit 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from diface_editor import __version__
from diface_editor.core.errors import DifaceError

log = logging.getLogger(__name__)

#: Subcommand modules, in the order ``diface --help`` lists them.
COMMAND_MODULES: list[str] = [
    "diface_editor.cli.cmd_generate",
    "diface_editor.cli.cmd_edit",
    "diface_editor.cli.cmd_info",
    "diface_editor.cli.cmd_export",
    "diface_editor.cli.cmd_render",
    "diface_editor.cli.cmd_train",
    "diface_editor.cli.cmd_bench",
    "diface_editor.cli.cmd_lipsync",
    "diface_editor.cli.cmd_corpus",
    "diface_editor.cli.cmd_eval",
    "diface_editor.cli.cmd_convert_whisper",
    "diface_editor.cli.cmd_import_3diface",
    "diface_editor.cli.cmd_convert_data",
    "diface_editor.cli.cmd_adapt",
    "diface_editor.cli.cmd_distill",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="diface", description="Speech-driven 3D facial animation: "
                                     "generate, edit, export, train and benchmark.")
    parser.add_argument("--version", action="version", version=f"diface {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details and show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def command_names() -> set[str]:
    """The subcommand names (``generate``, ``train``, ...)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("diface: interrupted", file=sys.stderr)
        return 130
    except (DifaceError, OSError, ValueError) as e:
        if args.verbose:
            raise
        msg = str(e) or e.__class__.__name__
        if isinstance(e, OSError) and getattr(e, "filename", None) and str(e.filename) not in msg:
            msg = f"{msg}: {e.filename}"
        print(f"diface: error: {msg}", file=sys.stderr)
        return 1
    except MemoryError:
        if args.verbose:
            raise
        print("diface: error: out of memory (the input asks for more than this machine has); "
              "run with -v for the details", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - the last resort: one sentence, the traceback with -v
        if args.verbose:
            raise
        detail = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        print(f"diface: error: unexpected {e.__class__.__name__}{': ' + detail if detail else ''} "
              f"(a bug or an input diface does not check yet); run with -v for the details", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
