"""Alignment runs in a child process: the same result as in the caller's process, a cancelled call
raises and the next call works, the calling process stays live during a long decode."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from diface_editor.core.audio import AudioClip
from diface_editor.core.paths import resource


def _visible_message_boxes() -> list:
    from PySide6 import QtWidgets

    return [tl for tl in QtWidgets.QApplication.topLevelWidgets()
            if isinstance(tl, QtWidgets.QMessageBox) and tl.isVisible()]


@pytest.fixture(scope="module")
def demo():
    pytest.importorskip("pocketsphinx")
    return AudioClip.load(resource("demo", "demo.wav")), resource("demo", "demo.txt").read_text(encoding="utf-8")


def test_the_child_aligns_as_the_caller_would_and_says_why_it_fails(demo):
    from diface_editor.core.errors import DifaceError
    from diface_editor.engine.align_process import AlignProcess
    from diface_editor.engine.session import align_transcript

    clip, text = demo
    proc = AlignProcess()
    try:
        there = proc.call("align_transcript", clip, text, check=False)
        here = align_transcript(clip, text, check=False)
        assert there == here and len(there.words) == 29
        with pytest.raises(DifaceError, match="no words to align"):
            proc.call("lipsync", clip, "   ", 0)
        assert proc.children_started == 1  # the child stays for the next call
    finally:
        proc.shutdown()


def test_a_cancelled_alignment_raises_and_the_next_one_works(demo):
    from diface_editor.engine.align_process import AlignCancelled, AlignProcess

    clip, text = demo
    # a 60 s take of the demo line repeated, aligned with a script of other words: many decodes
    long = AudioClip(np.tile(np.asarray(clip.samples, np.float32), 6), clip.sample_rate)
    proc = AlignProcess()
    outcome = {}

    def run():
        try:
            outcome["result"] = proc.call("align_transcript", long, "zebra crossing " * 60)
        except AlignCancelled as e:
            outcome["cancelled"] = str(e)

    try:
        th = threading.Thread(target=run)
        th.start()
        deadline = time.monotonic() + 60
        while not proc.cancel():  # cancel as soon as the call is in the child
            time.sleep(0.01)
            assert time.monotonic() < deadline
        while th.is_alive() and time.monotonic() < deadline:  # this thread is never held up by the decode
            time.sleep(0.01)
        th.join(1)
        assert not th.is_alive() and "cancelled" in outcome, outcome
        again = proc.call("align_transcript", clip, text, check=False)
        assert again.aligned and proc.children_started == 2
    finally:
        proc.shutdown()


def test_an_alignment_past_its_time_limit_is_stopped_and_says_so(demo, monkeypatch):
    from diface_editor.engine import align_process

    clip, text = demo
    monkeypatch.setattr(align_process, "align_time_limit", lambda duration: 0.3)
    t0 = time.monotonic()
    tr = align_process.align_in_child(clip, "zebra crossing " * 60)
    assert time.monotonic() - t0 < 10
    assert not tr.aligned and not tr.mismatched and tr.text.startswith("zebra crossing")
    assert tr.error.startswith("the alignment took longer than 0 s and was stopped")
    monkeypatch.undo()
    assert align_process.align_in_child(clip, text).aligned  # a new child, in time


def test_closing_the_editor_stops_an_alignment_in_progress(qtbot, tmp_path, monkeypatch, rig, demo):
    """The window opened with a transcript closes at once while it aligns (it waited up to a minute):
    the alignment's child is ended, no thread is left and no error box is shown."""
    pytest.importorskip("vispy")
    from PySide6 import QtWidgets

    from _gui_support import close_window, open_demo_take
    from diface_editor.engine.align_process import shared

    _clip, text = demo
    w, _applied = open_demo_take(qtbot, rig, monkeypatch, tmp_path, transcript=text)
    assert w.aligning_on_open
    qtbot.waitUntil(lambda: shared()._busy, timeout=30_000)  # the call is in the child
    t0 = time.monotonic()
    close_window(w)  # asserts that no diface- thread is left
    assert time.monotonic() - t0 < 10
    QtWidgets.QApplication.processEvents()
    assert not [tl for tl in QtWidgets.QApplication.topLevelWidgets()
                if isinstance(tl, QtWidgets.QMessageBox) and tl.isVisible()]


def test_a_prepared_child_answers_the_first_alignment(demo):
    """prepare() starts the child and loads it in the background, once; the first call then goes to
    that child (no second one is started)."""
    from diface_editor.engine.align_process import AlignProcess

    clip, text = demo
    proc = AlignProcess()
    try:
        assert proc.prepare() and not proc.prepare()
        deadline = time.monotonic() + 120
        while proc.preparing and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not proc.preparing and proc.children_started == 1
        assert not proc.prepare()  # the child is there already
        assert len(proc.call("align_transcript", clip, text, check=False).words) == 29
        assert proc.children_started == 1
    finally:
        proc.shutdown()
    # a preparation cancelled at once (the window closed while the user typed) leaves nothing running
    proc = AlignProcess()
    try:
        assert proc.prepare()
        proc.cancel()
        deadline = time.monotonic() + 60
        while proc.preparing and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not proc.preparing
        assert proc._proc is None or not proc._proc.is_alive()
        assert len(proc.call("align_transcript", clip, text, check=False).words) == 29  # a new child
    finally:
        proc.shutdown()
    # Align pressed while the child still loads, then Esc: the waiting alignment is cancelled too
    from diface_editor.engine.align_process import AlignCancelled

    proc = AlignProcess()
    outcome = {}

    def align():
        try:
            outcome["result"] = proc.call("align_transcript", clip, text, check=False)
        except AlignCancelled:
            outcome["cancelled"] = True

    try:
        assert proc.prepare()
        th = threading.Thread(target=align)
        th.start()
        deadline = time.monotonic() + 30
        while not proc._busy and time.monotonic() < deadline:  # the preparation is in the child
            time.sleep(0.01)
        proc.cancel()
        th.join(60)
        assert outcome == {"cancelled": True}
    finally:
        proc.shutdown()


def test_typing_a_transcript_prepares_the_alignment(qtbot, tmp_path, monkeypatch, rig, demo):
    """Typing in the Generate panel's transcript box starts the alignment child's loading; a transcript
    set by the editor itself does not; Align then uses that child."""
    pytest.importorskip("vispy")
    from _gui_support import close_window, open_demo_take
    from diface_editor.engine import align_process

    _clip, text = demo
    fresh = align_process.AlignProcess()
    monkeypatch.setattr(align_process, "_shared", fresh)
    w, _applied = open_demo_take(qtbot, rig, monkeypatch, tmp_path)
    try:
        qtbot.waitUntil(lambda: w.doc is not None and w.doc.audio is not None, timeout=30_000)
        from diface_editor.core.commands import SetTranscript
        from diface_editor.core.transcript import Transcript

        w.undo_stack.push_command(SetTranscript(Transcript("set by the editor"), "set transcript"))
        box = w.panel.transcript
        assert box.toPlainText() == "set by the editor"
        assert fresh.children_started == 0 and not fresh.preparing
        box.clear()
        qtbot.keyClicks(box, "Hello")
        assert fresh.preparing or fresh.children_started == 1
        qtbot.waitUntil(lambda: not fresh.preparing, timeout=120_000)
        assert fresh.children_started == 1
        box.setPlainText(text)
        w.align_transcript(text)
        qtbot.waitUntil(lambda: w.doc.transcript is not None and w.doc.transcript.aligned, timeout=60_000)
        assert fresh.children_started == 1
    finally:
        close_window(w)
        fresh.shutdown()


def test_cancel_stops_an_alignment_and_the_take_follows_the_audio(qtbot, tmp_path, monkeypatch, rig, demo):
    """Esc (Cancel) is offered while the opened take's transcript aligns and stops it: the first take
    then follows the audio and the transcript is kept unused, saying why; a panel alignment cancelled the
    same way adds no undo step."""
    pytest.importorskip("vispy")
    from _gui_support import close_window, open_demo_take
    from diface_editor.engine.align_process import shared

    script = "zebra crossing " * 60  # many decodes before it is refused: time to cancel it
    w, applied = open_demo_take(qtbot, rig, monkeypatch, tmp_path, transcript=script)
    try:
        cancel = w.actions_by_name["cancel"]
        qtbot.waitUntil(lambda: shared()._busy, timeout=30_000)
        assert w.aligning_on_open and cancel.isEnabled()
        cancel.trigger()
        qtbot.waitUntil(lambda: bool(applied), timeout=120_000)  # the first take, from the audio
        tr = w.doc.transcript  # not used, and says why; its text waits in the panel for Align
        assert not tr.aligned and "cancelled" in tr.error and w.panel.transcript.toPlainText() == script.strip()
        assert not w.alignment_running()
        qtbot.waitUntil(lambda: not w.bridge.busy, timeout=30_000)
        steps = w.undo_stack.count()
        w.align_transcript(script)
        qtbot.waitUntil(lambda: shared()._busy, timeout=30_000)
        assert cancel.isEnabled()
        cancel.trigger()
        qtbot.waitUntil(lambda: not w.alignment_running(), timeout=30_000)
        assert w.undo_stack.count() == steps and w.doc.transcript is tr
        assert "cancelled" in w.statusBar().currentMessage()
        assert not cancel.isEnabled()
        assert not _visible_message_boxes()
    finally:
        close_window(w)


def test_cancel_stops_a_lip_sync_from_a_transcript(qtbot, tmp_path, monkeypatch, rig, demo):
    """Esc stops Lip Sync from Transcript while it aligns: nothing is applied, the editor is free again."""
    pytest.importorskip("vispy")
    from _gui_support import close_window, open_demo_take
    from diface_editor.engine.align_process import shared

    w, applied = open_demo_take(qtbot, rig, monkeypatch, tmp_path)
    try:
        qtbot.waitUntil(lambda: bool(applied) and not w.bridge.busy, timeout=120_000)
        steps, face = w.undo_stack.count(), w.doc.animation.face.copy()
        messages = []
        w.bridge.status.connect(messages.append)
        assert w.bridge.teacher_lipsync("zebra crossing " * 60)
        qtbot.waitUntil(lambda: shared()._busy, timeout=30_000)
        cancel = w.actions_by_name["cancel"]
        assert cancel.isEnabled()
        cancel.trigger()
        qtbot.waitUntil(lambda: not w.bridge.busy, timeout=30_000)
        assert messages[-1].startswith("Lip sync cancelled")
        assert w.undo_stack.count() == steps and np.array_equal(w.doc.animation.face, face)
        assert not cancel.isEnabled() and w.actions_by_name["generate"].isEnabled()
        assert not _visible_message_boxes()
    finally:
        close_window(w)


def _spawned_children(pid: int) -> list[int]:
    """Pids of the multiprocessing children of ``pid`` that run the alignment (Linux /proc)."""
    from pathlib import Path

    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (d / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"spawn_main" in cmd:
            out.append(int(d.name))
    return out


def test_ctrl_c_stops_a_long_alignment_on_the_command_line(tmp_path, demo):
    """`diface generate --text-file` on a long take aligns in the child: an interrupt ends the command at
    once, child included, with no traceback. (In the command's own process one slow decode holds the
    interrupt back while it runs: 123 s on a 25 s take in white noise, data/real_eval_noise; this
    script's decodes are short, so it only shows that the child's way works.)"""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    if not Path("/proc").is_dir():
        pytest.skip("needs /proc to find the child")
    import soundfile as sf

    clip, _text = demo
    wav, txt = tmp_path / "long.wav", tmp_path / "script.txt"
    sf.write(wav, np.tile(np.asarray(clip.samples, np.float32), 6), clip.sample_rate)  # 56 s
    txt.write_text("zebra crossing " * 60, encoding="utf-8")
    env = {**os.environ, "DIFACE_DATA_DIR": str(tmp_path / "data"), "DIFACE_CONFIG_DIR": str(tmp_path / "cfg")}
    p = subprocess.Popen([sys.executable, "-m", "diface_editor", "generate", str(wav), "--text-file", str(txt),
                          "-o", str(tmp_path / "out.npz")], stderr=subprocess.PIPE, text=True, env=env,
                         # as from a terminal: a test run started in the background inherits SIGINT ignored
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        children = []
        while not children and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
            children = _spawned_children(p.pid)
        assert children, "the alignment did not start in a child process"
        time.sleep(1.0)  # into the decodes
        p.send_signal(signal.SIGINT)
        _out, err = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130 and "interrupted" in err
    assert "Traceback" not in err and not (tmp_path / "out.npz").exists()
    time.sleep(0.5)
    assert not [c for c in children if Path(f"/proc/{c}").exists() and b"spawn_main" in
                (Path(f"/proc/{c}") / "cmdline").read_bytes()]
