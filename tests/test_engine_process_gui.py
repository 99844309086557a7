"""The editor with its engine in a child process (the default): the model loads in the child as soon
as the document has audio and a model, generation works, a killed child is an error the window
survives (the next Generate starts a new one), a broken bundle gives the same sentence as the
in-process engine, and closing the window ends the child."""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("vispy")

from PySide6 import QtWidgets  # noqa: E402

from _gui_support import make_rig, tiny_bundle, write_speech  # noqa: E402

pytestmark = pytest.mark.gui
WAIT = 60_000


@pytest.fixture(scope="module")
def rig():
    return make_rig()


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    return write_speech(tmp_path_factory.mktemp("audio") / "speech.wav", 2.0)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    return tiny_bundle(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture
def make_window(qtbot, tmp_path, monkeypatch, rig):
    monkeypatch.setenv("DIFACE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("DIFACE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DIFACE_NO_AUDIO", "1")
    from diface_editor.gui.main_window import MainWindow
    from diface_editor.gui.settings import EditorSettings

    windows = []

    def make():
        w = MainWindow(rig=rig, settings=EditorSettings(), auto_generate=False)
        w.ask_to_save = False
        windows.append(w)
        return w

    yield make
    for w in windows:
        for tl in QtWidgets.QApplication.topLevelWidgets():
            if isinstance(tl, QtWidgets.QMessageBox):
                tl.close()
        if not w._closing:  # closed by the test already
            w.close()
        QtWidgets.QApplication.processEvents()
        alive = [t.name for t in threading.enumerate() if t.name.startswith("diface-") and t.is_alive()]
        assert not alive, f"threads left running: {alive}"
        w.deleteLater()


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
