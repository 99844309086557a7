"""Keyframe edits with explicit centres (EditRequest(centres=...)), and when interactive edits show
their first preview (Gaussian-process window sampler from _engine_fakes; no torch, no Qt).

What users rely on: changing one keyframe re-solves only the influence window around the changed
frame, even when another keyframe sits inside that window (it stays pinned but does not widen the
edit); a moved keyframe's old frame is re-solved too; a deleted keyframe's frame can be re-solved
with no keyframe left; and a keyframe drag shows a preview after its first sampler step.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from _engine_fakes import FakeClip, FakeEncoder, GPModel
from diface_editor.core.keyframes import Keyframe
from diface_editor.engine.backend import WindowSpec
from diface_editor.engine.events import JobProgress
from diface_editor.engine.requests import EditRequest, GenerateRequest, RequestError
from diface_editor.engine.worker import Engine

SPEC = WindowSpec(window=96, overlap=24, context=16)
R = 20


@pytest.fixture(scope="module")
def setup():
    model = GPModel(SPEC)
    eng = Engine(model, encoder=FakeEncoder())
    clip = FakeClip(10.0, seed=2)
    base = eng.run_sync(GenerateRequest(clip, seed=5)).animation
    yield eng, model, clip, base
    eng.shutdown()


def _changed_frames(a, b) -> np.ndarray:
    return np.flatnonzero((a.head != b.head).any(1) | (a.face != b.face).any(1))


def test_a_neighbouring_keyframe_stays_pinned_but_does_not_widen_the_edit(setup):
    eng, model, clip, base = setup
    changed = Keyframe(100, "head", values=(0.3, 0.1, -0.2))
    neighbour = Keyframe(115, "head", values=(-0.2, 0.05, 0.1))  # inside the window, its own would reach 135
    res = eng.run_sync(EditRequest(base, clip, mode="keyframes", keyframes=(changed, neighbour), radius=R,
                                   centres=(100,), parts=("head",)))
    out = res.animation
    frames = _changed_frames(out, base)
    assert frames.min() >= 100 - R and frames.max() <= 100 + R  # only the changed key's window
    assert res.changed[0] >= 100 - R and res.changed[1] <= 100 + R + 1
    assert np.array_equal(out.face, base.face)
    assert np.allclose(out.head[100], changed.values, atol=1e-6)
    assert np.allclose(out.head[115], neighbour.values, atol=1e-6)  # the neighbour is still hit
    # without centres (the CLI's and 3DiFACE's semantics) every keyframe gets its own window
    wide = eng.run_sync(EditRequest(base, clip, mode="keyframes", keyframes=(changed, neighbour), radius=R,
                                    parts=("head",))).animation
    assert _changed_frames(wide, base).max() > 100 + R


def test_centres_without_keyframes_resolve_where_a_keyframe_was(setup):
    eng, model, clip, base = setup
    # a pinned pose at frame 200, solved in...
    key = Keyframe(200, "head", values=(0.4, -0.1, 0.0))
    keyed = eng.run_sync(EditRequest(base, clip, mode="keyframes", keyframes=(key,), radius=R,
                                     parts=("head",))).animation
    assert np.allclose(keyed.head[200], key.values, atol=1e-6)
    # ...then deleted: re-solve around its frame with no keyframe pinned
    res = eng.run_sync(EditRequest(keyed, clip, mode="keyframes", keyframes=(), centres=(200,), radius=R,
                                   parts=("head",), seed=3))
    out = res.animation
    frames = _changed_frames(out, keyed)
    assert 200 in frames and frames.min() >= 200 - R and frames.max() <= 200 + R
    assert not np.allclose(out.head[200], key.values, atol=1e-3)  # no longer held at the deleted pose


def test_moving_a_keyframe_resolves_old_and_new_frame(setup):
    eng, model, clip, base = setup
    key = Keyframe(150, "head", values=(0.5, 0.0, 0.2))
    keyed = eng.run_sync(EditRequest(base, clip, mode="keyframes", keyframes=(key,), radius=R,
                                     parts=("head",))).animation
    moved = key.moved(220)
    out = eng.run_sync(EditRequest(keyed, clip, mode="keyframes", keyframes=(moved,), centres=(150, 220),
                                   radius=R, parts=("head",), seed=1)).animation
    assert np.allclose(out.head[220], key.values, atol=1e-6)
    assert not np.allclose(out.head[150], key.values, atol=1e-3)
    outside = np.ones(base.n_frames, bool)
    outside[150 - R:150 + R + 1] = outside[220 - R:220 + R + 1] = False
    assert np.array_equal(out.head[outside], keyed.head[outside]) and np.array_equal(out.face, keyed.face)


def test_bad_centres_are_clear_errors(setup):
    _eng, _model, clip, base = setup
    n = base.n_frames
    with pytest.raises(RequestError, match=f"centre frame {n} is outside the clip"):
        EditRequest(base, clip, mode="keyframes", centres=(10, n), radius=R)
    with pytest.raises(RequestError, match="outside the clip"):
        EditRequest(base, clip, mode="keyframes", centres=(-1,), radius=R)
    with pytest.raises(RequestError, match="at least one centre"):
        EditRequest(base, clip, mode="keyframes", centres=(), radius=R)
    with pytest.raises(RequestError, match="frame numbers"):
        EditRequest(base, clip, mode="keyframes", centres=(1.5,), radius=R)
    with pytest.raises(RequestError, match="only apply to keyframe edits"):
        EditRequest(base, clip, mode="range", range=(0, 10), centres=(5,))
    with pytest.raises(RequestError, match="at least one keyframe"):
        EditRequest(base, clip, mode="keyframes", radius=R)
    req = EditRequest(base, clip, mode="keyframes", centres=(np.int64(30), 10, 30), radius=R)
    assert req.centres == (10, 30)


def test_keyframe_edits_preview_after_the_first_step_generate_is_throttled(setup):
    eng, model, clip, base = setup
    eng.preview_interval = 10.0  # longer than any job here: only an immediate preview can show up
    try:
        for req, immediate in [
            (EditRequest(base, clip, mode="keyframes", keyframes=(Keyframe(60, "head"),), radius=R), True),
            (EditRequest(base, clip, mode="swap", swap=(10, 90), radius=R), True),
            (EditRequest(base, clip, mode="range", range=(30, 60)), False),
            (GenerateRequest(clip, seed=1), False),
        ]:
            events = []
            t0 = time.monotonic()
            eng.run_sync(req, on_event=events.append)
            assert time.monotonic() - t0 < eng.preview_interval
            prog = [e for e in events if isinstance(e, JobProgress)]
            with_preview = [e for e in prog if e.preview is not None]
            if immediate:
                assert len(with_preview) == 1 and with_preview[0].step == 1, [e.step for e in prog]
            else:
                assert not with_preview
    finally:
        eng.preview_interval = 0.05
