"""The editor with its engine in a child process (the default): the model loads in the child as soon
as the document has audio and a model, generation works, a killed child is an error the window
survives (the next Generate starts a new one), a broken bundle gives the same sentence as the
in-process engine, and closing the window ends the child."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("vispy")


from _gui_support import close_window, editor_env, new_window  # noqa: E402

pytestmark = pytest.mark.gui
WAIT = 60_000
SPEECH_SECONDS = 2.0  # the conftest fixture `speech`


@pytest.fixture
def make_window(qtbot, tmp_path, monkeypatch, rig):
    editor_env(monkeypatch, tmp_path)
    windows = []

    def make():
        w = new_window(rig)
        windows.append(w)
        return w

    yield make
    for w in windows:
        close_window(w, close=not w._closing)  # closed by the test already


def _gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def test_the_model_loads_in_a_child_a_killed_child_is_an_error_and_close_ends_it(make_window, speech, bundle,
                                                                                     qtbot):
    from diface_editor.engine.process import ProcessEngine

    w = make_window()
    assert w.open_path(speech)
    w.doc.set_model_id(str(bundle))
    qtbot.waitUntil(lambda: w.bridge.engine is not None and w.bridge.engine.loaded, timeout=WAIT)
    eng = w.bridge.engine
    assert isinstance(eng, ProcessEngine) and eng.pid != os.getpid() and not w.bridge.busy  # loading is silent
    pid = eng.pid
    with qtbot.waitSignal(w.bridge.result_applied, timeout=WAIT):
        w.generate()
    assert w.bridge.engine is eng and abs(w.doc.animation.head).max() > 0 and eng.pid == pid

    # the child dies in the middle of a job: an error, the window goes on, the next Generate restarts it
    w.doc.set_sampler(replace(w.doc.sampler, sampler="ddpm"))  # every training step: slow enough to kill
    with qtbot.waitSignal(w.bridge.failed, timeout=WAIT) as failed:
        w.generate()
        qtbot.waitUntil(lambda: w.bridge.busy, timeout=WAIT)
        os.kill(pid, 9)
    assert "engine process stopped unexpectedly" in failed.args[1] and not w.bridge.busy
    assert w.last_error and "SIGKILL" in w.last_error
    w.doc.set_sampler(replace(w.doc.sampler, sampler="dpmpp"))
    with qtbot.waitSignal(w.bridge.result_applied, timeout=WAIT):
        w.generate()
    new_pid = w.bridge.engine.pid
    assert new_pid not in (None, pid) and _gone(pid)

    w.close()
    assert _gone(new_pid) and w.bridge.engine is None


def test_a_broken_bundle_gives_the_in_process_engines_sentence(make_window, speech, bundle, qtbot, tmp_path,
                                                                 monkeypatch):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((bundle / "config.json").read_text())  # no weights
    messages = {}
    for mode in ("thread", "process"):
        monkeypatch.setenv("DIFACE_ENGINE", mode)
        w = make_window()
        w.open_path(speech)
        w.doc.set_model_id(str(broken))
        with qtbot.waitSignal(w.bridge.failed, timeout=WAIT) as failed:
            w.generate()
        messages[mode] = (failed.args, w.last_error)
        assert not w.bridge.busy
    assert messages["process"] == messages["thread"]
    assert messages["process"][0][0] == 0 and str(broken) in messages["process"][1]
