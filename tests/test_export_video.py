"""MP4 rendering: streams and durations (ffprobe), a non-blank frame, side-by-side takes, the CLI."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from _export_helpers import random_take, save_rig, sphere_head, write_tone
from diface_editor.core.formats import save_animation

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                reason="ffmpeg/ffprobe are not installed (apt-get install ffmpeg)")


@pytest.fixture(scope="module")
def gl():
    from diface_editor.render.offscreen import gl_available

    ok, why = gl_available()
    if not ok:
        pytest.skip(f"no headless OpenGL here: {why}")
    return why


@pytest.fixture(scope="module")
def rig():
    return sphere_head()


def _frame(path, index: int, width: int, height: int) -> np.ndarray:
    """Decode frame ``index`` of a video as (H, W, 3) uint8 with ffmpeg."""
    r = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vf", f"select=eq(n\\,{index})", "-frames:v", "1",
                        "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"], capture_output=True, check=True)
    return np.frombuffer(r.stdout, np.uint8).reshape(height, width, 3)


def test_mp4_has_video_and_audio_of_the_right_length(tmp_path, gl, rig):
    from diface_editor.render.video import VideoOptions, probe, render_video

    take = random_take(15)  # 0.5 s at 30 fps
    wav = write_tone(tmp_path / "a.wav", 0.6)
    res = render_video(take, tmp_path / "t.mp4", rig=rig, audio=wav,
                       options=VideoOptions(size=(96, 80), supersample=1, preset="ultrafast"))
    assert res.n_frames == 15 and res.has_audio
    info = probe(res.path)
    video = [s for s in info["streams"] if s["codec_type"] == "video"]
    audio = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert len(video) == 1 and len(audio) == 1
    v, a = video[0], audio[0]
    assert (v["codec_name"], v["pix_fmt"], v["width"], v["height"]) == ("h264", "yuv420p", 96, 80)
    assert int(v["nb_read_frames"]) == 15
    assert v["avg_frame_rate"] == "30/1"
    assert abs(float(v["duration"]) - 0.5) < 1e-3
    assert a["codec_name"] == "aac"
    assert abs(float(a["duration"]) - 0.6) < 0.03
    img = _frame(res.path, 7, 96, 80)
    assert img.std() > 10  # not blank
    # the head (skin colour, bright) is in the middle, the background (dark grey) in a corner
    centre, corner = img[30:50, 38:58].mean(), img[:6, :6].mean()
    assert centre > corner + 40


def test_side_by_side_takes_differ_and_hold_the_last_frame(tmp_path, gl, rig):
    from diface_editor.render.video import VideoOptions, probe, render_video

    a = random_take(10, seed=1)
    b = random_take(6, seed=2)  # shorter: holds its last frame
    res = render_video([a, b], tmp_path / "cmp.mp4", rig=rig,
                       options=VideoOptions(size=(64, 64), supersample=1, preset="ultrafast", crf=10))
    info = probe(res.path)
    assert "audio" not in info
    assert (info["video"]["width"], info["video"]["height"], int(info["video"]["nb_read_frames"])) == (128, 64, 10)
    f5, f9 = _frame(res.path, 5, 128, 64).astype(int), _frame(res.path, 9, 128, 64).astype(int)
    assert np.abs(f5[:, :63] - f5[:, 65:]).mean() > 1.0  # the two panels show different takes
    assert np.abs(f5[:, 65:] - f9[:, 65:]).mean() < 1.5  # right panel frozen after its 6 frames
    assert np.abs(f5[:, :63] - f9[:, :63]).mean() > 1.0  # left one still moving


def test_video_rejects_odd_sizes_and_mixed_frame_rates(tmp_path, rig):
    from diface_editor.render.video import VideoError, VideoOptions, render_video

    with pytest.raises(VideoError, match="even"):
        render_video(random_take(3), tmp_path / "x.mp4", rig=rig, options=VideoOptions(size=(65, 64)))
    with pytest.raises(VideoError, match="frame rates"):
        render_video([random_take(3), random_take(3, fps=25.0)], tmp_path / "x.mp4", rig=rig)
    assert not (tmp_path / "x.mp4").exists()


def test_cli_render_uses_the_recorded_audio_and_compares_takes(tmp_path, gl, rig, capsys):
    from diface_editor.cli.main import main
    from diface_editor.render.video import probe

    wav = write_tone(tmp_path / "line.wav", 0.3)
    rig_path = save_rig(rig, tmp_path / "rig.npz")
    t1 = save_animation(random_take(9, seed=3), tmp_path / "t1.npz", audio=wav)
    t2 = save_animation(random_take(9, seed=4), tmp_path / "t2.npz")
    out = tmp_path / "out.mp4"
    rc = main(["render", str(t1), "-o", str(out), "--compare", str(t2), "--size", "64x48", "--camera", "side",
               "--rig", str(rig_path), "--supersample", "1", "--preset", "ultrafast", "--no-progress"])
    assert rc == 0
    assert "with audio" in capsys.readouterr().out
    info = probe(out)
    assert info["video"]["width"] == 128 and info["video"]["height"] == 48
    assert abs(float(info["audio"]["duration"]) - 0.3) < 0.03
    assert main(["render", str(t1), "-o", str(tmp_path / "bad.mp4"), "--size", "big"]) == 1
    assert "512x512" in capsys.readouterr().err
