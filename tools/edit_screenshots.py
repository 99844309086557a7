"""Screenshots of interactive editing for docs/editor.md, taken in the real editor window on the demo.

    .venv/bin/python tools/edit_screenshots.py [--out docs/images] [--model models/default]

Runs under Xvfb when there is no display. The demo speech (resources/demo/demo.wav) is generated
with the model, then:

* ``edit_keyframe_1_before.png``: two head keyframes (a neighbour at 3.33 s, the one to drag at 4 s),
  the keyframe at the playhead selected;
* ``edit_keyframe_2_during.png``: its yaw pin dragged up (nothing committed yet: the pin and its
  value label follow the pointer);
* ``edit_keyframe_3_after.png``: the re-solved window (only +-1 s around the dragged keyframe; the
  neighbour keyframe stays pinned and the head curves before it are unchanged);
* ``edit_resample_1_before.png`` / ``edit_resample_2_after.png``: a selected range, then resampled;
* ``edit_face_1_during.png`` / ``edit_face_2_after.png``: a face keyframe's jawOpen pin dragged up
  on the face curves, then the re-solved window;
* ``edit_swap_dialog.png``: Edit > Swap Pose.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "images"), help="folder for the PNGs")
    p.add_argument("--model", default=None, help="model bundle (default: models/default)")
    p.add_argument("--size", default="1440x900", help="window size WxH (default 1440x900)")
    args = p.parse_args()
    from diface_editor.bench.headless import headless_editor

    with headless_editor("diface-edit-shots-"):
        return _run(args)


def _run(args) -> int:
    import numpy as np
    from PySide6 import QtWidgets

    from diface_editor.core.paths import resource
    from diface_editor.gui.engine_bridge import resolve_model_path
    from diface_editor.gui.main_window import MainWindow
    from diface_editor.gui.settings import EditorSettings
    from diface_editor.gui.theme import apply_dark_theme
    from diface_editor.gui.timeline.synthetic import SyntheticDrag

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = Path(args.model) if args.model else resolve_model_path("default")
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["diface-edit-screenshots"])
    apply_dark_theme(app)
    w = MainWindow(settings=EditorSettings(), auto_generate=False)
    w.ask_to_save = False
    width, height = (int(v) for v in args.size.lower().split("x"))
    w.resize(width, height)
    w.show()

    def settle(seconds: float = 0.4) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.02)

    def wait_idle(what: str, timeout: float = 300.0) -> None:
        end = time.monotonic() + timeout
        while w.bridge.busy:
            if time.monotonic() > end:
                raise SystemExit(f"timed out while {what}")
            app.processEvents()
            time.sleep(0.01)
        if w.last_error:
            raise SystemExit(f"the editor reported an error while {what}: {w.last_error}")
        settle(0.1)

    def shot(name: str) -> None:
        settle()
        w.viewport.draw_now()
        app.processEvents()
        path = out / name
        if not w.grab().save(str(path), "PNG"):
            raise SystemExit(f"could not write {path}")
        print(f"saved {path}")

    try:
        if not w.open_path(resource("demo", "demo.wav"), generate=False):
            raise SystemExit(f"could not open the demo: {w.last_error}")
        w.doc.set_model_id(str(model))
        w.panel.influence.setValue(30)
        w.panel.interactive_steps.setValue(4)
        w.generate()
        wait_idle("generating the demo")
        fps = w.doc.fps
        f, neighbour = 120, 100
        for frame, yaw in ((neighbour, -8.0), (f, None)):
            w._on_add_keyframe_requested(frame, "head")
            wait_idle("solving a new keyframe")
            if yaw is not None:
                (k,) = [k for k in w.doc.keyframes if k.frame == frame]
                w._on_head_value_dragged(k, 0, yaw)
                wait_idle("setting the neighbour's yaw")
        w.playback.seek(f / fps)
        (key,) = [k for k in w.doc.keyframes if k.frame == f]
        w.keyframes_panel.select(key)
        w.timeline.set_visible_range(1.5, 6.5)
        shot("edit_keyframe_1_before.png")

        pins = w.timeline.head_pins
        x, y = pins.pin_pos(key, 0)
        to = y + 18.0
        pins.mouseDragEvent(SyntheticDrag((x, y), (x, y), start=True))
        pins.mouseDragEvent(SyntheticDrag((x, y), (x, to)))
        shot("edit_keyframe_2_during.png")
        before = w.doc.animation.copy()
        pins.mouseDragEvent(SyntheticDrag((x, y), (x, to), finish=True))
        wait_idle("solving the drag")
        anim = w.doc.animation
        changed = np.flatnonzero((anim.head != before.head).any(1) | (anim.face != before.face).any(1))
        print(f"drag re-solved frames {changed.min()}..{changed.max()} (keyframe {f}, neighbour {neighbour}, "
              f"radius 30)")
        shot("edit_keyframe_3_after.png")

        w.doc.set_selection((int(6.0 * fps), int(7.5 * fps)))
        w.playback.seek(6.6)
        w.timeline.set_visible_range(4.5, 9.0)
        shot("edit_resample_1_before.png")
        w.resample_selection()
        wait_idle("resampling")
        shot("edit_resample_2_after.png")

        w.doc.set_selection(None)
        ff = 200
        w._on_add_keyframe_requested(ff, "face")
        wait_idle("solving a new face keyframe")
        (fk,) = [k for k in w.doc.keyframes if k.frame == ff and k.part == "face"]
        w.keyframes_panel.select(fk)
        w.playback.seek(ff / fps)
        w.timeline.set_visible_range(5.0, 8.5)
        j = w.doc.animation.channel_index("jawOpen")
        fpins = w.timeline.face_pins
        x, y = fpins.pin_pos(fk, j)
        fpins.mouseDragEvent(SyntheticDrag((x, y), (x, y), start=True))
        fpins.mouseDragEvent(SyntheticDrag((x, y), (x, 0.75)))
        shot("edit_face_1_during.png")
        fpins.mouseDragEvent(SyntheticDrag((x, y), (x, 0.75), finish=True))
        wait_idle("solving the face drag")
        shot("edit_face_2_after.png")

        w.playback.seek(f / fps)
        w.copy_pose()
        w.playback.seek(200 / fps)
        dlg = w.swap_pose_dialog()
        settle()
        path = out / "edit_swap_dialog.png"
        dlg.grab().save(str(path), "PNG")
        print(f"saved {path}")
        dlg.reject()
        return 0
    finally:
        w.close()
        app.processEvents()


if __name__ == "__main__":
    raise SystemExit(main())
