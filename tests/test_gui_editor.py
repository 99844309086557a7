"""The editor window end to end (pytest-qt under pytest-xvfb): open, generate, play, seek, keyframes,
undo, save/reopen, export, errors, --screenshot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("vispy")

from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

from _gui_support import close_window, editor_env, new_window  # noqa: E402
from diface_editor.core.project import load_project  # noqa: E402

pytestmark = pytest.mark.gui
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, rig):
    """The main window, created hidden (no GL set-up cost) and never blocking on dialogs; on teardown
    it must close cleanly: no visible top-level widget left and no engine or loader thread alive."""
    editor_env(monkeypatch, tmp_path)
    from diface_editor.gui.theme import apply_dark_theme

    apply_dark_theme(QtWidgets.QApplication.instance())
    w = new_window(rig, engine_kwargs={"preview_interval": 0.0})
    w.resize(1200, 800)
    yield w
    close_window(w, no_visible_windows=True)


@pytest.fixture
def shown(window, qtbot):
    """The window shown and active (for real mouse and keyboard events and GL drawing)."""
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is window, timeout=5000)
    return window


def _open_model(w, bundle):
    w.doc.set_model_id(str(bundle))


def test_open_audio_builds_document_and_views(window, speech):
    assert window.open_path(speech)
    doc = window.doc
    assert doc.audio is not None and doc.n_frames == 90 and doc.audio_path == speech
    assert window.windowTitle().startswith("speech.wav")
    x, y = window.timeline.waveform.getData()
    assert x is not None and len(x) > 100 and float(np.max(y)) > 0.1  # peaks drawn for the visible range
    assert set(window.timeline.visible_curves) >= {"jawOpen"}
    assert window.viewport.mode in ("offscreen", "widget")
    assert str(speech.resolve()) in window.settings.recent_files


def test_new_takes_start_from_the_models_recommended_guidance(window, speech, tmp_path):
    """Opening audio takes the model's recommended sampler and guidance (the shipped model: 1.5);
    a saved project keeps its own; a model folder without a recommendation gives the defaults."""
    import json

    from diface_editor.core.document import SamplerSettings
    from diface_editor.engine.loading import recommended_sampler

    rec = json.loads((Path(__file__).resolve().parents[1] / "models/default/config.json").read_text())["sampling"]
    assert window.open_path(speech, generate=False)
    assert window.doc.sampler.guidance == float(rec["guidance"]) and window.doc.sampler.sampler == rec["sampler"]
    assert window.panel.guidance.value() == pytest.approx(float(rec["guidance"]))
    window.doc.set_sampler(guidance=2.25)
    out = tmp_path / "take.diface"
    assert window.save_to(out)
    assert window.open_path(out, generate=False)
    assert window.doc.sampler.guidance == 2.25
    assert recommended_sampler(tmp_path / "no-such-model") == SamplerSettings()


def test_generate_applies_result_as_one_undoable_step(window, speech, bundle, qtbot):
    window.open_path(speech)
    _open_model(window, bundle)
    before = window.doc.animation.copy()
    v0 = window.doc.version
    with qtbot.waitSignal(window.bridge.result_applied, timeout=60_000):
        window.actions_by_name["generate"].trigger()
        assert window.bridge.busy and not window.progress.isHidden()  # busy at once; the GUI thread is free
    doc = window.doc
    assert doc.version > v0 and not doc.animation.equals(before)
    assert np.abs(doc.animation.head).max() > 0 and not window.bridge.busy
    generated = doc.animation.copy()
    window.undo_action.trigger()
    assert doc.animation.equals(before)
    window.redo_action.trigger()
    assert doc.animation.equals(generated)
    # a second run reuses the loaded engine; an edit made meanwhile makes its result stale
    with qtbot.waitSignal(window.bridge.result_discarded, timeout=60_000):
        window.generate()
        window.add_keyframe_at_playhead()
    assert doc.animation.equals(generated)


def test_generated_faces_blink_unless_the_panel_says_no(window, speech, bundle, qtbot):
    from diface_editor.core.blinks import auto_blinks

    window.open_path(speech)
    _open_model(window, bundle)
    doc = window.doc
    assert window.panel.blinks.isChecked() and doc.sampler.blinks  # on by default
    seed = next(s for s in range(100) if auto_blinks(doc.n_frames, doc.fps, s)[:, 0].max() > 0.8)
    doc.set_sampler(blink_seed=seed)  # a seed with a blink inside this short clip
    with qtbot.waitSignal(window.bridge.result_applied, timeout=60_000):
        window.generate()
    curves = auto_blinks(doc.n_frames, doc.fps, seed)
    i = list(doc.animation.channel_names).index("eyeBlinkLeft")
    assert np.all(doc.animation.face[:, i] >= curves[:, 0] - 1e-6)
    window.panel.blinks.setChecked(False)
    assert not doc.sampler.blinks
    from diface_editor.gui.engine_bridge import blink_seed
    assert blink_seed(doc.sampler) is None


def test_the_status_bar_says_how_long_a_job_took_in_readable_units():
    from diface_editor.gui.engine_bridge import duration_text

    assert duration_text(2.345) == "2.3 s" and duration_text(0.1) == "0.1 s"
    assert duration_text(0.035) == "35 ms" and duration_text(0.0004) == "0 ms"


def test_generate_without_model_says_so(window, speech, tmp_path):
    window.open_path(speech)
    before = window.doc.animation.copy()
    window.doc.set_model_id(str(tmp_path / "no-such-model"))
    window.generate()
    assert window.last_error and "no motion model" in window.last_error.lower()
    assert str(tmp_path / "no-such-model") in window.last_error
    assert window.doc.animation.equals(before) and not window.bridge.busy
    assert window.actions_by_name["generate"].isEnabled()  # nothing stuck: the user can try again


def test_play_with_silent_clock_moves_playhead_and_mesh(shown, speech, qtbot):
    window = shown
    window.open_path(speech)
    assert not window.playback.has_sound
    v = window.viewport
    v.set_time(0.0)
    verts0 = v.last_vertices.copy()
    window.doc.write_frames(0, face=np.tile(np.linspace(0, 1, 52, dtype=np.float32), (window.doc.n_frames, 1)))
    qtbot.keyClick(window, QtCore.Qt.Key_Space)
    assert window.playback.playing
    qtbot.waitUntil(lambda: window.playback.time > 0.3, timeout=5000)
    qtbot.keyClick(window, QtCore.Qt.Key_Space)
    assert not window.playback.playing
    t = window.playback.time
    assert abs(window.timeline.playheads[0].value() - t) < 1e-6
    assert v.current_frame() == int(np.floor(t * 30 + 1e-6))
    assert not np.array_equal(v.last_vertices, verts0)
    img = v.render_image()
    assert img.shape[2] == 4 and img[..., :3].std() > 5  # a shaded head, drawn by the render back-end
    qtbot.keyClick(window, QtCore.Qt.Key_Home)
    assert window.playback.time == 0.0


def test_click_in_timeline_seeks_and_drag_selects(shown, speech, qtbot):
    window = shown
    window.open_path(speech)
    tl = window.timeline
    QtWidgets.QApplication.processEvents()

    def px(t):
        scene = tl.head_vb.mapViewToScene(QtCore.QPointF(t, 0))
        return tl.glw.mapFromScene(scene)

    qtbot.mouseClick(tl.glw.viewport(), QtCore.Qt.LeftButton, pos=px(1.5))
    assert abs(window.playback.time - 1.5) < 0.05
    assert window.viewport.current_frame() in (44, 45, 46)
    vp = tl.glw.viewport()
    a, b = px(0.5), px(1.0)
    qtbot.mousePress(vp, QtCore.Qt.LeftButton, pos=a)
    for i in range(1, 6):
        p = QtCore.QPoint(int(a.x() + (b.x() - a.x()) * i / 5), a.y())
        ev = QtGui.QMouseEvent(QtCore.QEvent.MouseMove, QtCore.QPointF(p), QtCore.QPointF(vp.mapToGlobal(p)),
                               QtCore.Qt.NoButton, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier)
        QtWidgets.QApplication.sendEvent(vp, ev)
    qtbot.mouseRelease(vp, QtCore.Qt.LeftButton, pos=b)
    sel = window.doc.selection
    assert sel is not None and abs(sel[0] - 15) <= 1 and abs(sel[1] - 30) <= 1
    assert window.actions_by_name["resample"].isEnabled()


def test_keyframes_shortcuts_and_undo(shown, speech, qtbot):
    window = shown
    window.open_path(speech)
    window.playback.seek(1.0)
    qtbot.keyClick(window, QtCore.Qt.Key_I)
    assert {(k.frame, k.part) for k in window.doc.keyframes} == {(30, "head"), (30, "face")}
    assert len(window.timeline.key_lane.data) == 2
    window.timeline.keyframe_drag_finished.emit(window.doc.keyframes.items[0], 40)
    assert sorted(k.frame for k in window.doc.keyframes) == [30, 40]
    qtbot.keyClick(window, QtCore.Qt.Key_Z, QtCore.Qt.ControlModifier)
    assert [k.frame for k in window.doc.keyframes] == [30, 30]
    qtbot.keyClick(window, QtCore.Qt.Key_Delete)
    assert len(window.doc.keyframes) == 0
    qtbot.keyClick(window, QtCore.Qt.Key_Z, QtCore.Qt.ControlModifier)
    qtbot.keyClick(window, QtCore.Qt.Key_Z, QtCore.Qt.ControlModifier | QtCore.Qt.ShiftModifier)
    assert len(window.doc.keyframes) == 0
    assert window.is_modified()


def test_save_and_reopen_is_identical(window, speech, tmp_path, qtbot):
    window.open_path(speech)
    doc = window.doc
    rng = np.random.default_rng(3)
    doc.write_frames(0, face=rng.random((doc.n_frames, 52), dtype=np.float32),
                     head=(0.1 * rng.standard_normal((doc.n_frames, 3))).astype(np.float32))
    window.playback.seek(0.5)
    window.add_keyframe_at_playhead()
    doc.set_selection((12, 40))
    doc.set_sampler(steps=7, seed=11)
    path = tmp_path / "take.diface"
    assert window.save_to(path)
    assert not window.is_modified() and not window.isWindowModified()
    saved = (doc.animation.copy(), list(doc.keyframes), doc.selection, doc.sampler)
    assert window.open_path(path)
    back = window.doc
    assert back is not doc and back.animation.equals(saved[0])
    assert list(back.keyframes) == saved[1] and back.selection == saved[2] and back.sampler == saved[3]
    assert window.panel.seed.value() == 11
    assert back.audio is not None and back.audio.sha256 == doc.audio.sha256


def test_autosave_writes_a_copy_not_the_project(window, speech, tmp_path):
    window.open_path(speech)
    assert window.autosave_now() is None  # nothing changed
    window.add_keyframe_at_playhead()
    p = window.autosave_now()
    assert p is not None and p.is_file() and str(p).startswith(str(tmp_path / "data"))
    assert window.doc.project_path is None and window.is_modified()
    assert len(load_project(p).keyframes) == 2


def test_corrupt_project_shows_error_and_window_stays_usable(window, speech, tmp_path):
    window.open_path(speech)
    doc = window.doc
    bad = tmp_path / "broken.diface"
    bad.write_bytes(b"PK\x03\x04 definitely not a complete archive")
    assert not window.open_path(bad)
    assert window.doc is doc
    assert "not a diface project" in window.last_error or "damaged" in window.last_error
    boxes = [tl for tl in QtWidgets.QApplication.topLevelWidgets() if isinstance(tl, QtWidgets.QMessageBox)
             and tl.isVisible()]
    assert boxes and boxes[0].icon() == QtWidgets.QMessageBox.Critical
    assert not window.open_path(tmp_path / "notes.txt")
    window.add_keyframe_at_playhead()  # still editable
    assert len(window.doc.keyframes) == 2


def test_export_dialog_writes_every_listed_format(window, speech, tmp_path):
    from diface_editor.core.formats import load_animation
    from diface_editor.gui.export_dialog import ExportDialog

    window.open_path(speech)
    doc = window.doc
    doc.write_frames(0, face=np.full((doc.n_frames, 52), 0.25, np.float32))
    dlg = ExportDialog(doc.animation.copy(), "take", tmp_path, rig=window.viewport.rig, audio=doc.audio, parent=window)
    names = [dlg.format_box.itemData(i) for i in range(dlg.format_box.count())]
    assert {"native", "livelink", "3diface"} <= set(names)
    for name in names:
        if name == "mp4":  # a rendered video (test_gui_animator)
            continue
        dlg.set_format(name)
        dlg.accept()
        assert dlg.written is not None and dlg.written.is_file() and dlg.written.stat().st_size > 0, name
    dlg.set_format("native")
    dlg.accept()
    assert load_animation(dlg.written).equals(doc.animation)
    dlg.path_edit.setText(str(tmp_path / "no" / "such" / "folder" / "x.csv"))
    dlg.set_format("livelink")
    dlg.accept()
    assert dlg.error_box is not None and dlg.error_box.isVisible()
    dlg.error_box.close()
    dlg.close()


def test_drop_audio_file_opens_it(window, speech, qtbot):
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(speech))])
    ev = QtGui.QDropEvent(QtCore.QPointF(100, 100), QtCore.Qt.CopyAction, mime, QtCore.Qt.LeftButton,
                          QtCore.Qt.NoModifier)
    window.dropEvent(ev)
    qtbot.waitUntil(lambda: window.doc.audio is not None, timeout=5000)
    assert window.doc.audio_path == speech


def test_screenshot_command_writes_a_picture(tmp_path, speech):
    out = tmp_path / "shot.png"
    env = dict(os.environ, DIFACE_CONFIG_DIR=str(tmp_path / "c"), DIFACE_DATA_DIR=str(tmp_path / "d"),
               DIFACE_NO_AUDIO="1", QT_QPA_PLATFORM="xcb")
    r = subprocess.run([sys.executable, "-m", "diface_editor", str(speech), "--screenshot", str(out), "--at", "1.0",
                        "--size", "1200x750", "--no-generate"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    img = QtGui.QImage(str(out))
    assert (img.width(), img.height()) == (1200, 750)
    ptr = img.convertToFormat(QtGui.QImage.Format_RGB888)
    arr = np.frombuffer(ptr.constBits(), np.uint8).reshape(750, ptr.bytesPerLine())[:, :1200 * 3].reshape(750, 1200, 3)
    assert arr.std() > 10  # not blank
    vp = arr[100:350, 400:800].reshape(-1, 3)
    assert len(np.unique(vp // 16, axis=0)) > 8  # the viewport shows a shaded head, not a flat fill


def test_screenshot_waits_for_the_transcript_beside_the_audio_and_the_first_take(qapp, rig, tmp_path):
    """``--screenshot`` on audio with a transcript beside it (the shipped demo, the README's picture):
    the picture shows the aligned words and the take. It had shown an empty timeline with "Aligning
    demo.txt..." since the alignment on opening moved off the GUI thread."""
    pytest.importorskip("pocketsphinx")
    import argparse
    import shutil

    from _gui_support import close_window, editor_env, new_window
    from diface_editor.core.paths import resource
    from diface_editor.gui.app import _screenshot

    wav = tmp_path / "line.wav"
    shutil.copy(resource("demo", "demo.wav"), wav)
    shutil.copy(resource("demo", "demo.txt"), wav.with_suffix(".txt"))
    with pytest.MonkeyPatch.context() as mp:
        editor_env(mp, tmp_path)
        w = new_window(rig)
        w.auto_generate = True
        try:
            args = argparse.Namespace(path=str(wav), screenshot=str(tmp_path / "shot.png"), at=None, timeout=180.0)
            assert _screenshot(qapp, w, args, (1200, 750)) == 0
            assert (tmp_path / "shot.png").is_file()
            assert w.doc.transcript is not None and w.doc.transcript.aligned
            assert w.doc.animation is not None and w.doc.animation.face.any()
        finally:
            close_window(w)


def test_lipsync_from_transcript_without_a_model(window, tmp_path, qtbot):
    import shutil as _sh

    from diface_editor.gui.engine_bridge import teacher_available

    if not teacher_available() or _sh.which("espeak-ng") is None:
        pytest.skip("needs diface_editor.synth and espeak-ng")
    pytest.importorskip("pocketsphinx")
    wav = tmp_path / "hello.wav"
    text = "Hello there, my name is Pat and I like apples."
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
    wav.with_suffix(".txt").write_text(text)
    window.settings.visible_curves = ["jawOpen"]
    with qtbot.waitSignal(window.bridge.result_applied, timeout=60_000):
        window.open_path(wav, generate=False)
        window.doc.set_model_id(str(tmp_path / "no-model"))
        window.generate()  # no model: says so and points to the transcript path
        assert "transcript" in window.last_error.lower()
        window.lipsync_from_transcript()  # uses hello.txt beside the audio
    anim = window.doc.animation
    assert anim.channel("jawOpen").max() > 0.1 and window.undo_stack.count() == 1
    window.undo_action.trigger()
    assert not window.doc.animation.face.any()


def test_viewport_orbit_zoom_and_reset(shown, speech, qtbot):
    from PySide6.QtTest import QTest

    window = shown
    window.open_path(speech)
    v = window.viewport
    vp = v.display
    img0 = v.render_image()
    c = vp.rect().center()
    QTest.mousePress(vp, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier, c)
    for i in range(1, 8):
        QTest.mouseMove(vp, c + QtCore.QPoint(15 * i, 2 * i))
        qtbot.wait(15)
    QTest.mouseRelease(vp, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier, c + QtCore.QPoint(105, 14))
    img1 = v.render_image()
    assert np.abs(img1.astype(int) - img0.astype(int)).mean() > 0.5  # orbited
    ev = QtGui.QWheelEvent(QtCore.QPointF(c), QtCore.QPointF(vp.mapToGlobal(c)), QtCore.QPoint(0, 0),
                           QtCore.QPoint(0, 240), QtCore.Qt.NoButton, QtCore.Qt.NoModifier, QtCore.Qt.NoScrollPhase,
                           False)
    QtWidgets.QApplication.sendEvent(vp, ev)
    img2 = v.render_image()
    assert np.abs(img2.astype(int) - img1.astype(int)).mean() > 0.5  # zoomed
    window.actions_by_name["reset_camera"].trigger()
    assert np.array_equal(v.render_image(), img0)


def _grid_obj(path: Path, n: int = 10) -> np.ndarray:
    """A flat n x n vertex grid (20 cm square) as a Wavefront .obj; returns its (V, 3) vertices."""
    xs, ys = np.meshgrid(np.linspace(-0.1, 0.1, n), np.linspace(-0.1, 0.1, n))
    verts = np.stack([xs.ravel(), ys.ravel(), 0.02 * np.sin(6 * xs.ravel())], 1).astype(np.float32)
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in verts]
    for i in range(n - 1):
        for j in range(n - 1):
            a = i * n + j + 1  # .obj indices start at 1
            lines += [f"f {a} {a + 1} {a + n}", f"f {a + 1} {a + n + 1} {a + n}"]
    path.write_text("\n".join(lines) + "\n")
    return verts


def test_vertex_takes_are_shown_on_a_chosen_head_mesh(shown, tmp_path, qtbot):
    from diface_editor.core.animation import Animation
    from diface_editor.core.document import Document

    w = shown
    obj = tmp_path / "subject.obj"
    verts = _grid_obj(obj)
    rng = np.random.default_rng(0)
    offsets = (0.005 * rng.standard_normal((20, verts.size))).astype(np.float32)
    take = Animation(30.0, offsets, np.zeros((20, 3), np.float32), channel_names=(), space="vertex")
    w.set_document(Document(take))
    assert w.viewport.message.text()  # the blendshape head cannot show vertex offsets: it says so
    assert w.use_head_mesh(obj)
    w.viewport.set_time(5 / 30)
    assert not w.viewport.message.text()
    np.testing.assert_allclose(w.viewport.last_vertices, verts + offsets[5].reshape(-1, 3), atol=1e-6)
    w.viewport.draw_now()
    img = w.viewport.render_image()
    assert img.shape[2] == 4 and img[..., :3].std() > 3  # something was drawn, not an empty background
    assert w.doc.metadata["head_mesh"] == str(obj)  # saved with the project, shown again on opening it
    assert w.save_to(tmp_path / "take.diface") and w.use_head_mesh(None) and w.open_path(tmp_path / "take.diface")
    assert w.viewport.rig.n_vertices == len(verts) and not w.viewport.message.text()
    # a mesh of another topology, and a template without triangles, are clear errors; nothing changes
    _grid_obj(tmp_path / "other.obj", n=6)
    assert w.use_head_mesh(tmp_path / "other.obj")
    assert "vertices" in w.viewport.message.text()
    np.save(tmp_path / "points.npy", verts)
    assert not w.use_head_mesh(tmp_path / "points.npy") and "no triangles" in w.last_error
    assert w.use_head_mesh(None) and "head_mesh" not in w.doc.metadata
