"""``diface bench edit-gui``: how fast a keyframe drag comes back in the editor, measured headless.

The real editor window (Xvfb; started here when ``DISPLAY`` is unset) on the demo speech (or
``--seconds`` of synthetic speech), with the default model (``models/default``, else ``--model``).
After a first generation, a head keyframe is added at a random frame and its yaw pin is dragged on
the timeline's head track through the pin item's drag handlers (synthetic pyqtgraph drag events:
start, move, finish). The clock starts when the drag *finishes* (the moment the edit is committed
and the re-solve is submitted) and stops when:

* ``first_preview``: the viewport has drawn the first visible response to the release: the
  dragged pin's pose (the editor shows the key's pose at its frame while a pin is dragged, and the
  playhead is on the key here: that pose is exact there, the re-solve keeps it), else the first
  live preview of the re-solve, else its final result. Taken over ALL drags, so its p50 is what a
  user sees; ``previews_seen`` counts the drags with a pose or preview drawn before the result
  (``previews_emitted``: those whose bridge sent an engine preview to the views before the result);
  ``preview_emitted_p50_ms`` is when the first engine preview left the engine bridge (drags with one).
  ``first_model_picture_p50_ms`` leaves the dragged pose out: the first picture that came from the
  model (an engine preview, else the result); ``drag_poses_drawn`` counts the drags whose pose was drawn;
  ``first_preview_posted_p50_ms`` is when that first picture's vertices reached the render thread's
  mailbox and ``first_preview_drawn_after_post_p50_ms`` how long the picture took from there;
* ``keyframe_final``: the result is applied (an undo step) and the viewport shows the solved frame
  under the playhead: the render thread delivered its picture after the result was applied, or the
  picture on screen then already has exactly its vertices (the viewport does not draw an identical
  picture again: a pin drag's pose at its key's frame, which the re-solve keeps exactly).
* ``phone_drag_final`` (and ``phone_drag_first_preview``): the same clock for a phone boundary
  dragged 10-30 ms in the word/phoneme lane (the demo's transcript), whose re-solve is the face
  around the changed phones with the same influence radius and steps (issue #13's target: the same
  time as a keyframe drag). Skipped without an aligned transcript (``--seconds``).

The influence window is ``--radius`` frames on each side (default 30: a 2 s window at 30 fps);
``--steps`` is the editor's "Drag steps" (sampler steps for interactive edits; 0 = the model's).
Targets: final <= 300 ms, first preview <= 100 ms (p50). Also reports where the time goes
(features, sampling, per step) from the engine's job info, and the viewport's render time per picture.
Both times end when the render thread has finished the picture (the offscreen viewport; each picture
is matched to the vertices it shows, so a picture of the old pose or of a preview never counts as
the result).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="model bundle (default: models/default)")
    parser.add_argument("--repeats", type=int, default=12, help="timed drags (default 12)")
    parser.add_argument("--radius", type=int, default=30, help="influence radius in frames (default 30 = 2 s window)")
    parser.add_argument("--steps", type=int, default=4, help="sampler steps for the drag's solve (default 4; 0 = model's)")
    parser.add_argument("--guidance", type=float, default=None, help="guidance (default: the model's)")
    parser.add_argument("--seconds", type=float, default=None, help="synthetic speech of this length instead of the demo")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads of the engine (default 0: the engine's own choice, "
                             "max(1, cores - 1) in its child process)")
    parser.add_argument("--no-previews", action="store_true", help="no live previews (to see what they cost)")
    parser.add_argument("--no-student", action="store_true",
                        help="drags use the sampler with --steps even when the model ships a one-step student")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one result")


def _engine_threads(w, torch) -> int | None:
    """Torch threads the engine sampled with: the child's ``load_info`` or this process's."""
    eng = w.bridge.engine
    info = getattr(eng, "load_info", None)
    if isinstance(info, dict) and info.get("torch_threads"):
        return int(info["torch_threads"])
    return torch.get_num_threads()


def _pct(xs, q):
    import numpy as np

    return round(float(np.percentile(np.asarray(xs, float), q)), 1) if len(xs) else None


def _phone_drags(w, app, args, rng, timed_drag) -> dict:
    """The same measurement for a phone boundary dragged in the word/phoneme lane (the clip's
    transcript, ``voice.txt`` beside the audio: the demo's): a random phone boundary between two
    speech phones is moved by 10-30 ms; its re-solve (the face around the changed phones, the same
    influence radius and steps) is timed as the keyframe drag is."""
    tr = w.doc.transcript
    if tr is None or not tr.aligned:
        return {"phone_drag": "skipped: the clip has no aligned transcript (the demo has one; --seconds has not)"}
    fps, n, r = w.doc.fps, w.doc.n_frames, int(args.radius)
    lane = w.timeline.lane
    final_ms, first_ms, infos = [], [], []
    for i in range(int(args.repeats) + 1):  # the first drag warms up (not timed)
        ph = w.doc.transcript.phones
        cands = [k for k in range(len(ph) - 1) if "SIL" not in (ph[k][0], ph[k + 1][0])
                 and abs(ph[k][2] - ph[k + 1][1]) < 1e-6 and r <= ph[k][2] * fps < n - r]
        k = int(rng.choice(cands))
        t = ph[k][2]
        w.playback.seek(round(t * fps) / fps)
        w.timeline.set_visible_range(max(0.0, t - 2 * r / fps), t + 2 * r / fps)
        app.processEvents()
        x = lane.boundary_time("phones", k, "end")
        to = x + float(rng.choice([-1, 1])) * float(rng.uniform(0.01, 0.03))
        first, final, _emitted, _seen, info = timed_drag(lane, (x, 0.25), (x, 0.25), (to, 0.25))
        if i == 0:
            continue
        final_ms.append(final)
        first_ms.append(first)
        if info is not None:
            infos.append(info)
    out = {"phone_drag_final_p50_ms": _pct(final_ms, 50), "phone_drag_final_p95_ms": _pct(final_ms, 95),
           "phone_drag_first_preview_p50_ms": _pct(first_ms, 50), "phone_drag_repeats": len(final_ms)}
    if infos:
        out["phone_drag_applied_p50_ms"] = _pct([i["applied_ms"] for i in infos], 50)
        infos = [i for i in infos if "total_s" in i]
    if infos:
        out["phone_drag_engine_total_p50_ms"] = _pct([1e3 * i["total_s"] for i in infos], 50)
        out["phone_drag_engine_features_p50_ms"] = _pct([1e3 * i["features_s"] for i in infos], 50)
        out["phone_drag_engine_sampling_p50_ms"] = _pct([1e3 * i["sampling_s"] for i in infos], 50)
        out["phone_drag_frames_sampled"] = infos[-1].get("frames_sampled")
    return out


def run(args: argparse.Namespace) -> dict:
    from diface_editor.bench.headless import headless_editor

    with headless_editor("diface-bench-edit-gui-") as tmp:
        return _run(args, tmp)


def _run(args, tmp: Path) -> dict:
    import numpy as np
    import torch
    from PySide6 import QtWidgets

    from diface_editor.core.errors import DifaceError
    from diface_editor.core.paths import resource
    from diface_editor.engine.loading import resolve_model_path
    from diface_editor.gui.app import tune_gil_for_gui
    from diface_editor.gui.main_window import MainWindow
    from diface_editor.gui.settings import EditorSettings
    from diface_editor.gui.theme import apply_dark_theme
    from diface_editor.gui.timeline.synthetic import SyntheticDrag

    if int(args.threads) > 0:
        os.environ["DIFACE_ENGINE_THREADS"] = str(int(args.threads))  # the engine child reads it
        torch.set_num_threads(int(args.threads))                      # the in-process engine (DIFACE_ENGINE=thread)
    model = Path(args.model) if args.model else resolve_model_path("default")
    if not (model / "config.json").is_file():
        raise DifaceError(f"no model bundle at {model}: train one (diface train) or pass --model DIR")
    tune_gil_for_gui()  # as the editor does at start-up
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
    applied_at: list[float] = []  # when each result went into the document (the signal's time)
    w.bridge.result_applied.connect(lambda j: (applied.append(j), applied_at.append(time.perf_counter())))
    # Every picture the viewport shows is recorded with what it shows (its vertices, and whether they
    # came from a preview): a picture of the old animation (e.g. drawn when the preview ends, just
    # before the result is applied) or of a preview must not count as the final result.
    # (time drawn, vertices, "doc" / "preview" / "drag", time posted to the render thread)
    frames_shown: list[tuple[float, object, str, float]] = []

    def kind_shown() -> str:
        """What the viewport shows: the document, an engine preview, or the dragged pin's pose."""
        if vp.preview is None:
            return "doc"
        return "drag" if vp.preview is getattr(w, "_drag_pose", None) else "preview"

    vp = w.viewport
    tags: dict[int, tuple] = {}
    render_ms: list[float] = []

    if vp.mode == "offscreen":
        from PySide6 import QtCore as _QtCore

        worker = vp.backend.worker
        uploaded: list = [(None, "doc", 0.0)]
        post, upload = worker.post_vertices, worker.scene.upload

        def post_tagged(verts):  # GUI thread
            tags[id(verts)] = (verts, kind_shown(), time.perf_counter())  # keeps verts alive: ids are not reused
            return post(verts)

        def upload_tagged(verts):  # render thread
            hit = tags.get(id(verts))
            uploaded[0] = hit if hit is not None and hit[0] is verts else (verts, "doc", 0.0)
            upload(verts)

        worker.post_vertices, worker.scene.upload = post_tagged, upload_tagged
        def on_frame(_img, ms):
            frames_shown.append((time.perf_counter(), *uploaded[0]))
            render_ms.append(float(ms))

        # direct: runs on the render thread when the picture is done (no GUI-thread queueing in the time)
        worker.frame_ready.connect(on_frame, _QtCore.Qt.DirectConnection)
    else:
        vp.frame_drawn.connect(lambda *_: frames_shown.append((time.perf_counter(), vp.last_vertices, kind_shown(),
                                                               time.perf_counter())))
    try:
        if not w.open_path(audio):
            raise DifaceError(f"could not open {audio}: {w.last_error}")
        w.doc.set_model_id(str(model))
        from diface_editor.gui.engine_bridge import transcript_for

        voice = transcript_for(w.doc.audio_path)
        if voice is not None:  # as the editor does when it opens audio with a voice.txt beside it
            w._align_on_open(w.doc, voice)
        w.panel.influence.setValue(int(args.radius))
        w.panel.interactive_steps.setValue(int(args.steps))
        w.panel.drag_student.setChecked(not getattr(args, "no_student", False))
        if args.guidance is not None:
            w.panel.guidance.setValue(float(args.guidance))
        w.generate()
        pump_until(lambda: applied, "generating the clip")
        n = w.doc.n_frames
        r = int(args.radius)
        rng = np.random.default_rng(0)
        pins = w.timeline.head_pins

        def timed_drag(item, grab, mid, to) -> tuple[float, float, float | None, bool, dict | None]:
            """One drag of ``item`` from ``grab`` over ``mid`` to ``to`` (data coordinates); the clock runs
            from the finish to the result drawn: (first visible ms, final ms, preview emitted ms or
            None, a preview drawn before the result, the engine's job info)."""
            item.mouseDragEvent(SyntheticDrag(grab, grab, start=True))
            item.mouseDragEvent(SyntheticDrag(grab, mid))
            app.processEvents()
            applied.clear()
            on_screen = frames_shown[-1:]  # the picture shown when the drag is released
            frames_shown.clear()
            tags.clear()
            t0 = time.perf_counter()
            item.mouseDragEvent(SyntheticDrag(grab, to, finish=True))
            pump_until(lambda: applied, "solving the drag")
            t_applied = applied_at[-1]
            want = vp.rig.frame_vertices(w.doc.animation, vp.current_frame())  # the solved pose on screen

            def final_time(want=want) -> float | None:
                """When the screen first shows ``want`` once the result is applied: at once if the
                picture on screen then has those vertices (the viewport draws no identical picture
                again), else when a picture of them is drawn."""
                pics = on_screen + list(frames_shown)
                before = [x for x in pics if x[0] <= t_applied]
                if before and np.array_equal(before[-1][1], want):
                    return t_applied
                later = [t for t, v, _k, _p in pics if t > t_applied and np.array_equal(v, want)]
                return min(later) if later else None

            pump_until(lambda: final_time() is not None, "drawing the result")
            t_final = final_time()
            t_prev = w.bridge.t_first_preview
            # pictures posted after the release (a picture of the pose before it does not count)
            previews_drawn = [t for t, _v, kind, p in list(frames_shown) if kind != "doc" and t0 <= p and t < t_final]
            model_drawn = [t for t, _v, kind, p in list(frames_shown) if kind == "preview" and t0 <= p and t < t_final]
            emitted = (t_prev - t0) * 1e3 if t_prev is not None and t_prev < t_applied else None
            # the first visible result: a preview drawn before the result, else the result itself
            first = (min(previews_drawn, default=t_final) - t0) * 1e3
            info = getattr(w.bridge, "last_info", None)
            info = dict(info) if isinstance(info, dict) else {}
            info["applied_ms"] = (t_applied - t0) * 1e3  # the result in the document (not yet drawn)
            info["first_model_ms"] = (min(model_drawn, default=t_final) - t0) * 1e3
            info["drag_pose_drawn"] = any(kind == "drag" and t0 <= p for _t, _v, kind, p in list(frames_shown))
            first_pic = min(((t, p) for t, _v, kind, p in list(frames_shown) if kind != "doc" and t0 <= p and t < t_final),
                            default=None)
            if first_pic is not None:  # where the first preview's time goes: the GUI posting it, then the picture
                info["first_posted_ms"], info["first_drawn_after_post_ms"] = (first_pic[1] - t0) * 1e3, \
                    (first_pic[0] - first_pic[1]) * 1e3
            return first, (t_final - t0) * 1e3, emitted, bool(previews_drawn), info

        first_ms, final_ms, emitted_ms, infos, shown = [], [], [], [], 0
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
            to = y + float(rng.choice([-1, 1])) * float(rng.uniform(5, 15))
            first, final, emitted, prev_seen, info = timed_drag(pins, (x, y), (x, (y + to) / 2), (x, to))
            if i == 0:
                continue
            final_ms.append(final)
            first_ms.append(first)
            if emitted is not None:
                emitted_ms.append(emitted)
            shown += prev_seen
            if info is not None:
                infos.append(info)
        phone = _phone_drags(w, app, args, rng, timed_drag)
        out = {
            "keyframe_final_p50_ms": _pct(final_ms, 50), "keyframe_final_p95_ms": _pct(final_ms, 95),
            "first_preview_p50_ms": _pct(first_ms, 50), "first_preview_p95_ms": _pct(first_ms, 95),
            "previews_seen": f"{shown}/{len(final_ms)}",
            "previews_emitted": f"{len(emitted_ms)}/{len(final_ms)}",
            "preview_emitted_p50_ms": _pct(emitted_ms, 50),
            "targets": {"keyframe_final_p50_ms": 300, "first_preview_p50_ms": 100,
                        "phone_drag_final_p50_ms": "same as keyframe_final_p50_ms"},
            "model": str(model), "radius_frames": r, "window_s": round((2 * r + 1) / w.doc.fps, 2),
            "steps": int(args.steps) or "model default", "threads": _engine_threads(w, torch),
            "engine_mode": os.environ.get("DIFACE_ENGINE", "process") or "process",
            "viewport_render_p50_ms": _pct(render_ms, 50),
            "previews": not args.no_previews, "clip_frames": n, "repeats": len(final_ms), "viewport_mode": vp.mode,
            **phone,
        }
        if infos:
            out["keyframe_applied_p50_ms"] = _pct([i["applied_ms"] for i in infos], 50)
            out["first_model_picture_p50_ms"] = _pct([i["first_model_ms"] for i in infos], 50)
            out["drag_poses_drawn"] = f"{sum(bool(i['drag_pose_drawn']) for i in infos)}/{len(infos)}"
            posted = [i for i in infos if "first_posted_ms" in i]
            if posted:
                out["first_preview_posted_p50_ms"] = _pct([i["first_posted_ms"] for i in posted], 50)
                out["first_preview_drawn_after_post_p50_ms"] = _pct([i["first_drawn_after_post_ms"] for i in posted], 50)
            infos = [i for i in infos if "total_s" in i]
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
