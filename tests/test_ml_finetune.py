"""The lip-vertex loss, fine-tuning from a checkpoint (`[train] init_from`) and voice-shift augmentation."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from diface_editor.core.arkit import ARKIT_NAMES
from diface_editor.core.rig import load_default_rig
from diface_editor.ml.lip_loss import LipVertexLoss
from diface_editor.ml.train import TrainError, run_training, train_config_from_dict
from tests._ml_helpers import energy_features, write_pairs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _loss():
    rng = np.random.default_rng(0)
    frames = rng.uniform(0, 0.5, (200, 52))
    return LipVertexLoss(ARKIT_NAMES, np.full(52, 0.2), load_default_rig(), frames)


def test_lip_loss_weighs_errors_by_what_they_do_to_the_lips():
    loss = _loss()
    x0 = torch.zeros(2, 52, 10)
    gen = torch.ones(2, 52, 10)
    assert loss(x0, x0, gen).item() == 0.0
    jaw, brow = ARKIT_NAMES.index("jawOpen"), ARKIT_NAMES.index("browInnerUp")
    e_jaw, e_brow = x0.clone(), x0.clone()
    e_jaw[:, jaw] = 1.0
    e_brow[:, brow] = 1.0
    # the same normalised error: large on the lips for the jaw, none for the brows
    assert loss(e_jaw, x0, gen).item() > 0.1
    assert loss(e_brow, x0, gen).item() < 1e-3 * loss(e_jaw, x0, gen).item()
    # frames without a generated entry do not count
    assert loss(e_jaw, x0, torch.zeros_like(gen)).item() == 0.0


def _cfg(tmp_path, run: str, steps: int, **train):
    data = tmp_path / "pairs"
    if not data.exists():
        write_pairs(data, n=3, seed=1)
    return train_config_from_dict({
        "data": {"dir": str(data), "window_seconds": 1.0, "val_fraction": 0.0},
        "face": {"ch": 8, "ch_mult": [1, 2]}, "head": {"enabled": False},
        "loss": {"lip_vertex_weight": 1.0},
        "train": {"steps": steps, "batch_size": 2, "ema_decay": 0.9, "log_every": 1, "ckpt_every": steps,
                  **train},
        "output": {"run_dir": str(tmp_path / run), "bundle": str(tmp_path / run / "bundle")}}, tmp_path)


def test_fine_tune_starts_from_the_checkpoints_ema_weights(tmp_path):
    first = run_training(_cfg(tmp_path, "a", 2), feature_fn=energy_features, progress=False)
    ck = tmp_path / "a" / "checkpoints" / "step_00000002"
    ema = load_file(str(ck / "ema.safetensors"))
    seen = {}

    import diface_editor.ml.train as T
    orig = T._init_from

    def spy(trainer, path, device):
        state = orig(trainer, path, device)
        seen.update({k: v.clone() for k, v in T._full_state(trainer).items()})
        return state

    T._init_from = spy
    try:
        res = run_training(_cfg(tmp_path, "b", 1, init_from=str(ck)), feature_fn=energy_features, progress=False)
    finally:
        T._init_from = orig
    assert seen.keys() == ema.keys() and all(torch.equal(seen[k].cpu(), ema[k]) for k in ema)  # GPU or CPU
    state = json.loads((tmp_path / "b" / "checkpoints" / "step_00000001" / "state.json").read_text())
    assert state["step"] == 1 and state["history"][0]["init_step"] == 2
    assert res.bundle.is_dir() and first.bundle.is_dir()


def test_fine_tune_from_a_missing_or_different_checkpoint_is_refused(tmp_path):
    with pytest.raises(TrainError, match="not a training checkpoint"):
        run_training(_cfg(tmp_path, "x", 1, init_from=str(tmp_path / "nothing")), feature_fn=energy_features,
                     progress=False)
    run_training(_cfg(tmp_path, "a", 1), feature_fn=energy_features, progress=False)
    ck = tmp_path / "a" / "checkpoints" / "step_00000001"
    cfg = _cfg(tmp_path, "y", 1, init_from=str(ck))
    cfg.face = {"ch": 16, "ch_mult": (1, 2)}
    with pytest.raises(TrainError, match="different architecture"):
        run_training(cfg, feature_fn=energy_features, progress=False)


@pytest.mark.skipif(shutil.which("sox") is None, reason="needs SoX")
def test_voice_shift_scales_pitch_and_keeps_timing(tmp_path):
    from diface_editor.synth.voice_shift import VoiceShiftConfig, augment_split, shift_voice

    sr = 16000
    t = np.arange(sr) / sr
    x = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    y = shift_voice(x, sr, 12.0)  # one octave up
    assert y.shape == x.shape
    spec = np.abs(np.fft.rfft(y[2000:14000] * np.hanning(12000)))
    peak_hz = np.argmax(spec) * sr / 12000
    assert abs(peak_hz - 400) < 15
    assert np.array_equal(shift_voice(x, sr, 0.0), x)

    src = tmp_path / "src"
    write_pairs(src, n=2)
    rec = augment_split(src, tmp_path / "out", VoiceShiftConfig(copies=2, seed=3), progress=False)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(["clip0.wav", "clip0.npz", "clip1.wav", "clip1.npz", "voice_shift.json"]
                           + [f"clip{i}_vs{k}.{e}" for i in range(2) for k in range(2) for e in ("wav", "npz")])
    assert rec["shifts"]["clip0_vs0"] < -1.4 and rec["shifts"]["clip0_vs1"] > 1.4
    a, _ = sf.read(str(src / "clip0.wav"))
    b, _ = sf.read(str(tmp_path / "out" / "clip0_vs0.wav"))
    assert a.shape == b.shape
    # reproducible
    rec2 = augment_split(src, tmp_path / "out2", VoiceShiftConfig(copies=2, seed=3), progress=False)
    assert rec2["shifts"] == rec["shifts"]


def test_voice_shift_without_sox_is_a_clear_error(monkeypatch):
    from diface_editor.synth import voice_shift

    monkeypatch.setattr(voice_shift.shutil, "which", lambda name: None)
    with pytest.raises(voice_shift.VoiceShiftError, match="SoX"):
        voice_shift.shift_voice(np.ones(100, np.float32), 16000, 2.0)
