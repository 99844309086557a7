"""The engine on a real (tiny, untrained) ``MotionModel``: every sampler keeps pinned entries and
frames outside the edit exactly; the worker cancels torch sampling between steps."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _engine_fakes import events_until, tiny_model, write_speech  # noqa: E402
from diface_editor.core.audio import AudioClip  # noqa: E402
from diface_editor.core.keyframes import Keyframe  # noqa: E402
from diface_editor.engine.events import JobCancelled, JobProgress, JobResult, JobStarted  # noqa: E402
from diface_editor.engine.motion_adapter import MotionModelAdapter  # noqa: E402
from diface_editor.engine.requests import EditRequest, GenerateRequest  # noqa: E402
from diface_editor.engine.worker import Engine  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: one thread is fastest and kind to a shared CPU
    wav = tmp_path_factory.mktemp("audio") / "speech.wav"
    write_speech(wav, 4.0)
    clip = AudioClip.load(wav)
    engine = Engine(tiny_model(train_steps=10), preview_interval=0.0)
    base = engine.run_sync(GenerateRequest(clip, seed=1, sampler="ddim", steps=2)).animation
    yield engine, clip, base
    engine.shutdown()
    torch.set_num_threads(threads)


def test_adapter_reads_windows_and_defaults_from_the_bundle(setup):
    engine, clip, base = setup
    m = engine.model
    assert isinstance(m, MotionModelAdapter) and m.parts == ("face", "head")
    assert (m.spec.window, m.spec.overlap, m.spec.context, m.spec.multiple) == (60, 15, 9, 2)
    assert m.default_steps("dpmpp") == 3 and m.default_steps("ddpm") == 10
    assert base.n_frames == 120 and np.abs(base.head).max() > 0  # two+ windows of real model output


@pytest.mark.parametrize("sampler,steps", [("ddpm", None), ("ddim", 3), ("dpmpp", 3)])
def test_pinned_keyframes_and_outside_frames_are_exact_for_every_sampler(setup, sampler, steps):
    engine, clip, base = setup
    m = engine.model
    keys = (Keyframe(50, "head", values=(0.25, -0.1, 0.05)), Keyframe(58, "face", group="mouth", values=None))
    req = EditRequest(base, clip, mode="keyframes", keyframes=keys, radius=12, sampler=sampler, steps=steps, seed=3)
    res = engine.run_sync(req)
    out = res.animation
    assert res.changed == (38, 71)
    for part in ("face", "head"):
        a, b = getattr(out, part), getattr(base, part)
        assert np.array_equal(a[:38], b[:38]) and np.array_equal(a[71:], b[71:])
    pin = m.normalize("head", np.array([keys[0].values], np.float32))
    assert np.abs(m.normalize("head", out.head[50:51]) - pin).max() < 1e-5
    cols = keys[1].channels(base)
    assert np.abs(m.normalize("face", out.face[58:59])[:, cols] - m.normalize("face", base.face[58:59])[:, cols]
                  ).max() < 1e-5
    assert np.abs(out.head[40:50] - base.head[40:50]).max() > 1e-4  # the radius was regenerated
    # the model's own window sampler also returns known entries unchanged (not only the engine's paste)
    feats = engine.features(clip, base.n_frames)[30:80]
    known = m.normalize("head", base.head[30:80])
    mask = np.zeros_like(known, bool)
    mask[:8] = mask[-8:] = mask[20] = True
    x = m.sample("head", np.array(feats), known, mask, sampler=sampler, steps=steps or 10, guidance=1.5, seed=0,
                 n_samples=2, style=None, callback=None, cancel=None)
    assert x.shape == (2, 50, 3) and np.abs(x[:, mask] - known[mask]).max() < 1e-5


def test_worker_cancels_torch_sampling_between_steps(setup):
    engine, clip, base = setup
    ids = [engine.submit(GenerateRequest(clip, sampler="ddpm", seed=s), doc_version=s) for s in range(2)]
    events = events_until(engine, ids[-1], 60, kinds=(JobStarted,))  # the second is running
    last = engine.submit(EditRequest(base, clip, mode="range", range=(10, 30), sampler="ddim", steps=2), doc_version=9)
    events += events_until(engine, last, 60)
    results = [e for e in events if isinstance(e, JobResult)]
    assert [r.job_id for r in results] == [last] and results[0].doc_version == 9
    assert {e.job_id for e in events if isinstance(e, JobCancelled)} == set(ids)
    assert any(isinstance(e, JobProgress) and e.preview is not None for e in events if e.job_id == last)
    out = results[0].animation
    assert np.array_equal(out.face[30:], base.face[30:]) and np.array_equal(out.head[:10], base.head[:10])


def test_bundle_smoothing_recommendation_smooths_generated_head_motion(setup):
    engine, clip, base = setup
    mm = engine.model.model
    old = dict(mm.sampling)
    try:
        mm.sampling["smooth_s"] = {"head": 0.1}
        smooth_engine = Engine(mm, preview_interval=0.0)
        assert smooth_engine.model.smoothing == {"head": pytest.approx(3.0)}
        out = smooth_engine.run_sync(GenerateRequest(clip, seed=1, sampler="ddim", steps=2)).animation
        smooth_engine.shutdown()
    finally:
        mm.sampling.clear()
        mm.sampling.update(old)
    rough = lambda h: np.abs(np.diff(h, 2, axis=0)).mean()  # noqa: E731
    assert rough(out.head) < 0.5 * rough(base.head)
    assert np.array_equal(out.face, base.face)  # the face has no recommendation: as sampled


def test_temperature_trades_variety_for_the_likeliest_motion(setup):
    from diface_editor.engine.requests import RequestError

    engine, clip, base = setup
    m = engine.model
    assert m.temperature == {"face": 1.0, "head": 1.0}  # the tiny bundle recommends nothing

    def spread(temperature):
        res = engine.run_sync(GenerateRequest(clip, seed=5, sampler="ddim", steps=3, n_samples=4,
                                              temperature=temperature))
        faces = np.stack([m.normalize("face", a.face) for a in res.animations])
        return faces.std(axis=0).mean(), res
    wide, r1 = spread(None)
    narrow, r2 = spread(0.3)
    assert narrow < 0.6 * wide
    assert r2.info["temperature"] == 0.3 and r1.info["temperature"] == {"face": 1.0, "head": 1.0}
    # the bundle's recommendation is used when a request leaves it open
    mm = m.model
    old = dict(mm.sampling)
    try:
        mm.sampling["temperature"] = {"face": 0.3}
        eng2 = Engine(mm, preview_interval=0.0)
        assert eng2.model.temperature == {"face": 0.3, "head": 1.0}
        a = eng2.run_sync(GenerateRequest(clip, seed=5, sampler="ddim", steps=3, n_samples=4)).animations
        eng2.shutdown()
    finally:
        mm.sampling.clear()
        mm.sampling.update(old)
    for x, y in zip(a, r2.animations):
        assert np.array_equal(x.face, y.face)                  # face at 0.3 either way
    assert not np.array_equal(a[0].head, r2.animations[0].head)  # head at the recommended 1.0
    with pytest.raises(RequestError, match="temperature"):
        GenerateRequest(clip, temperature=0.0)
