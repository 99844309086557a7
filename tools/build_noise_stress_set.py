"""A larger noisy-speech set for measuring small differences: every clean and conversational
evaluation recording under babble, pink and white noise.

The evaluation set's ``noisy`` condition has 9 clips (one noise kind at one SNR per clip): too few to
tell a difference of 0.002 in openness correlation from the choice of clips. This set puts each of the
58 clean and conversational recordings of ``data/real_eval`` under each of the three noise kinds of
``tools/build_real_sets.py`` at an SNR drawn uniformly from 5-15 dB (whole-clip RMS), one condition
folder per kind: ``babble``, ``pink``, ``white``, 58 clips each. It is a stress set built from the
same speakers as the evaluation set, not new speakers; the 9-clip ``noisy`` condition stays the one
the model card headlines.

Decided before it was first evaluated (2026-12-04): it is read with
``diface eval --real data/real_eval_noise --with-transcript --no-transcribe``, the quantity is each
condition's ``transcript_minus_teacher`` (with its paired-bootstrap 95 % interval over that
condition's 58 clips), and whatever it gives is reported.

Output (deterministic: the noise of clip ``i`` and kind ``k`` comes from ``default_rng([i, k, 0x5E7])``):
``data/real_eval_noise/<kind>/<name>.wav`` + ``.txt`` and ``data/real_eval_noise/SETS.json``.

Usage: ``.venv/bin/python tools/build_noise_stress_set.py [--eval data/real_eval] [--out data/real_eval_noise]``
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

KINDS = ("babble", "pink", "white")
SOURCES = ("clean", "conversational")
SNR_DB = (5.0, 15.0)


def add_noise(x: np.ndarray, sr: int, kind: str, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """(N,) float32: ``x`` (N,) plus unit-RMS noise of ``kind`` scaled to ``snr_db`` below the clip's
    RMS, peak-limited to 0.98."""
    from diface_editor.synth.augment import babble_noise, pink_noise

    if kind == "babble":
        noise = babble_noise(x, sr, rng)
    elif kind == "pink":
        noise = pink_noise(x.size, rng)
    elif kind == "white":
        noise = rng.standard_normal(x.size).astype(np.float32)
    else:
        raise ValueError(f"unknown noise kind {kind!r}; expected one of {KINDS}")
    rms = float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)) + 1e-9)
    y = np.asarray(x, np.float32) + noise * np.float32(rms * 10 ** (-snr_db / 20))
    return (y / max(1.0, float(np.abs(y).max()) / 0.98)).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    from diface_editor.core.audio import AudioClip, save_wav

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--eval", default=str(ROOT / "data" / "real_eval"), help="the evaluation set (tools/build_real_sets.py)")
    p.add_argument("--out", default=str(ROOT / "data" / "real_eval_noise"))
    a = p.parse_args(argv)
    src, out = Path(a.eval), Path(a.out)
    clips = sorted(w for s in SOURCES for w in (src / s).glob("*.wav") if w.with_suffix(".txt").is_file())
    if not clips:
        print(f"no clean or conversational clips under {src}: run tools/build_real_sets.py first", file=sys.stderr)
        return 2
    if out.exists():
        shutil.rmtree(out)
    listing: list[dict] = []
    for i, wav in enumerate(clips):
        clip = AudioClip.load(wav)
        text = wav.with_suffix(".txt").read_text(encoding="utf-8")
        name = f"{wav.parent.name}_{wav.stem}"
        for k, kind in enumerate(KINDS):
            rng = np.random.default_rng([i, k, 0x5E7])
            snr = float(rng.uniform(*SNR_DB))
            y = add_noise(clip.samples, clip.sample_rate, kind, snr, rng)
            folder = out / kind
            folder.mkdir(parents=True, exist_ok=True)
            save_wav(folder / f"{name}.wav", y, clip.sample_rate)
            (folder / f"{name}.txt").write_text(text.strip() + "\n", encoding="utf-8")
            listing.append({"set": f"{out.name}/{kind}", "name": name,
                            "from": str(wav.relative_to(src.parent)), "how": f"{kind} noise at {snr:.1f} dB SNR"})
    (out / "SETS.json").write_text(json.dumps(listing, indent=1), encoding="utf-8")
    for kind in KINDS:
        print(f"{out.name}/{kind}: {sum(1 for r in listing if r['set'].endswith(kind))} clips")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
