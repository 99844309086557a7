"""Audio encoders: offline loading, shapes, windowing, caching, the ct2 converter, training path."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from diface_editor.core import paths
from diface_editor.core.audio import AudioClip
from diface_editor.ml.audio import AudioEncoderError, FeatureCache, MissingCheckpointError, get_encoder, normalise_spec
from diface_editor.ml.audio import ct2_convert as ct2
from diface_editor.ml.audio.windows import stitch, window_starts

torch.set_num_threads(2)
SHIPPED_WHISPER = paths.ROOT / "models" / "encoders" / "whisper-tiny-en"


def speechlike(seconds: float, rate: int = 16000, seed: int = 0) -> AudioClip:
    """Syllable-rate amplitude-modulated harmonic tones with noise: varies over time like speech."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    env = np.clip(np.sin(2 * np.pi * 4 * t + rng.uniform(0, 6)), 0, None)
    x = 0.3 * env * voiced + 0.02 * rng.standard_normal(t.size)
    return AudioClip.from_array(x.astype(np.float32), rate)


@pytest.fixture(autouse=True)
def _no_user_cache(monkeypatch, tmp_path):
    # encoders built without an explicit cache must not write into the real user cache
    monkeypatch.setenv("DIFACE_CACHE_DIR", str(tmp_path / "user-cache"))
    import diface_editor.ml.audio.cache as cache_mod

    monkeypatch.setattr(cache_mod, "_DEFAULT", None)


# ----------------------------------------------------------------------------- tiny HF checkpoints
def _tiny_checkpoint(kind: str, folder):
    from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model, WhisperConfig, WhisperModel
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    torch.manual_seed(0)
    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                 conv_dim=(16, 16, 16), conv_stride=(5, 4, 16), conv_kernel=(10, 4, 16),
                 num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    if kind == "wav2vec2":
        model = Wav2Vec2Model(Wav2Vec2Config(**small))
    elif kind == "hubert":
        model = HubertModel(HubertConfig(**small))
    else:
        cfg = WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2, decoder_layers=1,
                            decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, vocab_size=64,
                            num_mel_bins=80, max_source_positions=1500, max_target_positions=16,
                            pad_token_id=1, bos_token_id=1, eos_token_id=2, decoder_start_token_id=3,
                            begin_suppress_tokens=None, suppress_tokens=None)
        if kind == "whisper-asr":  # keys model.encoder.* (+ decoder, proj_out)
            from transformers import WhisperForConditionalGeneration

            model = WhisperForConditionalGeneration(cfg)
        else:
            model = WhisperModel(cfg) if kind == "whisper" else WhisperEncoder(cfg)
    model.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("kind", ["wav2vec2", "hubert", "whisper", "whisper-asr", "whisper-encoder-only"])
def test_tiny_hf_checkpoint_loads_by_path_and_gives_motion_rate_features(kind, tmp_path):
    folder = _tiny_checkpoint(kind, tmp_path / kind)
    enc = get_encoder({"type": "hf", "path": str(folder)}, cache=FeatureCache())
    assert enc.dim == 32 and not enc.trainable and enc.module() is None
    clip = speechlike(1.3)
    f = enc.features(clip, 39, 30.0)
    assert f.shape == (39, 32) and f.dtype == np.float32 and np.isfinite(f).all()
    assert np.abs(np.diff(f, axis=0)).mean() > 1e-4, "features should vary over time"
    # the spec round-trips and names the same folder
    assert normalise_spec(enc.spec())["path"] == str(folder)


def test_hf_layer_selection(tmp_path):
    folder = str(_tiny_checkpoint("whisper-encoder-only", tmp_path / "w"))
    clip = speechlike(1.0)
    last = get_encoder({"type": "hf", "path": folder}, cache=FeatureCache()).features(clip, 30, 30.0)
    same = get_encoder({"type": "hf", "path": folder, "layer": 2}, cache=FeatureCache()).features(clip, 30, 30.0)
    before = get_encoder({"type": "whisper", "path": folder}, cache=FeatureCache())  # whisper default: -2
    assert before.layer == -2
    np.testing.assert_allclose(same, last, atol=1e-6)
    assert not np.allclose(before.features(clip, 30, 30.0), last, atol=1e-3)
    with pytest.raises(AudioEncoderError, match="layer 3 does not exist"):
        get_encoder({"type": "hf", "path": folder, "layer": 3})


def test_hf_encoders_handle_short_and_very_long_audio(tmp_path):
    for kind, long_s in (("wav2vec2", 30.0), ("whisper", 600.0)):
        enc = get_encoder({"type": "hf", "path": str(_tiny_checkpoint(kind, tmp_path / kind))}, cache=FeatureCache())
        assert enc.features(speechlike(0.5), 15, 30.0).shape == (15, 32)
        assert enc.features(speechlike(0.01), 1, 30.0).shape == (1, 32)  # shorter than one conv frame
        rng = np.random.default_rng(0)  # cheap long audio: noise bursts (10 min = 75 stitched windows for whisper)
        x = rng.standard_normal(int(long_s * 16000)).astype(np.float32) * 0.1
        x *= np.repeat(rng.uniform(0, 1, x.size // 1600 + 1), 1600)[:x.size].astype(np.float32)
        n = int(long_s * 30)
        seen = []
        f = enc.features(AudioClip.from_array(x, 16000), n, 30.0, progress=lambda d, t: seen.append((d, t)))
        assert f.shape == (n, 32) and np.isfinite(f).all()
        total = seen[-1][1]
        assert seen[-1] == (total, total) and total == len(window_starts(x.size, enc.win_samples, enc.hop_samples))
        if long_s == 600.0:
            assert total == 75 and len(seen) > 2

    class Cancelled(Exception):
        pass

    def cancel(done, total):
        if done > 0:
            raise Cancelled

    cache = FeatureCache()
    enc = get_encoder({"type": "hf", "path": str(tmp_path / "whisper")}, cache=cache)
    with pytest.raises(Cancelled):  # a cancelled computation leaves nothing in the cache
        enc.features(speechlike(90.0), 100, 30.0, progress=cancel)  # 11 windows: batches of 8
    assert len(cache) == 0


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(MissingCheckpointError, match="never downloads") as e:
        get_encoder({"type": "hf", "path": str(missing)})
    assert str(missing) in str(e.value)
    with pytest.raises(MissingCheckpointError, match="convert-whisper"):
        get_encoder({"type": "whisper", "path": str(missing)})
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(MissingCheckpointError, match="no model.safetensors"):
        get_encoder({"type": "hf", "path": str(tmp_path / "empty")})
    with pytest.raises(AudioEncoderError, match="unknown keys"):
        get_encoder({"type": "logmel", "nmels": 80})
    with pytest.raises(AudioEncoderError, match="unknown audio encoder type"):
        get_encoder({"type": "mfcc"})


def test_relative_spec_paths_resolve_against_bundle_then_root_never_cwd(tmp_path, monkeypatch):
    bundle = tmp_path / "bundle"
    _tiny_checkpoint("wav2vec2", bundle / "enc")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "enc").mkdir(parents=True)  # a decoy under the working directory
    monkeypatch.chdir(elsewhere)
    enc = get_encoder({"type": "hf", "path": "enc"}, bundle_dir=bundle, cache=FeatureCache())
    assert enc.path == bundle / "enc"
    with pytest.raises(MissingCheckpointError) as e:
        get_encoder({"type": "hf", "path": "enc"})
    assert str(paths.ROOT / "enc") in str(e.value)


# ------------------------------------------------------------------------------- ct2 converter
def _synthetic_ct2(path, *, layers=2, d=8, heads=2, ffn=16, mels=80, positions=1500, k_bias=0.0):
    rng = np.random.default_rng(1)

    def r(*shape):
        return rng.standard_normal(shape).astype(np.float16) * np.float16(0.2)

    v = {"encoder/conv1/weight": r(d, mels, 3), "encoder/conv1/bias": r(d),
         "encoder/conv2/weight": r(d, d, 3), "encoder/conv2/bias": r(d)}
    for i in range(layers):
        p = f"encoder/layer_{i}/"
        qkv_b = r(3 * d)
        qkv_b[d:2 * d] = k_bias
        v.update({p + "self_attention/layer_norm/gamma": r(d), p + "self_attention/layer_norm/beta": r(d),
                  p + "self_attention/linear_0/weight": r(3 * d, d), p + "self_attention/linear_0/bias": qkv_b,
                  p + "self_attention/linear_1/weight": r(d, d), p + "self_attention/linear_1/bias": r(d),
                  p + "ffn/layer_norm/gamma": r(d), p + "ffn/layer_norm/beta": r(d),
                  p + "ffn/linear_0/weight": r(ffn, d), p + "ffn/linear_0/bias": r(ffn),
                  p + "ffn/linear_1/weight": r(d, ffn), p + "ffn/linear_1/bias": r(d)})
    v.update({"encoder/layer_norm/gamma": r(d), "encoder/layer_norm/beta": r(d),
              "encoder/num_heads": np.array(heads, np.int16),
              "encoder/position_encodings/encodings": r(positions, d),
              "decoder/embeddings/weight": r(50, d), "decoder/num_heads": np.array(heads, np.int16),
              "decoder/layer_0/ffn/linear_0/weight": r(ffn, d),
              "decoder/position_encodings/encodings": r(12, d)})
    ct2.write_ct2_model(path, v, aliases={"decoder/projection/weight": "decoder/embeddings/weight"})
    return v


def test_ct2_parser_maps_every_variable_to_the_right_whisper_key(tmp_path):
    src = _synthetic_ct2(tmp_path / "model.bin")
    model = ct2.read_ct2_model(tmp_path / "model.bin")
    assert model.spec_name == "WhisperSpec" and model.version == 6
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert model.variables["encoder/conv1/weight"].dtype == np.float16
    sd, heads = ct2.whisper_encoder_state_dict(model)
    assert heads == 2
    f32 = {k: a.astype(np.float32) for k, a in src.items()}
    qkv = f32["encoder/layer_1/self_attention/linear_0/weight"]
    np.testing.assert_array_equal(sd["layers.1.self_attn.q_proj.weight"], qkv[:8])
    np.testing.assert_array_equal(sd["layers.1.self_attn.k_proj.weight"], qkv[8:16])
    np.testing.assert_array_equal(sd["layers.1.self_attn.v_proj.weight"], qkv[16:])
    np.testing.assert_array_equal(sd["layers.1.self_attn.v_proj.bias"],
                                  f32["encoder/layer_1/self_attention/linear_0/bias"][16:])
    assert "layers.1.self_attn.k_proj.bias" not in sd
    np.testing.assert_array_equal(sd["layers.0.self_attn_layer_norm.weight"],
                                  f32["encoder/layer_0/self_attention/layer_norm/gamma"])
    np.testing.assert_array_equal(sd["layers.0.final_layer_norm.bias"], f32["encoder/layer_0/ffn/layer_norm/beta"])
    np.testing.assert_array_equal(sd["layers.0.fc1.weight"], f32["encoder/layer_0/ffn/linear_0/weight"])
    np.testing.assert_array_equal(sd["layers.0.fc2.bias"], f32["encoder/layer_0/ffn/linear_1/bias"])
    np.testing.assert_array_equal(sd["layers.1.self_attn.out_proj.weight"],
                                  f32["encoder/layer_1/self_attention/linear_1/weight"])
    np.testing.assert_array_equal(sd["embed_positions.weight"], f32["encoder/position_encodings/encodings"])
    np.testing.assert_array_equal(sd["layer_norm.weight"], f32["encoder/layer_norm/gamma"])
    enc, config = ct2.build_whisper_encoder(model)  # strict load: every key matched
    assert (config.d_model, config.encoder_layers, config.encoder_attention_heads, config.vocab_size) == (8, 2, 2, 50)
    assert len(sd) == len(enc.state_dict())


def test_ct2_parser_rejects_bad_files(tmp_path):
    (tmp_path / "junk.bin").write_bytes(b"\x06\x00\x00\x00\xff\xff")
    with pytest.raises(ct2.CT2FormatError):
        ct2.read_ct2_model(tmp_path / "junk.bin")
    _synthetic_ct2(tmp_path / "kbias.bin", k_bias=0.5)
    with pytest.raises(ct2.CT2FormatError, match="key bias"):
        ct2.whisper_encoder_state_dict(ct2.read_ct2_model(tmp_path / "kbias.bin"))


def test_convert_whisper_cli_writes_a_loadable_encoder_with_licence(tmp_path, capsys):
    from diface_editor.cli.main import main

    _synthetic_ct2(tmp_path / "model.bin", d=16, positions=1500)
    out = tmp_path / "conv"
    assert main(["convert-whisper", "--package-file", str(tmp_path / "model.bin"), "-o", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["parameters"] > 0
    assert {p.name for p in out.iterdir()} == {"model.safetensors", "config.json", "LICENSE-OpenAI-MIT.txt", "README.md"}
    lic = (out / "LICENSE-OpenAI-MIT.txt").read_text()
    assert lic.startswith("MIT License\n\nCopyright (c)") and "OpenAI" in lic
    enc = get_encoder({"type": "whisper", "path": str(out)}, cache=FeatureCache())
    assert enc.features(speechlike(1.0), 30, 30.0).shape == (30, 16)
    assert main(["convert-whisper", "--package-file", str(tmp_path / "nothing"), "-o", str(out)]) == 1


# ---------------------------------------------------------------------------- shipped Whisper
def _net_devices(enc) -> set[str]:
    net = enc.encoder if hasattr(enc, "encoder") else enc.model
    return {t.device.type for t in list(net.parameters()) + list(net.buffers())}


@pytest.mark.parametrize("kind", ["whisper", "wav2vec2"])
def test_a_frozen_encoder_moved_to_another_device_runs_its_network_there(kind, tmp_path):
    # A model on a GPU got its shared frozen encoder with the network left on the CPU and only the
    # input sent to the GPU: "Input type (torch.cuda.FloatTensor) and weight type (torch.FloatTensor)"
    # on the first generate (found on a lent H200). torch's meta device stands in for the GPU here.
    folder = _tiny_checkpoint(kind, tmp_path / kind)
    spec = {"type": "whisper" if kind == "whisper" else "hf", "path": str(folder)}
    cache = FeatureCache()
    enc = get_encoder(spec, cache=cache)
    clip = speechlike(1.3)
    before = enc.features(clip, 39, 30.0)
    moved = enc.to(torch.device("meta"))
    assert moved.device.type == "meta" and _net_devices(moved) == {"meta"}
    # the shared encoder stays where it was and gives the same features (recomputed, fresh cache)
    assert enc.device.type == "cpu" and _net_devices(enc) == {"cpu"}
    assert get_encoder(spec, cache=cache) is enc
    other = speechlike(1.3, seed=5)  # not in the cache: computed by the shared encoder's network
    fresh = get_encoder(spec, cache=FeatureCache())
    np.testing.assert_array_equal(enc.features(other, 39, 30.0), fresh.features(other, 39, 30.0))
    np.testing.assert_array_equal(enc.features(clip, 39, 30.0), before)
    assert enc.to("cpu") is enc


def test_an_encoder_on_the_current_gpu_is_not_copied_again_for_plain_cuda(tmp_path, monkeypatch):
    # "cuda" and "cuda:0" are the same GPU: an encoder built for one and asked for the other is the
    # same encoder, not a fresh deep copy of its network on every request. CPU-only torch here, so
    # the current-GPU query is stubbed and the encoder is only labelled as on the GPU.
    folder = _tiny_checkpoint("whisper", tmp_path / "w")
    enc = get_encoder({"type": "whisper", "path": str(folder)}, cache=FeatureCache())
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    for built, asked in (("cuda", "cuda:0"), ("cuda:0", "cuda")):
        monkeypatch.setattr(enc, "device", torch.device(built))
        assert enc.to(torch.device(asked)) is enc


def test_a_model_builds_its_audio_encoder_on_the_device_asked_for():
    from diface_editor.engine.loading import load_model

    model = load_model(None, device="cpu")
    assert _net_devices(model.build_audio_encoder()) == {"cpu"}
    on_meta = model.build_audio_encoder(device=torch.device("meta"))
    assert on_meta.device.type == "meta" and _net_devices(on_meta) == {"meta"}
    back = model.build_audio_encoder(device="cpu")
    assert _net_devices(back) == {"cpu"}
    assert back.features(speechlike(1.0), 30, 30.0).shape == (30, 384)


@pytest.mark.skipif(not (SHIPPED_WHISPER / "model.safetensors").is_file(), reason="shipped Whisper encoder absent")
def test_shipped_whisper_encoder_is_deterministic_for_short_and_long_clips():
    assert (SHIPPED_WHISPER / "LICENSE-OpenAI-MIT.txt").is_file()
    enc = get_encoder({"type": "whisper"}, cache=FeatureCache())
    assert enc.dim == 384
    # the spec saved in a bundle names the shipped folder relative to the repository root
    assert enc.spec()["path"] == "models/encoders/whisper-tiny-en"
    assert get_encoder({"type": "whisper", "path": str(SHIPPED_WHISPER)}).spec()["path"] == enc.spec()["path"]
    short, long = speechlike(1.3, rate=22050, seed=2), speechlike(25.0, rate=16000, seed=3)
    fs = enc.features(short, 39, 30.0)
    fl = enc.features(long, 750, 30.0)
    assert fs.shape == (39, 384) and fl.shape == (750, 384)
    assert np.isfinite(fs).all() and np.isfinite(fl).all()
    again = get_encoder({"type": "whisper"}, cache=FeatureCache())  # fresh cache: recomputed
    np.testing.assert_array_equal(again.features(short, 39, 30.0), fs)
    # a training crop sees exactly what whole-clip inference sees
    seg, times = enc.crop(enc.raw_features(long), 400, 90, 30.0)
    crop = enc.forward(torch.from_numpy(seg)[None], torch.from_numpy(times)[None])[0].numpy()
    np.testing.assert_allclose(crop, fl[400:490], atol=2e-4)
    # stitched windows join smoothly: no jump at the 9 s crossfade centre beyond the clip's own motion
    step = np.linalg.norm(np.diff(enc.raw_features(long), axis=0), axis=1)
    assert step[445:455].max() < 4 * np.median(step)


@pytest.mark.skipif(not (SHIPPED_WHISPER / "model.safetensors").is_file(), reason="shipped Whisper encoder absent")
def test_shipped_whisper_features_of_a_sentence_do_not_depend_on_where_it_sits():
    # the same sentence alone, and 8.5 s into a clip (straddling the 8-10 s crossfade of two windows)
    rng = np.random.default_rng(1)
    hiss = lambda s: (rng.standard_normal(int(s * 16000)) * 0.003).astype(np.float32)  # noqa: E731
    sentence = np.array(speechlike(3.0, seed=4).samples)
    alone = AudioClip.from_array(np.concatenate([sentence, hiss(1.0)]), 16000)
    later = AudioClip.from_array(np.concatenate([hiss(8.5), sentence, hiss(1.0)]), 16000)
    enc = get_encoder({"type": "whisper"}, cache=FeatureCache())
    a = enc.features(alone, 90, 30.0)
    b = enc.features(later, 345, 30.0)[255:]
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.mean() > 0.9  # 0.96 with the default layer -2; Whisper's last layer gives about 0.8


# ----------------------------------------------------------------------------------------- cache
def test_cache_returns_identical_arrays_without_recomputing(tmp_path, monkeypatch):
    folder = _tiny_checkpoint("wav2vec2", tmp_path / "w2v")
    disk = tmp_path / "disk"
    enc = get_encoder({"type": "hf", "path": str(folder)}, cache=FeatureCache(disk_dir=disk))
    calls = []
    orig = type(enc)._compute_raw
    monkeypatch.setattr(type(enc), "_compute_raw", lambda self, s, p=None: calls.append(1) or orig(self, s, p))
    clip = speechlike(2.0)
    a = enc.features(clip, 60, 30.0)
    b = enc.features(clip, 60, 30.0)
    assert b is a and len(calls) == 1
    same_audio = AudioClip.from_array(np.array(clip.samples), clip.sample_rate)  # another object, same content
    assert enc.features(same_audio, 60, 30.0) is a and len(calls) == 1
    assert enc.features((clip.samples, clip.sample_rate), 60, 30.0) is a  # a (samples, rate) pair works too
    with pytest.raises(AudioEncoderError, match="AudioClip"):
        enc.features(clip.samples, 60, 30.0)
    assert enc.features(clip, 45, 30.0).shape == (45, 32) and len(calls) == 1  # new frame count: raw reused
    with pytest.raises(ValueError):
        a[0, 0] = 1.0  # cached arrays are read-only
    # a new process (new memory cache) finds the raw features on disk
    assert list(disk.glob("*.npy"))
    enc2 = get_encoder({"type": "hf", "path": str(folder)}, cache=FeatureCache(disk_dir=disk))
    np.testing.assert_array_equal(enc2.features(clip, 60, 30.0), a)
    assert len(calls) == 1
    other = speechlike(2.0, seed=5)
    assert not np.array_equal(enc.features(other, 60, 30.0), a) and len(calls) == 2


def test_cache_lru_respects_its_byte_budget():
    c = FeatureCache(max_bytes=3 * 400)
    for i in range(5):
        c.put(("k", i), np.zeros(100, np.float32))
    assert len(c) == 3 and c.get(("k", 0)) is None and c.get(("k", 4)) is not None
    c.get(("k", 2))  # touch: becomes most recent
    c.put(("k", 5), np.zeros(100, np.float32))
    assert c.get(("k", 2)) is not None and c.get(("k", 3)) is None


# ------------------------------------------------------------------------------------- logmel
def test_logmel_shapes_crops_and_gradients():
    cache = FeatureCache()
    enc = get_encoder({"type": "logmel", "dim": 24, "channels": 32}, cache=cache)
    assert enc.trainable and enc.dim == 24 and enc.raw_rate == 100.0
    clip = speechlike(3.0, rate=44100)
    raw = enc.raw_features(clip)
    assert raw.shape == (301, 80) and np.isfinite(raw).all()
    f = enc.features(clip, 90, 30.0)
    assert f.shape == (90, 24)
    # a batch of training crops of two clips: same shapes, equal to whole-clip features, gradients flow
    other = speechlike(2.0, seed=7)
    crops = [enc.crop(raw, 17, 40, 30.0), enc.crop(enc.raw_features(other), 0, 40, 30.0)]
    seg = torch.from_numpy(np.stack([c[0] for c in crops]))
    times = torch.from_numpy(np.stack([c[1] for c in crops]))
    enc.module().train()
    out = enc.forward(seg, times)
    assert out.shape == (2, 40, 24)
    np.testing.assert_allclose(out[0].detach().numpy(), f[17:57], atol=1e-5)
    out.square().mean().backward()
    grads = [p.grad for p in enc.module().parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    # training changes the weights -> features() no longer returns the stale cached array
    with torch.no_grad():
        for p in enc.module().parameters():
            p.add_(0.01)
    assert not np.allclose(enc.features(clip, 90, 30.0), f)


def test_logmel_weights_load_from_a_bundle_file(tmp_path):
    from safetensors.torch import save_file

    enc = get_encoder({"type": "logmel", "dim": 16, "channels": 16, "seed": 3}, cache=FeatureCache())
    save_file({"audio_encoder." + k: v.contiguous() for k, v in enc.state_dict().items()},
              str(tmp_path / "model.safetensors"))
    spec = {"type": "logmel", "dim": 16, "channels": 16, "seed": 9, "weights": "model.safetensors",
            "prefix": "audio_encoder."}
    loaded = get_encoder(spec, bundle_dir=tmp_path, cache=FeatureCache())
    assert loaded.weights_hash() == enc.weights_hash()
    assert loaded.spec()["weights"] == "model.safetensors"
    with pytest.raises(AudioEncoderError, match="do not fit"):
        get_encoder({**spec, "dim": 8}, bundle_dir=tmp_path)


# ------------------------------------------------------------------------------------ windows
def test_window_grid_and_crossfade_weights_sum_to_one():
    starts = window_starts(100, 30, 20)
    assert starts == [0, 20, 40, 60, 80]
    assert window_starts(30, 30, 20) == [0] and window_starts(31, 30, 20) == [0, 20]
    chunks = [np.full((30, 2), 5.0, np.float32) for _ in starts]
    np.testing.assert_allclose(stitch(chunks, starts, 100), 5.0, rtol=1e-6)
    ramp = np.arange(100, dtype=np.float32)[:, None]
    out = stitch([ramp[s:s + 30] for s in starts], starts, 100)
    np.testing.assert_allclose(out, ramp, rtol=1e-6)
