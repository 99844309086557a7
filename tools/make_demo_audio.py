"""Regenerate resources/demo/demo.wav and demo.txt (the editor's demo voice line) with Festival.

Run: .venv/bin/python tools/make_demo_audio.py
Needs the Debian packages festival and festvox-us-slt-hts. Output: 16 kHz mono 16-bit WAV.
"""

from __future__ import annotations

import numpy as np

from diface_editor.core.audio import save_wav
from diface_editor.core.paths import resource
from diface_editor.synth.augment import resample
from diface_editor.synth.tts import VoiceSpec, synthesize

TEXT = ("Hello there! This is a short voice line for trying out the editor. "
        "Pin a pose, pick a stretch you do not like, and let the model try again.")
VOICE = VoiceSpec("festival", "slt", rate=1.0, lead=0.3, trail=0.4)


def main() -> None:
    speech = synthesize(TEXT, VOICE)
    audio = resample(speech.samples, speech.sample_rate, 16000)
    audio = (audio * (10 ** (-1.0 / 20) / float(np.max(np.abs(audio))))).astype(np.float32)
    out = resource("demo", "demo.wav")
    out.parent.mkdir(parents=True, exist_ok=True)
    save_wav(out, audio, 16000)
    resource("demo", "demo.txt").write_text(TEXT + "\n", encoding="utf-8")
    print(f"wrote {out} ({audio.size / 16000:.2f} s)")


if __name__ == "__main__":
    main()
