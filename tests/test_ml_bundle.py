"""Model bundles: save/load round trip, strict name/shape checks with clear errors, normalisation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from diface_editor.core.arkit import ARKIT_NAMES, HEAD_NAMES
from diface_editor.core.errors import DifaceError
from diface_editor.ml.bundle import BundleError, MotionModel, denormalise, normalise
from diface_editor.ml.device import DeviceError, resolve_device
from diface_editor.ml.normalisation import HEAD_STATS_3DIFACE, Normaliser
from diface_editor.ml.part import ModelPart
from diface_editor.ml.sampling import sample_window
from tests._ml_helpers import tiny_denoiser

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _model(with_head: bool = True) -> MotionModel:
    rng = np.random.default_rng(0)
    face = ModelPart.create("face", tiny_denoiser(C=52, D=6, seed=1),
                            Normaliser(rng.uniform(0, .5, 52), rng.uniform(.05, .3, 52)), channel_names=ARKIT_NAMES)
    parts = {"face": face}
    if with_head:
        parts["head"] = ModelPart.create("head", tiny_denoiser(C=3, D=6, seed=2, flag_mode="frame"),
                                         Normaliser.head_3diface(), channel_names=HEAD_NAMES)
    return MotionModel(parts, fps=30.0, motion_space="arkit", audio_encoder={"type": "whisper"}, name="tiny",
                       training={"data": {"window_seconds": 4.0}}, metrics={"val_loss": 0.25})


def test_save_load_round_trip_is_bit_identical(tmp_path):
    m = _model()
    path = m.save(tmp_path / "bundle")
    assert {p.name for p in path.iterdir()} == {"config.json", "face.safetensors", "head.safetensors",
                                               "MODEL_CARD.md"}
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["format_version"] == 1 and cfg["motion_space"] == "arkit" and cfg["fps"] == 30.0
    assert cfg["face_channels"] == list(ARKIT_NAMES) and cfg["head_channels"] == list(HEAD_NAMES)
    assert cfg["parts"]["face"]["denoiser"]["in_channels"] == 52
    assert cfg["parts"]["head"]["normalisation"]["std"] == pytest.approx(HEAD_STATS_3DIFACE[1])
    assert cfg["audio_encoder"] == {"type": "whisper"}
    card = (path / "MODEL_CARD.md").read_text()
    assert "tiny" in card and "val_loss" in card and "parameters" in card

    loaded = MotionModel.load(path, device="auto")
    assert loaded.device.type == resolve_device("auto").type
    loaded.to("cpu")  # bit for bit is a CPU promise (a GPU's convolutions round differently)
    assert loaded.window_frames == 120 and loaded.factor == 2
    for name in ("face", "head"):
        a, b = m.part(name), loaded.part(name)
        sa, sb = a.denoiser.state_dict(), b.denoiser.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
        assert np.array_equal(a.normaliser.mean, b.normaliser.mean)
        assert b.channel_names == a.channel_names
        C = a.n_channels
        rng = np.random.default_rng(5)
        feats = rng.normal(size=(30, 6)).astype(np.float32)
        known = rng.normal(size=(30, C)).astype(np.float32)
        mask = np.zeros((30, C), bool)
        mask[:5] = True
        o1 = sample_window(a, feats, known, mask, steps=5, seed=9, guidance=1.5)
        o2 = sample_window(b, feats, known, mask, steps=5, seed=9, guidance=1.5)
        assert np.array_equal(o1, o2)


def test_wrong_shapes_and_names_are_listed(tmp_path):
    path = _model().save(tmp_path / "b")
    sd = load_file(str(path / "face.safetensors"))
    sd["decoder.out_embed.weight"] = torch.zeros(51, 8)
    del sd["encoder.in_embed.0.bias"]
    sd["encoder.extra.weight"] = torch.zeros(2)
    save_file(sd, str(path / "face.safetensors"))
    with pytest.raises(BundleError) as e:
        MotionModel.load(path)
    msg = str(e.value)
    assert isinstance(e.value, DifaceError)
    assert "face.safetensors" in msg
    assert "missing keys: encoder.in_embed.0.bias" in msg
    assert "unexpected keys: encoder.extra.weight" in msg
    assert "decoder.out_embed.weight is (51, 8) in the file but (52, 8) in the config" in msg


def test_config_that_disagrees_with_weights(tmp_path):
    path = _model(with_head=False).save(tmp_path / "b")
    cfg = json.loads((path / "config.json").read_text())
    cfg["parts"]["face"]["denoiser"]["ch"] = 16
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BundleError, match="shape mismatches: .* in the file but"):
        MotionModel.load(path)


def test_missing_or_broken_bundles_name_the_path(tmp_path):
    with pytest.raises(BundleError, match=f"no model bundle found at {tmp_path / 'nope'}"):
        MotionModel.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="has no config.json"):
        MotionModel.load(tmp_path / "empty")
    path = _model().save(tmp_path / "b")
    (path / "head.safetensors").unlink()
    with pytest.raises(BundleError, match="missing its head weights file head.safetensors"):
        MotionModel.load(path)
    (path / "config.json").write_text("{not json")
    with pytest.raises(BundleError, match="cannot read"):
        MotionModel.load(path)
    (path / "config.json").write_text(json.dumps({"format_version": 99, "parts": {}}))
    with pytest.raises(BundleError, match="newer than this diface supports"):
        MotionModel.load(path)
    (path / "config.json").write_text(json.dumps({"parts": {"face": {"denoiser": {"in_channels": 3, "wat": 1}}}}))
    with pytest.raises(BundleError, match="unknown denoiser config keys: wat"):
        MotionModel.load(path)


def test_face_only_model_has_no_head(tmp_path):
    m = MotionModel.load(_model(with_head=False).save(tmp_path / "f"))
    assert m.has_part("face") and not m.has_part("head")
    with pytest.raises(BundleError, match="has no head part"):
        m.part("head")


def test_normalisation_helpers():
    part = _model().part("head")
    x = np.array([[0.1, -0.2, 0.05]], np.float32)
    z = normalise(part, x)
    assert np.allclose(z, (x - np.array(HEAD_STATS_3DIFACE[0])) / np.array(HEAD_STATS_3DIFACE[1]), atol=1e-6)
    assert np.allclose(denormalise(part, z), x, atol=1e-6)
    n = Normaliser.from_data(np.stack([np.linspace(0, 1, 50), np.full(50, 0.3)], 1), std_floor=0.01)
    assert n.std[1] == pytest.approx(0.01) and n.mean[1] == pytest.approx(0.3)
    with pytest.raises(ValueError):
        Normaliser([0.0], [0.0])


def test_device_auto_never_requires_cuda():
    assert resolve_device("auto").type in ("cuda", "mps", "cpu")
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(DeviceError):
        resolve_device("tpu9")


def test_trained_audio_encoder_weights_travel_with_the_bundle(tmp_path):
    from diface_editor.core.audio import AudioClip
    from diface_editor.ml.audio import get_encoder

    spec = {"type": "logmel", "channels": 8, "dim": 6, "dilations": [1]}
    enc = get_encoder(spec)
    with torch.no_grad():
        for p in enc.module().parameters():
            p.add_(0.05)  # "trained" weights that differ from the seeded init
    m = _model()
    m.audio_encoder = enc.spec()
    m.audio_weights = {k: v.clone() for k, v in enc.state_dict().items()}
    clip = AudioClip.from_array(np.random.default_rng(0).normal(size=16000).astype(np.float32) * 0.1, 16000)
    ref = enc.features(clip, 30, 30.0)
    assert np.array_equal(m.build_audio_encoder().features(clip, 30, 30.0), ref)
    path = m.save(tmp_path / "b")
    assert (path / "audio.safetensors").is_file()
    assert json.loads((path / "config.json").read_text())["audio_encoder"]["weights"] == "audio.safetensors"
    loaded = MotionModel.load(path)
    assert np.array_equal(loaded.build_audio_encoder().features(clip, 30, 30.0), ref)
    (path / "audio.safetensors").unlink()
    with pytest.raises(BundleError, match="audio-encoder weights file audio.safetensors"):
        MotionModel.load(path)
