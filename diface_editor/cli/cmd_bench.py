"""``diface bench NAME``: run a benchmark and print one JSON object on stdout."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from diface_editor.bench import BENCHES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark (prints JSON)", description=__doc__)
    bsub = p.add_subparsers(dest="bench", metavar="NAME")
    for name, (module, help_) in BENCHES.items():
        bp = bsub.add_parser(name, help=help_)
        bp.set_defaults(func=run, bench_module=module)
        # argument definitions are imported lazily only when they are cheap (no Qt/torch at import)
        mod = importlib.import_module(module)
        if hasattr(mod, "add_arguments"):
            mod.add_arguments(bp)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def run(args: argparse.Namespace) -> int:
    mod = importlib.import_module(args.bench_module)
    result = mod.run(args)
    json.dump(result, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
    return 0
