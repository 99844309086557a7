"""``diface generate`` and ``diface edit`` end to end on a tiny model bundle (subprocesses, as a
user runs them, from another working folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from _engine_fakes import tiny_model, write_speech  # noqa: E402
from diface_editor.cli.main import main  # noqa: E402
from diface_editor.core.formats import load_animation  # noqa: E402
from diface_editor.core.rotations import ypr_to_axis_angle  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def diface(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "diface_editor.cli.main", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    tiny_model(train_steps=10).save(d / "model")
    write_speech(d / "speech.wav", 3.0)
    (d / "run").mkdir()
    return d


def test_generate_then_edit(work):
    run = work / "run"
    r = diface("generate", work / "speech.wav", "-o", "take.npz", "--model", work / "model", "--seed", "2",
               "--samples", "2", cwd=run)
    assert r.returncode == 0, r.stderr
    assert "step" in r.stderr and "100%" in r.stderr  # tqdm progress on stderr
    a, b = load_animation(run / "take_1.npz"), load_animation(run / "take_2.npz")
    assert a.n_frames == b.n_frames == 90 and a.fps == 30
    assert np.abs(a.head).max() > 0 and not np.allclose(a.head, b.head)
    assert a.metadata["audio_path"] == str(work / "speech.wav")

    # range (in seconds), keyframe value pin, swap: each keeps everything outside its frames
    r = diface("edit", "take_1.npz", "-o", "range.npz", "--model", work / "model", "--range", "1s:1.5s", cwd=run)
    assert r.returncode == 0, r.stderr
    e = load_animation(run / "range.npz")
    assert np.array_equal(e.face[:30], a.face[:30]) and np.array_equal(e.face[45:], a.face[45:])
    assert np.array_equal(e.head[:30], a.head[:30]) and not np.array_equal(e.head[30:45], a.head[30:45])

    # the other modes in-process (same entry point, without paying the interpreter start again)
    assert main(["edit", str(run / "take_1.npz"), "-o", str(run / "key.npz"), "--model", str(work / "model"),
                 "--keyframe-head", "40=20,5,0", "--radius", "6", "--parts", "head", "--sampler", "ddpm"]) == 0
    k = load_animation(run / "key.npz")
    assert np.allclose(k.head[40], ypr_to_axis_angle(np.radians([20.0, 5.0, 0.0])), atol=1e-6)
    assert np.array_equal(k.face, a.face)
    assert np.array_equal(k.head[:34], a.head[:34]) and np.array_equal(k.head[47:], a.head[47:])

    assert main(["edit", str(run / "take_1.npz"), "-o", str(run / "swap.npz"), "--audio", str(work / "speech.wav"),
                 "--model", str(work / "model"), "--swap", "10:60", "--radius", "5", "--parts", "head"]) == 0
    s = load_animation(run / "swap.npz")
    assert np.array_equal(s.head[60], a.head[10]) and np.array_equal(s.head[66:], a.head[66:])


def test_clear_errors(work):
    run = work / "run"
    r = diface("generate", work / "speech.wav", "-o", "x.npz", "--model", work / "nothing", cwd=run)
    assert r.returncode == 1 and f"no model at {work / 'nothing'}; train one with diface train or pass --model" \
        in r.stderr and "Traceback" not in r.stderr
    r = diface("edit", work / "missing.npz", "-o", "x.npz", "--model", work / "model", "--range", "0:10", cwd=run)
    assert r.returncode == 1 and "Traceback" not in r.stderr
