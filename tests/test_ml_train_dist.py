"""Scaled-out training (#19): torch.distributed workers (gloo on the CPU), the epoch sampler,
gradient accumulation, precision settings, the bundle's record of the run, a lost worker, and
``python -m diface_editor COMMAND`` dispatching to the command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from diface_editor.core.paths import ROOT
from diface_editor.ml.train import TrainError, load_train_config, run_training, train_config_from_dict
from diface_editor.ml.train_loader import EpochBatchSampler
from tests._ml_helpers import energy_features, write_pairs

TINY = ROOT / "configs" / "train_tiny.toml"


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", DIFACE_CACHE_DIR="off", PYTHONPATH=str(ROOT))
    env.pop("DIFACE_TRAIN_FAULT", None)
    return env


def _history(run_dir: Path, step: int, key: str) -> list[float]:
    st = json.loads((run_dir / "checkpoints" / f"step_{step:08d}" / "state.json").read_text())
    return [h[key] for h in st["history"] if key in h]


def _weights(bundle: Path) -> dict[str, torch.Tensor]:
    return {f"{f.stem}.{k}": v for f in sorted(bundle.glob("*.safetensors")) for k, v in load_file(str(f)).items()}


def test_two_gloo_workers_match_one_process_with_the_doubled_batch(tmp_path, capsys):
    """torchrun, 2 CPU workers x batch 4 == 1 process x batch 8 (loss curve within noise); the 2-worker
    run resumes exactly; its bundle records the run and `diface generate --model` uses it."""
    from diface_editor.cli.main import main

    data = write_pairs(tmp_path / "pairs", n=8)
    one = tmp_path / "one"
    # gloo workers on the CPU, also on a machine with a GPU (where "auto" would take it)
    assert main(["train", "--config", str(TINY), "--data", str(data), "--device", "cpu", "--run-dir", str(one),
                 "--no-progress", "--batch-size", "8", "--threads", "1"]) == 0
    two = tmp_path / "two"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "diface_editor", "train", "--config", str(TINY), "--data", str(data), "--device", "cpu",
           "--run-dir", str(two),
           "--no-progress", "--batch-size", "4"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert "on 2 processes, effective batch 8" in r.stdout

    a, b = np.array(_history(one, 60, "train_loss")), np.array(_history(two, 60, "train_loss"))
    assert a.shape == b.shape == (12,)
    # the same windows and masks every step; only the diffusion noise of each half differs
    assert np.max(np.abs(a - b)) < 0.05 and abs(a[-3:].mean() - b[-3:].mean()) < 0.03
    assert a[:3].mean() - a[-3:].mean() > 0.08  # the curve moves, so matching it means something
    va, vb = _history(one, 60, "val_loss"), _history(two, 60, "val_loss")
    assert np.max(np.abs(np.subtract(va, vb))) < 0.05

    cfg = json.loads((two / "bundle" / "config.json").read_text())
    t = cfg["training"]
    assert (t["world_size"], t["backend"], t["precision"], t["grad_accum"]) == (2, "gloo", "fp32", 1)
    assert t["batch_size_per_process"] == 4 and t["effective_batch_size"] == 8
    assert t["data_summary"]["train_clips"] == 6 and t["data_summary"]["sampler"] == "random"
    assert t["train"]["steps"] == 60 and cfg["metrics"]["train_samples_per_second"] > 0  # existing keys stay
    one_t = json.loads((one / "bundle" / "config.json").read_text())["training"]
    assert one_t["world_size"] == 1 and one_t["effective_batch_size"] == 8

    # every rank resumes from rank 0's checkpoint: identical to the uninterrupted run
    res = tmp_path / "res"
    (res / "checkpoints").mkdir(parents=True)
    shutil.copytree(two / "checkpoints" / "step_00000040", res / "checkpoints" / "step_00000040")
    r = subprocess.run([*cmd[:-5], "--run-dir", str(res), "--no-progress", "--batch-size", "4", "--resume"],
                       capture_output=True, text=True, env=_env(), timeout=120)
    assert r.returncode == 0, r.stderr[-4000:]
    wa, wb = _weights(two / "bundle"), _weights(res / "bundle")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)

    out = tmp_path / "gen.npz"
    assert main(["generate", str(data / "clip0.wav"), "-o", str(out), "--model", str(two / "bundle"),
                 "--steps", "3", "--device", "cpu"]) == 0
    from diface_editor.core.formats import load_animation

    anim = load_animation(out)
    assert anim.n_frames > 30 and np.all(np.isfinite(anim.face))


def test_a_lost_worker_ends_the_job_with_a_message(tmp_path):
    """`diface train --nproc-per-node 2` (torch's elastic launcher): rank 1 dies before step 3; the job
    ends (no hang) with one sentence naming the rank and --resume."""
    data = write_pairs(tmp_path / "pairs", n=4)
    env = dict(_env(), DIFACE_TRAIN_FAULT="1:3")
    r = subprocess.run([sys.executable, "-m", "diface_editor", "train", "--config", str(TINY), "--data", str(data),
                        "--device", "cpu", "--run-dir", str(tmp_path / "run"), "--no-progress", "--batch-size", "2",
                        "--nproc-per-node", "2"], capture_output=True, text=True, env=env, timeout=150)
    assert r.returncode == 1
    assert "diface: error: distributed training stopped: rank 1 exited with code 3 first" in r.stderr
    assert "--resume" in r.stderr


def test_epoch_sampler_shards_reshuffles_and_resumes():
    one = EpochBatchSampler(21, 4, 0, 1, seed=5)
    r0, r1 = EpochBatchSampler(21, 2, 0, 2, seed=5), EpochBatchSampler(21, 2, 1, 2, seed=5)
    it1, it0, itr = iter(one), iter(r0), iter(r1)
    for _ in range(2 * one.per_epoch):
        b = next(it1)
        assert sorted(b) == sorted(next(it0) + next(itr))  # the ranks together hold one process's batch
    e0 = [s for e, s in EpochBatchSampler(21, 21, 0, 1, seed=5).__iter__().__next__()]
    it = iter(EpochBatchSampler(21, 21, 0, 1, seed=5))
    assert [s for _, s in next(it)] == e0 and [s for _, s in next(it)] != e0  # reshuffled per epoch
    assert sorted(e0) == list(range(21))
    full = iter(EpochBatchSampler(21, 3, 1, 2, seed=5))
    batches = [next(full) for _ in range(7)]
    later = iter(EpochBatchSampler(21, 3, 1, 2, seed=5, start=4))
    assert [next(later) for _ in range(3)] == batches[4:]  # a resumed run continues where it was
    with pytest.raises(TrainError, match="sampler"):
        EpochBatchSampler(3, 4, 0, 1, seed=0)


def _cfg(tmp_path, data, run, **train):
    return train_config_from_dict({
        "data": {"dir": str(data), "window_seconds": 1.0, "val_fraction": 0.0, "sampler": "epoch", "num_workers": 1},
        "face": {"ch": 8, "ch_mult": [1, 2]}, "head": {"ch": 8, "ch_mult": [1, 2]},
        "train": {"steps": 4, "batch_size": 2, "grad_accum": 2, "ckpt_every": 2, "log_every": 1, "device": "cpu",
                  "ema_decay": 0.9, **train},
        "output": {"run_dir": str(tmp_path / run)}}, tmp_path)


def test_epoch_sampler_with_loader_workers_and_accumulation_resumes_exactly(tmp_path):
    data = write_pairs(tmp_path / "pairs", n=4, seed=3)
    full = run_training(_cfg(tmp_path, data, "full"), feature_fn=energy_features, progress=False)
    assert full.effective_batch == 4 and full.world_size == 1
    run_training(_cfg(tmp_path, data, "res"), feature_fn=energy_features, progress=False, steps=2)
    res = run_training(_cfg(tmp_path, data, "res"), feature_fn=energy_features, progress=False, resume=True)
    assert res.resumed_from == 2
    wa, wb = _weights(full.bundle), _weights(res.bundle)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    t = json.loads((full.bundle / "config.json").read_text())["training"]
    assert t["grad_accum"] == 2 and t["effective_batch_size"] == 4 and t["data_summary"]["num_workers"] == 1


def test_precision_and_scale_out_settings_are_checked(tmp_path):
    data = write_pairs(tmp_path / "pairs", n=2)
    with pytest.raises(TrainError, match="fp16.*CUDA"):
        run_training(_cfg(tmp_path, data, "a", precision="fp16"), feature_fn=energy_features, progress=False)
    for bad, match in (({"train": {"precision": "fp8"}}, "precision"), ({"train": {"grad_accum": 0}}, "grad_accum"),
                       ({"data": {"dir": "x", "sampler": "nope"}}, "sampler")):
        d = {"data": {"dir": "x"}, "face": {}, **bad}
        with pytest.raises(TrainError, match=match):
            train_config_from_dict(d, tmp_path)
    cfg = load_train_config(TINY)
    assert cfg.optim.steps == 60 and cfg.data.sampler == "random" and cfg.optim.precision == "fp32"


def test_bf16_autocast_trains_on_the_cpu(tmp_path):
    data = write_pairs(tmp_path / "pairs", n=2)
    res = run_training(_cfg(tmp_path, data, "bf", precision="bf16", steps=2), feature_fn=energy_features,
                       progress=False)
    assert np.isfinite(res.train_loss)
    assert json.loads((res.bundle / "config.json").read_text())["training"]["precision"] == "bf16"


def test_python_m_diface_editor_runs_cli_commands_without_qt():
    from diface_editor.cli_dispatch import is_cli_command

    assert is_cli_command(["train", "--config", "x"]) and is_cli_command(["-v", "generate"])
    assert not is_cli_command([]) and not is_cli_command(["take.diface"])
    code = ("import runpy, sys; sys.argv = ['diface_editor', 'train', '--help']\n"
            "try:\n    runpy.run_module('diface_editor', run_name='__main__')\nexcept SystemExit as e:\n"
            "    assert e.code == 0\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'vispy')]\n"
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=60)
    assert r.returncode == 0, r.stderr
    assert "--nproc-per-node" in r.stdout


def _cache_writer(folder: str, seed: int, q) -> None:
    import logging

    from diface_editor.ml.audio.cache import FeatureCache

    warnings = []

    class H(logging.Handler):
        def emit(self, record):
            warnings.append(record.getMessage())

    logging.getLogger("diface_editor.ml.audio.cache").addHandler(H(logging.WARNING))
    rng = np.random.default_rng(seed)
    for _ in range(60):
        c = FeatureCache(disk_dir=folder, max_disk_bytes=6000)  # small: pruning runs all the time
        key = ("raw", "enc", int(rng.integers(0, 8)))
        a = np.full((64, 4), float(key[2]), np.float32)
        got = c.get_or_compute(key, lambda a=a: a, disk=True)
        assert np.array_equal(got, a)
    q.put(warnings)


def test_the_feature_cache_is_safe_under_concurrent_writers(tmp_path):
    """The ranks of a job share the on-disk feature cache: atomic writes, no reader ever sees half a
    file, and pruning never deletes another writer's temporary file."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_cache_writer, args=(str(tmp_path / "cache"), s, q)) for s in range(4)]
    for p in procs:
        p.start()
    results = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert results == [[]] * 4  # no damaged file, no failed write
    assert not list((tmp_path / "cache").glob(".*.tmp.npy"))


def test_a_cache_file_another_rank_prunes_while_it_is_read_is_a_quiet_miss(tmp_path, monkeypatch, caplog):
    """Another rank's pruning can delete a file between a rank seeing it and loading it (seen with 4
    writers on a 16-core machine): that is a miss, recomputed, not a "damaged file" warning."""
    import logging

    from diface_editor.ml.audio import cache as cache_mod

    folder = tmp_path / "cache"
    key, a = ("raw", "enc", 1), np.ones((8, 4), np.float32)
    cache_mod.FeatureCache(disk_dir=folder).put(key, a, disk=True)
    real_load = np.load

    def load_after_a_prune(path, *args, **kwargs):
        Path(path).unlink()  # the other rank's prune lands first
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(cache_mod.np, "load", load_after_a_prune)
    fresh = cache_mod.FeatureCache(disk_dir=folder)
    with caplog.at_level(logging.WARNING, logger="diface_editor.ml.audio.cache"):
        got = fresh.get_or_compute(key, lambda: a * 2, disk=True)
    assert np.array_equal(got, a * 2) and fresh.misses == 1
    assert not caplog.records


def test_precompute_features_fills_the_disk_cache(tmp_path):
    """`diface train --precompute-features`: the frozen Whisper features of every clip land in the
    on-disk cache (then a run, on any number of processes, reads them)."""
    data = write_pairs(tmp_path / "pairs", n=2)
    env = dict(_env(), DIFACE_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-m", "diface_editor", "train", "--config", str(ROOT / "configs" /
                        "train_default.toml"), "--data", str(data), "--precompute-features", "--no-progress"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "audio features of 2 clips are in" in r.stdout
    assert len(list((tmp_path / "cache" / "audio-features").glob("*.npy"))) == 2
