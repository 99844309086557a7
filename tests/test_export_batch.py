"""Batch generation over a folder: every chosen format per file, failures reported and skipped."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from _export_helpers import sphere_head, write_tone
from diface_editor.core.animation import Animation
from diface_editor.core.arkit import ARKIT_NAMES
from diface_editor.core.audio import AudioClip
from diface_editor.core.formats import load_animation
from diface_editor.core.formats.pc2 import read_pc2
from diface_editor.engine.batch import (
    REPORT_NAME,
    BatchError,
    engine_generator,
    find_audio_files,
    parse_formats,
    run_batch,
)


def loudness_generator(clip) -> Animation:
    """Stand-in for the model: jawOpen follows the audio's loudness (30 fps), the head nods with it."""
    if clip.path is not None and clip.path.stem == "boom":
        raise RuntimeError("the model exploded")
    x = clip.samples
    hop = clip.sample_rate / 30.0
    n = max(1, int(np.ceil(len(x) / hop)))
    rms = np.array([np.sqrt(np.mean(x[int(i * hop):int((i + 1) * hop)] ** 2) + 1e-12) for i in range(n)])
    face = np.zeros((n, 52), np.float32)
    face[:, ARKIT_NAMES.index("jawOpen")] = np.clip(rms / (rms.max() + 1e-9), 0, 1)
    head = np.zeros((n, 3), np.float32)
    head[:, 0] = 0.1 * face[:, ARKIT_NAMES.index("jawOpen")]
    return Animation(fps=30.0, face=face, head=head)


@pytest.fixture
def audio_folder(tmp_path):
    folder = tmp_path / "lines"
    folder.mkdir()
    write_tone(folder / "alpha.wav", 0.5)
    write_tone(folder / "beta.wav", 0.3, rate=22050)
    (folder / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage that is not audio" * 3)
    (folder / "notes.txt").write_text("not audio")
    return folder


def test_batch_writes_every_format_and_skips_a_corrupt_file(tmp_path, audio_folder):
    rig = sphere_head()
    files = find_audio_files(audio_folder)
    assert [f.name for f in files] == ["alpha.wav", "beta.wav", "corrupt.wav"]
    formats = parse_formats("npz,glb,csv,pc2,npy")
    assert formats == ["native", "gltf", "livelink", "pc2", "3diface"]
    out = tmp_path / "out"
    report = run_batch(files, out, loudness_generator, formats, rig=rig, progress=False)
    assert [i.ok for i in report.items] == [True, True, False]
    assert not report.ok and len(report.failed) == 1
    bad = report.failed[0]
    assert bad.audio.name == "corrupt.wav" and "corrupt.wav" in bad.error
    for stem, seconds in (("alpha", 0.5), ("beta", 0.3)):
        anim = load_animation(out / f"{stem}.npz")
        expected = loudness_generator(AudioClip.load(audio_folder / f"{stem}.wav"))
        assert anim.n_frames == expected.n_frames == int(np.ceil(seconds * 30))
        np.testing.assert_array_equal(anim.face, expected.face)
        assert anim.metadata["audio_path"].endswith(f"{stem}.wav")  # the native file records its audio
        np.testing.assert_array_equal(load_animation(out / f"{stem}.glb").face, expected.face)
        np.testing.assert_allclose(load_animation(out / f"{stem}.csv").face, expected.face, atol=1e-4)
        pts, _ = read_pc2(out / f"{stem}.pc2")
        np.testing.assert_array_equal(pts, rig.vertices(expected))
        assert (out / f"{stem}.npy").is_file()
    assert not any(out.glob("corrupt.*"))
    summary = report.summary()
    assert summary.startswith("2 of 3 audio files done") and "1 failed" in summary and "corrupt.wav" in summary
    saved = json.loads((out / REPORT_NAME).read_text())
    assert saved["succeeded"] == 2 and saved["failed"] == 1
    assert saved["items"][2]["error"] == bad.error


def test_batch_survives_a_generator_error_and_names_collisions(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    write_tone(folder / "boom.wav", 0.2)
    write_tone(folder / "take.wav", 0.2)
    write_tone(folder / "take.flac", 0.2)
    write_tone(folder / "sub" / "deep.wav", 0.2)
    files = find_audio_files(folder, recursive=True)
    assert len(files) == 4
    seen = []
    report = run_batch(files, tmp_path / "out", loudness_generator, ["native"], root=folder, progress=False,
                       on_item=lambda item, i, n: seen.append((item.audio.name, i, n)))
    assert [i.audio.name for i in report.failed] == ["boom.wav"]
    assert "RuntimeError: the model exploded" in report.failed[0].error
    assert len(seen) == 4 and seen[-1][1:] == (3, 4)
    names = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.npz"))
    assert names == ["sub/deep.npz", "take_flac.npz", "take_wav.npz"]


def test_batch_several_takes_per_file(tmp_path):
    write_tone(tmp_path / "a.wav", 0.2)

    def two_takes(clip):
        one = loudness_generator(clip)
        return [one, one.with_arrays(face=one.face * 0.5)]

    report = run_batch([tmp_path / "a.wav"], tmp_path / "out", two_takes, ["native"], progress=False,
                       write_report=False)
    assert report.ok and set(report.items[0].outputs) == {"native_1", "native_2"}
    a1, a2 = (load_animation(tmp_path / "out" / f"a_{i}.npz") for i in (1, 2))
    np.testing.assert_array_equal(a2.face, a1.face * 0.5)
    assert not (tmp_path / "out" / REPORT_NAME).exists()


def test_batch_input_errors_are_one_sentence(tmp_path):
    with pytest.raises(BatchError, match="no audio files"):
        find_audio_files(tmp_path)
    with pytest.raises(BatchError, match="unknown output format 'fbx'"):
        parse_formats("npz,fbx")
    with pytest.raises(BatchError, match="not a folder"):
        find_audio_files(tmp_path / "missing")


class FakeEngine:
    """Records the requests it gets; every take is 4 frames of zeros."""

    def __init__(self, calls: list) -> None:
        self.calls = calls

    def run_sync(self, request, on_event=None):
        self.calls.append(request)

        class Result:
            animations = [Animation.zeros(4)]
        return Result()


def test_engine_generator_runs_generate_requests():
    calls = []
    gen = engine_generator(FakeEngine(calls), seed=7, sampler="ddim", steps=5)
    clip = AudioClip.from_array(np.zeros(1600, np.float32), 16000)
    out = gen(clip)
    assert len(out) == 1 and out[0].n_frames == 4
    assert calls[0].audio is clip and (calls[0].seed, calls[0].sampler, calls[0].steps) == (7, "ddim", 5)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_batch_can_render_videos(tmp_path):
    from diface_editor.render.offscreen import gl_available
    from diface_editor.render.video import VideoOptions, probe

    ok, why = gl_available()
    if not ok:
        pytest.skip(f"no headless OpenGL here: {why}")
    write_tone(tmp_path / "a.wav", 0.3)
    report = run_batch([tmp_path / "a.wav"], tmp_path / "out", loudness_generator, parse_formats("mp4"),
                       rig=sphere_head(), progress=False,
                       video_options=VideoOptions(size=(48, 48), supersample=1, preset="ultrafast"))
    assert report.ok, report.summary()
    info = probe(tmp_path / "out" / "a.mp4")
    assert int(info["video"]["nb_read_frames"]) == 9 and "audio" in info


def test_diface_generate_on_a_folder_writes_all_formats_and_reports_the_bad_file(tmp_path, capsys):
    """The real command on a tiny real model: two good files and a corrupt one."""
    pytest.importorskip("torch")
    from _engine_fakes import tiny_model, write_speech
    from diface_editor.cli.main import main

    tiny_model(train_steps=10).save(tmp_path / "model")
    lines = tmp_path / "lines"
    lines.mkdir()
    write_speech(lines / "one.wav", 1.0)
    write_speech(lines / "two.wav", 0.5)
    (lines / "broken.wav").write_bytes(b"RIFF" + bytes(40) + b"this is not audio")
    out = tmp_path / "out"
    rc = main(["generate", str(lines), "-o", str(out), "--formats", "npz,glb,pc2", "--model", str(tmp_path / "model")])
    captured = capsys.readouterr()
    assert rc == 1  # one file failed
    assert "2 of 3 audio files done" in captured.out and "broken.wav" in captured.out
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [REPORT_NAME] + [f"{s}.{e}" for s in ("one", "two") for e in ("npz", "glb", "pc2")])
    one = load_animation(out / "one.npz")
    assert one.n_frames == 30 and one.metadata["audio_path"].endswith("one.wav")
    np.testing.assert_array_equal(load_animation(out / "one.glb").face, one.face)
    # --formats belongs to folder mode
    assert main(["generate", str(lines / "one.wav"), "-o", str(tmp_path / "x.npz"), "--formats", "glb",
                 "--model", str(tmp_path / "model")]) == 1
    assert "--formats is for a folder" in capsys.readouterr().err


def test_a_folder_take_pins_the_recognised_words_and_falls_back_to_the_audio(monkeypatch):
    import diface_editor.engine.edit_policy as policy
    from diface_editor.core.transcript import Transcript

    calls = []
    said = Transcript("bob", words=(("bob", 0.0, 0.1),), phones=(("B", 0.0, 0.03), ("AA", 0.03, 0.07), ("B", 0.07, 0.1)))
    answers = [said, Transcript("").failed("no words were recognised in the audio")]
    monkeypatch.setattr(policy, "transcribe_speech", lambda clip: answers.pop(0))
    gen = engine_generator(FakeEngine(calls), transcribe=True, viseme_strength=0.5, seed=1)
    clip = AudioClip.from_array(np.zeros(1600, np.float32), 16000)
    gen(clip)
    gen(clip)
    assert [p for p, _, _ in calls[0].phones] == ["B", "AA", "B"] and calls[0].viseme_strength == 0.5
    assert not calls[1].phones
    engine_generator(FakeEngine(calls), seed=1)(clip)  # without transcribe: never asked
    assert not calls[2].phones and not answers
