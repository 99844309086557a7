"""Split the collected real recordings into the evaluation set and the training recordings.

Input: ``data/realspeech_raw`` as written by ``tools/collect_real_speech.py`` (16 kHz mono
``<source>/<name>.wav`` + ``.txt`` and ``manifest.json`` with each file's split, speaker and
condition). Output (deterministic):

* ``data/real_eval/clean``: read speech (LibriVox *Sense and Sensibility*, CMU ARCTIC awb, MFA's read
  sentences);
* ``data/real_eval/conversational``: MFA's spontaneous monologues and conversational utterances
  (fillers, cut-offs, laughter, breaths; whispered and falsetto clips are left out);
* ``data/real_eval/telephone``: the clean clips and the three monologues through a telephone channel
  (300-3400 Hz, 8 kHz, G.711 mu-law; no transcribed real telephone recording ships in a package);
* ``data/real_eval/noisy``: the same clips with babble, pink or white noise at 5-15 dB SNR, plus the
  JFK inaugural excerpt (a reverberant, hissy 1961 broadcast);
* ``data/real_train``: the recordings marked TRAIN (other speakers): for ``diface corpus add-recordings``.

Usage: ``.venv/bin/python tools/build_real_sets.py [--raw data/realspeech_raw] [--out data]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLEAN_SOURCES = ("pocketsphinx_librivox",)
DEGRADED = ("jfk",)


def _condition(row: dict) -> str | None:
    """Evaluation condition of a manifest row (None: not evaluated)."""
    src, cond = row["source"], row.get("condition", "")
    if row.get("split") != "EVAL":
        return None
    if src in DEGRADED:
        return "noisy"
    if src in CLEAN_SOURCES or src == "cmu_arctic" or cond.startswith("read sentence"):
        return "clean"
    if src == "mfa" and ("whisper" in cond or "falsetto" in cond):
        return None
    if src == "mfa":
        return "conversational"
    return None


def main(argv: list[str] | None = None) -> int:
    from diface_editor.core.audio import AudioClip, save_wav
    from diface_editor.synth import channel
    from diface_editor.synth.augment import babble_noise, pink_noise

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--raw", default=str(ROOT / "data" / "realspeech_raw"))
    p.add_argument("--out", default=str(ROOT / "data"))
    a = p.parse_args(argv)
    raw, out = Path(a.raw), Path(a.out)
    rows = json.loads((raw / "manifest.json").read_text(encoding="utf-8"))
    ev, tr = out / "real_eval", out / "real_train"
    for d in (ev, tr):
        if d.exists():
            shutil.rmtree(d)
    listing: list[dict] = []

    def put(folder: Path, name: str, x: np.ndarray, sr: int, text: str, row: dict, how: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        save_wav(folder / f"{name}.wav", np.clip(x, -1, 1).astype(np.float32), sr)
        (folder / f"{name}.txt").write_text(text.strip() + "\n", encoding="utf-8")
        listing.append({"set": str(folder.relative_to(out)), "name": name, "from": row["file"], "how": how,
                        "licence": row.get("licence"), "package": row.get("package"), "speaker": row.get("speaker")})

    for i, row in enumerate(rows):
        clip = AudioClip.load(raw / row["file"])
        x, sr, text = clip.samples, clip.sample_rate, row["transcript"]
        name = Path(row["file"]).stem
        if row.get("split") == "TRAIN":
            put(tr, f"{row['source']}_{name}", x, sr, text, row, "as collected")
            continue
        cond = _condition(row)
        if cond is None:
            continue
        put(ev / cond, name, x, sr, text, row, "as collected")
        long_mono = cond == "conversational" and row.get("duration_s", 0) > 20
        if cond == "clean" or long_mono:
            rng = np.random.default_rng([i, 0x7E1])
            y, desc = channel.telephone(x, sr, rng, codec="mulaw")
            put(ev / "telephone", name, y, sr, text, row, f"telephone channel {desc}")
            kind = ("babble", "pink", "white")[i % 3]
            snr = float(rng.uniform(5.0, 15.0))
            noise = {"babble": lambda: babble_noise(x, sr, rng), "pink": lambda: pink_noise(x.size, rng),
                     "white": lambda: rng.standard_normal(x.size).astype(np.float32)}[kind]()
            rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-9)
            y = x + noise * (rms * 10 ** (-snr / 20))
            y = y / max(1.0, float(np.abs(y).max()) / 0.98)
            put(ev / "noisy", name, y, sr, text, row, f"{kind} noise at {snr:.1f} dB SNR (whole-clip RMS)")
    (out / "real_eval" / "SETS.json").write_text(json.dumps(listing, indent=1), encoding="utf-8")
    for d in sorted({r["set"] for r in listing}):
        n = sum(1 for r in listing if r["set"] == d)
        print(f"{d}: {n} clips")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
