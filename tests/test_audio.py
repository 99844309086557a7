"""AudioClip: decoding, mix-down, anti-aliased resampling, hashing, peaks and clear errors."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf

from diface_editor.core.atomic import WriteError
from diface_editor.core.audio import AudioClip, AudioError, describe_audio, save_wav
from diface_editor.core.errors import DifaceError


def tone(freq: float, rate: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def amplitude_at(x: np.ndarray, rate: int, freq: float) -> float:
    """Amplitude of the ``freq`` component (Hann-windowed DFT, edges trimmed)."""
    x = x[len(x) // 10: -len(x) // 10].astype(np.float64)
    w = np.hanning(len(x))
    t = np.arange(len(x)) / rate
    return float(2 * abs(np.sum(x * w * np.exp(-2j * np.pi * freq * t))) / w.sum())


def test_8_channel_96k_file_mixes_down_and_resamples_without_aliasing(tmp_path):
    rate = 96000
    low, high = tone(1000, rate, 0.5), tone(30000, rate, 0.5)
    d = np.random.default_rng(0).uniform(-0.2, 0.2, (len(low), 8)).astype(np.float32)
    chans = (low + high)[:, None] + (d - d.mean(axis=1, keepdims=True))  # 8 different channels, mean = low + high
    p = tmp_path / "eight.wav"
    sf.write(p, chans, rate, subtype="FLOAT")
    clip = AudioClip.load(p)
    assert clip.channels == 8 and clip.sample_rate == rate
    assert clip.n_samples == len(low)
    np.testing.assert_allclose(clip.samples, low + high, atol=1e-6)

    y = clip.resampled(16000)
    assert y.dtype == np.float32 and len(y) == len(low) // 6
    assert amplitude_at(y, 16000, 1000) == pytest.approx(0.5, abs=0.01)
    # 30 kHz is above 8 kHz Nyquist: it must be removed, not folded to |30000 - 2*16000| = 2 kHz
    assert amplitude_at(y, 16000, 2000) < 0.005
    peak = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    assert np.argmax(peak) * 16000 / len(y) == pytest.approx(1000, abs=5)
    assert clip.resampled(16000) is y  # cached per rate


def test_channels_are_averaged(tmp_path):
    rate = 8000
    left, right = tone(200, rate, 0.2), tone(300, rate, 0.2, amp=0.25)
    p = tmp_path / "stereo.flac"
    sf.write(p, np.stack([left, right], 1), rate, subtype="PCM_24")
    clip = AudioClip.load(p)
    np.testing.assert_allclose(clip.samples, (left + right) / 2, atol=1e-5)
    assert clip.duration == pytest.approx(0.2)


def test_ogg_loads(tmp_path):
    p = tmp_path / "a.ogg"
    sf.write(p, tone(440, 22050, 0.5), 22050, format="OGG", subtype="VORBIS")
    clip = AudioClip.load(p)
    assert clip.sample_rate == 22050 and abs(clip.duration - 0.5) < 0.01
    assert amplitude_at(clip.resampled(16000), 16000, 440) == pytest.approx(0.5, abs=0.05)


def test_sha256_is_stable_and_content_based(tmp_path):
    x = tone(440, 16000, 0.3)
    a, b = AudioClip.from_array(x, 16000), AudioClip.from_array(x.copy(), 16000)
    assert a.sha256 == b.sha256 and len(a.sha256) == 64
    c = x.copy()
    c[100] += 1e-3
    assert AudioClip.from_array(c, 16000).sha256 != a.sha256
    assert AudioClip.from_array(x, 22050).sha256 != a.sha256
    p = tmp_path / "x.wav"
    save_wav(p, x, 16000, subtype="FLOAT")
    assert AudioClip.load(p).sha256 == a.sha256  # decoded samples, not file bytes


def test_peaks_match_brute_force_at_every_zoom():
    rng = np.random.default_rng(1)
    rate = 16000
    x = (rng.standard_normal(rate * 7 + 123) * 0.1).astype(np.float32)
    x[50_000] = 0.99
    x[90_001] = -0.97
    clip = AudioClip.from_array(x, rate)
    mins, maxs = clip.peaks(0, clip.duration, 100)
    assert mins.shape == (100,) and maxs.shape == (100,)
    assert maxs.max() == pytest.approx(0.99) and mins.min() == pytest.approx(-0.97)
    # every bin's envelope contains the true samples of its (block-snapped) span
    for start, end, n in [(0.0, clip.duration, 100), (1.0, 1.5, 200), (3.1, 3.1005, 4), (2.0, 6.0, 37)]:
        lo, hi = clip.peaks(start, end, n)
        edges = np.linspace(start * rate, end * rate, n + 1)
        for i in range(n):
            a, b = int(np.ceil(edges[i])), int(np.floor(edges[i + 1]))
            snap = int(np.ceil((b - a) / 8)) + 1  # bin edges may snap by up to 1/8 bin
            inner = x[a + snap: b - snap]
            if inner.size:
                assert lo[i] <= inner.min() + 1e-7 and hi[i] >= inner.max() - 1e-7
            outer = x[max(0, a - snap): b + snap]
            assert lo[i] >= outer.min() - 1e-7 and hi[i] <= outer.max() + 1e-7
            assert lo[i] <= hi[i]
    # fully zoomed-in bins agree with the samples exactly
    lo, hi = clip.peaks(1.0, 1.0 + 64 / rate, 64)
    np.testing.assert_allclose(lo, x[rate: rate + 64])
    np.testing.assert_allclose(hi, x[rate: rate + 64])


def test_peaks_outside_the_clip_are_zero():
    clip = AudioClip.from_array(np.full(16000, 0.5, np.float32), 16000)
    lo, hi = clip.peaks(-1.0, 2.0, 30)
    assert np.all(hi[:10] == 0) and np.all(hi[20:] == 0) and np.all(hi[10:20] == 0.5)


def test_peaks_fast_on_long_clip_smoke():
    # 10 minutes at 48 kHz: the pyramid is built once, then any view is cheap (timed in bench, not here)
    clip = AudioClip.from_array(np.zeros(48000 * 600, np.float32), 48000)
    for start, end in [(0, 600), (100, 100.01), (599, 601)]:
        lo, hi = clip.peaks(start, end, 1500)
        assert lo.shape == (1500,)


@pytest.mark.parametrize("case", ["missing", "empty", "zero_samples", "text", "truncated", "nan", "folder"])
def test_clear_errors(tmp_path, case):
    p = tmp_path / "bad.wav"
    expect = {"missing": "not found", "empty": "empty", "zero_samples": "contains no audio",
              "text": "not a supported audio file", "truncated": "truncated", "nan": "NaN",
              "folder": "folder"}[case]
    if case == "empty":
        p.write_bytes(b"")
    elif case == "zero_samples":
        sf.write(p, np.zeros(0, np.float32), 16000)
    elif case == "text":
        p = tmp_path / "notes.wav"
        p.write_text("this is not audio at all, just some words\n" * 10)
    elif case == "truncated":
        sf.write(p, tone(440, 16000, 1.0), 16000, subtype="PCM_16")
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])
    elif case == "nan":
        x = tone(440, 16000, 0.1)
        x[10] = np.nan
        sf.write(p, x, 16000, subtype="FLOAT")
    elif case == "folder":
        p = tmp_path / "dir.wav"
        p.mkdir()
    with pytest.raises(AudioError) as ei:
        AudioClip.load(p)
    msg = str(ei.value)
    assert expect in msg and "\n" not in msg
    assert isinstance(ei.value, DifaceError)


def test_truncated_wav_can_be_loaded_on_request(tmp_path):
    p = tmp_path / "cut.wav"
    sf.write(p, tone(440, 16000, 1.0), 16000, subtype="PCM_16")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    clip = AudioClip.load(p, allow_truncated=True)
    assert 0.45 < clip.duration < 0.5
    assert "TRUNCATED" in describe_audio(p)


def test_from_array_validation():
    with pytest.raises(AudioError, match="contains no audio"):
        AudioClip.from_array(np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="NaN"):
        AudioClip.from_array(np.array([0.0, np.inf], np.float32), 16000)
    with pytest.raises(AudioError, match="sample rate"):
        AudioClip.from_array(np.zeros(10, np.float32), 0)
    pcm = AudioClip.from_array(np.array([0, 16384, -32768], np.int16), 8000)
    np.testing.assert_allclose(pcm.samples, [0.0, 0.5, -1.0])
    clip = AudioClip.from_array(np.ones((100, 2), np.float32) * [0.2, 0.4], 8000)
    assert clip.channels == 2 and np.allclose(clip.samples, 0.3)
    assert clip.path is None
    with pytest.raises(ValueError):
        clip.samples[0] = 1.0  # read-only: the hash and caches stay valid


def test_save_wav_round_trip_and_atomic_failure(tmp_path, monkeypatch):
    p = tmp_path / "out.wav"
    x = tone(440, 16000, 0.25)
    save_wav(p, x, 16000)
    back = AudioClip.load(p)
    assert back.sample_rate == 16000 and np.abs(back.samples - x).max() < 1e-4
    before = p.read_bytes()

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(WriteError, match="not written") as ei:
        save_wav(p, x * 0.1, 16000)
    assert "disk is full" in str(ei.value)
    assert p.read_bytes() == before
    assert sorted(f.name for f in tmp_path.iterdir()) == ["out.wav"]  # temp removed
