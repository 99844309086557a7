"""The cheaper Whisper path: the plain-torch encoder gives transformers' features, int8 stays close,
loading it does not import transformers, warm-up caches nothing, and cached features are reused."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from diface_editor.core import paths
from diface_editor.core.audio import AudioClip
from diface_editor.ml.audio import FeatureCache, get_encoder

torch.set_num_threads(2)
SHIPPED_WHISPER = paths.ROOT / "models" / "encoders" / "whisper-tiny-en"
SPEC = {"type": "whisper", "path": str(SHIPPED_WHISPER), "layer": -2, "window_s": 10.0, "overlap_s": 2.0}
needs_whisper = pytest.mark.skipif(not (SHIPPED_WHISPER / "model.safetensors").is_file(),
                                   reason="the shipped Whisper tiny.en encoder is not installed")


def speechlike(seconds: float, rate: int = 16000, seed: int = 0) -> AudioClip:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(120 + 30 * np.sin(2 * np.pi * 0.7 * t)) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    env = np.clip(np.sin(2 * np.pi * 4 * t + rng.uniform(0, 6)), 0, None)
    return AudioClip.from_array((0.3 * env * voiced + 0.02 * rng.standard_normal(t.size)).astype(np.float32), rate)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)


def test_slaney_filters_and_log_mel_match_transformers():
    transformers = pytest.importorskip("transformers")
    from transformers.audio_utils import mel_filter_bank

    from diface_editor.ml.audio.whisper_net import slaney_mel_filters, whisper_log_mel

    ref = mel_filter_bank(num_frequency_bins=201, num_mel_filters=80, min_frequency=0.0, max_frequency=8000.0,
                          sampling_rate=16000, norm="slaney", mel_scale="slaney")
    assert np.allclose(slaney_mel_filters(80), ref, atol=1e-12)
    wav = np.asarray(speechlike(10.0).resampled(16000), np.float32)[:160000]
    fe = transformers.WhisperFeatureExtractor(feature_size=80, sampling_rate=16000, hop_length=160, n_fft=400)
    want = fe([wav], sampling_rate=16000, padding="max_length", max_length=160000, return_tensors="np").input_features
    got = whisper_log_mel(wav[None]).numpy()
    assert got.shape == want.shape == (1, 80, 1000)
    assert np.abs(got - want).max() < 1e-4


@needs_whisper
def test_torch_whisper_matches_transformers_encoder():
    pytest.importorskip("transformers")
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    from diface_editor.ml.audio.hf import _load_whisper_encoder_state
    from diface_editor.ml.audio.whisper_net import whisper_log_mel

    enc = get_encoder(SPEC, cache=FeatureCache())
    cfg = WhisperConfig.from_pretrained(str(SHIPPED_WHISPER), local_files_only=True)
    ref = WhisperEncoder(WhisperConfig.from_dict({**cfg.to_dict(), "max_source_positions": 500}))
    sd = _load_whisper_encoder_state(SHIPPED_WHISPER)
    sd["embed_positions.weight"] = sd["embed_positions.weight"][:500]
    ref.load_state_dict({k: v.float() for k, v in sd.items()})
    ref.eval()
    wav = np.asarray(speechlike(10.0, seed=2).resampled(16000), np.float32)[None, :160000]
    mel = whisper_log_mel(wav)
    with torch.no_grad():
        want = ref(mel, output_hidden_states=True).hidden_states[-2].numpy()[0]
    got = enc._encode([wav[0]])[0]
    assert got.shape == want.shape == (500, 384)
    assert np.abs(got - want).max() < 1e-3 * np.abs(want).max()


@needs_whisper
def test_int8_features_close_to_float32():
    clip = speechlike(12.0, seed=1)
    f32 = get_encoder(SPEC, cache=FeatureCache()).features(clip, 360, 30.0)
    enc8 = get_encoder({**SPEC, "quantize": "int8"}, cache=FeatureCache())
    f8 = enc8.features(clip, 360, 30.0)
    assert enc8.spec()["quantize"] == "int8"
    assert enc8.id != get_encoder(SPEC, cache=FeatureCache()).id  # never mixed up in the cache
    cos = cosines(f32, f8)
    assert cos.mean() > 0.99 and cos.min() > 0.9


@needs_whisper
def test_loading_whisper_does_not_import_transformers():
    code = ("import sys\nfrom diface_editor.ml.audio import get_encoder, FeatureCache\n"
            f"get_encoder({SPEC!r}, cache=FeatureCache()).warm_up()\n"
            "print('transformers.models.whisper' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


@needs_whisper
def test_warm_up_caches_nothing_and_second_call_hits_the_cache(tmp_path):
    cache = FeatureCache(disk_dir=tmp_path / "feat")
    enc = get_encoder(SPEC, cache=cache)
    enc.warm_up()
    assert len(cache) == 0 and cache.misses == 0
    clip = speechlike(3.0, seed=4)
    a = enc.features(clip, 90, 30.0)
    misses = cache.misses
    b = enc.features(clip, 90, 30.0)
    assert cache.misses == misses and np.array_equal(a, b)
    # a fresh process (new memory cache) reads the raw features from disk instead of recomputing them
    fresh = FeatureCache(disk_dir=tmp_path / "feat")
    enc2 = get_encoder(SPEC, cache=fresh)
    enc2._compute_raw = None  # any recomputation would fail
    assert np.allclose(enc2.features(clip, 90, 30.0), a)
    assert fresh.hits == 1


def test_quantize_is_refused_for_bad_values():
    from diface_editor.ml.audio import AudioEncoderError

    with pytest.raises(AudioEncoderError, match="quantize"):
        get_encoder({**SPEC, "quantize": "int4"}, cache=FeatureCache())
