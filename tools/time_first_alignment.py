"""How long the editor's first alignment of a session takes, with and without the alignment process
prepared (:meth:`diface_editor.engine.align_process.AlignProcess.prepare`, which the editor starts while
a transcript is typed). Each repeat uses a new child process; prints JSON with each time and the medians
(seconds). The disk cache is warm after the first repeat, so the first cold time is the slowest.

Usage: ``.venv/bin/python tools/time_first_alignment.py [AUDIO TEXT_FILE] [--repeats N]``
(default: the demo line).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from diface_editor.core.audio import AudioClip
    from diface_editor.core.paths import resource
    from diface_editor.engine.align_process import AlignProcess

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("audio", nargs="?", default=str(resource("demo", "demo.wav")))
    ap.add_argument("text_file", nargs="?", default=str(resource("demo", "demo.txt")))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    clip = AudioClip.load(args.audio)
    text = Path(args.text_file).read_text(encoding="utf-8")
    out = {"audio": args.audio, "cold_s": [], "prepare_s": [], "prepared_s": []}
    for _ in range(args.repeats):
        for prepared in (False, True):
            proc = AlignProcess()
            try:
                if prepared:
                    t = time.perf_counter()
                    proc.prepare()
                    while proc.preparing:
                        time.sleep(0.02)
                    out["prepare_s"].append(round(time.perf_counter() - t, 3))
                t = time.perf_counter()
                tr = proc.call("align_transcript", clip, text)
                out["prepared_s" if prepared else "cold_s"].append(round(time.perf_counter() - t, 3))
                out["aligned"] = bool(tr.aligned)
            finally:
                proc.shutdown()
    for k in ("cold_s", "prepare_s", "prepared_s"):
        out[k.replace("_s", "_median_s")] = round(statistics.median(out[k]), 3)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
