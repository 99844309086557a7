"""3DiFACE reference mode from the editor's side: the document's switch, the engine's routing and the
Generate panel's checkbox, on the tiny random-weight checkpoint of the fidelity tests.

What a researcher relies on: with the switch on, the editor's Generate, Resample and keyframe
solves give exactly what the original code gives (``ml.compat.reference``, itself checked against
the original to 1e-5 in ``test_fidelity_threediface.py``), frames outside an edit are kept bit for
bit, keyframes are hit, the job can be cancelled, a model that is not an import says so in one
sentence, and a project keeps the switch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

DATA = Path(__file__).parent / "data" / "fidelity"
STYLE = "2"

torch.set_num_threads(2)


def _speech(seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t)
    return (0.3 * env * np.sin(2 * np.pi * 180 * t) + 0.02 * np.random.default_rng(0).standard_normal(t.size)
            ).astype(np.float32)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from diface_editor.ml.bundle import MotionModel
    from diface_editor.ml.compat import threediface as td
    from tests._compat_helpers import tiny_w2v_config

    out = tmp_path_factory.mktemp("refmode") / "bundle"
    td.import_3diface([DATA / "face", DATA / "head"], out, wav2vec2_config=tiny_w2v_config(), guidance=0.5)
    return MotionModel.load(out, device="cpu").eval()


@pytest.fixture(scope="module")
def clip():
    from diface_editor.core.audio import AudioClip

    return AudioClip(_speech(2.5), 16000)  # 75 frames; the original's rule keeps 2 s * 30 // 32 * 32 = 32


def _session(clip, anim=None, keyframes=(), **sampler):
    from diface_editor.core.document import Document, SamplerSettings
    from diface_editor.core.keyframes import KeyframeSet
    from diface_editor.engine.session import EditOptions, EditSession

    sampler = {"style": STYLE, **sampler}
    s = SamplerSettings(sampler="ddpm", guidance=0.5, blinks=False, reference_mode=True, **sampler)
    doc = Document(anim, audio=clip, keyframes=KeyframeSet(list(keyframes)), sampler=s)
    return EditSession(doc, options=EditOptions(parts=("face", "head")))


@pytest.fixture(scope="module")
def generated(bundle, clip):
    from diface_editor.engine.worker import Engine

    engine = Engine(bundle)
    res = engine.run_sync(_session(clip).generate_request())
    return engine, res


def test_generate_is_the_original_and_holds_past_its_frames(bundle, clip, generated):
    from diface_editor.ml.compat.reference import reference_generate

    _, res = generated
    anim = res.animation
    assert anim.n_frames == 75 and res.info["reference_mode"] and res.info["reference_frames"] == 32
    assert res.info["sampler"] == "ddpm" and res.info["steps"] == 1000
    want = reference_generate(bundle, clip.resampled(16000), seed=0, style=2, guidance=0.5)
    np.testing.assert_allclose(anim.face[:32], want.face, atol=1e-6)  # (1e-6: thread-count rounding)
    np.testing.assert_allclose(anim.head[:32], want.head, atol=1e-6)
    # the original cuts the clip after 32 frames; the document keeps its 75, holding the last pose
    np.testing.assert_array_equal(anim.face[32:], np.repeat(anim.face[31:32], 43, axis=0))
    np.testing.assert_array_equal(anim.head[32:], np.repeat(anim.head[31:32], 43, axis=0))


def test_resample_is_the_original_in_between_and_keeps_the_rest(bundle, clip, generated):
    from diface_editor.ml.compat.reference import EditSpec, reference_edit

    engine, res = generated
    base = res.animation
    req = _session(clip, base).range_request((8, 20), seed=5)
    out = engine.run_sync(req)
    a = out.animation
    np.testing.assert_array_equal(a.face[:8], base.face[:8])
    np.testing.assert_array_equal(a.head[20:], base.head[20:])
    assert not np.array_equal(a.head[8:20], base.head[8:20])
    want = reference_edit(bundle, base, clip.resampled(16000), EditSpec("in_between", span=(8, 20)), seed=5,
                          style=2, parts=("face", "head"), guidance=0.5)
    np.testing.assert_allclose(a.face, want.face, atol=1e-6)
    np.testing.assert_allclose(a.head, want.head, atol=1e-6)
    assert 8 <= out.changed[0] and out.changed[1] <= 20


def test_keyframe_solve_is_the_original_keyframe_edit_and_hits_the_key(bundle, clip, generated):
    from diface_editor.core.keyframes import Keyframe
    from diface_editor.ml.compat.reference import EditSpec, reference_edit

    engine, res = generated
    base = res.animation
    pose = (0.2, -0.1, 0.05)
    keys = [Keyframe(10, "head", values=pose), Keyframe(24, "head")]
    session = _session(clip, base, keys)
    req = session.solve_request([keys[0]])
    assert req.radius is None  # no influence radius: the original regenerates every other frame
    out = engine.run_sync(req)
    a = out.animation
    np.testing.assert_allclose(a.head[10], pose, atol=1e-5)
    np.testing.assert_allclose(a.head[24], base.head[24], atol=1e-5)
    np.testing.assert_array_equal(a.face, base.face)  # a head key re-solves the head only
    np.testing.assert_array_equal(a.head[64:], base.head[64:])  # an edit covers 75 // 32 * 32 = 64 frames
    keyed = base.with_arrays(head=base.head.copy())
    keyed.head[10] = pose
    want = reference_edit(bundle, keyed, clip.resampled(16000), {"head": EditSpec("keyframe", frames=(10, 24))},
                          seed=req.seed, style=2, parts=("head",), guidance=0.5)
    np.testing.assert_allclose(a.head, want.head, atol=1e-6)


def test_cancel_and_errors_leave_the_document_alone(bundle, clip, generated):
    from diface_editor.core.audio import AudioClip
    from diface_editor.core.errors import DifaceError
    from diface_editor.engine.backend import Cancelled

    engine, res = generated
    session = _session(clip, res.animation)
    before = session.document.animation.copy()
    with pytest.raises(Cancelled):
        engine.run_sync(session.range_request((0, 30), seed=1), cancel=lambda: True)
    with pytest.raises(DifaceError, match="frames 0..63"):  # past the frames the original's edit covers
        engine.run_sync(session.range_request((66, 75), seed=1))
    with pytest.raises(DifaceError, match="choose one under Style in the Generate panel"):
        engine.run_sync(_session(clip, res.animation, style=None).range_request((0, 30), seed=1))
    from diface_editor.core.animation import Animation
    from diface_editor.core.arkit import ARKIT_NAMES

    arkit = Animation.zeros(75, fps=30.0, channel_names=ARKIT_NAMES, space="arkit", n_face=52)
    with pytest.raises(DifaceError, match="was not made with this model"):  # a take of the default model
        engine.run_sync(_session(clip, arkit).range_request((0, 30), seed=1))
    with pytest.raises(DifaceError, match="at least 2 s"):
        engine.run_sync(_session(AudioClip(_speech(1.2), 16000)).generate_request())
    assert session.document.animation.equals(before)


def test_a_diface_model_refuses_reference_mode_in_one_sentence(clip):
    from diface_editor.engine.backend import EngineError
    from diface_editor.engine.worker import Engine
    from tests._engine_fakes import FakeEncoder, GPModel

    engine = Engine(GPModel(), encoder=FakeEncoder())
    with pytest.raises(EngineError, match="imported from 3DiFACE"):
        engine.run_sync(_session(clip).generate_request())


def test_project_keeps_the_switch(tmp_path, clip):
    from diface_editor.core.project import load_project, save_project

    doc = _session(clip).document
    save_project(doc, tmp_path / "take.diface")
    assert load_project(tmp_path / "take.diface").sampler.reference_mode is True
    doc.set_sampler(reference_mode=False)
    save_project(doc, tmp_path / "off.diface")
    assert load_project(tmp_path / "off.diface").sampler.reference_mode is False


def test_bundle_recommends_reference_mode_for_new_takes(bundle):
    from diface_editor.engine.loading import recommended_sampler, supports_reference_mode_at

    s = recommended_sampler(bundle.path)
    assert s.reference_mode is True and s.sampler == "ddpm" and s.guidance == 0.5
    assert supports_reference_mode_at(bundle.path)
    assert recommended_sampler(None).reference_mode is False  # the shipped diface model
    assert not supports_reference_mode_at(None)


@pytest.mark.gui
def test_editor_switch_follows_the_model_and_generates_in_reference_mode(qtbot, bundle, tmp_path, monkeypatch):
    pytest.importorskip("PySide6")
    from _gui_support import close_window, editor_env, make_rig, new_window, tiny_bundle, write_speech

    editor_env(monkeypatch, tmp_path)
    w = new_window(make_rig(), engine_kwargs={"preview_interval": 0.0})
    try:
        assert w.open_path(write_speech(tmp_path / "speech.wav", seconds=2.5))
        panel = w.panel
        assert not panel.reference_mode.isVisibleTo(w)  # the shipped diface model: no switch
        w.use_model(bundle.path)
        assert panel.reference_mode.isVisibleTo(w) and panel.reference_mode.isChecked()
        assert w.doc.sampler.reference_mode and w.doc.sampler.sampler == "ddpm" and w.doc.sampler.guidance == 0.5
        assert not panel.sampler.isEnabled() and not panel.steps.isEnabled()
        panel.reference_mode.click()  # off: diface's own pipeline, the sampler is the user's again
        assert not w.doc.sampler.reference_mode and panel.sampler.isEnabled()
        panel.reference_mode.click()
        assert w.doc.sampler.reference_mode
        w.doc.set_sampler(style="2")
        w.generate()
        qtbot.waitUntil(lambda: not w.bridge.busy and w.doc.animation.space == "vertex", timeout=120_000)
        assert w.doc.animation.metadata.get("reference_mode") == "3diface"
        assert "reference mode: frames 0-31" in w.statusBar().currentMessage()  # 2 whole s * 30 // 32 * 32 = 32
        # another model than an import turns the switch off and hides it
        w.use_model(tiny_bundle(tmp_path / "tiny"))
        assert not panel.reference_mode.isVisibleTo(w) and not w.doc.sampler.reference_mode
    finally:
        close_window(w)
