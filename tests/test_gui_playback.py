"""Playback clocks (no sound device needed) and the viewport's per-frame vertex path."""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("PySide6")

from diface_editor.gui.playback import AudioClock, Playback, SilentClock  # noqa: E402

pytestmark = pytest.mark.gui


class FakeTime:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_silent_clock_runs_pauses_and_loops():
    now = FakeTime()
    c = SilentClock(now)
    c.start(1.0)
    now.t += 0.5
    assert c.position() == pytest.approx(1.5)
    c.stop()
    now.t += 10
    assert c.position() == pytest.approx(1.5)
    c.set_loop((1.0, 2.0))
    c.start(1.5)
    now.t += 0.7  # 2.2 -> wraps to 1.2
    assert c.position() == pytest.approx(1.2)


def _audio_clock(samples, rate=1000):
    """An AudioClock without a device: only its state and callback (what PortAudio would call)."""
    c = object.__new__(AudioClock)
    c.rate = rate
    c._samples = np.asarray(samples, np.float32)
    c._lock = threading.Lock()
    c._pos, c._playing, c._loop, c._grain = 0, False, None, (0, 0)

    class S:
        latency = 0.0

    c._stream = S()
    return c


def test_audio_clock_callback_plays_loops_and_scrubs():
    c = _audio_clock(np.arange(100))
    out = np.empty((30, 1), np.float32)
    c._callback(out, 30, None, None)
    assert not out.any() and c.position() == 0.0  # paused: silence, clock stands still
    c.start(0.010)  # sample 10
    c._callback(out, 30, None, None)
    assert np.array_equal(out[:, 0], np.arange(10, 40)) and c.position() == pytest.approx(0.040)
    c.set_loop((0.030, 0.050))  # samples 30..49
    c._pos = 45
    c._callback(out, 30, None, None)
    assert np.array_equal(out[:, 0], np.r_[45:50, 30:50, 30:35])
    c.set_loop(None)
    c._pos = 90
    c._callback(out, 30, None, None)  # end of clip: the rest is silence, the clock keeps running
    assert np.array_equal(out[:10, 0], np.arange(90, 100)) and not out[10:].any()
    assert c.position() == pytest.approx(0.120)
    c.stop()
    c.scrub(0.020)
    c._callback(out, 30, None, None)
    n = int(0.07 * 1000)  # one grain: 70 samples, then silence
    assert np.array_equal(out[:, 0], np.arange(20, 50))
    c._callback(out, 30, None, None)
    c._callback(out, 30, None, None)
    assert np.array_equal(out[:n - 60, 0], np.arange(80, 20 + n)) and not out[n - 60:].any()


def test_playback_stops_at_end_without_loop(qtbot):
    pb = Playback()
    now = FakeTime()
    pb.set_clock(SilentClock(now))
    pb.set_duration(2.0)
    pb.set_loop_enabled(False)
    pb.seek(1.5)
    pb.play()
    assert pb.playing
    now.t += 0.8
    with qtbot.waitSignal(pb.playing_changed, timeout=2000):
        pass
    assert not pb.playing and pb.time == 2.0
    pb.play()  # at the end: starts over
    assert pb.time == 0.0
    pb.close()


def test_viewport_frame_matches_rig(qtbot):
    pytest.importorskip("vispy")
    from _gui_support import make_rig
    from diface_editor.core.animation import Animation
    from diface_editor.core.document import Document
    from diface_editor.gui.viewport import Viewport

    rig = make_rig()
    rng = np.random.default_rng(0)
    anim = Animation(30.0, rng.random((5, 52), dtype=np.float32), (0.3 * rng.standard_normal((5, 3))).astype(np.float32))
    v = Viewport(rig)
    qtbot.addWidget(v)
    v.set_document(Document(anim))
    for f in range(5):
        np.testing.assert_allclose(v.rig.frame_vertices(anim, f), rig.vertices(anim.slice(f, f + 1))[0], atol=2e-6)
    v.set_time(3 / 30)
    assert v.current_frame() == 3
    np.testing.assert_allclose(v.last_vertices, rig.vertices(anim.slice(3, 4))[0], atol=2e-6)
    v.close_canvas()


def test_two_viewports_draw_at_once_without_gl_errors(qtbot):
    """Two windows = two render threads; vispy's one "current canvas" must not mix their GL commands
    (this raised GL_INVALID_FRAMEBUFFER_OPERATION / "Cannot FRAMEBUFFER object N" before the lock)."""
    pytest.importorskip("vispy")
    import time

    from _gui_support import make_rig
    from diface_editor.gui.viewport import Viewport

    rig = make_rig()
    vps = [Viewport(rig) for _ in range(2)]
    if any(v.mode != "offscreen" for v in vps):
        for v in vps:
            v.close_canvas()
        pytest.skip("no EGL here: one GL widget per window, no render threads")
    frames = [0, 0]
    for i, v in enumerate(vps):
        qtbot.addWidget(v)
        v.resize(420 + 40 * i, 320)
        v.show()
        v.backend.worker.frame_ready.connect(lambda img, ms, i=i: frames.__setitem__(i, frames[i] + 1))
    t0, n = time.monotonic(), 0
    # both threads busy for at least 3 s and until each drew 10 frames (a loaded CI machine draws fewer
    # per second; 20 s at most): new vertices every step, a resize now and then
    while time.monotonic() - t0 < 3.0 or (min(frames) <= 10 and time.monotonic() - t0 < 20.0):
        for i, v in enumerate(vps):
            if v.backend.worker.post_vertices(rig.template + np.float32(0.002 * np.sin(n + i))):
                v.backend.sig_wake.emit()
            if n % 9 == i:
                v.resize(420 + 40 * i + n % 40, 320 + n % 20)
        qtbot.wait(2)
        n += 1
    for v in vps:
        v.draw_now()
        pic = v.backend.worker.last_image
        assert pic is not None and not pic.image.isNull() and not pic.full().isNull()
        v.close_canvas()
    assert min(frames) > 10  # pytest-qt fails the test on any exception raised in a render thread


class _FakeStream:
    latency = 0.05

    def __init__(self):
        self.time = 1000.0


class _TimeInfo:
    def __init__(self, dac):
        self.outputBufferDacTime = dac


def test_audio_clock_follows_jittery_device_timing_without_steps():
    """Device timing (DAC time per buffer) with +-4 ms of report jitter, 50 ms of latency: the shown
    position runs with the device's clock (no drift), moves smoothly (no steps from the jitter, never
    backwards), waits while the device stalls and wraps a loop at the sample the device plays."""
    rate = 1000
    c = _audio_clock(np.arange(10_000), rate=rate)
    s = c._stream = _FakeStream()
    rng = np.random.default_rng(0)
    out = np.empty((20, 1), np.float32)
    c.start(1.0)
    shown, dev = [], []
    for _k in range(400):  # 20-sample buffers every 20 ms of device time; the GUI reads 4 times per buffer
        c._callback(out, 20, _TimeInfo(s.time + 0.05 + rng.uniform(-0.004, 0.004)), None)
        for _ in range(4):
            shown.append(c.position())
            dev.append(s.time)
            s.time += 0.005
    shown, dev = np.array(shown), np.array(dev)
    assert shown[0] == 1.0 and np.all(shown[:8] == 1.0)  # nothing heard in the first 50 ms
    steps = np.diff(shown[20:])
    assert steps.min() >= 0.0 and np.abs(steps - 0.005).max() < 0.0015  # smooth: 5 ms a read, +-30 %
    lag = (dev[200:] - dev[0]) - (shown[200:] - 1.0)
    assert np.abs(lag - 0.05).max() < 0.006  # the latency, no drift
    # the device stalls (no callbacks for 200 ms): the picture stops at what was written
    t = c.position()
    for _ in range(40):
        s.time += 0.005
        assert t <= c.position() <= c._written / rate + 1.0 + 1e-9
    # a loop: the clip wraps where the samples wrapped
    c.start(2.0)
    c.set_loop((2.0, 2.1))
    for _ in range(30):  # 600 ms: six passes of the 100 ms loop
        c._callback(out, 20, _TimeInfo(s.time + 0.05), None)
        for _ in range(4):
            p = c.position()
            assert 2.0 <= p < 2.1
            s.time += 0.005
    expected = 2.0 + ((s.time - 0.005) - (s.time - 0.6 + 0.05)) % 0.1  # 550 ms heard of the loop
    assert p == pytest.approx(expected, abs=0.004)


def _offscreen_viewport(qtbot, doc=None):
    """(rig, a shown offscreen viewport with its first picture on screen); skips without EGL."""
    pytest.importorskip("vispy")
    from _gui_support import make_rig
    from diface_editor.gui.viewport import Viewport

    rig = make_rig()
    v = Viewport(rig)
    qtbot.addWidget(v)
    if v.mode != "offscreen":
        v.close_canvas()
        pytest.skip("no EGL here: the GL widget draws on the GUI thread")
    v.resize(420, 320)
    v.show()
    if doc is not None:
        v.set_document(doc)
    qtbot.waitUntil(lambda: v.backend.display.picture is not None, timeout=10000)
    return rig, v


def test_wait_for_picture_puts_the_newest_vertices_on_screen(qtbot):
    """A drag's pose is drawn before the GUI thread moves on: after wait_for_picture the picture on
    screen is that of the vertices shown last (not an older one), and with nothing pending it returns
    at once."""
    import time

    rig, v = _offscreen_viewport(qtbot)
    assert v.wait_for_picture(0.0)  # nothing pending
    worker = v.backend.worker
    drawn = []
    upload = worker.scene.upload
    worker.scene.upload = lambda verts: (drawn.append(verts), upload(verts))[-1]
    for k in range(5):  # several poses in a row, as a drag's moves post them
        verts = rig.template + np.float32(0.003 * (k + 1))
        v.backend.show(verts)
    t0 = time.monotonic()
    assert v.wait_for_picture(10.0)
    assert time.monotonic() - t0 < 10.0
    assert drawn and np.array_equal(drawn[-1], verts)  # the newest pose was drawn ...
    assert v.backend.display.picture is worker.last_image  # ... and is the picture on screen
    v.close_canvas()


def test_an_interactive_result_is_drawn_before_the_other_views_hear_of_it(qtbot):
    """After picture_first_on_next_change (a phone drag's re-solve), the next animation change is on
    screen when the document's event handlers return; later changes do not wait."""
    from PySide6 import QtCore

    from diface_editor.core.animation import Animation
    from diface_editor.core.document import Document

    rng = np.random.default_rng(0)
    doc = Document(Animation(30.0, rng.random((5, 52), dtype=np.float32), np.zeros((5, 3), np.float32)))
    rig, v = _offscreen_viewport(qtbot, doc)
    v.wait_for_picture(10.0)

    worker = v.backend.worker
    drawn = []
    worker.frame_ready.connect(lambda pic, ms: drawn.append(pic), QtCore.Qt.DirectConnection)
    seen = []  # a view after the viewport: what is on screen when it hears of the change
    doc.events.animation.connect(lambda ev: seen.append((len(drawn), v.backend.display.picture)))
    v.picture_first_on_next_change(10.0)
    doc.write_frames(0, face=np.zeros((5, 52), np.float32))
    assert seen and seen[-1][0] >= 1 and seen[-1][1] is drawn[-1]  # the new picture, drawn and shown
    np.testing.assert_allclose(v.last_vertices, rig.vertices(doc.animation.slice(0, 1))[0], atol=2e-6)
    assert v._wait_next_change == 0.0  # once only
    v.close_canvas()
