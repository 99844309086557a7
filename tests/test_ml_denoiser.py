"""The 3DiFACE-style U-Net denoiser: shapes, any window length, zero-initialised output, conditioning."""

from __future__ import annotations

import math

import pytest
import torch

from diface_editor.ml.denoiser import Denoiser, DenoiserConfig, timestep_sinusoid
from tests._ml_helpers import tiny_denoiser

pytestmark = pytest.mark.usefixtures("one_torch_thread")


CONFIGS = [
    dict(in_channels=52, ch=8, ch_mult=(1, 2, 2), audio_dim=6, flag_mode="channel"),
    dict(in_channels=3, ch=8, ch_mult=(1, 2, 2, 2), audio_dim=6, flag_mode="frame", skip_mode="add",
         blocks_per_level=2),
    dict(in_channels=12, ch=8, ch_mult=(1, 2, 4), audio_dim=5, flag_mode="none", skip_mode="none",
         audio_fold="reshape", style_classes=3),
    dict(in_channels=7, out_channels=4, ch=8, ch_mult=(1,), audio_dim=0, flag_mode="frame", skip_mode="concat",
         dropout=0.1, padding_mode="zeros"),
]


@pytest.mark.parametrize("kw", CONFIGS, ids=["face-channel-flags", "head-frame-flags", "3diface-face-reshape",
                                             "no-audio-concat"])
@pytest.mark.parametrize("T", [1, 5, 8, 37, 300])
def test_any_window_length_gives_the_same_length_back(kw, T):
    cfg = DenoiserConfig(**kw)
    m = Denoiser(cfg).eval()
    torch.nn.init.normal_(m.decoder.out_embed.weight)
    B = 2
    x = torch.randn(B, cfg.in_channels, T)
    flags = torch.randint(0, 2, (B, cfg.n_flags, T)).float() if cfg.n_flags else None
    audio = torch.randn(B, T, cfg.audio_dim) if cfg.audio_dim else None
    style = torch.eye(cfg.style_classes)[:B] if cfg.style_classes else None
    with torch.no_grad():
        y = m(x, torch.tensor([0, 999]), flags, audio, torch.tensor([False, True]), style)
    assert y.shape == (B, cfg.n_out, T)
    assert torch.isfinite(y).all()


def test_fresh_network_predicts_exactly_zero():
    cfg = DenoiserConfig(in_channels=52, ch=16, audio_dim=8, flag_mode="channel")
    m = Denoiser(cfg)
    assert torch.count_nonzero(m.decoder.out_embed.weight) == 0
    assert torch.count_nonzero(m.decoder.out_embed.bias) == 0
    y = m(torch.randn(3, 52, 45), torch.tensor([1, 500, 999]), torch.ones(3, 52, 45), torch.randn(3, 45, 8))
    assert torch.equal(y, torch.zeros_like(y))


def test_module_names_follow_3diface_for_checkpoint_import():
    m = Denoiser(DenoiserConfig(in_channels=3, ch=8, ch_mult=(1, 2), audio_dim=6, style_classes=8))
    names = set(m.state_dict())
    for k in ["audio_feature_map.weight", "encoder.in_embed.0.weight", "encoder.in_infuse.mle_layer.0.weight",
              "encoder.embed_timestep.time_embed.0.weight", "encoder.embed_timestep.time_embed.2.weight",
              "encoder.mle_layers.0.mle_layer.0.weight", "encoder.mle_layers.0.mle_layer.2.weight",
              "encoder.infusion_layers.0.mle_layer.0.weight", "decoder.mle_layers.0.mle_layer.0.weight",
              "decoder.infusion_layers.0.mle_layer.0.weight", "decoder.style_map.weight",
              "decoder.out_embed.weight", "decoder.out_embed.bias"]:
        assert k in names, k
    assert "decoder.style_map.bias" not in names  # bias-free style map
    assert m.decoder.style_map.weight.shape == (8, 8)
    # the flag channel is part of the input projection (3 motion + 1 flag)
    assert m.encoder.in_embed[0].weight.shape == (8, 4, 1)


def test_reshape_fold_widens_audio_like_3diface_face_model():
    cfg = DenoiserConfig(in_channels=10, ch=8, ch_mult=(1, 2, 4), audio_dim=5, audio_fold="reshape",
                         flag_mode="none", skip_mode="none")
    m = Denoiser(cfg)
    # level k concatenates P * 2**k audio channels (P = ch = 8) to ch * ch_mult[k] motion channels
    assert m.encoder.in_infuse.mle_layer[0].in_channels == 8 + 8
    assert m.encoder.infusion_layers[0].mle_layer[0].in_channels == 16 + 16
    assert m.encoder.infusion_layers[1].mle_layer[0].in_channels == 32 + 32
    pooled = Denoiser(DenoiserConfig(in_channels=10, ch=8, ch_mult=(1, 2, 4), audio_dim=5, flag_mode="none"))
    assert pooled.encoder.infusion_layers[1].mle_layer[0].in_channels == 32 + 8


def test_audio_condition_and_its_dropout():
    m = tiny_denoiser(C=5, D=4)
    x = torch.randn(2, 5, 40)
    t = torch.tensor([300, 300])
    a1, a2 = torch.randn(2, 40, 4), torch.randn(2, 40, 4)
    with torch.no_grad():
        assert not torch.allclose(m(x, t, None, a1), m(x, t, None, a2))
        drop = torch.tensor([True, True])
        # dropped condition == no audio at all (projected features are zero)
        assert torch.allclose(m(x, t, None, a1, drop), m(x, t, None, a2, drop))
        assert torch.allclose(m(x, t, None, a1, drop), m(x, t, None, None), atol=1e-6)
        # per-sample dropout only affects the dropped sample
        mixed = m(x, t, None, a1, torch.tensor([False, True]))
        assert torch.allclose(mixed[0], m(x, t, None, a1)[0], atol=1e-6)
        assert torch.allclose(mixed[1], m(x, t, None, None)[1], atol=1e-6)


def test_flags_timestep_and_style_change_the_prediction():
    m = tiny_denoiser(C=5, D=0, style_classes=2)
    x = torch.randn(1, 5, 24)
    with torch.no_grad():
        base = m(x, torch.tensor([10]))
        assert not torch.allclose(base, m(x, torch.tensor([900])))
        assert not torch.allclose(base, m(x, torch.tensor([10]), torch.ones(1, 5, 24)))
        assert not torch.allclose(m(x, torch.tensor([10]), style=torch.tensor([[1.0, 0.0]])),
                                  m(x, torch.tensor([10]), style=torch.tensor([[0.0, 1.0]])))
    with pytest.raises(ValueError, match="flags must have shape"):
        m(x, torch.tensor([10]), torch.ones(1, 1, 24))
    with pytest.raises(ValueError, match="motion channels"):
        m(torch.randn(1, 4, 24), torch.tensor([10]))


def test_timestep_sinusoid_uses_the_3diface_layout():
    e = timestep_sinusoid(torch.tensor([0, 7]), 8)
    assert e.shape == (2, 8)
    div = [math.exp(-math.log(10000.0) * i / 8) for i in range(0, 8, 2)]
    assert torch.allclose(e[1, 0::2], torch.tensor([math.sin(7 * d) for d in div]))
    assert torch.allclose(e[1, 1::2], torch.tensor([math.cos(7 * d) for d in div]))
    assert torch.equal(e[0, 1::2], torch.ones(4))


def test_config_validation_and_round_trip():
    cfg = DenoiserConfig(in_channels=52, ch=32, ch_mult=[1, 2], audio_dim=384, audio_proj_dim=64,
                         flag_mode="channel", style_classes=8, skip_mode="concat")
    again = DenoiserConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.ch_mult == (1, 2)
    assert cfg.factor == 2 and cfg.proj_dim == 64 and cfg.n_flags == 52
    with pytest.raises(ValueError, match="unknown denoiser config keys: bogus"):
        DenoiserConfig.from_dict({**cfg.to_dict(), "bogus": 1})
    for bad in [dict(ch=7), dict(flag_mode="pixel"), dict(skip_mode="mul"), dict(audio_fold="fold"),
                dict(ch_mult=()), dict(dropout=1.5)]:
        with pytest.raises(ValueError):
            DenoiserConfig(in_channels=3, **bad)
