"""Flite through its command line: ``flite -voice V -psdur -f text.txt -o out.wav``.

``-psdur`` prints one line per utterance (Flite splits text at sentence ends) of
``phone:end_time`` pairs in seconds from the start of that utterance; the utterances are
concatenated in the wave, so each line is offset by the previous lines' last end time.
Rate is ``duration_stretch``, pitch ``int_f0_target_mean`` (``rms`` ignores the latter).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from diface_editor.synth.tts.base import Speech, TTSError, VoiceSpec, finish, fit_phones, semitones

log = logging.getLogger(__name__)

#: voice -> default mean F0 in Hz (None: the voice ignores pitch settings)
BASE_F0: dict[str, float | None] = {"slt": 165.0, "kal16": 95.0, "kal": 95.0, "awb": 118.0, "rms": None}
TIMEOUT_S = 120
_cache: dict[str, list[str]] = {}


def _binary() -> str:
    exe = shutil.which("flite")
    if not exe:
        raise TTSError("Flite is not installed (no 'flite' command); install the Debian package flite")
    return exe


def available_voices() -> list[str]:
    """Voices the installed Flite lists (``flite -lv``)."""
    if "voices" not in _cache:
        exe = shutil.which("flite")
        if not exe:
            return []
        r = subprocess.run([exe, "-lv"], capture_output=True, text=True, timeout=30)
        text = (r.stdout + r.stderr).split(":", 1)[-1]
        _cache["voices"] = text.split()
    return list(_cache["voices"])


def available() -> bool:
    return bool(available_voices())


def supports_pitch(voice: str) -> bool:
    return BASE_F0.get(voice) is not None


def parse_psdur(text: str) -> list[tuple[str, float, float]]:
    """``-psdur`` output -> [(phone, start_s, end_s)] over all utterances, in wave time."""
    phones: list[tuple[str, float, float]] = []
    offset = 0.0
    for line in text.splitlines():
        pairs = re.findall(r"([A-Za-z#]+):([0-9.]+)", line)
        if not pairs:
            continue
        t = offset
        for name, end in pairs:
            e = offset + float(end)
            if e > t:
                phones.append((name, t, e))
                t = e
        offset = t
    return phones


def synthesize_raw(text: str, spec: VoiceSpec) -> tuple[np.ndarray, int, list[tuple[str, float, float]]]:
    """(samples float32, sample_rate, [(Flite phone, start_s, end_s)]) without padding."""
    exe = _binary()
    voices = available_voices()
    if spec.voice not in voices:
        raise TTSError(f"Flite has no voice {spec.voice!r}; installed voices: {', '.join(voices) or 'none'}")
    args = [exe, "-voice", spec.voice, "-psdur", "--setf", f"duration_stretch={1.0 / max(spec.rate, 0.2):.4f}"]
    base = BASE_F0.get(spec.voice)
    if base is not None:
        args += ["--setf", f"int_f0_target_mean={base * semitones(spec.pitch):.2f}"]
    with tempfile.TemporaryDirectory(prefix="diface_flite_") as tmp:
        txt, wav = Path(tmp) / "in.txt", Path(tmp) / "out.wav"
        txt.write_text(" ".join(text.split()) + "\n")
        try:
            r = subprocess.run(args + ["-f", str(txt), "-o", str(wav)], capture_output=True, text=True,
                               timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise TTSError(f"Flite took longer than {TIMEOUT_S} s for one utterance") from None
        if r.returncode != 0 or not wav.exists():
            raise TTSError(f"Flite failed with voice {spec.voice!r}: {(r.stderr or r.stdout).strip()[-200:]}")
        samples, sr = sf.read(str(wav), dtype="float32", always_2d=True)
    x = samples.mean(axis=1)
    phones = parse_psdur(r.stdout)
    phones = fit_phones(phones, x.size / sr, 0.02)
    return np.asarray(x, np.float32), int(sr), phones


def synthesize(text: str, spec: VoiceSpec) -> Speech:
    """Speak ``text`` with Flite; phones in the common set (see :class:`Speech`)."""
    samples, sr, phones = synthesize_raw(text, spec)
    return finish(samples, sr, phones, "flite", spec)
