"""The engine in a child process (engine.process.ProcessEngine): same results and events as the
in-thread engine, cancellation, superseding, crashes, load errors, small payloads, clean shutdown.

The child loads the torch-free Gaussian-process test model (``_process_helpers.load_gp``), except in
one test that runs a tiny real model bundle through the default loader."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from _engine_fakes import TERMINAL, events_until
from _process_helpers import LOAD_ERROR, load_gp, make_gp
from diface_editor.core.animation import Animation
from diface_editor.core.audio import AudioClip
from diface_editor.core.keyframes import Keyframe
from diface_editor.engine.backend import EngineError
from diface_editor.engine.events import JobCancelled, JobFailed, JobProgress, JobResult, JobStarted
from diface_editor.engine.process import ProcessEngine, decode_animation, default_nice, encode_animation
from diface_editor.engine.requests import EditRequest, GenerateRequest, VariantsRequest
from diface_editor.engine.worker import Engine

WAIT = 30.0


def _clip(seconds: float, seed: int = 0) -> AudioClip:
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 2.5 * np.arange(n) / 16000)
    return AudioClip((0.3 * env * rng.standard_normal(n)).astype(np.float32), 16000)


def _events_until(eng: ProcessEngine, job: int, timeout: float = WAIT) -> list:
    return events_until(eng, job, timeout)  # the child process needs longer than the default


def _gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


@pytest.fixture
def engine():
    engines = []

    def make(spec: str = "gp", **kw) -> ProcessEngine:
        kw.setdefault("engine_kwargs", {"preview_interval": 0.0})
        eng = ProcessEngine(spec, loader=load_gp, **kw)
        engines.append(eng)
        return eng

    yield make
    for eng in engines:
        assert eng.shutdown(timeout=10)
        assert not eng.alive


def test_results_and_events_equal_the_in_thread_engine(engine):
    heard, threads = [], set()

    def on_event(ev):
        heard.append(ev)
        threads.add(threading.current_thread().name)

    eng = engine(on_event=on_event)
    clip = _clip(4.0)
    local = Engine(make_gp())
    gen = GenerateRequest(audio=clip, seed=3)
    j1 = eng.submit(gen, doc_version=7)
    events = _events_until(eng, j1)
    assert isinstance(events[0], JobStarted) and events[0].kind == "generate"
    assert all(ev.job_id == j1 and ev.doc_version == 7 for ev in events)
    previews = [ev.preview for ev in events if isinstance(ev, JobProgress) and ev.preview is not None]
    assert len(previews) >= 2
    res = events[-1]
    ref = local.run_sync(gen)
    assert isinstance(res, JobResult) and res.animation.equals(ref.animation) and res.changed == ref.changed
    assert res.animation.metadata == ref.animation.metadata and res.info["calls"] == ref.info["calls"]
    assert res.animation.face.flags.writeable  # like the worker's: the caller may edit it

    # an edit of that animation (base and previews travel as changed rows) and variants
    base = res.animation
    key = Keyframe(60, "head", values=(0.2, -0.1, 0.05))
    edit = EditRequest(base=base, audio=clip, mode="keyframes", keyframes=(key,), radius=10, seed=5)
    j2 = eng.submit(edit, doc_version=8)
    events = _events_until(eng, j2)
    ref = local.run_sync(edit)
    assert events[-1].animation.equals(ref.animation) and events[-1].changed == ref.changed
    lo, hi = ref.changed
    for ev in events:
        if isinstance(ev, JobProgress) and ev.preview is not None:  # outside the edit: the base, bit for bit
            assert np.array_equal(ev.preview.face[:lo], base.face[:lo])
            assert np.array_equal(ev.preview.head[hi:], base.head[hi:])
    var = VariantsRequest(EditRequest(base=ref.animation, audio=clip, mode="range", range=(20, 50), seed=9), n=3)
    j3 = eng.submit(var, doc_version=9)
    got = _events_until(eng, j3)[-1]
    want = local.run_sync(var)
    assert len(got.animations) == 3 and all(a.equals(b) for a, b in zip(got.animations, want.animations))
    assert heard and threads == {"diface-engine-read"}  # on_event comes from the reader thread
    assert eng.pid != os.getpid() and eng.loaded and not eng.busy
    assert eng.load_info["nice"] == min(19, os.nice(0) + default_nice())  # the editor's threads get the CPU first


def test_a_tiny_real_model_bundle_gives_the_same_animation(tmp_path):
    torch = pytest.importorskip("torch")
    from _engine_fakes import tiny_model
    from diface_editor.ml.bundle import MotionModel

    folder = tiny_model().save(tmp_path / "tiny")
    clip = _clip(3.0, seed=1)
    req = GenerateRequest(audio=clip, seed=11, steps=2)
    loaded = []
    eng = ProcessEngine(folder, on_load=loaded.append, torch_threads=1)
    try:
        job = eng.submit(req)
        res = _events_until(eng, job, timeout=120)[-1]
        assert loaded == [None] and isinstance(res, JobResult), res
        assert eng.load_info["torch_threads"] == 1
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            ref = Engine(MotionModel.load(folder)).run_sync(req)
        finally:
            torch.set_num_threads(threads)
        assert res.animation.equals(ref.animation)
    finally:
        assert eng.shutdown(10)


def test_cancel_reaches_the_child_while_it_samples(engine):
    eng = engine("gp:hold=1")  # the first sampling call waits after one step until it is cancelled
    clip = _clip(4.0)
    job = eng.submit(GenerateRequest(audio=clip, seed=1, steps=200))
    events_until(eng, job, WAIT, kinds=(JobProgress,))
    eng.cancel()
    events = _events_until(eng, job)
    assert isinstance(events[-1], JobCancelled)  # stopped between steps: it cannot end otherwise
    assert eng.wait_idle(5) and not eng.busy
    job2 = eng.submit(GenerateRequest(audio=clip, seed=1, steps=2))
    assert isinstance(_events_until(eng, job2)[-1], JobResult)


def test_a_newer_job_supersedes_older_ones_even_while_the_model_loads(engine):
    eng = engine("gp:delay=0.02")
    clip = _clip(4.0)
    jobs = [eng.submit(GenerateRequest(audio=clip, seed=s, steps=20), doc_version=s) for s in range(5)]
    events = _events_until(eng, jobs[-1])
    ends = {ev.job_id: ev for ev in events if isinstance(ev, TERMINAL)}
    assert isinstance(ends[jobs[-1]], JobResult) and ends[jobs[-1]].doc_version == 4
    assert all(isinstance(ends[j], JobCancelled) for j in jobs[:-1])
    assert not any(isinstance(ev, JobResult) for ev in events[:-1])


def test_a_killed_child_fails_its_job_and_the_next_job_restarts_it(engine):
    eng = engine("gp:delay=0.05")  # a 200-step job (10 s); a restarted child must not hold its job
    clip = _clip(4.0)
    job = eng.submit(GenerateRequest(audio=clip, seed=1, steps=200))
    events_until(eng, job, WAIT, kinds=(JobProgress,))
    pid = eng.pid
    os.kill(pid, 9)
    end = _events_until(eng, job)[-1]
    assert isinstance(end, JobFailed) and "engine process stopped unexpectedly" in end.message
    assert "SIGKILL" in end.message and not eng.alive and not eng.busy
    job2 = eng.submit(GenerateRequest(audio=clip, seed=1, steps=2))
    assert isinstance(_events_until(eng, job2)[-1], JobResult)
    assert eng.pid != pid and eng.stats.children_started == 2 and _gone(pid)


def test_a_crash_inside_a_job_and_an_exception_in_a_job(engine):
    eng = engine("gp:crash_steps=7")
    clip = _clip(2.0)
    first = eng.submit(GenerateRequest(audio=clip, seed=1, steps=3))
    assert isinstance(_events_until(eng, first)[-1], JobResult)
    pid = eng.pid
    crash = eng.submit(GenerateRequest(audio=clip, seed=1, steps=7))
    assert isinstance(_events_until(eng, crash)[-1], JobFailed)
    again = eng.submit(GenerateRequest(audio=clip, seed=1, steps=3))  # a new child, the clip sent again
    assert isinstance(_events_until(eng, again)[-1], JobResult) and eng.pid != pid
    # a user error raised by the job (not a crash) keeps the same child
    pid = eng.pid
    bad = EditRequest(base=Animation.zeros(60, fps=25.0), audio=clip, mode="range", range=(0, 10))
    failed = _events_until(eng, eng.submit(bad))[-1]
    assert isinstance(failed, JobFailed) and "25 fps" in failed.message and eng.pid == pid


def test_a_model_that_cannot_be_loaded_reports_the_sentence(engine):
    loads = []
    eng = engine("gp:fail_load=1", on_load=loads.append)
    job = eng.submit(GenerateRequest(audio=_clip(1.0)))
    end = _events_until(eng, job)[-1]
    assert loads == [LOAD_ERROR]
    assert isinstance(end, JobFailed) and end.message == LOAD_ERROR


def test_audio_is_sent_once_and_edits_of_a_long_clip_send_only_changed_rows(engine):
    eng = engine(engine_kwargs={"preview_interval": 0.0})
    clip = _clip(600.0)  # 10 minutes: 38 MB of samples, an 18000-frame animation (4 MB)
    base = Animation.zeros(18000)
    base.face[:] = np.random.default_rng(0).uniform(0, 1, base.face.shape).astype(np.float32)
    j1 = eng.submit(EditRequest(base=base, audio=clip, mode="range", range=(9000, 9040), seed=1))
    r1 = _events_until(eng, j1, timeout=60)[-1]
    first = eng.stats.last_request_bytes
    assert isinstance(r1, JobResult) and first > 38e6
    received = eng.stats.bytes_received
    j2 = eng.submit(EditRequest(base=r1.animation, audio=clip, mode="range", range=(100, 130), seed=2))
    events = _events_until(eng, j2, timeout=60)
    r2 = events[-1]
    assert isinstance(r2, JobResult) and eng.stats.audio_clips_sent == 1
    assert eng.stats.last_request_bytes < 30_000  # the changed rows of the base, not 4 MB + 38 MB
    assert eng.stats.bytes_received - received < 200_000  # every preview and the result: rows, not 4 MB each
    assert len(events) > 3
    ref = Engine(make_gp()).run_sync(EditRequest(base=r1.animation, audio=clip, mode="range", range=(100, 130),
                                                 seed=2))
    assert r2.animation.equals(ref.animation)


def test_small_requests_are_written_at_once_and_every_request_keeps_its_order(engine, monkeypatch):
    """Once the child has its model, a small request is written by the thread that submits it (no wait
    for the sender thread); a large one (new audio) still goes through the sender, and the order holds."""
    import diface_editor.engine.process as process

    writers: list[tuple[str, int]] = []
    real_write = process.write_parts

    def write(conn, parts):
        n = real_write(conn, parts)
        writers.append((threading.current_thread().name, n))
        return n

    monkeypatch.setattr(process, "write_parts", write)
    eng = engine("gp:delay=0.01")
    clip, big = _clip(4.0), _clip(60.0, seed=1)
    first = eng.submit(GenerateRequest(audio=clip, seed=0, steps=2))
    assert isinstance(_events_until(eng, first)[-1], JobResult)  # the model is loaded now
    writers.clear()
    jobs = [eng.submit(GenerateRequest(audio=big if s == 2 else clip, seed=s, steps=3), doc_version=s)
            for s in range(6)]
    events = _events_until(eng, jobs[-1])
    ends = {ev.job_id: ev for ev in events if isinstance(ev, TERMINAL)}
    assert isinstance(ends[jobs[-1]], JobResult) and ends[jobs[-1]].doc_version == 5
    assert all(isinstance(ends[j], JobCancelled) for j in jobs[:-1] if j in ends)
    ref = Engine(make_gp()).run_sync(GenerateRequest(audio=clip, seed=5, steps=3))
    assert ends[jobs[-1]].animation.equals(ref.animation)
    assert eng.stats.audio_clips_sent == 2
    me = threading.current_thread().name
    assert writers[0][0] == me and writers[0][1] <= process.INLINE_MAX_BYTES
    assert any(name != me and n > 1e6 for name, n in writers)  # the new audio: the sender thread


def test_encoded_animation_round_trips_bit_for_bit():
    rng = np.random.default_rng(0)
    ref = Animation(30.0, rng.uniform(0, 1, (50, 52)).astype(np.float32), np.zeros((50, 3), np.float32))
    new = ref.copy()
    new.face[10:12, 3] = -0.0  # a bit difference that == does not see
    new.head[30] = 0.5
    new.metadata["seed"] = "3"
    pid = encode_animation(new, ref, "k")
    assert (pid[4], pid[5]) == (10, 31)
    out = decode_animation(pid, ref)
    assert out.face.tobytes() == new.face.tobytes() and out.equals(new) and out.metadata == {"seed": "3"}
    assert decode_animation(encode_animation(new, None, None), None).face.tobytes() == new.face.tobytes()


def test_shutdown_leaves_no_process_and_no_thread(engine):
    eng = engine("gp:hold=1")
    job = eng.submit(GenerateRequest(audio=_clip(4.0), seed=1, steps=200))
    first = events_until(eng, job, WAIT, kinds=(JobProgress,))  # loaded and sampling (held)
    pid = eng.pid
    assert eng.shutdown(timeout=5)
    assert _gone(pid) and not eng.alive and eng.pid is None
    assert not [t.name for t in threading.enumerate() if t.name.startswith("diface-engine")]
    events = first + _events_until(eng, job)
    assert isinstance(events[-1], JobCancelled) and not eng.busy
    with pytest.raises(EngineError):
        eng.submit(GenerateRequest(audio=_clip(1.0)))
