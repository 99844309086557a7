"""``diface info`` and ``diface export`` as a user runs them (a subprocess, another working folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from diface_editor.core.animation import Animation
from diface_editor.core.arkit import ARKIT_NAMES
from diface_editor.core.formats import load_animation, save_animation
from diface_editor.core.rotations import ypr_to_axis_angle

ROOT = Path(__file__).resolve().parents[1]


def diface(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "diface_editor.cli.main", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    """A folder with a generated animation, a small rig and an 8-channel 96 kHz wav."""
    d = tmp_path_factory.mktemp("example")
    rng = np.random.default_rng(0)
    t = np.arange(60) / 30
    face = np.zeros((60, 52), np.float32)
    face[:, ARKIT_NAMES.index("jawOpen")] = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    head = ypr_to_axis_angle(np.stack([0.2 * np.sin(t), 0.1 * np.cos(t), 0 * t], 1)).astype(np.float32)
    save_animation(Animation(fps=30, face=face, head=head), d / "take.npz")
    v = 10
    np.savez(d / "rig.npz", template=rng.uniform(-0.1, 0.1, (v, 3)).astype(np.float32),
             faces=np.array([[0, 1, 2]], np.int32), pivot=np.zeros(3, np.float32),
             blendshape_names=np.array(ARKIT_NAMES), deltas=rng.normal(0, 0.01, (52, v, 3)).astype(np.float32))
    sf.write(d / "voice.wav", np.zeros((9600, 8), np.float32), 96000, subtype="PCM_16")
    return d


def test_info_describes_animation_and_audio(example):
    r = diface("info", "take.npz", "voice.wav", cwd=example)
    assert r.returncode == 0, r.stderr
    assert "60 at 30 fps (2.000 s)" in r.stdout and "jawOpen" in r.stdout
    assert "8 channels, 96000 Hz, 0.100 s" in r.stdout


def test_export_chain_csv_npy_and_back(example, tmp_path):
    r = diface("export", example / "take.npz", "take.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and (tmp_path / "take.csv").exists()
    a, b = load_animation(example / "take.npz"), load_animation(tmp_path / "take.csv")
    np.testing.assert_allclose(b.face, a.face, atol=1e-9)
    np.testing.assert_allclose(b.head, a.head, atol=1e-6)

    r = diface("export", "take.csv", "take.npy", "--rig", example / "rig.npz", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    c = load_animation(tmp_path / "take.npy")
    assert c.space == "vertex" and c.n_frames == 60

    r = diface("export", "take.npz", "--format", "livelink", "sixty", "--fps", "60", cwd=example)
    assert r.returncode == 0, r.stderr
    d = load_animation(example / "sixty.csv")
    assert d.fps == 60 and d.n_frames == 120


def test_export_lists_formats(tmp_path):
    r = diface("export", "--list-formats", cwd=tmp_path)
    assert r.returncode == 0
    for name in ("native", "3diface", "livelink"):
        assert name in r.stdout


@pytest.mark.parametrize("args, expect", [
    (("info", "missing.npz"), "file not found"),
    (("info", "notes.txt"), "cannot tell what kind of file notes.txt is"),
    (("info", "empty.npz"), "is empty (0 bytes)"),
    (("export", "empty.csv", "x.npz"), "is empty (0 bytes)"),
    (("info", "empty.wav"), "is empty (0 bytes)"),
    (("export", "missing.csv", "out.npz"), "file not found"),
    (("export", "{ex}/take.npz", "out.xyz"), "cannot tell the animation format"),
    (("export", "{ex}/take.npz", "out.npz", "--format", "fbx2000"), "unknown file format"),
    (("export", "{ex}/take.npz", "out.npz", "--in-fps", "25"), "cannot load with the option fps"),
    (("info", "{ex}/voice.npy"), "file not found"),
])
def test_errors_are_one_line_with_exit_code_1(example, tmp_path, args, expect):
    (tmp_path / "notes.txt").write_text("hello")
    for name in ("empty.npz", "empty.csv", "empty.wav"):
        (tmp_path / name).write_bytes(b"")
    r = diface(*(a.replace("{ex}", str(example)) for a in args), cwd=tmp_path)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("diface: error:") and expect in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_missing_output_is_a_usage_error(example, tmp_path):
    r = diface("export", example / "take.npz", cwd=tmp_path)
    assert r.returncode == 2 and "OUT" in r.stderr


def test_verbose_shows_traceback(tmp_path):
    r = diface("-v", "info", "missing.npz", cwd=tmp_path)
    assert r.returncode != 0 and "Traceback" in r.stderr


class _Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # a normal unpickler would create the marker file
        return (open, (self.marker, "w"))


def test_npy_via_cli_plain_ok_and_unsafe_refused(tmp_path):
    np.save(tmp_path / "ok.npy", {"vertice": np.zeros((2, 3, 3)), "pose": np.zeros((2, 3))}, allow_pickle=True)
    r = diface("info", "ok.npy", cwd=tmp_path)
    assert r.returncode == 0 and "3 vertices" in r.stdout, r.stderr
    marker = tmp_path / "MARKER"
    np.save(tmp_path / "evil.npy", {"vertice": np.zeros((2, 3, 3)), "x": _Exploit(str(marker))}, allow_pickle=True)
    r = diface("export", "evil.npy", "out.npz", cwd=tmp_path)
    assert r.returncode == 1 and "was not loaded" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not marker.exists() and not (tmp_path / "out.npz").exists()


def test_version(tmp_path):
    r = diface("--version", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("diface ")
