"""Personalisation: only the style map and the output layer change; the new style is named and usable."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from diface_editor.ml.adapt import TRAINABLE, AdaptConfig, AdaptError, adapt_model
from diface_editor.ml.bundle import MotionModel
from diface_editor.ml.denoiser import Denoiser, DenoiserConfig
from diface_editor.ml.normalisation import Normaliser
from diface_editor.ml.part import ModelPart
from diface_editor.ml.sampling import sample_window
from tests._compat_helpers import write_fake_vocaset
from tests._ml_helpers import energy_features, write_pairs


@pytest.fixture(autouse=True)
def _threads():
    n = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(n)


def _part(name, C, styles, seed, names=(), audio_dim=2, flag_mode="channel"):
    torch.manual_seed(seed)
    den = Denoiser(DenoiserConfig(in_channels=C, ch=8, ch_mult=(1, 2), audio_dim=audio_dim, style_classes=styles,
                                  flag_mode=flag_mode))
    torch.nn.init.normal_(den.decoder.out_embed.weight, std=0.3)
    if den.decoder.style_map is not None:
        torch.nn.init.normal_(den.decoder.style_map.weight, std=0.5)
    return ModelPart.create(name, den.eval(), Normaliser.identity(C), channel_names=names,
                            style_names=tuple(f"s{i}" for i in range(styles)))


def _arkit_model(styles=0, audio_dim=2):
    from diface_editor.core.arkit import ARKIT_NAMES, HEAD_NAMES

    parts = {"face": _part("face", 52, styles, 0, ARKIT_NAMES, audio_dim),
             "head": _part("head", 3, styles, 1, HEAD_NAMES, audio_dim, flag_mode="frame")}
    return MotionModel(parts=parts, motion_space="arkit", style_names=tuple(f"s{i}" for i in range(styles)),
                       sampling={"sampler": "ddim", "steps": 4, "guidance": 1.0, "window_s": 1.0}, name="tiny")


def _assert_only_trainable_changed(before: MotionModel, after: MotionModel, adapted: tuple[str, ...]):
    for pname, part in before.parts.items():
        old = part.denoiser.state_dict()
        new = after.part(pname).denoiser.state_dict()
        assert set(new) == set(old) | ({"decoder.style_map.weight"} if "decoder.style_map.weight" not in old
                                       and "decoder.style_map.weight" in new else set())
        for k, v in old.items():
            if k == "decoder.style_map.weight":  # the old columns are untouched, one column is new
                assert torch.equal(new[k][:, :v.shape[1]], v), (pname, k)
                assert new[k].shape[1] == v.shape[1] + 1
            elif pname in adapted and k in TRAINABLE:
                assert not torch.equal(new[k], v), (pname, k)  # it did train
            else:
                assert torch.equal(new[k], v), (pname, k)  # bit-identical


def test_arkit_personalisation_trains_only_style_map_and_output_layer(tmp_path):
    data = write_pairs(tmp_path / "alice", n=3)
    model = _arkit_model(styles=3)
    res = adapt_model(model, data, AdaptConfig(style_name="alice", steps=4, batch_size=2, warmup_steps=0, lr=1e-2),
                      feature_fn=energy_features, progress=False)
    new = res.model
    assert res.style_index == 3 and res.parts == ("face", "head")
    assert new.style_names == ("s0", "s1", "s2", "alice")
    assert all(p.denoiser.config.style_classes == 4 for p in new.parts.values())
    _assert_only_trainable_changed(model, new, res.parts)
    for p in ("face", "head"):  # the new column started at the mean of the old ones, then trained
        assert not torch.equal(new.part(p).denoiser.decoder.style_map.weight[:, 3],
                               model.part(p).denoiser.decoder.style_map.weight.mean(1))
    # saved, reloaded and sampled with the new style by name
    new.save(tmp_path / "alice_model")
    cfg = json.loads((tmp_path / "alice_model" / "config.json").read_text())
    assert cfg["style_names"][-1] == "alice" and cfg["training"]["adaptations"][0]["style_name"] == "alice"
    m = MotionModel.load(tmp_path / "alice_model", device="cpu")
    out = sample_window(m.part("face"), np.zeros((16, 2), np.float32), np.zeros((16, 52), np.float32),
                        np.zeros((16, 52), bool), sampler="ddim", steps=2, style="alice")
    assert np.isfinite(out).all()


def test_model_without_styles_gets_its_first_style(tmp_path):
    data = write_pairs(tmp_path / "bob", n=2, seed=3)
    model = _arkit_model(styles=0)
    res = adapt_model(model, data, AdaptConfig(style_name="bob", steps=3, batch_size=2, parts=("face",),
                                               warmup_steps=0, lr=1e-2),
                      feature_fn=energy_features, progress=False)
    assert res.model.style_names == ("bob",) and res.style_index == 0
    assert res.model.part("face").denoiser.config.style_classes == 1
    assert res.model.part("head").denoiser.config.style_classes == 0  # not adapted: unchanged
    _assert_only_trainable_changed(model, res.model, ("face",))


def test_vertex_personalisation_with_init_style(tmp_path):
    from diface_editor.ml.data import convert_dataset

    write_fake_vocaset(tmp_path / "voca", subjects=("FaceTalk_170809_00138_TA",), sentences=(1, 2))
    convert_dataset("vocaset", tmp_path / "voca", tmp_path / "pairs")
    parts = {"face": _part("face", 300, 2, 4, flag_mode="none")}
    model = MotionModel(parts=parts, motion_space="vertex", style_names=("s0", "s1"),
                        sampling={"sampler": "ddim", "steps": 4, "window_s": 1.0})
    res = adapt_model(model, tmp_path / "pairs", AdaptConfig(style_name="FaceTalk_170809_00138_TA", init_style="s1",
                                                             steps=3, batch_size=2, lr=1e-2),
                      feature_fn=energy_features, progress=False)
    assert res.parts == ("face",)  # VOCASET has no head motion (and this model has no head part)
    _assert_only_trainable_changed(model, res.model, ("face",))


def test_bad_requests_are_clear(tmp_path):
    data = write_pairs(tmp_path / "d", n=1)
    model = _arkit_model(styles=2)
    with pytest.raises(AdaptError, match="already has a style named 's1'"):
        adapt_model(model, data, AdaptConfig(style_name="s1"), feature_fn=energy_features, progress=False)
    with pytest.raises(AdaptError, match="unknown style 'zed'"):
        adapt_model(model, data, AdaptConfig(style_name="n", init_style="zed"), feature_fn=energy_features,
                    progress=False)
    with pytest.raises(AdaptError, match="no .*pairs|does not exist"):
        adapt_model(model, tmp_path / "empty_or_missing", AdaptConfig(style_name="n"), feature_fn=energy_features,
                    progress=False)


def test_cli_adapt_copies_the_audio_encoder_and_generates(tmp_path):
    """`diface adapt` on a bundle with a trained log-mel encoder, then `diface generate --style NAME`."""
    from diface_editor.cli.main import main
    from diface_editor.core.formats import load_animation
    from diface_editor.ml.audio import get_encoder

    enc = get_encoder({"type": "logmel", "channels": 16, "dim": 8, "dilations": [1, 2]})
    model = _arkit_model(styles=1, audio_dim=8)
    model.audio_encoder = enc.spec()
    model.audio_weights = enc.state_dict()
    model.save(tmp_path / "base")
    data = write_pairs(tmp_path / "carol", n=2, seed=5)
    assert main(["adapt", "--model", str(tmp_path / "base"), "--data", str(data), "-o", str(tmp_path / "carol_m"),
                 "--style-name", "carol", "--steps", "2", "--batch-size", "2", "--device", "cpu"]) == 0
    assert (tmp_path / "carol_m" / "audio.safetensors").is_file()
    out = tmp_path / "take.npz"
    assert main(["generate", str(data / "clip0.wav"), "-o", str(out), "--model", str(tmp_path / "carol_m"),
                 "--style", "carol", "--sampler", "ddim", "--steps", "2", "--device", "cpu"]) == 0
    assert load_animation(out).n_frames > 10
