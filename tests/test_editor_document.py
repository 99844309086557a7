"""The editor's document model (no Qt): events, version, undoable commands, project files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from diface_editor.core.animation import Animation
from diface_editor.core.audio import AudioClip
from diface_editor.core.commands import (
    Compound,
    ReplaceAnimation,
    ReplaceFrames,
    UndoStack,
    add_keyframe,
    apply_result,
    move_keyframe,
    remove_keyframes,
)
from diface_editor.core.document import Document, DocumentError, SamplerSettings
from diface_editor.core.errors import DifaceError
from diface_editor.core.keyframes import Keyframe
from diface_editor.core.project import PROJECT_FORMAT_VERSION, ProjectError, load_project, save_project


def _anim(n=90, seed=0):
    rng = np.random.default_rng(seed)
    return Animation(fps=30.0, face=rng.random((n, 52), dtype=np.float32),
                     head=(rng.standard_normal((n, 3)) * 0.1).astype(np.float32))


def _audio(seconds=3.0, sr=16000, path=None):
    t = np.arange(int(seconds * sr)) / sr
    return AudioClip.from_array((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr, path=path)


def test_events_and_version_on_edits():
    doc = Document(_anim())
    seen = []
    doc.events.animation.connect(lambda e: seen.append(("anim", e.start, e.stop)))
    doc.events.version.connect(lambda e: seen.append(("version", e.version)))
    v0 = doc.version
    stack = UndoStack(doc)
    stack.push(ReplaceFrames(10, head=np.zeros((5, 3), np.float32)))
    assert doc.version > v0
    assert seen == [("anim", 10, 15), ("version", doc.version)]
    v1 = doc.version
    stack.undo()
    assert doc.version > v1, "undo is a content change too: the version never goes back"
    # selection and settings do not make engine results stale
    v2 = doc.version
    doc.set_selection((40, 20))
    assert doc.selection == (20, 40)
    doc.set_sampler(steps=7)
    assert doc.sampler.steps == 7 and doc.version == v2


def test_deferred_events_arrive_after_the_block_in_order():
    """Inside ``events.deferred()`` the document changes at once but its views hear of it afterwards,
    every event in the order it was emitted (also when the block raised; nested blocks wait for the
    outermost)."""
    doc = Document(_anim())
    seen = []
    doc.events.animation.connect(lambda e: seen.append(("anim", e.start)))
    doc.events.version.connect(lambda e: seen.append(("version", e.version)))
    stack = UndoStack(doc)
    with doc.events.deferred():
        stack.push(ReplaceFrames(10, head=np.zeros((5, 3), np.float32)))
        with doc.events.deferred():
            stack.push(ReplaceFrames(30, head=np.ones((2, 3), np.float32)))
        assert seen == [] and np.array_equal(doc.animation.head[30], np.ones(3, np.float32))  # changed already
        v = doc.version
    assert seen == [("anim", 10), ("version", v - 1), ("anim", 30), ("version", v)]
    seen.clear()
    with pytest.raises(RuntimeError):
        with doc.events.deferred():
            doc.write_frames(0, head=np.zeros((1, 3), np.float32))
            raise RuntimeError("boom")
    assert seen and seen[0] == ("anim", 0)
    seen.clear()
    doc.write_frames(1, head=np.zeros((1, 3), np.float32))  # after the block: delivered at once again
    assert seen and seen[0] == ("anim", 1)


def test_weak_subscribers_are_dropped():
    doc = Document(_anim())

    class View:
        def __init__(self):
            self.n = 0

        def on(self, e):
            self.n += 1

    v = View()
    doc.events.animation.connect(v.on)
    doc.write_frames(0, head=np.zeros((1, 3), np.float32))
    assert v.n == 1
    del v
    doc.write_frames(0, head=np.zeros((1, 3), np.float32))
    assert doc.events.animation.n_connections == 0


def test_commands_restore_bit_identically():
    anim = _anim()
    doc = Document(anim.copy())
    stack = UndoStack(doc)
    rng = np.random.default_rng(1)
    stack.push(ReplaceFrames(20, face=rng.random((30, 52), dtype=np.float32), head=rng.random((30, 3), dtype=np.float32)))
    stack.push(ReplaceFrames(5, face=rng.random((10, 3), dtype=np.float32), face_cols=[17, 0, 40]))
    after = doc.animation.copy()
    assert not after.equals(anim)
    stack.push(ReplaceAnimation(_anim(n=120, seed=5)))
    assert doc.n_frames == 120
    while stack.undo():
        pass
    assert doc.animation.equals(anim)
    stack.redo()
    stack.redo()
    assert doc.animation.equals(after)
    stack.redo()
    assert doc.n_frames == 120


def test_keyframe_commands_and_result():
    doc = Document(_anim())
    stack = UndoStack(doc)
    k = Keyframe(12, "head")
    stack.push(add_keyframe(doc, k))
    stack.push(move_keyframe(doc, k, 30))
    assert [kk.frame for kk in doc.keyframes] == [30]
    stack.push(remove_keyframes(doc, list(doc.keyframes)))
    assert len(doc.keyframes) == 0
    stack.undo()
    stack.undo()
    assert [kk.frame for kk in doc.keyframes] == [12]
    with pytest.raises(DocumentError):
        add_keyframe(doc, Keyframe(500, "head"))
    # a result of the same layout stores only the changed frames
    res = _anim(seed=9)
    cmd = apply_result(doc, res, (30, 60))
    assert isinstance(cmd, ReplaceFrames) and cmd.n == 30
    before = doc.animation.copy()
    stack.push(Compound([cmd], text="generate"))
    assert np.array_equal(doc.animation.face[30:60], res.face[30:60])
    assert np.array_equal(doc.animation.face[:30], before.face[:30])
    stack.undo()
    assert doc.animation.equals(before)
    assert isinstance(apply_result(doc, _anim(n=10), None), ReplaceAnimation)


def test_project_roundtrip_bit_identical(tmp_path):
    wav = tmp_path / "voice.wav"
    import soundfile as sf
    clip = _audio()
    sf.write(wav, clip.samples, clip.sample_rate, subtype="FLOAT")
    audio = AudioClip.load(wav)
    doc = Document.from_audio(audio)
    doc.write_frames(0, face=_anim(doc.n_frames).face, head=_anim(doc.n_frames).head)
    stack = UndoStack(doc)
    stack.push(add_keyframe(doc, Keyframe(3, "head", values=(0.1, -0.2, 1e-9))))
    stack.push(add_keyframe(doc, Keyframe(7, "face", group="mouth")))
    doc.set_selection((10, 40))
    doc.set_sampler(SamplerSettings(sampler="ddim", steps=12, guidance=1.5, seed=42))
    out = save_project(doc, tmp_path / "proj")
    assert out.name == "proj.diface" and doc.project_path == out
    with zipfile.ZipFile(out) as z:
        meta = json.loads(z.read("project.json"))
        assert meta["format_version"] == PROJECT_FORMAT_VERSION
        assert "audio.npy" not in z.namelist()
    back = load_project(out)
    assert back.animation.equals(doc.animation)
    assert list(back.keyframes) == list(doc.keyframes)
    assert back.selection == (10, 40) and back.sampler == doc.sampler
    assert back.audio is not None and back.audio.sha256 == audio.sha256 and not back.warnings
    # move project and audio together: found through the relative path
    (tmp_path / "moved").mkdir()
    wav.rename(tmp_path / "moved" / "voice.wav")
    out.rename(tmp_path / "moved" / "proj.diface")
    again = load_project(tmp_path / "moved" / "proj.diface")
    assert again.audio is not None and not again.warnings


def test_embedded_audio_and_missing_audio(tmp_path):
    import soundfile as sf
    clip = _audio(1.0)
    wav = tmp_path / "a.wav"
    sf.write(wav, clip.samples, clip.sample_rate, subtype="FLOAT")
    doc = Document.from_audio(AudioClip.load(wav))
    save_project(doc, tmp_path / "plain.diface")
    save_project(doc, tmp_path / "emb.diface", embed_audio=True)
    wav.unlink()
    plain = load_project(tmp_path / "plain.diface")
    assert plain.audio is None and plain.warnings and "not found" in plain.warnings[0]
    emb = load_project(tmp_path / "emb.diface")
    assert emb.audio is not None and emb.audio.sha256 == doc.audio_sha256 and not emb.warnings


def test_corrupt_and_newer_projects(tmp_path):
    bad = tmp_path / "bad.diface"
    bad.write_bytes(b"this is not a zip")
    with pytest.raises(ProjectError, match="not a diface project"):
        load_project(bad)
    doc = Document(_anim(10))
    p = save_project(doc, tmp_path / "ok.diface")
    raw = p.read_bytes()
    (tmp_path / "cut.diface").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DifaceError):
        load_project(tmp_path / "cut.diface")
    with zipfile.ZipFile(p) as z:
        meta = json.loads(z.read("project.json"))
        entries = {n: z.read(n) for n in z.namelist()}
    meta["format_version"] = PROJECT_FORMAT_VERSION + 1
    with zipfile.ZipFile(tmp_path / "new.diface", "w") as z:
        for n, b in entries.items():
            z.writestr(n, json.dumps(meta) if n == "project.json" else b)
    with pytest.raises(ProjectError, match="newer diface"):
        load_project(tmp_path / "new.diface")
    with pytest.raises(ProjectError, match="not found"):
        load_project(tmp_path / "missing.diface")


def test_atomic_save_keeps_old_file_on_failure(tmp_path, monkeypatch):
    doc = Document(_anim(10))
    p = save_project(doc, tmp_path / "a.diface")
    before = p.read_bytes()
    import diface_editor.core.project as project

    def boom(*a, **k):
        raise RuntimeError("simulated crash while writing")

    monkeypatch.setattr(project, "_npy_bytes", boom)
    with pytest.raises(RuntimeError):
        save_project(doc, p)
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["a.diface"]


def test_versions_are_unique_across_documents():
    a, b = Document(_anim()), Document(_anim())
    seen = {a.version, b.version}
    for _ in range(3):
        a.write_frames(0, head=np.zeros((1, 3), np.float32))
        b.replace_keyframes(b.keyframes)
        assert a.version not in seen and b.version not in seen and a.version != b.version
        seen |= {a.version, b.version}
