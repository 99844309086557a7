"""Alignment runs in a child process: the same result as in the caller's process, a cancelled call
raises and the next call works, the calling process stays live during a long decode."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from diface_editor.core.audio import AudioClip
from diface_editor.core.paths import resource


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
