"""Audio augmentation for the synthetic corpus, so a model does not learn one engine's timbre.

Every step keeps the timing (the output has exactly the input's duration at ``out_rate``), so the
phone timings of the clean speech stay valid. Steps, each applied with its probability:
band limiting by a round trip through a lower sample rate, EQ (shelves and a peak) and high/low
pass filters, reverb from a synthetic exponentially decaying impulse response, additive noise
(white, pink or babble-like) at a random SNR (5-35 dB), a telephone channel (300-3400 Hz, 8 kHz,
mu-law or GSM), a lossy codec (MP3 or Opus at low bitrates, through ffmpeg), overdrive with hard or
soft clipping, and a random level (:mod:`diface_editor.synth.channel` has the channel effects).
Seeded through the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from scipy import signal

from diface_editor.synth import channel
from diface_editor.synth.dsp import resample

__all__ = ["AugmentConfig", "augment", "babble_noise", "pink_noise", "resample", "reverb_ir"]


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the augmentation steps (dB, Hz, seconds)."""

    p_bandlimit: float = 0.3
    bandlimit_rates: tuple[int, ...] = (8000, 11025, 12000)
    p_eq: float = 0.7
    eq_gain_db: float = 6.0
    p_highpass: float = 0.3
    highpass_hz: tuple[float, float] = (60.0, 250.0)
    p_lowpass: float = 0.2
    lowpass_hz: tuple[float, float] = (3500.0, 7000.0)
    p_reverb: float = 0.4
    rt60_s: tuple[float, float] = (0.12, 0.6)
    wet: tuple[float, float] = (0.08, 0.35)
    p_noise: float = 0.6
    noise_kinds: tuple[str, ...] = ("white", "pink", "babble")
    snr_db: tuple[float, float] = (5.0, 35.0)
    p_telephone: float = 0.15
    p_codec: float = 0.2
    codecs: tuple[str, ...] = ("mp3", "opus")
    p_clip: float = 0.1
    clip_drive_db: tuple[float, float] = (3.0, 14.0)
    level_db: tuple[float, float] = (-14.0, -1.0)
    extra: dict[str, float] = field(default_factory=dict)


def _biquad(kind: str, f0: float, sr: int, gain_db: float = 0.0, q: float = 0.707) -> tuple[np.ndarray, np.ndarray]:
    """RBJ audio-EQ-cookbook biquad (b, a)."""
    f0 = min(f0, 0.45 * sr)
    a_ = 10 ** (gain_db / 40.0)
    w0 = 2 * math.pi * f0 / sr
    cw, sw = math.cos(w0), math.sin(w0)
    alpha = sw / (2 * q)
    if kind == "peak":
        b = [1 + alpha * a_, -2 * cw, 1 - alpha * a_]
        a = [1 + alpha / a_, -2 * cw, 1 - alpha / a_]
    elif kind in ("lowshelf", "highshelf"):
        s = 2 * math.sqrt(a_) * alpha
        if kind == "lowshelf":
            b = [a_ * ((a_ + 1) - (a_ - 1) * cw + s), 2 * a_ * ((a_ - 1) - (a_ + 1) * cw), a_ * ((a_ + 1) - (a_ - 1) * cw - s)]
            a = [(a_ + 1) + (a_ - 1) * cw + s, -2 * ((a_ - 1) + (a_ + 1) * cw), (a_ + 1) + (a_ - 1) * cw - s]
        else:
            b = [a_ * ((a_ + 1) + (a_ - 1) * cw + s), -2 * a_ * ((a_ - 1) + (a_ + 1) * cw), a_ * ((a_ + 1) + (a_ - 1) * cw - s)]
            a = [(a_ + 1) - (a_ - 1) * cw + s, 2 * ((a_ - 1) - (a_ + 1) * cw), (a_ + 1) - (a_ - 1) * cw - s]
    else:
        raise ValueError(kind)
    b, a = np.asarray(b, np.float64), np.asarray(a, np.float64)
    return b / a[0], a / a[0]


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) unit-RMS noise with a 1/f power spectrum."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    y = np.fft.irfft(spec / np.sqrt(f), n)
    return (y / (np.std(y) + 1e-12)).astype(np.float32)


def babble_noise(speech: np.ndarray, sr: int, rng: np.random.Generator, voices: int = 6) -> np.ndarray:
    """(N,) unit-RMS babble-like noise: time-reversed, shifted, pitch-warped copies of ``speech``."""
    n = speech.size
    out = np.zeros(n, np.float64)
    src = np.asarray(speech, np.float64)[::-1]
    for _ in range(voices):
        k = float(rng.uniform(0.8, 1.25))  # speed/pitch warp by resampling
        warped = signal.resample_poly(src, *Fraction(k).limit_denominator(50).as_integer_ratio()[::-1])
        warped = np.tile(warped, int(np.ceil(2 * n / max(warped.size, 1))) + 1)
        off = int(rng.integers(0, max(1, warped.size - n)))
        out += warped[off:off + n] * rng.uniform(0.5, 1.0)
    out -= out.mean()
    return (out / (np.std(out) + 1e-12)).astype(np.float32)


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    """Cut or zero-pad (M,) to (n,)."""
    return x[:n] if x.size >= n else np.pad(x, (0, n - x.size))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)) + 1e-12)


def reverb_ir(sr: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room impulse response: a direct click, sparse early reflections and an
    exponentially decaying noise tail (-60 dB after ``rt60`` seconds)."""
    n = max(8, int(rt60 * sr))
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)
    tail[: int(0.005 * sr)] = 0.0
    for _ in range(6):
        i = int(rng.uniform(0.003, 0.04) * sr)
        if i < n:
            tail[i] += rng.uniform(-0.6, 0.6)
    b, a = _biquad("lowshelf", 3000.0, sr, -3.0)
    tail = signal.lfilter(b, a, tail)
    tail /= np.sqrt(np.sum(tail ** 2)) + 1e-12
    return tail.astype(np.float32)


def _channel(x: np.ndarray, sr: int, rng: np.random.Generator, config: AugmentConfig, desc: dict) -> np.ndarray:
    """The transmission steps after the room and the noise: telephone or codec, then clipping."""
    if rng.random() < config.p_telephone:
        x, desc["telephone"] = channel.telephone(x, sr, rng)
    elif config.codecs and rng.random() < config.p_codec:
        codec = config.codecs[int(rng.integers(len(config.codecs)))]
        x, desc["codec"] = channel.lossy_codec(x, sr, codec, rng=rng)
    if rng.random() < config.p_clip:
        drive, soft = float(rng.uniform(*config.clip_drive_db)), bool(rng.random() < 0.5)
        x = channel.clip(x, drive, soft=soft)
        desc["clip"] = {"drive_db": round(drive, 2), "soft": soft}
    return np.asarray(x, np.float32)


def augment(samples: np.ndarray, sample_rate: int, rng: np.random.Generator,
            config: AugmentConfig = AugmentConfig(), out_rate: int = 16000) -> tuple[np.ndarray, dict]:
    """Augment (N,) speech and resample it to ``out_rate``.

    Returns ``(audio (M,) float32 at out_rate with M = round(N * out_rate / sample_rate),
    description)`` where ``description`` is a JSON-serialisable dict of the applied steps.
    """
    desc: dict = {}
    x = resample(np.asarray(samples, np.float32), sample_rate, out_rate)
    sr = out_rate
    n = x.size
    if rng.random() < config.p_bandlimit:
        low = int(config.bandlimit_rates[int(rng.integers(len(config.bandlimit_rates)))])
        if low < sr:
            x = _fit(resample(resample(x, sr, low), low, sr), n)
            desc["bandlimit_hz"] = low
    if rng.random() < config.p_eq:
        g = config.eq_gain_db
        eq = {"lowshelf_db": float(rng.uniform(-g, g)), "highshelf_db": float(rng.uniform(-g, g)),
              "peak_hz": float(np.exp(rng.uniform(np.log(300), np.log(4000)))), "peak_db": float(rng.uniform(-g, g))}
        for kind, f0, gain in (("lowshelf", 250.0, eq["lowshelf_db"]), ("highshelf", 3500.0, eq["highshelf_db"]),
                               ("peak", eq["peak_hz"], eq["peak_db"])):
            b, a = _biquad(kind, f0, sr, gain, q=1.0 if kind == "peak" else 0.707)
            x = signal.lfilter(b, a, x).astype(np.float32)
        desc["eq"] = {k: round(v, 2) for k, v in eq.items()}
    if rng.random() < config.p_highpass:
        fc = float(rng.uniform(*config.highpass_hz))
        sos = signal.butter(2, fc, "highpass", fs=sr, output="sos")
        x = signal.sosfilt(sos, x).astype(np.float32)
        desc["highpass_hz"] = round(fc, 1)
    if rng.random() < config.p_lowpass:
        fc = float(rng.uniform(*config.lowpass_hz))
        sos = signal.butter(4, min(fc, 0.45 * sr), "lowpass", fs=sr, output="sos")
        x = signal.sosfilt(sos, x).astype(np.float32)
        desc["lowpass_hz"] = round(fc, 1)
    if rng.random() < config.p_reverb:
        rt60, wet = float(rng.uniform(*config.rt60_s)), float(rng.uniform(*config.wet))
        ir = reverb_ir(sr, rt60, rng)
        rev = signal.fftconvolve(x, ir)[:n]
        x = ((1 - wet) * x + wet * rev * (_rms(x) / _rms(rev))).astype(np.float32)
        desc["reverb"] = {"rt60_s": round(rt60, 3), "wet": round(wet, 3)}
    if rng.random() < config.p_noise:
        kind = config.noise_kinds[int(rng.integers(len(config.noise_kinds)))]
        snr = float(rng.uniform(*config.snr_db))
        if kind == "white":
            noise = rng.standard_normal(n).astype(np.float32)
        elif kind == "pink":
            noise = pink_noise(n, rng)
        else:
            noise = babble_noise(x, sr, rng)
        # SNR relative to the active speech level (frames above -35 dB of the peak frame)
        frames = x[: n - n % 160].reshape(-1, 160) if n >= 160 else x.reshape(1, -1)
        fr = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
        active = fr[fr > fr.max() * 10 ** (-35 / 20)] if fr.size else fr
        speech_rms = float(np.sqrt(np.mean(active ** 2))) if active.size else _rms(x)
        x = (x + noise * (speech_rms / 10 ** (snr / 20))).astype(np.float32)
        desc["noise"] = {"kind": kind, "snr_db": round(snr, 2)}
    x = _channel(x, sr, rng, config, desc)
    level = float(rng.uniform(*config.level_db))
    peak = float(np.max(np.abs(x))) + 1e-12
    x = (x * (10 ** (level / 20) / peak)).astype(np.float32)
    desc["peak_dbfs"] = round(level, 2)
    return np.clip(x, -1.0, 1.0), desc
