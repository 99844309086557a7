"""Interactive diffusion editing in the editor (pytest-qt under pytest-xvfb, a tiny real model):
dragging a head keyframe's value on its curve, the re-solve around it, undo, rapid edits, stale
results, resample, variants, pose copy/paste and face keyframe groups/sliders."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("vispy")

from PySide6 import QtCore  # noqa: E402

from _gui_support import close_window, editor_env, new_window  # noqa: E402
from diface_editor.core.commands import SetKeyframes  # noqa: E402
from diface_editor.core.keyframes import Keyframe, KeyframeSet  # noqa: E402
from diface_editor.core.rotations import axis_angle_to_ypr  # noqa: E402
from diface_editor.gui.timeline.synthetic import SyntheticDrag  # noqa: E402

pytestmark = pytest.mark.gui
RADIUS = 8
WAIT = 60_000


@pytest.fixture(scope="module")
def window(qapp, tmp_path_factory, rig, speech, bundle):
    """One editor window (hidden) for the module, on 3 s of speech (90 frames) with the tiny model and
    a generated animation (loading and generating once keeps the module fast). Tests use keyframes at
    frames far enough apart (> 2 x RADIUS) not to disturb each other."""
    tmp = tmp_path_factory.mktemp("editing")
    with pytest.MonkeyPatch.context() as mp:
        editor_env(mp, tmp)
        w = new_window(rig, engine_kwargs={"preview_interval": 0.0})
        w.resize(1200, 800)
        assert w.open_path(speech)
        w.doc.set_model_id(str(bundle))
        w.panel.influence.setValue(RADIUS)
        w.panel.interactive_steps.setValue(2)
        applied = []
        w.bridge.result_applied.connect(applied.append)
        w.generate()
        end = time.monotonic() + WAIT / 1000
        while not applied and time.monotonic() < end:
            qapp.processEvents()
            time.sleep(0.005)
        assert applied, "the first generation did not finish"
        yield w
        close_window(w)


@pytest.fixture(autouse=True)
def _fresh(window, qtbot):
    """Each test starts idle, with re-solving on, no selection and no error."""
    qtbot.waitUntil(lambda: not window.bridge.busy, timeout=WAIT)
    window.panel.auto_solve.setChecked(True)
    window.doc.set_selection(None)
    window.last_error = None
    yield


def _yaw_deg(anim, frame: int) -> float:
    return float(np.degrees(axis_angle_to_ypr(anim.head[frame].astype(np.float64)[None])[0, 0]))


def _add_head_key(w, qtbot, frame: int) -> Keyframe:
    with qtbot.waitSignal(w.bridge.result_applied, timeout=WAIT):
        w._on_add_keyframe_requested(frame, "head")
    (key,) = [k for k in w.doc.keyframes if k.frame == frame and k.part == "head"]
    return key


def _outside_equal(a, b, lo: int, hi: int) -> bool:
    """Frames outside ``lo..hi-1`` bit-identical."""
    out = np.ones(a.n_frames, bool)
    out[lo:hi] = False
    return (np.array_equal(a.face[out], b.face[out]) and np.array_equal(a.head[out], b.head[out]))


def test_dragging_a_head_keyframe_solves_its_window_and_undo_restores(window, qtbot):
    w, f = window, 45
    key = _add_head_key(w, qtbot, f)
    before = w.doc.animation.copy()
    n_undo = w.undo_stack.count()
    pins = w.timeline.head_pins
    x, y = pins.pin_pos(key, 0)
    assert abs(y - _yaw_deg(before, f)) < 1e-3
    target = y + 12.0
    # the drag: press near the pin (the offset is kept), move, release
    grab = (x, y - 0.2)
    ev = SyntheticDrag(grab, grab, start=True)
    pins.mouseDragEvent(ev)
    assert ev.accepted
    ev = SyntheticDrag(grab, (x, target - 0.2 - 6.0))
    pins.mouseDragEvent(ev)
    shown = pins.getData()[1]
    assert np.isclose(shown[pins._drag[0]], target - 6.0) and pins._drag[2] == 0  # live visual on the yaw pin
    assert w.doc.animation.equals(before) and w.undo_stack.count() == n_undo  # nothing committed while dragging
    with qtbot.waitSignal(w.bridge.result_applied, timeout=WAIT):
        pins.mouseDragEvent(SyntheticDrag(grab, (x, target - 0.2), finish=True))
    anim = w.doc.animation
    assert abs(_yaw_deg(anim, f) - target) < 0.01  # the dragged value is pinned in the solved animation
    assert not anim.equals(before)  # the window around it was re-solved
    assert _outside_equal(anim, before, f - RADIUS, f + RADIUS + 1)  # nothing outside the influence window
    assert w.undo_stack.count() == n_undo + 2  # the keyframe change, then its solve
    w.undo_action.trigger()  # the solve
    assert w.doc.animation.equals(before)
    w.undo_action.trigger()  # the keyframe value
    assert w.doc.animation.equals(before) and w.doc.keyframes.at(f) == [key]
    w.redo_action.trigger()
    w.redo_action.trigger()
    assert abs(_yaw_deg(w.doc.animation, f) - target) < 0.01


def test_a_drag_result_replaces_the_shown_pose_without_a_picture_of_the_old_one(window, qtbot):
    """With the playhead on the dragged keyframe, the viewport goes from the old pose (and any live
    preview) straight to the solved pose: the old pose is never posted for drawing again once the
    drag is released (a stale picture costs a render before the result's)."""
    w, f = window, 70
    _clear_keys(w)
    key = _add_head_key(w, qtbot, f)
    w.playback.seek(f / w.doc.fps)
    qtbot.wait(50)
    vp = w.viewport
    old_pose = vp.rig.frame_vertices(w.doc.animation, f)
    posted = []
    show = vp.backend.show
    vp.backend.show = lambda verts: (posted.append(np.array(verts)), show(verts))
    try:
        pins = w.timeline.head_pins
        x, y = pins.pin_pos(key, 0)
        pins.mouseDragEvent(SyntheticDrag((x, y), (x, y), start=True))
        pins.mouseDragEvent(SyntheticDrag((x, y), (x, y + 5.0)))
        posted.clear()  # from the release on
        with qtbot.waitSignal(w.bridge.result_applied, timeout=WAIT):
            pins.mouseDragEvent(SyntheticDrag((x, y), (x, y + 10.0), finish=True))
        qtbot.wait(50)
    finally:
        vp.backend.show = show
    solved_pose = vp.rig.frame_vertices(w.doc.animation, f)
    assert abs(_yaw_deg(w.doc.animation, f) - (y + 10.0)) < 0.01
    assert posted and np.array_equal(posted[-1], solved_pose)  # the result is what stays on screen
    assert not any(np.array_equal(v, old_pose) for v in posted)  # no stale picture of the old pose
    # the released pose is the result's at that frame (a head key re-solves the head, keeps its key
    # exactly): drawn once, when released; the result needs no second picture
    assert sum(np.array_equal(v, solved_pose) for v in posted) == 1


def test_the_viewport_follows_a_dragged_pin_at_its_keyframe(window, qtbot):
    """Dragging a head pin moves the head in the viewport at once (the playhead goes to the key, as
    when a key is clicked): the pose shown is the document's with the dragged angle, nothing is
    committed until the release, and the solved result that replaces it has the same head there."""
    w, f = window, 12
    _clear_keys(w)
    key = _add_head_key(w, qtbot, f)
    w.playback.seek(60 / w.doc.fps)
    qtbot.wait(20)
    before, n_undo = w.doc.animation.copy(), w.undo_stack.count()
    pins, vp = w.timeline.head_pins, w.viewport
    x, y = pins.pin_pos(key, 0)
    pins.mouseDragEvent(SyntheticDrag((x, y), (x, y), start=True))
    assert vp.current_frame() == f  # the playhead went to the dragged key
    pins.mouseDragEvent(SyntheticDrag((x, y), (x, y + 8.0)))
    shown = vp._preview
    assert shown is not None and abs(_yaw_deg(shown, f) - (y + 8.0)) < 0.01  # the head follows the pin
    assert np.array_equal(shown.face, before.face)  # only the dragged key's channels differ
    assert np.array_equal(np.delete(shown.head, f, axis=0), np.delete(before.head, f, axis=0))
    assert w.doc.animation.equals(before) and w.undo_stack.count() == n_undo  # nothing committed
    with qtbot.waitSignal(w.bridge.result_applied, timeout=WAIT):
        pins.mouseDragEvent(SyntheticDrag((x, y), (x, y + 10.0), finish=True))
    qtbot.waitUntil(lambda: vp._preview is None, timeout=WAIT)  # the result replaced the dragged pose
    assert abs(_yaw_deg(w.doc.animation, f) - (y + 10.0)) < 0.01
    # a drag released where it started commits nothing and takes its pose down
    (key,) = [k for k in w.doc.keyframes if k.frame == f and k.part == "head"]
    x, y = pins.pin_pos(key, 0)
    pins.mouseDragEvent(SyntheticDrag((x, y), (x, y), start=True))
    pins.mouseDragEvent(SyntheticDrag((x, y), (x, y + 4.0)))
    assert vp._preview is not None
    n_undo = w.undo_stack.count()
    pins.mouseDragEvent(SyntheticDrag((x, y), (x, y), finish=True))
    assert vp._preview is None and w.undo_stack.count() == n_undo


def test_a_drag_submits_its_re_solve_before_the_views_redraw(window, qtbot):
    """The keyframe change reaches the engine first; the timeline hears of it afterwards (it redraws
    while the engine solves)."""
    w, f = window, 22
    _clear_keys(w)
    key = _add_head_key(w, qtbot, f)
    order = []
    w.doc.events.keyframes.connect(lambda e: order.append("views"))
    submit = w.bridge.submit
    w.bridge.submit = lambda job: (order.append("engine"), submit(job))[1]
    try:
        x, y = w.timeline.head_pins.pin_pos(key, 0)
        with qtbot.waitSignal(w.bridge.result_applied, timeout=WAIT):
            w._on_head_value_dragged(key, 0, y + 6.0)
    finally:
        w.bridge.submit = submit
    assert order[:2] == ["engine", "views"]


def test_twenty_rapid_edits_leave_the_last_applied(window, qtbot):
    w, f = window, 30
    _add_head_key(w, qtbot, f)
    base = w.doc.animation.copy()
    for i in range(20):
        (key,) = [k for k in w.doc.keyframes if k.frame == f]
        w._on_head_value_dragged(key, 1, -10.0 + i)  # pitch
    last = 9.0
    qtbot.waitUntil(lambda: not w.bridge.busy, timeout=WAIT)
    anim = w.doc.animation
    pitch = float(np.degrees(axis_angle_to_ypr(anim.head[f].astype(np.float64)[None])[0, 1]))
    assert abs(pitch - last) < 0.01 and w.last_error is None
    assert _outside_equal(anim, base, f - RADIUS, f + RADIUS + 1)
    assert w.undo_stack.text(w.undo_stack.index() - 1).startswith("solve keyframe")


def test_a_result_for_an_older_version_is_discarded(window, qtbot):
    w = window
    key = _add_head_key(w, qtbot, 60)
    w.panel.auto_solve.setChecked(False)
    assert w.session.options.auto_solve is False
    with qtbot.waitSignal(w.bridge.result_discarded, timeout=WAIT):
        w.bridge.solve_keyframes([key])
        w.undo_stack.push_command(SetKeyframes(KeyframeSet([key.with_values((0.1, 0.0, 0.0))])))
    kept = w.doc.animation.copy()
    qtbot.wait(50)
    assert w.doc.animation.equals(kept)
    w.undo_action.trigger()  # the keyframe values were never solved: take them back for the next tests


def test_resample_changes_only_the_range(window, qtbot):
    w = window
    before = w.doc.animation.copy()
    w.doc.set_selection((20, 50))
    with qtbot.waitSignal(w.bridge.result_applied, timeout=WAIT):
        w.actions_by_name["resample"].trigger()
    anim = w.doc.animation
    assert _outside_equal(anim, before, 20, 50) and not anim.equals(before)
    w.undo_action.trigger()
    assert w.doc.animation.equals(before)


def test_a_resample_previews_in_the_viewport_and_draws_curves_once_with_the_result(window, qtbot):
    """A long job's live previews go to the viewport only; the timeline's curves keep showing the
    document until the result lands (repainting them per preview stalled the window)."""
    w = window
    shown_vp, shown_tl = [], []
    vp_set, tl_set = w.viewport.set_preview, w.timeline.set_preview
    w.viewport.set_preview = lambda a: (shown_vp.append(a), vp_set(a))
    w.timeline.set_preview = lambda a: (shown_tl.append(a), tl_set(a))
    w.doc.set_selection((10, 80))
    try:
        with qtbot.waitSignal(w.bridge.result_applied, timeout=WAIT):
            w.actions_by_name["resample"].trigger()
    finally:
        w.viewport.set_preview, w.timeline.set_preview = vp_set, tl_set
    assert any(a is not None for a in shown_vp)  # the viewport showed the sampling
    assert all(a is None for a in shown_tl)  # the curves did not
    assert w.viewport._preview is None and w.timeline.displayed_animation() is w.doc.animation
    w.undo_action.trigger()


def test_variants_preview_pick_and_undo(window, qtbot):
    w = window
    w.panel.n_variants.setValue(3)
    before = w.doc.animation.copy()
    w.doc.set_selection((30, 60))
    with qtbot.waitSignal(w.bridge.variants_ready, timeout=WAIT) as sig:
        w.actions_by_name["variants"].trigger()
    anims = sig.args[0]
    assert len(anims) == 3 and w.panel.variants.count == 3
    assert not anims[0].equals(anims[1])
    w.panel.variants.cycle(1)  # preview the second: shown, not committed
    assert w.viewport._preview is anims[1] and w.timeline.displayed_animation() is anims[1]
    assert w.doc.animation.equals(before)
    assert w.apply_variant(1)
    anim = w.doc.animation
    assert np.array_equal(anim.face[30:60], anims[1].face[30:60]) and _outside_equal(anim, before, 30, 60)
    assert w.panel.variants.count == 0 and w.viewport._preview is None
    w.undo_action.trigger()
    assert w.doc.animation.equals(before)
    # discard drops them without touching the animation
    with qtbot.waitSignal(w.bridge.variants_ready, timeout=WAIT):
        w.variants_selection()
    w.panel.variants.discard_button.click()
    assert w.panel.variants.count == 0 and w.doc.animation.equals(before) and w.session.pending_variants is None


def test_paste_pose_and_face_keyframe_sliders(window, qtbot):
    w = window
    base = w.doc.animation.copy()
    w.playback.seek(10 / w.doc.fps)
    w.actions_by_name["copy_pose"].trigger()
    w.playback.seek(70 / w.doc.fps)
    with qtbot.waitSignal(w.bridge.result_applied, timeout=WAIT):
        w.actions_by_name["paste_pose"].trigger()
    anim = w.doc.animation
    assert np.array_equal(anim.head[70], base.head[10]) and np.array_equal(anim.face[70], base.face[10])
    assert _outside_equal(anim, base, 70 - RADIUS, 70 + RADIUS + 1)

    # a face keyframe pinning only the mouth, its values set with the inspector's sliders
    kp = w.keyframes_panel
    with qtbot.waitSignal(w.bridge.result_applied, timeout=WAIT):
        w._on_add_keyframe_requested(15, "face")
    kp.select([k for k in w.doc.keyframes if k.frame == 15][0])
    with qtbot.waitSignal(w.bridge.result_applied, timeout=WAIT):
        kp.group.setCurrentIndex(kp.group.findData("mouth"))
    (key,) = [k for k in w.doc.keyframes if k.frame == 15]
    assert key.group == "mouth" and len(kp.sliders) == len(key.channels(w.doc.animation))
    before = w.doc.animation.copy()
    name = "mouthSmileLeft"
    s = kp.sliders[name]
    with qtbot.waitSignal(w.bridge.result_applied, timeout=WAIT):
        s.setSliderDown(True)
        s.setValue(900)
        s.setSliderDown(False)  # released: one edit
    anim = w.doc.animation
    j = anim.channel_index(name)
    assert abs(float(anim.face[15, j]) - 0.9) < 1e-6
    assert _outside_equal(anim, before, 15 - RADIUS, 15 + RADIUS + 1)
    w.undo_action.trigger()
    assert w.doc.animation.equals(before)


def test_dragging_a_face_keyframe_pin_on_a_blendshape_curve(window, qtbot):
    w, f, name = window, 55, "mouthFunnel"  # in every group a new face key can pin (all, mouth)
    w.timeline.set_visible_curves(["jawOpen", "mouthFunnel"])
    with qtbot.waitSignal(w.bridge.result_applied, timeout=WAIT):
        w._on_add_keyframe_requested(f, "face")
    (key,) = [k for k in w.doc.keyframes if k.frame == f and k.part == "face"]
    before = w.doc.animation.copy()
    j = before.channel_index(name)
    pins = w.timeline.face_pins
    x, y = pins.pin_pos(key, j)
    assert abs(y - float(before.face[f, j])) < 1e-6
    target = 0.85 if y < 0.5 else 0.15
    grab = (x, y + 0.01)
    ev = SyntheticDrag(grab, grab, start=True)
    pins.mouseDragEvent(ev)
    assert ev.accepted
    pins.mouseDragEvent(SyntheticDrag(grab, (x, 2.0)))  # past the top: the pin stops at 1
    assert pins.getData()[1][pins._drag[0]] == 1.0 and w.doc.animation.equals(before)
    with qtbot.waitSignal(w.bridge.result_applied, timeout=WAIT):
        pins.mouseDragEvent(SyntheticDrag(grab, (x, target + 0.01), finish=True))
    anim = w.doc.animation
    assert abs(float(anim.face[f, j]) - target) < 1e-5  # the dragged weight is pinned in the solved animation
    others = [c for c in key.channels(anim) if c != j]
    assert len(others) > 0
    np.testing.assert_array_equal(anim.face[f, others], before.face[f, others])  # the key's other channels kept
    assert _outside_equal(anim, before, f - RADIUS, f + RADIUS + 1)
    w.undo_action.trigger()
    w.undo_action.trigger()
    assert w.doc.animation.equals(before)


# ------------------------------------------------------------------ influence windows, move, delete, swap
def _clear_keys(w) -> None:
    """No keyframes (one undoable step, nothing re-solved): earlier tests leave theirs behind."""
    w.undo_stack.push_command(SetKeyframes(KeyframeSet([]), text="clear keyframes"))


def _set_yaw(w, qtbot, frame: int, degrees: float) -> Keyframe:
    """Drag-equivalent: set the yaw of the head keyframe at ``frame`` and wait for its solve."""
    (key,) = [k for k in w.doc.keyframes if k.frame == frame and k.part == "head"]
    with qtbot.waitSignal(w.bridge.result_applied, timeout=WAIT):
        w._on_head_value_dragged(key, 0, degrees)
    (key,) = [k for k in w.doc.keyframes if k.frame == frame and k.part == "head"]
    assert key.values is not None
    return key


def _outside_windows_equal(a, b, centres, r=RADIUS) -> bool:
    lo_hi = [(c - r, c + r + 1) for c in centres]
    out = np.ones(a.n_frames, bool)
    for lo, hi in lo_hi:
        out[max(0, lo):hi] = False
    return np.array_equal(a.face[out], b.face[out]) and np.array_equal(a.head[out], b.head[out])


def test_a_neighbouring_keyframe_does_not_widen_the_re_solved_window(window, qtbot):
    w = window
    _clear_keys(w)
    _add_head_key(w, qtbot, 40)
    neighbour = _set_yaw(w, qtbot, 40, -20.0)
    _add_head_key(w, qtbot, 47)  # within RADIUS of the neighbour: its window would reach back to frame 32
    before = w.doc.animation.copy()
    n_undo = w.undo_stack.count()
    changed = _set_yaw(w, qtbot, 47, 20.0)
    anim = w.doc.animation
    assert _outside_equal(anim, before, 47 - RADIUS, 47 + RADIUS + 1)  # only the changed key's window
    assert not np.array_equal(anim.head[47 - RADIUS:47], before.head[47 - RADIUS:47])
    assert np.array_equal(anim.head[40], np.float32(neighbour.values))  # the neighbour is still hit
    assert np.array_equal(anim.head[47], np.float32(changed.values))
    assert w.undo_stack.count() == n_undo + 2
    w.undo_action.trigger()
    w.undo_action.trigger()
    assert w.doc.animation.equals(before)


def test_moving_a_keyframe_re_solves_at_its_old_and_new_frame(window, qtbot):
    w, old, new = window, 25, 60
    _clear_keys(w)
    _add_head_key(w, qtbot, old)
    key = _set_yaw(w, qtbot, old, 25.0)
    pinned = np.float32(key.values)
    assert np.array_equal(w.doc.animation.head[old], pinned)
    before, n_undo = w.doc.animation.copy(), w.undo_stack.count()
    lane = w.timeline.key_lane
    w.timeline.set_visible_range(0.0, w.doc.duration)
    x, y = old / w.doc.fps, float(lane.getData()[1][0])
    lane.mouseDragEvent(SyntheticDrag((x, y), (x, y), start=True))
    lane.mouseDragEvent(SyntheticDrag((x, y), (new / w.doc.fps, y)))
    with qtbot.waitSignal(w.bridge.result_applied, timeout=WAIT):
        lane.mouseDragEvent(SyntheticDrag((x, y), (new / w.doc.fps, y), finish=True))
    assert [k.frame for k in w.doc.keyframes] == [new]
    anim = w.doc.animation
    assert np.array_equal(anim.head[new], pinned)  # the pose is pinned at the new frame...
    assert np.abs(anim.head[old] - pinned).max() > 1e-3  # ...and no longer frozen at the old one
    assert _outside_windows_equal(anim, before, (old, new))
    assert np.array_equal(anim.face, before.face)  # a head key re-solves only the head
    assert w.undo_stack.count() == n_undo + 2
    assert "moved from frame 25 to 60" in w.undo_stack.text(w.undo_stack.index() - 1)
    w.undo_action.trigger()
    w.undo_action.trigger()
    assert w.doc.animation.equals(before) and [k.frame for k in w.doc.keyframes] == [old]


def test_deleting_a_keyframe_re_solves_around_its_frame(window, qtbot):
    w, f, other = window, 50, 56
    _clear_keys(w)
    _add_head_key(w, qtbot, f)
    key = _set_yaw(w, qtbot, f, 25.0)
    _add_head_key(w, qtbot, other)
    kept = _set_yaw(w, qtbot, other, -15.0)
    before, n_undo = w.doc.animation.copy(), w.undo_stack.count()
    w.playback.seek(f / w.doc.fps)
    with qtbot.waitSignal(w.bridge.result_applied, timeout=WAIT):
        w.actions_by_name["delete_keys"].trigger()
    assert list(w.doc.keyframes) == [kept]
    anim = w.doc.animation
    assert np.abs(anim.head[f] - np.float32(key.values)).max() > 1e-3  # the deleted pose is gone
    assert np.array_equal(anim.head[other], np.float32(kept.values))  # the other key stays pinned
    assert _outside_equal(anim, before, f - RADIUS, f + RADIUS + 1)
    assert w.undo_stack.count() == n_undo + 2
    w.undo_action.trigger()
    w.undo_action.trigger()
    assert w.doc.animation.equals(before) and key in list(w.doc.keyframes)


def test_without_a_model_a_keyframe_move_still_happens(window, qtbot, tmp_path):
    w = window
    _clear_keys(w)
    _add_head_key(w, qtbot, 20)
    model_id = w.doc.model_id
    w.doc.set_model_id(str(tmp_path / "no-model"))
    try:
        before, n_undo = w.doc.animation.copy(), w.undo_stack.count()
        (key,) = list(w.doc.keyframes)
        w.timeline.keyframe_drag_finished.emit(key, 35)
        assert [k.frame for k in w.doc.keyframes] == [35] and w.undo_stack.count() == n_undo + 1
        assert not w.bridge.busy and w.last_error is None and w.doc.animation.equals(before)
    finally:
        w.doc.set_model_id(model_id)


def test_swap_pose_dialog_copies_the_chosen_part(window, qtbot):
    w, a, b = window, 12, 70
    _clear_keys(w)
    base = w.doc.animation.copy()
    w.playback.seek(20 / w.doc.fps)
    w.actions_by_name["copy_pose"].trigger()
    w.playback.seek(b / w.doc.fps)
    w.actions_by_name["swap_pose"].trigger()
    dlg = w.swap_dialog
    assert dlg is not None and dlg.isVisible()
    # defaults: the copied frame and the playhead, times shown in seconds
    assert (dlg.source_spin.value(), dlg.target_spin.value()) == (20, b)
    assert dlg.target_time.text() == f"{b / w.doc.fps:.2f} s"
    dlg.source_spin.setValue(b)
    assert not dlg.ok_button.isEnabled()  # the same frame twice
    dlg.source_spin.setValue(a)
    assert dlg.source_time.text() == f"{a / w.doc.fps:.2f} s"
    dlg.face_box.setChecked(False)
    dlg.head_box.setChecked(False)
    assert not dlg.ok_button.isEnabled()  # nothing to copy
    dlg.head_box.setChecked(True)
    assert dlg.ok_button.isEnabled() and dlg.values() == (a, b, ("head",))
    with qtbot.waitSignal(w.bridge.result_applied, timeout=WAIT):
        qtbot.mouseClick(dlg.ok_button, QtCore.Qt.LeftButton)
    anim = w.doc.animation
    assert np.array_equal(anim.head[b], base.head[a])  # the head pose of frame a, now at b
    assert np.array_equal(anim.face, base.face)  # the face is untouched
    assert not np.array_equal(anim.head[b - RADIUS:b], base.head[b - RADIUS:b])  # re-solved around b
    assert _outside_equal(anim, base, b - RADIUS, b + RADIUS + 1)
    assert w.undo_stack.text(w.undo_stack.index() - 1).startswith("swap head pose: frame 12")
    w.undo_action.trigger()
    assert w.doc.animation.equals(base)
    qtbot.waitUntil(lambda: w.swap_dialog is None, timeout=2000)
