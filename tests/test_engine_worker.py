"""The engine's worker thread: superseding, cancellation, errors, doc versions (no Qt, no torch)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from _engine_fakes import TERMINAL, FakeClip, FakeEncoder, GPModel, events_until
from diface_editor.core.animation import Animation
from diface_editor.engine.backend import WindowSpec
from diface_editor.engine.events import JobCancelled, JobFailed, JobProgress, JobResult, JobStarted
from diface_editor.engine.requests import EditRequest, GenerateRequest
from diface_editor.engine.worker import Engine, EventQueue

SPEC = WindowSpec(window=96, overlap=24, context=16)


@pytest.fixture()
def setup():
    model = GPModel(SPEC, delay=0.01)
    seen_threads = set()
    listener_events = []

    def on_event(ev):
        seen_threads.add(threading.current_thread().name)
        listener_events.append(ev)

    eng = Engine(model, encoder=FakeEncoder(), on_event=on_event, preview_interval=0.0)
    clip = FakeClip(4.0)
    base = Animation.zeros(120)
    eng.features(clip, 120)  # as the editor does when it loads the audio
    yield eng, model, clip, base, seen_threads, listener_events
    assert eng.shutdown(timeout=10)
    assert not eng.alive


def test_a_job_reports_start_progress_and_result_with_its_doc_version(setup):
    eng, model, clip, base, threads, heard = setup
    jid = eng.submit(EditRequest(base, clip, mode="range", range=(30, 60)), doc_version=42)
    events = events_until(eng, jid)
    assert isinstance(events[0], JobStarted) and events[0].kind == "edit"
    assert any(isinstance(e, JobProgress) and e.preview is not None for e in events)
    res = events[-1]
    assert isinstance(res, JobResult) and res.doc_version == 42 and res.job_id == jid
    assert all(e.doc_version == 42 for e in events)
    assert res.changed == (30, 60) and res.info["total_s"] > 0
    assert np.array_equal(res.animation.head[60:], base.head[60:])
    assert threads == {"diface-engine"}  # on_event is called from the worker thread
    eng.wait_idle(5)
    assert [type(e) for e in heard] == [type(e) for e in events]


def test_twenty_rapid_jobs_only_the_last_result_arrives(setup):
    eng, model, clip, base, threads, heard = setup
    ids = [eng.submit(EditRequest(base, clip, mode="range", range=(10, 110), seed=i), doc_version=i)
           for i in range(20)]
    events = events_until(eng, ids[-1])
    assert eng.wait_idle(10)
    results = [e for e in events if isinstance(e, JobResult)]
    assert [r.job_id for r in results] == [ids[-1]] and results[0].doc_version == 19
    assert not [e for e in events if isinstance(e, JobFailed)]
    terminal = {e.job_id: type(e) for e in events if isinstance(e, TERMINAL)}
    assert set(terminal) == set(ids)  # every job ends exactly once
    assert all(terminal[i] is JobCancelled for i in ids[:-1])
    # the result equals what the last request gives on its own
    expected = eng.run_sync(EditRequest(base, clip, mode="range", range=(10, 110), seed=19))
    assert results[0].animation.equals(expected.animation)
    assert eng.alive


def test_a_newer_job_cancels_the_one_in_flight_between_steps(setup):
    eng, model, clip, base, *_ = setup
    model.hold = True  # the first job never finishes by itself: only a cancel between steps ends it
    first = eng.submit(GenerateRequest(clip, seed=1), doc_version=1)
    assert model.holding.wait(10)
    second = eng.submit(EditRequest(base, clip, mode="range", range=(0, 10)), doc_version=2)
    events = events_until(eng, second)
    cancelled = [e for e in events if isinstance(e, JobCancelled)]
    assert [e.job_id for e in cancelled] == [first]
    assert isinstance(events[-1], JobResult) and events[-1].doc_version == 2


def test_an_exception_in_a_job_gives_job_failed_and_the_worker_survives(setup):
    eng, model, clip, base, *_ = setup
    model.fail.set()
    jid = eng.submit(EditRequest(base, clip, mode="range", range=(0, 10)), doc_version=3)
    ev = events_until(eng, jid)[-1]
    assert isinstance(ev, JobFailed) and "simulated model failure" in ev.message and ev.doc_version == 3
    model.fail.clear()
    jid = eng.submit(EditRequest(base, clip, mode="range", range=(0, 10)), doc_version=4)
    assert isinstance(events_until(eng, jid)[-1], JobResult)
    assert eng.alive


def test_a_user_error_in_a_job_is_reported_as_a_sentence(setup):
    eng, model, clip, base, *_ = setup
    bad = Animation.zeros(120, fps=25.0)
    jid = eng.submit(EditRequest(bad, clip, mode="range", range=(0, 10)), doc_version=5)
    ev = events_until(eng, jid)[-1]
    assert isinstance(ev, JobFailed) and "fps" in ev.message


def test_a_failing_listener_does_not_kill_the_worker():
    model = GPModel(SPEC)

    def broken(ev):
        raise ValueError("listener bug")

    eng = Engine(model, encoder=FakeEncoder(), on_event=broken)
    try:
        clip, base = FakeClip(2.0), Animation.zeros(60)
        for v in range(2):
            jid = eng.submit(EditRequest(base, clip, mode="range", range=(0, 10)), doc_version=v)
            assert isinstance(events_until(eng, jid)[-1], JobResult)
    finally:
        assert eng.shutdown(5)


def test_cancel_and_shutdown(setup):
    eng, model, clip, base, *_ = setup
    model.hold = True  # held jobs end only by a cancel
    jid = eng.submit(GenerateRequest(clip), doc_version=1)
    assert model.holding.wait(10)
    eng.cancel()
    assert isinstance(events_until(eng, jid)[-1], JobCancelled)
    model.holding.clear()
    model.hold = True
    jid = eng.submit(GenerateRequest(clip), doc_version=2)
    assert model.holding.wait(10)
    assert eng.shutdown(timeout=5)  # the held job was cancelled: it cannot end otherwise
    assert isinstance(events_until(eng, jid)[-1], JobCancelled)
    with pytest.raises(Exception, match="shut down"):
        eng.submit(GenerateRequest(clip))


def test_event_queue_drops_old_progress_but_never_results():
    q = EventQueue(max_events=5)
    for i in range(10):
        q.put(JobProgress(1, 0, i, 10))
    q.put(JobResult(1, 0, None))
    items = list(q.queue)
    assert len(items) == 5 and isinstance(items[-1], JobResult)
    assert [e.step for e in items[:-1]] == [6, 7, 8, 9]
