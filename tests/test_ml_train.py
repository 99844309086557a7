"""Training: noise schedule, masked loss, random masks, the TOML config, and `diface train` end to end
(tiny synthetic folder: trains, writes a loadable bundle, resumes exactly)."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from diface_editor.core.arkit import ARKIT_NAMES, GROUPS
from diface_editor.ml.diffusion import DiffusionConfig, GaussianDiffusion, cosine_betas
from diface_editor.ml.masks import MASK_KINDS, MaskConfig, arkit_groups, random_mask, random_masks
from diface_editor.ml.train import TrainError, load_train_config, run_training, train_config_from_dict
from tests._ml_helpers import energy_features, tiny_denoiser, write_pairs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------------- schedule and loss
def test_cosine_schedule_of_improved_ddpm():
    d = GaussianDiffusion()
    assert d.num_train_steps == 1000 and d.betas.shape == (1000,)
    ab = d.alphas_cumprod
    assert np.all(np.diff(ab) < 0) and ab[-1] < 1e-4 and ab[0] > 0.9999
    f = lambda u: math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    assert ab[499] == pytest.approx(f(0.5) / f(0.0), rel=1e-6)
    assert cosine_betas(10).max() <= 0.999
    x0 = torch.ones(4000, 1, 1)
    xt = d.q_sample(x0, torch.full((4000,), 500), torch.randn(4000, 1, 1, generator=torch.Generator().manual_seed(0)))
    assert xt.mean().item() == pytest.approx(math.sqrt(ab[500]), abs=0.05)
    assert xt.std().item() == pytest.approx(math.sqrt(1 - ab[500]), abs=0.05)


class _Oracle(torch.nn.Module):
    """Predicts x0 exactly on generated entries and garbage on known ones; records its inputs."""

    def __init__(self, x0, known, flag_mode="channel"):
        super().__init__()
        self.x0, self.known = x0, known
        self.config = type("C", (), {"flag_mode": flag_mode})()
        self.seen = None

    def forward(self, x_t, t, flags, audio, cond_mask, style):
        self.seen = (x_t, flags, cond_mask)
        return torch.where(self.known, torch.full_like(self.x0, 99.0), self.x0)


def test_loss_ignores_known_entries_and_feeds_them_clean():
    d = GaussianDiffusion(DiffusionConfig(velocity_weight=1.0, cond_drop_prob=0.5))
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(64, 5, 20, generator=g)
    known = torch.zeros(64, 5, 20, dtype=torch.bool)
    known[:, :, :6] = True
    known[:, 2] = True
    oracle = _Oracle(x0, known)
    loss, parts = d.training_loss(oracle, x0, known, audio=torch.zeros(64, 20, 3), generator=g)
    assert loss.item() == 0.0 and parts["mse"] == 0.0 and parts["vel"] == 0.0
    x_t, flags, cond_mask = oracle.seen
    assert torch.equal(x_t[known], x0[known])           # known entries are given clean
    assert not torch.allclose(x_t[~known], x0[~known])  # the rest is noised
    assert torch.equal(flags, known.float())
    assert 16 < int(cond_mask.sum()) < 48               # ~50 % condition dropout
    # a model that is wrong on generated entries is penalised, by mse and velocity
    wrong = _Oracle(x0 + 0.5 * torch.randn(64, 5, 20, generator=g), known)
    loss2, parts2 = d.training_loss(wrong, x0, known, generator=g)
    assert parts2["mse"] > 0.2 and parts2["vel"] > 0.2 and loss2.item() == pytest.approx(parts2["mse"] + parts2["vel"])


def test_gradients_reach_the_zero_initialised_output_layer():
    m = tiny_denoiser(C=5, D=4, out_std=0.0).train()
    d = GaussianDiffusion()
    x0 = torch.randn(3, 5, 16)
    known = torch.zeros_like(x0, dtype=torch.bool)
    loss, _ = d.training_loss(m, x0, known, audio=torch.randn(3, 16, 4), generator=torch.Generator().manual_seed(1))
    loss.backward()
    assert m.decoder.out_embed.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------------- masks
def test_masks_are_seeded_and_always_leave_something_to_generate():
    groups = arkit_groups(ARKIT_NAMES)
    assert [len(g) for g in groups] == [len(v) for v in GROUPS.values()]
    a = random_masks(np.random.default_rng(3), 200, 40, 52, MaskConfig(), groups)
    b = random_masks(np.random.default_rng(3), 200, 40, 52, MaskConfig(), groups)
    assert a.shape == (200, 40, 52) and a.dtype == bool and np.array_equal(a, b)
    assert (~a).any(axis=(1, 2)).all()
    frac = a.mean(axis=(1, 2))
    assert (frac == 0).mean() > 0.15  # "none" masks
    assert ((frac > 0) & (frac < 1)).mean() > 0.5


def test_each_mask_kind_has_its_shape():
    rng = np.random.default_rng(0)
    groups = arkit_groups(ARKIT_NAMES)
    for _ in range(20):
        assert not random_mask(rng, 30, 52, kind="none").any()
        gap = random_mask(rng, 30, 52, kind="gap")
        gen = ~gap.all(1)
        idx = np.flatnonzero(gen)
        assert gen.any() and np.array_equal(idx, np.arange(idx[0], idx[-1] + 1))  # one contiguous gap
        assert np.array_equal(gap, np.repeat(gap[:, :1], 52, 1))                    # whole frames
        keys = random_mask(rng, 30, 52, kind="keys")
        assert 1 <= keys.all(1).sum() <= 5 and np.array_equal(keys.any(1), keys.all(1))
        grp = random_mask(rng, 30, 52, groups=groups, kind="groups")
        for g in groups:  # every group is either uniformly known/unknown per frame
            assert np.array_equal(grp[:, g].all(1), grp[:, g].any(1))
        head = random_mask(rng, 30, 3, groups=None, kind="groups")  # no groups: falls back to per-frame keys
        assert np.array_equal(head.any(1), head.all(1))
    assert set(MASK_KINDS) == {"none", "gap", "keys", "groups"}


# ---------------------------------------------------------------------- config
def _toml(tmp_path, data_rel="data", run_rel="run", steps=4, extra=""):
    text = f"""
name = "tiny test model"
[data]
dir = "{data_rel}"
val_fraction = 0.25
window_seconds = 1.0
[audio_encoder]
type = "logmel"
channels = 8
dim = 6
dilations = [1]
[face]
ch = 8
ch_mult = [1, 2]
[head]
ch = 8
ch_mult = [1, 2]
[train]
steps = {steps}
batch_size = 3
warmup_steps = 2
val_every = 2
val_batches = 1
ckpt_every = 2
log_every = 1
ema_decay = 0.9
device = "cpu"
[output]
run_dir = "{run_rel}"
{extra}
"""
    p = tmp_path / "cfg" / "train.toml"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_config_paths_are_relative_to_the_config_file(tmp_path, monkeypatch):
    p = _toml(tmp_path, data_rel="../pairs", run_rel="../runs/a")
    monkeypatch.chdir(tmp_path.parent)
    cfg = load_train_config(p)
    assert cfg.data.dir == (tmp_path / "pairs").resolve()
    assert cfg.run_dir == (tmp_path / "runs" / "a").resolve()
    assert cfg.bundle_path == cfg.run_dir / "bundle"
    assert cfg.window_frames == 30 and cfg.optim.ema_decay == 0.9


def test_default_config_file_parses():
    from diface_editor.core.paths import ROOT

    cfg = load_train_config(ROOT / "configs" / "train_default.toml")
    assert cfg.data.dir == ROOT / "data" / "synth" / "train"
    assert cfg.face["flag_mode"] == "channel" and cfg.head["flag_mode"] == "frame"
    assert cfg.diffusion.num_train_steps == 1000 and cfg.diffusion.schedule == "cosine"
    assert cfg.window_frames % 16 == 0


def test_config_errors_name_the_problem(tmp_path):
    with pytest.raises(TrainError, match="unknown key\\(s\\) in \\[train\\]: stepz"):
        train_config_from_dict({"data": {"dir": "x"}, "face": {}, "train": {"stepz": 3}}, tmp_path)
    with pytest.raises(TrainError, match="unknown key\\(s\\) in \\[face\\]: chh"):
        train_config_from_dict({"data": {"dir": "x"}, "face": {"chh": 3}}, tmp_path)
    with pytest.raises(TrainError, match="needs \\[data\\] dir"):
        train_config_from_dict({}, tmp_path)
    with pytest.raises(TrainError, match="trains nothing"):
        train_config_from_dict({"data": {"dir": "x"}, "face": {"enabled": False}, "head": {"enabled": False}},
                               tmp_path)
    with pytest.raises(TrainError, match="does not exist"):
        load_train_config(tmp_path / "nope.toml")


# ---------------------------------------------------------------------- end to end
def _weights(bundle):
    return {**{f"face.{k}": v for k, v in load_file(str(bundle / "face.safetensors")).items()},
            **{f"head.{k}": v for k, v in load_file(str(bundle / "head.safetensors")).items()},
            **{f"audio.{k}": v for k, v in load_file(str(bundle / "audio.safetensors")).items()}}


def test_diface_train_writes_a_bundle_and_resumes_exactly(tmp_path, capsys):
    from diface_editor.cli.main import main
    from diface_editor.ml.bundle import MotionModel
    from diface_editor.ml.sampling import sample_window

    write_pairs(tmp_path / "cfg" / "data", n=4)
    # uninterrupted: 4 steps
    cfg_full = _toml(tmp_path, run_rel="full", steps=4)
    assert main(["train", "--config", str(cfg_full), "--no-progress"]) == 0
    assert "model bundle" in capsys.readouterr().out
    full = tmp_path / "cfg" / "full"
    bundle = full / "bundle"
    assert sorted(p.name for p in (full / "checkpoints").iterdir()) == ["step_00000002", "step_00000004"]
    ck = full / "checkpoints" / "step_00000004"
    assert {p.name for p in ck.iterdir()} == {"model.safetensors", "ema.safetensors", "optimizer.safetensors",
                                              "optimizer.json", "state.json"}

    # the bundle loads and samples; its normalisation comes from the training data
    model = MotionModel.load(bundle)
    cfg = json.loads((bundle / "config.json").read_text())
    assert cfg["name"] == "tiny test model" and cfg["motion_space"] == "arkit"
    assert cfg["face_channels"] == list(ARKIT_NAMES) and cfg["audio_encoder"]["type"] == "logmel"
    assert cfg["metrics"]["train_steps"] == 4 and "val_loss" in cfg["metrics"]
    assert cfg["metrics"]["train_clips"] == 3 and cfg["metrics"]["val_clips"] == 1
    assert cfg["sampling"]["window_s"] == 1.0 and model.window_frames == 30
    face = model.part("face")
    assert face.denoiser.config.flag_mode == "channel" and model.part("head").denoiser.config.flag_mode == "frame"
    assert 0.0 < face.normaliser.mean.min() and face.normaliser.mean.max() < 1.0
    from diface_editor.core.audio import AudioClip

    clip = AudioClip.load(tmp_path / "cfg" / "data" / "clip0.wav")
    feats = model.build_audio_encoder().features(clip, 40, model.fps)
    out = sample_window(face, feats, np.zeros((40, 52), np.float32), np.zeros((40, 52), bool), steps=3)
    assert out.shape == (1, 40, 52) and np.all(np.isfinite(out))

    # interrupted: 2 steps, then --resume up to 4 -> bit-identical weights
    cfg_res = _toml(tmp_path, run_rel="res", steps=2)
    assert main(["train", "--config", str(cfg_res), "--no-progress"]) == 0
    # running again without --resume refuses to overwrite the run
    assert main(["train", "--config", str(cfg_res), "--no-progress"]) == 1
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--config", str(cfg_res), "--no-progress", "--resume", "--steps", "4"]) == 0
    a, b = _weights(bundle), _weights(tmp_path / "cfg" / "res" / "bundle")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    state = json.loads((tmp_path / "cfg" / "res" / "checkpoints" / "step_00000004" / "state.json").read_text())
    assert state["step"] == 4


def test_training_with_a_feature_function_and_face_only(tmp_path):
    data = write_pairs(tmp_path / "pairs", n=3, seed=1)
    cfg = train_config_from_dict({
        "data": {"dir": str(data), "window_seconds": 2.5, "val_fraction": 0.0},
        "face": {"ch": 8, "ch_mult": [1, 2, 2]}, "head": {"enabled": False},
        "train": {"steps": 3, "batch_size": 2, "ema_decay": 0.0, "log_every": 1, "ckpt_every": 10},
        "output": {"run_dir": str(tmp_path / "run"), "bundle": str(tmp_path / "model")}}, tmp_path)
    res = run_training(cfg, feature_fn=energy_features, progress=False)
    assert res.steps == 3 and res.val_loss is None and math.isfinite(res.train_loss)
    assert sorted(p.name for p in res.bundle.iterdir()) == ["MODEL_CARD.md", "config.json", "face.safetensors"]
    from diface_editor.ml.bundle import MotionModel

    m = MotionModel.load(res.bundle)
    assert not m.has_part("head") and m.part("face").audio_dim == 2
    # the windows (75 frames) are longer than the clips (36..60 frames): padding is known, never trained on
    assert os.path.isdir(tmp_path / "run" / "checkpoints")


def test_interrupted_training_keeps_a_checkpoint_to_resume(tmp_path, monkeypatch):
    from diface_editor.ml import train as train_mod

    data = write_pairs(tmp_path / "pairs", n=2, seed=2)
    d = {"data": {"dir": str(data), "window_seconds": 1.0, "val_fraction": 0.0},
         "face": {"ch": 8, "ch_mult": [1, 2]}, "head": {"ch": 8, "ch_mult": [1, 2]},
         "train": {"steps": 5, "batch_size": 2, "ckpt_every": 100, "log_every": 1},
         "output": {"run_dir": str(tmp_path / "run")}}
    real_loss = train_mod.Trainer.loss
    calls = []

    def flaky(self, batch, gen, deterministic_cond=False):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_loss(self, batch, gen, deterministic_cond)

    monkeypatch.setattr(train_mod.Trainer, "loss", flaky)
    with pytest.raises(KeyboardInterrupt):
        run_training(train_config_from_dict(d, tmp_path), feature_fn=energy_features, progress=False)
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == ["step_00000002"]
    monkeypatch.setattr(train_mod.Trainer, "loss", real_loss)
    res = run_training(train_config_from_dict(d, tmp_path), feature_fn=energy_features, progress=False, resume=True)
    assert res.resumed_from == 2 and res.steps == 5 and (res.bundle / "face.safetensors").is_file()
