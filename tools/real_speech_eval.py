"""Lip sync of a model on real recorded speech (no motion ground truth): jaw correlation with the
teacher on the same pocketsphinx alignment and lip closure on p/b/m.

Input: a folder of ``<name>.wav`` + ``<name>.txt`` (transcript) pairs. The recordings used for the
shipped model card come from the pocketsphinx 5.1.1 source distribution on PyPI (test data):

* ``test/data/librivox/sense_and_sensibility_01_austen_64kb-08{70,80,90}``, ``-09{20,30}`` (.wav +
  .txt): a LibriVox reading of *Sense and Sensibility* (LibriVox recordings are in the public
  domain), 16 kHz mono;
* ``test/data/goforward.raw`` ("go forward ten meters", CMU, BSD-style pocketsphinx licence):
  16 kHz 16-bit raw, converted with ``sox -t raw -r 16000 -e signed -b 16 -c 1 goforward.raw goforward.wav``.

Get them with ``pip download pocketsphinx==5.1.1 --no-binary :all: --no-deps`` (the sdist) and copy
the files out of the archive (see MODEL_CARD.md of models/default).

Usage::

    .venv/bin/python tools/real_speech_eval.py data/realspeech [--model DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", help="folder of <name>.wav + <name>.txt pairs")
    p.add_argument("--model", default=None, help="model bundle (default: models/default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, metavar="OUT", help="write the report here")
    a = p.parse_args(argv)

    import torch

    from diface_editor.core.audio import AudioClip
    from diface_editor.engine.evaluate import real_speech_report
    from diface_editor.engine.loading import load_model

    torch.set_num_threads(a.threads)
    items = []
    for wav in sorted(Path(a.folder).glob("*.wav")):
        txt = wav.with_suffix(".txt")
        if txt.is_file():
            items.append((wav.stem, AudioClip.load(wav), txt.read_text(encoding="utf-8").strip()))
    if not items:
        print(f"no <name>.wav + <name>.txt pairs in {a.folder}", file=sys.stderr)
        return 1
    rep = real_speech_report(load_model(a.model), items, seed=a.seed)
    text = json.dumps(rep, indent=1)
    if a.json:
        Path(a.json).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
