"""The editor's edit behaviour without Qt: :class:`diface_editor.engine.session.EditSession` on a
document and an in-process engine with the Gaussian-process test model."""

from __future__ import annotations

import numpy as np
import pytest

from _engine_fakes import FakeClip, GPModel, events_until
from diface_editor.core.commands import SetKeyframes, add_keyframe, move_keyframe
from diface_editor.core.document import Document, SamplerSettings
from diface_editor.core.keyframes import Keyframe, KeyframeSet
from diface_editor.engine.backend import WindowSpec
from diface_editor.engine.events import JobResult
from diface_editor.engine.requests import EditRequest
from diface_editor.engine.session import (
    Discarded,
    EditJob,
    EditOptions,
    EditSession,
    JobKind,
    PendingVariants,
    VariantsReady,
    influence_pins,
)
from diface_editor.engine.worker import Engine

RADIUS = 8


@pytest.fixture
def doc() -> Document:
    d = Document.from_audio(FakeClip(4.0), fps=30.0)  # 120 frames
    d.set_sampler(SamplerSettings(influence_frames=RADIUS, steps=3, n_variants=3, blinks=False))
    return d


@pytest.fixture
def engine():
    eng = Engine(GPModel(WindowSpec(window=64, overlap=16, context=8)), previews=False)
    yield eng
    eng.shutdown()


def _result(engine, job_id: int) -> JobResult:
    ev = events_until(engine, job_id)[-1]
    assert isinstance(ev, JobResult), ev
    return ev


def test_influence_rule_pins_only_keyframes_near_a_changed_frame():
    keys = [Keyframe(30, "head"), Keyframe(38, "head"), Keyframe(80, "face")]
    assert influence_pins(keys, (30,), RADIUS) == tuple(keys[:2])
    assert influence_pins(keys, (30, 75), RADIUS) == tuple(keys)
    assert influence_pins(keys, (50,), None) == tuple(keys)  # no radius: every keyframe


def test_a_keyframe_change_builds_a_solve_whose_window_follows_the_influence_rule(doc):
    s = EditSession(doc, options=EditOptions(interactive_steps=2))
    far = Keyframe(80, "face")
    doc.replace_keyframes(KeyframeSet([Keyframe(38, "head", values=(0.1, 0.0, 0.0)), far]))
    key = Keyframe(30, "head", values=(0.0, 0.2, 0.0))
    change = s.change_keyframes(add_keyframe(doc, key), [key])
    assert change.committed and change.note is None and key in list(doc.keyframes)
    assert change.solve.kind is JobKind.SOLVE and change.solve.label == "solve keyframe at frame 30"
    req = change.solve.build()
    assert isinstance(req, EditRequest) and req.mode == "keyframes"
    assert req.centres == (30,) and req.radius == RADIUS
    assert {k.frame for k in req.keyframes} == {30, 38}  # the neighbour is pinned, the far key is not
    assert req.parts == ("head",) and req.steps == 2  # a head key re-solves the head, interactive steps
    # a moved key: its old frame is a centre too
    moved = s.change_keyframes(move_keyframe(doc, key, 50), [key.moved(50)], vacated=(30,))
    assert moved.solve.build().centres == (30, 50)
    assert s.history.index == 2  # two keyframe commands, nothing solved yet


def test_no_solve_while_a_long_job_runs_or_with_re_solving_off(doc, engine):
    s = EditSession(doc, engine)
    s.queue(s.generate_job())  # waits (e.g. for the model): a long job
    key = Keyframe(20, "head")
    change = s.change_keyframes(add_keyframe(doc, key), [key])
    assert change.committed and change.solve is None and "'generate' runs" in change.note
    s.cancel()
    s.options = EditOptions(auto_solve=False)
    key2 = Keyframe(60, "head")
    assert s.change_keyframes(add_keyframe(doc, key2), [key2]).solve is None


def test_variants_of_the_selection_wait_as_typed_pending_variants_and_one_is_picked(doc, engine):
    s = EditSession(doc, engine)
    doc.set_selection((40, 70))
    job = s.variants_job()
    assert isinstance(job, EditJob) and job.kind is JobKind.VARIANTS
    job_id = s.submit(job)
    assert s.running is JobKind.VARIANTS
    out = s.finish(_result(engine, job_id))
    assert isinstance(out, VariantsReady) and s.running is None
    pv = s.pending_variants
    assert isinstance(pv, PendingVariants) and len(pv) == 3 and pv.doc_version == doc.version
    assert pv.changed == (40, 70) and not pv.animations[0].equals(pv.animations[1])
    before = doc.animation.copy()
    assert s.pick_variant(1) and s.pending_variants is None
    assert np.array_equal(doc.animation.head[40:70], pv.animations[1].head[40:70])
    assert np.array_equal(doc.animation.head[:40], before.head[:40])
    s.history.undo()
    assert doc.animation.equals(before)


def test_a_result_for_an_older_document_version_is_dropped(doc, engine):
    s = EditSession(doc, engine)
    key = Keyframe(30, "head", values=(0.0, 0.3, 0.0))
    change = s.change_keyframes(add_keyframe(doc, key), [key])
    job_id = s.submit(change.solve)
    s.push(SetKeyframes(KeyframeSet([key.with_values((0.2, 0.0, 0.0))])))  # edited while it runs
    kept = doc.animation.copy()
    out = s.finish(_result(engine, job_id))
    assert isinstance(out, Discarded) and out.tell and "changed" in out.why
    assert doc.animation.equals(kept)


def test_a_superseded_job_is_dropped_and_the_latest_applied(doc, engine):
    s = EditSession(doc, engine)
    doc.set_selection((10, 30))
    first = s.submit(s.resample_job())
    second = s.submit(s.resample_job())
    events = events_until(engine, second)
    results = {ev.job_id: ev for ev in events if isinstance(ev, JobResult)}
    if first in results:  # finished before it could be cancelled
        assert isinstance(s.finish(results[first]), Discarded)
    out = s.finish(results[second])
    assert out.label == "resample selection" and s.history.index == 1
