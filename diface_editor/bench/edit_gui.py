"""``diface bench edit-gui``: how fast a keyframe drag comes back in the editor, measured headless.

The real editor window (Xvfb; started here when ``DISPLAY`` is unset) on the demo speech (or
``--seconds`` of synthetic speech), with the default model (``models/default``, else ``--model``).
After a first generation, a head keyframe is added at a random frame and its yaw pin is dragged on
the timeline's head track through the pin item's drag handlers (synthetic pyqtgraph drag events:
start, move, finish). The clock starts when the drag *finishes* (the moment the edit is committed
and the re-solve is submitted) and stops when:

* ``first_preview``: the first live preview of the re-solve reaches the viewport and curves;
* ``keyframe_final``: the viewport has drawn the final result (the render thread delivered the
  picture of the solved frame under the playhead, after the result was applied as an undo step).

The influence window is ``--radius`` frames on each side (default 30: a 2 s window at 30 fps);
``--steps`` is the editor's "Drag steps" (sampler steps for interactive edits; 0 = the model's).
Targets: final <= 300 ms, first preview <= 100 ms (p50). Also reports where the time goes
(features, sampling, per step) from the engine's job info.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="model bundle (default: models/default)")
    parser.add_argument("--repeats", type=int, default=12, help="timed drags (default 12)")
    parser.add_argument("--radius", type=int, default=30, help="influence radius in frames (default 30 = 2 s window)")
    parser.add_argument("--steps", type=int, default=4, help="sampler steps for the drag's solve (default 4; 0 = model's)")
    parser.add_argument("--guidance", type=float, default=None, help="guidance (default: the model's)")
    parser.add_argument("--seconds", type=float, default=None, help="synthetic speech of this length instead of the demo")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--no-previews", action="store_true", help="no live previews (to see what they cost)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one result")


def _pct(xs, q):
    import numpy as np

    return round(float(np.percentile(np.asarray(xs, float), q)), 1) if len(xs) else None


def run(args: argparse.Namespace) -> dict:
    from diface_editor.bench.ui import _Xvfb

    with _Xvfb():
        os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
        tmp = tempfile.mkdtemp(prefix="diface-bench-edit-gui-")
        os.environ.setdefault("DIFACE_CONFIG_DIR", str(Path(tmp) / "config"))
        os.environ.setdefault("DIFACE_DATA_DIR", str(Path(tmp) / "data"))
        os.environ.setdefault("DIFACE_NO_AUDIO", "1")
        try:
            return _run(args, Path(tmp))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _run(args, tmp: Path) -> dict:
    import numpy as np
    import torch
    from PySide6 import QtWidgets

    from diface_editor.core.errors import DifaceError
    from diface_editor.core.paths import resource
    from diface_editor.gui.engine_bridge import resolve_model_path
    from diface_editor.gui.main_window import MainWindow
    from diface_editor.gui.settings import EditorSettings
    from diface_editor.gui.theme import apply_dark_theme
    from diface_editor.gui.timeline.synthetic import SyntheticDrag

    torch.set_num_threads(max(1, int(args.threads)))
    model = Path(args.model) if args.model else resolve_model_path("default")
    if not (model / "config.json").is_file():
        raise DifaceError(f"no model bundle at {model}: train one (diface train) or pass --model DIR")
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["diface-bench-edit-gui"])
    apply_dark_theme(app)

    audio = resource("demo", "demo.wav")
    if args.seconds or not audio.is_file():
        import soundfile as sf

        rate, secs = 16000, float(args.seconds or 10.0)
        t = np.arange(int(rate * secs)) / rate
        sig = 0.3 * np.sign(np.sin(2 * np.pi * 140 * t)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) ** 2
        audio = tmp / "speech.wav"
        sf.write(str(audio), sig.astype(np.float32), rate)

    w = MainWindow(settings=EditorSettings(), auto_generate=False,
                   engine_kwargs={"previews": False} if args.no_previews else None)
    w.ask_to_save = False
    w.resize(1500, 940)
    w.show()
    deadline_s = float(args.timeout)

    from PySide6 import QtCore

    loop = QtCore.QEventLoop()
    poll = QtCore.QTimer()
    poll.setInterval(10)
    poll.timeout.connect(lambda: loop.quit())

    def pump_until(cond, what: str) -> None:
        # an idle Qt event loop (as in the editor), not a busy processEvents() loop: that would hold
        # the GIL and slow the engine's worker thread several times over
        end = time.perf_counter() + deadline_s
        poll.start()
        try:
            while not cond():
                loop.exec()
                if w.last_error:
                    raise DifaceError(f"the editor reported an error while {what}: {w.last_error}")
                if time.perf_counter() > end:
                    raise DifaceError(f"timed out after {deadline_s:.0f} s while {what}")
        finally:
            poll.stop()

    applied: list[int] = []
    w.bridge.result_applied.connect(lambda j: applied.append(j))
    frames_shown: list[float] = []
    vp = w.viewport
    if vp.mode == "offscreen":
        vp._worker.frame_ready.connect(lambda *_: frames_shown.append(time.perf_counter()))
    else:
        vp.frame_drawn.connect(lambda *_: frames_shown.append(time.perf_counter()))
    try:
        if not w.open_path(audio):
            raise DifaceError(f"could not open {audio}: {w.last_error}")
        w.doc.set_model_id(str(model))
        w.panel.influence.setValue(int(args.radius))
        w.panel.interactive_steps.setValue(int(args.steps))
        if args.guidance is not None:
            w.panel.guidance.setValue(float(args.guidance))
        w.generate()
        pump_until(lambda: applied, "generating the clip")
        n = w.doc.n_frames
        r = int(args.radius)
        rng = np.random.default_rng(0)
        pins = w.timeline.head_pins
        first_ms, final_ms, infos = [], [], []
        for i in range(int(args.repeats) + 1):  # the first drag warms up (not timed)
            f = int(rng.integers(r, max(r + 1, n - r)))
            w.playback.seek(f / w.doc.fps)
            applied.clear()
            w._on_add_keyframe_requested(f, "head")
            pump_until(lambda: applied and not w.bridge.busy, "solving the new keyframe")
            key = [k for k in w.doc.keyframes if k.frame == f and k.part == "head"][0]
            w.timeline.set_visible_range(max(0.0, (f - 2 * r) / w.doc.fps), (f + 2 * r) / w.doc.fps)
            app.processEvents()
            x, y = pins.pin_pos(key, 0)
            grab = (x, y)
            to = y + float(rng.choice([-1, 1])) * float(rng.uniform(5, 15))
            pins.mouseDragEvent(SyntheticDrag(grab, grab, start=True))
            pins.mouseDragEvent(SyntheticDrag(grab, (x, (y + to) / 2)))
            app.processEvents()
            applied.clear()
            frames_shown.clear()
            t0 = time.perf_counter()
            pins.mouseDragEvent(SyntheticDrag(grab, (x, to), finish=True))
            pump_until(lambda: applied, "solving the drag")
            t_applied = time.perf_counter()
            pump_until(lambda: any(t >= t_applied for t in frames_shown), "drawing the result")
            t_final = min(t for t in frames_shown if t >= t_applied)
            if i == 0:
                continue
            final_ms.append((t_final - t0) * 1e3)
            if w.bridge.t_first_preview is not None:
                first_ms.append((w.bridge.t_first_preview - t0) * 1e3)
            info = getattr(w.bridge, "last_info", None)
            if isinstance(info, dict):
                infos.append(info)
        out = {
            "keyframe_final_p50_ms": _pct(final_ms, 50), "keyframe_final_p95_ms": _pct(final_ms, 95),
            "first_preview_p50_ms": _pct(first_ms, 50), "first_preview_p95_ms": _pct(first_ms, 95),
            "previews_seen": f"{len(first_ms)}/{len(final_ms)}",
            "targets": {"keyframe_final_p50_ms": 300, "first_preview_p50_ms": 100},
            "model": str(model), "radius_frames": r, "window_s": round((2 * r + 1) / w.doc.fps, 2),
            "steps": int(args.steps) or "model default", "threads": torch.get_num_threads(),
            "previews": not args.no_previews, "clip_frames": n, "repeats": len(final_ms), "viewport_mode": vp.mode,
        }
        if infos:
            out["engine_total_p50_ms"] = _pct([1e3 * i["total_s"] for i in infos], 50)
            out["engine_features_p50_ms"] = _pct([1e3 * i["features_s"] for i in infos], 50)
            out["engine_sampling_p50_ms"] = _pct([1e3 * i["sampling_s"] for i in infos], 50)
            out["frames_sampled"] = infos[-1].get("frames_sampled")
            out["sampler_calls"] = infos[-1].get("calls")
            out["guidance"] = infos[-1].get("guidance")
        return out
    finally:
        w.close()
        app.processEvents()
