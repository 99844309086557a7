"""Corpus builder (splits, files, manifest, reproducibility), forced alignment and ``diface lipsync``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from diface_editor.cli.main import main
from diface_editor.core.arkit import ARKIT_NAMES
from diface_editor.core.formats import load_animation
from diface_editor.synth.corpus import (
    TEST_VOICES,
    TRAIN_VOICES,
    CorpusConfig,
    build_corpus,
    load_item,
    make_item,
    plan_corpus,
)
from diface_editor.synth.teacher import animate
from diface_editor.synth.tts import VoiceSpec, espeak, flite, synthesize

needs_espeak = pytest.mark.skipif(not espeak.available(), reason="espeak-ng is not installed")
ENGINES = ("espeak", "flite") if flite.available() else ("espeak",)


@needs_espeak
def test_corpus_build_gives_disjoint_splits_and_test_only_voices(tmp_path):
    cfg = CorpusConfig(minutes=0.2, seed=3, engines=ENGINES)
    rep = build_corpus(tmp_path, cfg, workers=2)
    assert rep.failed == 0 and rep.items >= 3
    man = json.loads((tmp_path / "manifest.json").read_text())
    items = man["items"]
    by = {s: [r for r in items if r["split"] == s] for s in ("train", "val", "test")}
    assert all(by[s] for s in by), "every split has at least one item"
    for r in items:
        wav, npz = tmp_path / r["wav"], tmp_path / r["npz"]
        assert wav.parent.name == r["split"] == npz.parent.name
        info = sf.info(str(wav))
        assert info.samplerate == 16000 and info.channels == 1
        assert abs(info.duration - r["duration"]) < 1e-3
        anim, phones = load_item(npz)
        assert anim.channel_names == ARKIT_NAMES and anim.fps == 30.0
        assert anim.n_frames == round(r["duration"] * 30)
        assert phones[0][1] == 0.0 and abs(phones[-1][2] - r["duration"]) < 0.01
        with np.load(npz, allow_pickle=False) as z:  # no pickles anywhere in the file
            assert {"fps", "channel_names", "face", "head", "space", "format_version", "phones"} <= set(z.files)
            assert z["face"].shape == (anim.n_frames, 52) and z["head"].shape == (anim.n_frames, 3)
        for key in ("engine", "voice", "rate", "pitch", "text", "augmentation", "duration", "split"):
            assert key in r
    sents = {s: {x for r in by[s] for x in r["sentences"]} for s in by}
    assert not (sents["train"] & sents["val"]) and not (sents["train"] & sents["test"])
    assert not (sents["val"] & sents["test"])
    test_voices = {r["voice_id"] for r in by["test"]}
    seen = {r["voice_id"] for r in by["train"] + by["val"]}
    held_out = {f"{e}:{v}" for e, vs in TEST_VOICES.items() for v in vs}
    assert test_voices <= held_out and not (seen & held_out)
    train_pool = {f"{e}:{v}" for e, vs in TRAIN_VOICES.items() for v in vs}
    assert {r["voice_id"] for r in by["val"]} <= train_pool
    assert rep.throughput > 0


def test_corpus_plan_is_reproducible_and_has_held_out_voices_per_engine():
    a = plan_corpus(CorpusConfig(minutes=3, seed=1, engines=("espeak", "festival", "flite")))
    b = plan_corpus(CorpusConfig(minutes=3, seed=1, engines=("espeak", "festival", "flite")))
    c = plan_corpus(CorpusConfig(minutes=3, seed=2, engines=("espeak", "festival", "flite")))
    assert a == b and a != c
    for engine in ("espeak", "festival", "flite"):
        assert TEST_VOICES[engine] and not set(TEST_VOICES[engine]) & set(TRAIN_VOICES[engine])
    assert {p.voice.engine for p in a if p.split == "train"} == {"espeak", "festival", "flite"}
    rates = {p.voice.rate for p in a}
    assert len(rates) > 5 and min(rates) >= 0.8 and max(rates) <= 1.25


@needs_espeak
def test_corpus_item_is_deterministic(tmp_path):
    cfg = CorpusConfig(minutes=0.1, seed=4, engines=("espeak",))
    plan = plan_corpus(cfg)[0]
    r1 = make_item(plan, cfg, tmp_path / "a")
    r2 = make_item(plan, cfg, tmp_path / "b")
    a1, p1 = load_item(tmp_path / "a" / r1["npz"])
    a2, p2 = load_item(tmp_path / "b" / r2["npz"])
    assert a1.equals(a2) and p1 == p2
    w1, _ = sf.read(str(tmp_path / "a" / r1["wav"]))
    w2, _ = sf.read(str(tmp_path / "b" / r2["wav"]))
    assert np.array_equal(w1, w2)


TEXT = "Bob bought a big map, but the moose ate my apple pie. Thank you, Zorblax!"


@needs_espeak
def test_lipsync_cli_on_recorded_speech_matches_the_teacher_on_tts_timings(tmp_path, capsys):
    s = synthesize(TEXT, VoiceSpec("espeak", "en-us", rate=0.95))
    wav = tmp_path / "line.wav"
    sf.write(str(wav), s.samples, s.sample_rate, subtype="PCM_16")
    out = tmp_path / "line.npz"
    assert main(["lipsync", str(wav), "--text", TEXT, "-o", str(out), "--seed", "7",
                 "--phones", str(tmp_path / "al.json")]) == 0
    printed = capsys.readouterr().out
    assert "zorblax" in printed  # out-of-dictionary word, pronounced via espeak-ng
    anim = load_animation(out)
    ref = animate(s.phones, samples=s.samples, sample_rate=s.sample_rate, seed=7)
    assert anim.n_frames == ref.n_frames
    r = np.corrcoef(anim.channel("jawOpen"), ref.channel("jawOpen"))[0, 1]
    assert r > 0.7, r
    al = json.loads((tmp_path / "al.json").read_text())
    assert [w for w, _, _ in al["words"]][:3] == ["bob", "bought", "a"]


@needs_espeak
def test_lipsync_cli_errors_are_one_sentence(tmp_path, capsys):
    s = synthesize("Hello there, my friend.", VoiceSpec("espeak", "en-us"))
    wav = tmp_path / "hi.wav"
    sf.write(str(wav), s.samples, s.sample_rate)
    assert main(["lipsync", str(wav), "--text", "completely different words about turtles and rockets today",
                 "-o", str(tmp_path / "x.npz")]) == 1
    err = capsys.readouterr().err
    assert "could not align" in err and "Traceback" not in err
    assert main(["lipsync", str(wav), "--text", " ... ", "-o", str(tmp_path / "x.npz")]) == 1
    assert "no words" in capsys.readouterr().err
    assert main(["lipsync", str(tmp_path / "missing.wav"), "--text", "hi", "-o", str(tmp_path / "x.npz")]) == 1
    assert not (tmp_path / "x.npz").exists()


def test_demo_voice_line_is_shipped():
    from diface_editor.core.paths import resource
    wav, txt = resource("demo", "demo.wav"), resource("demo", "demo.txt")
    info = sf.info(str(wav))
    assert 6.0 <= info.duration <= 10.0 and info.channels == 1
    assert len(txt.read_text().split()) >= 10
    assert Path(resource("LICENSES", "demo_audio.md")).exists()
