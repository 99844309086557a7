"""Transmission-channel effects for corpus audio: telephone band, lossy codecs, clipping, tempo.

These are the conditions where a lip-sync model trained on clean text-to-speech fails first on
real recordings: narrow-band telephone speech (300-3400 Hz at 8 kHz, G.711 mu-law or GSM), lossy
internet codecs (MP3, Opus at low bitrates), overdriven microphones (clipping) and speaking-rate
changes. Every function takes and returns (N,) float32 mono audio at the same sample rate and keeps
the timing (output length = input length, codec delays removed) except :func:`change_tempo`, which
scales the duration by ``1 / factor`` (phone times are scaled the same way by the caller).

Codecs and tempo go through the ``ffmpeg`` and ``sox`` programs (Debian packages ``ffmpeg`` and
``sox``); a missing program is a :class:`~diface_editor.core.errors.DifaceError` naming the package.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from scipy import signal

from diface_editor.core.errors import DifaceError
from diface_editor.synth.dsp import resample

#: Codecs :func:`lossy_codec` knows: name -> (ffmpeg encoder arguments, container suffix, rate used).
CODECS: dict[str, tuple[tuple[str, ...], str, int]] = {
    "mp3": (("-c:a", "libmp3lame"), ".mp3", 16000),
    "opus": (("-c:a", "libopus", "-application", "voip"), ".ogg", 16000),
    "gsm": (("-c:a", "libgsm", "-f", "gsm"), ".gsm", 8000),
}


def _program(name: str, package: str) -> str:
    path = shutil.which(name)
    if not path:
        raise DifaceError(f"the program {name!r} is needed for this corpus augmentation; "
                          f"install the Debian package {package} (apt-get install {package})")
    return path


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x[:n] if x.size >= n else np.pad(x, (0, n - x.size))


def mu_law(x: np.ndarray, mu: int = 255) -> np.ndarray:
    """G.711-style 8-bit mu-law quantisation (compress, round to 8 bits, expand) of (N,) audio."""
    x = np.clip(np.asarray(x, np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    y = np.round(y * 127.0) / 127.0
    return (np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu).astype(np.float32)


def telephone(x: np.ndarray, sr: int, rng: np.random.Generator, codec: str | None = None) -> tuple[np.ndarray, dict]:
    """Narrow-band telephone channel: 300-3400 Hz band-pass (with slightly random edges), 8 kHz
    sampling, then mu-law (or ``codec="gsm"``), and back to ``sr``. Returns (audio, description)."""
    n = x.size
    lo, hi = float(rng.uniform(250.0, 400.0)), float(rng.uniform(3200.0, 3500.0))
    sos = signal.butter(4, [lo, min(hi, 0.45 * sr)], "bandpass", fs=sr, output="sos")
    y = signal.sosfilt(sos, x).astype(np.float32)
    codec = codec or ("gsm" if rng.random() < 0.3 else "mulaw")
    nb = resample(y, sr, 8000)
    peak = float(np.max(np.abs(nb))) + 1e-9
    nb = nb * (0.7 / peak)
    nb = mu_law(nb) if codec == "mulaw" else lossy_codec(nb, 8000, "gsm")[0]
    return _fit(resample(nb, 8000, sr), n) * (peak / 0.7), {"band_hz": [round(lo), round(hi)], "codec": codec}


def _align(ref: np.ndarray, y: np.ndarray, max_lag: int) -> np.ndarray:
    """``y`` shifted so that it lines up with ``ref`` (codec delay removed), cut/padded to ref's length."""
    m = min(ref.size, y.size, 5 * 16000)
    if m < 2 * max_lag + 16:
        return _fit(y, ref.size)
    a = np.asarray(ref[:m], np.float64)
    b = np.asarray(y[:m + max_lag] if y.size >= m + max_lag else np.pad(y, (0, m + max_lag - y.size)), np.float64)
    corr = signal.correlate(b, a, mode="valid", method="fft")  # lag 0..max_lag
    lag = int(np.argmax(corr[:max_lag + 1]))
    return _fit(np.asarray(y[lag:], np.float32), ref.size)


def lossy_codec(x: np.ndarray, sr: int, codec: str, kbps: float | None = None,
                rng: np.random.Generator | None = None) -> tuple[np.ndarray, dict]:
    """Encode (N,) audio with ``codec`` (see :data:`CODECS`) through ffmpeg and decode it back to
    ``sr``, delay removed, same length. ``kbps`` defaults to a random low bitrate (MP3 16-48, Opus
    8-24); GSM is fixed at 13 kbps and 8 kHz."""
    if codec not in CODECS:
        raise DifaceError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")
    ff = _program("ffmpeg", "ffmpeg")
    args, suffix, rate = CODECS[codec]
    rng = rng or np.random.default_rng(0)
    if kbps is None and codec != "gsm":
        kbps = float(rng.choice([16, 24, 32, 48])) if codec == "mp3" else float(rng.choice([8, 12, 16, 24]))
    n = x.size
    src = resample(x, sr, rate) if sr != rate else np.asarray(x, np.float32)
    pcm = (np.clip(src, -1, 1) * 32767).astype("<i2").tobytes()
    with tempfile.TemporaryDirectory(prefix="diface-codec-") as tmp:
        enc = Path(tmp) / f"enc{suffix}"
        cmd = [ff, "-v", "error", "-y", "-f", "s16le", "-ar", str(rate), "-ac", "1", "-i", "pipe:0", *args]
        if kbps is not None:
            cmd += ["-b:a", f"{int(kbps)}k"]
        dec = [ff, "-v", "error"] + (["-f", "gsm", "-ar", "8000"] if codec == "gsm" else []) + [
            "-i", str(enc), "-f", "s16le", "-ar", str(rate), "-ac", "1", "pipe:1"]
        try:
            subprocess.run(cmd + [str(enc)], input=pcm, check=True, capture_output=True)
            out = subprocess.run(dec, check=True, capture_output=True).stdout
        except subprocess.CalledProcessError as e:
            msg = e.stderr.decode(errors="replace").strip().splitlines()
            raise DifaceError(f"ffmpeg could not round-trip audio through {codec}: {msg[-1] if msg else e}") from e
    y = np.frombuffer(out, "<i2").astype(np.float32) / 32767.0
    y = _align(src, y, max_lag=int(0.08 * rate))
    if sr != rate:
        y = _fit(resample(y, rate, sr), n)
    return y, {"codec": codec, "kbps": kbps if kbps is not None else 13}


def clip(x: np.ndarray, drive_db: float, soft: bool = False) -> np.ndarray:
    """Overdrive (N,) audio by ``drive_db`` above full scale of its peak and clip it (hard, or a
    tanh soft clip); the result is scaled back to the input's peak."""
    x = np.asarray(x, np.float32)
    peak = float(np.max(np.abs(x))) + 1e-9
    g = 10 ** (drive_db / 20) / peak
    y = np.tanh(x * g) if soft else np.clip(x * g, -1.0, 1.0)
    return (y * peak).astype(np.float32)


def change_tempo(x: np.ndarray, sr: int, factor: float) -> np.ndarray:
    """Speaking rate times ``factor`` (1.2 = 20 % faster) with the pitch kept (sox ``tempo``, WSOLA).
    The output lasts ``len(x) / factor`` samples (rounded); phone times scale by ``1 / factor``."""
    if not 0.5 <= factor <= 2.0:
        raise DifaceError(f"tempo factor {factor} is outside 0.5-2.0")
    sox = _program("sox", "sox")
    n_out = int(round(x.size / factor))
    pcm = (np.clip(np.asarray(x, np.float32), -1, 1) * 32767).astype("<i2").tobytes()
    fmt = ["-t", "raw", "-r", str(sr), "-e", "signed", "-b", "16", "-c", "1"]
    out = subprocess.run([sox, *fmt, "-", *fmt, "-", "tempo", "-s", f"{factor:.4f}"], input=pcm,
                         check=True, capture_output=True).stdout
    return _fit(np.frombuffer(out, "<i2").astype(np.float32) / 32767.0, n_out)
