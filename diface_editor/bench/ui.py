"""``diface bench ui``: how the editor feels, measured headless (Xvfb + Mesa llvmpipe on a CPU).

* ``timeline_fps_10min``: timeline repaints per second while scrolling a zoomed-in view (20 s
  visible) across a 10-minute clip: each step pans the X range, re-reads waveform peaks for the
  view and repaints synchronously. ``timeline_full_view_fps`` does the same with the whole clip
  visible (curves downsampled to the pixel width).
* ``viewport_frame_ms``: one viewport frame during playback: evaluate the rig for the frame, compute
  normals, upload vertices, draw and show the picture: the median over 290 frames (as every other
  speed figure here; before 2026-12-04 this key was the mean, now ``viewport_frame_ms_mean``) and p95.
* ``playback_drift_ms_60s``: playback runs for 60 s in real time on the clock the editor would use
  here (the silent monotonic clock when there is no sound device; the audio clock on a device, by
  default a private PulseAudio null sink, ``bench.sound``); at every GUI tick the time the picture
  shows is compared with the device's stream clock at the moment that position was computed for.
  Reported from 2 s in: how far the two moved apart at the last tick (drift after 60 s), its maximum
  and p95, the offset at 2 s, the device's underflows and output latency, the largest gap between
  ticks and the tick rate. Nothing is simulated faster than real time.
* ``max_stall_ms_generate``: a 10 ms ``QTimer`` heartbeat runs while the editor generates a clip
  through the engine bridge (model loading, sampling on the worker thread, live previews drawn in
  the viewport and timeline); the longest gap beyond the heartbeat period is the worst GUI freeze.
  Uses the shipped ``models/default`` when it exists, else a tiny untrained bundle (said in
  ``model``). Target: <= 50 ms.

If ``DISPLAY`` is unset it starts its own ``Xvfb`` (and stops it afterwards).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=10.0, help="clip length for the timeline test (default 10)")
    parser.add_argument("--drift-seconds", type=float, default=60.0, help="real-time playback duration (default 60)")
    parser.add_argument("--generate-seconds", type=float, default=10.0,
                        help="length of the clip generated for the stall test (default 10)")
    parser.add_argument("--model", default=None, help="model bundle for the stall test (default: models/default, "
                        "else a tiny untrained bundle)")
    parser.add_argument("--audio", choices=("auto", "device", "silent"), default="auto",
                        help="playback clock for the drift: a real audio device (auto: a private PulseAudio "
                             "null-sink server when pulseaudio is installed), or the silent clock")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: timeline,viewport,drift,generate")


def _pct(xs, q):
    import numpy as np

    return round(float(np.percentile(np.asarray(xs, float), q)), 3) if len(xs) else None


def _long_document(minutes: float):
    import numpy as np

    from diface_editor.core.animation import Animation
    from diface_editor.core.audio import AudioClip
    from diface_editor.core.document import Document

    sr = 16000
    n = int(minutes * 60 * sr)
    rng = np.random.default_rng(0)
    t = np.arange(n, dtype=np.float64) / sr
    env = np.clip(np.sin(2 * np.pi * 0.4 * t) + 0.3 * np.sin(2 * np.pi * 3.1 * t), 0, None)
    clip = AudioClip.from_array((0.3 * env * rng.standard_normal(n)).astype(np.float32), sr)
    T = int(round(minutes * 60 * 30))
    tt = np.arange(T)[:, None] / 30.0
    face = np.clip(0.5 + 0.4 * np.sin(tt * rng.uniform(1, 8, 52) + rng.uniform(0, 6, 52)), 0, 1)
    head = 0.15 * np.sin(tt * rng.uniform(0.2, 1.5, 3) + rng.uniform(0, 6, 3))
    return Document(Animation(30.0, face.astype(np.float32), head.astype(np.float32)), audio=clip)


def run(args: argparse.Namespace) -> dict:
    skip = {s.strip() for s in (args.skip or "").split(",") if s.strip()}
    from diface_editor.bench.headless import headless_editor

    with headless_editor("diface-bench-ui-", no_audio=False) as tmp:
        return _run(args, skip, tmp)


def _run(args, skip: set[str], tmp: Path) -> dict:
    import numpy as np
    from PySide6 import QtCore, QtWidgets

    from diface_editor.gui.theme import apply_dark_theme

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["diface-bench-ui"])
    apply_dark_theme(app)
    out: dict = {"bench": "ui", "display": os.environ.get("DISPLAY"), "qpa": app.platformName(),
                 "cpu_count": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2)}

    def pump(seconds=0.0):
        end = time.perf_counter() + seconds
        app.processEvents()
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.002)

    # ---------------------------------------------------------------- timeline on a 10-minute clip
    if "timeline" not in skip:
        from diface_editor.gui.timeline import TimelineWidget

        doc = _long_document(args.minutes)
        tl = TimelineWidget()
        tl.resize(1400, 420)
        tl.show()
        tl.set_document(doc)
        tl.set_visible_curves(["jawOpen", "mouthFunnel", "eyeBlinkLeft", "browInnerUp"])
        pump(0.3)
        vp = tl.glw.viewport()

        def scroll_rate(width_s: float, steps: int) -> float:
            dur = doc.duration
            t0 = time.perf_counter()
            for i in range(steps):
                x0 = (i * 0.37 * width_s) % max(dur - width_s, 1e-6)
                tl.set_visible_range(x0, x0 + width_s)
                vp.repaint()
            return steps / (time.perf_counter() - t0)

        scroll_rate(20.0, 10)  # warm-up
        out["timeline_clip_minutes"] = args.minutes
        out["timeline_fps_10min"] = round(scroll_rate(20.0, 120), 1)
        out["timeline_full_view_fps"] = round(scroll_rate(doc.duration, 30), 1)
        t0 = time.perf_counter()
        tl.refresh_curves()
        out["timeline_curve_refresh_ms"] = round((time.perf_counter() - t0) * 1e3, 2)
        tl.set_document(None)
        tl.close()
        tl.deleteLater()
        pump(0.05)

    # ---------------------------------------------------------------- viewport frame time
    if "viewport" not in skip:
        from diface_editor.core.animation import Animation
        from diface_editor.core.document import Document
        from diface_editor.gui.viewport import Viewport

        rng = np.random.default_rng(1)
        T = 300
        tt = np.arange(T)[:, None] / 30.0
        face = np.clip(0.4 + 0.4 * np.sin(tt * rng.uniform(1, 8, 52)), 0, 1).astype(np.float32)
        head = (0.2 * np.sin(tt * rng.uniform(0.5, 2, 3))).astype(np.float32)
        v = Viewport()
        v.resize(900, 700)
        v.show()
        v.set_document(Document(Animation(30.0, face, head)))
        pump(0.3)
        times, update = [], []
        for f in range(T):
            t0 = time.perf_counter()
            v.set_time(f / 30.0)
            t1 = time.perf_counter()
            v.draw_now(antialias=False)
            times.append((time.perf_counter() - t0) * 1e3)
            update.append((t1 - t0) * 1e3)
        out["viewport_mode"] = v.mode
        out["viewport_vertices"] = int(v.rig.n_vertices) if v.rig is not None else 0
        out["viewport_triangles"] = int(len(v.rig.faces)) if v.rig is not None else 0
        out["viewport_size"] = [v.display.width(), v.display.height()]
        out["viewport_frame_ms"] = round(float(np.median(times[10:])), 2)  # the median frame (p50)
        out["viewport_frame_ms_mean"] = round(float(np.mean(times[10:])), 2)
        out["viewport_frame_ms_p95"] = _pct(times[10:], 95)
        out["viewport_mesh_update_ms"] = round(float(np.mean(update[10:])), 2)
        v.close_canvas()
        v.close()
        v.deleteLater()
        pump(0.05)

    # ---------------------------------------------------------------- playback drift
    if "drift" not in skip and args.drift_seconds > 0:
        import contextlib

        from diface_editor.bench.sound import NullSinkServer, pulseaudio_available
        from diface_editor.gui.playback import Playback

        mode = getattr(args, "audio", "auto")
        server = contextlib.nullcontext()
        if mode == "silent":
            os.environ["DIFACE_NO_AUDIO"] = "1"
        elif pulseaudio_available() is None:
            server = NullSinkServer()
        elif mode == "device":
            raise SystemExit(f"diface bench ui: --audio device: {pulseaudio_available()}")
        stack = contextlib.ExitStack()
        stack.enter_context(server)
        doc = _long_document(max(args.drift_seconds / 60.0 + 0.1, 0.2))
        pb = Playback()
        pb.set_clip(doc.audio, doc.duration)
        pb.set_loop_enabled(False)
        device = pb.has_sound and hasattr(pb.clock, "device_time")
        out["audio_clock"] = "device" if device else "silent"
        out["playback_clock"] = "audio device" if pb.has_sound else "silent monotonic clock (no audio device)"
        gaps, ticks, dev = [], [], []

        def on_time(t):
            ticks.append(time.perf_counter())
            # the device's own clock at this tick: the stream time the shown position was computed for
            # (silent: the monotonic clock the silent clock runs on)
            d = getattr(pb.clock, "last_device_time", None) if device else None
            dev.append((t, d if d is not None else (pb.clock.device_time() if device else time.monotonic())))
            gaps.append((t, pb.clock.position()))

        pb.time_changed.connect(on_time)
        t_start = time.perf_counter()
        pb.play()
        while time.perf_counter() - t_start < args.drift_seconds:
            app.processEvents(QtCore.QEventLoop.AllEvents, 5)
            time.sleep(0.001)
        shown = pb.time
        clock = pb.clock.position()
        wall = time.perf_counter() - t_start
        samples_out = getattr(pb.clock, "samples_out", None)
        underflows = getattr(pb.clock, "underflows", 0)
        latency = getattr(getattr(pb.clock, "_stream", None), "latency", None)
        rate = getattr(pb.clock, "rate", None)
        dev_span = (dev[-1][1] - dev[1][1]) if len(dev) > 2 else None
        pb.pause()
        pb.close()
        stack.close()
        lags = [abs(c - s) * 1e3 for s, c in gaps[1:]]
        out["playback_seconds"] = round(wall, 2)
        # the playhead's advance against the audio stream's clock over the run (drift after 60 s)
        # measured from 2 s in: the device (a PulseAudio sink) first fills its buffer, a constant offset
        # reported as playback_offset_ms; drift is how far playhead and device clock move apart after it
        t_ref = ticks[0] + 2.0 if ticks else 0.0
        ref = next((i for i, tk in enumerate(ticks) if tk >= t_ref), 1) if len(ticks) > 3 else 1
        off = [((t - dev[0][0]) - (d - dev[0][1])) * 1e3 for t, d in dev]
        drift = [abs(o - off[ref]) for o in off[ref:]]
        out["playback_drift_ms_60s"] = round(drift[-1], 3) if drift else None
        out["playback_drift_ms_max"] = round(max(drift), 3) if drift else None
        out["playback_drift_ms_p95"] = _pct(drift, 95)
        if device:
            out["playback_underflows"] = int(underflows)  # buffers the device reported as underrun
            out["playback_output_latency_ms"] = round(float(latency or 0.0) * 1e3, 1)
        out["playback_offset_ms"] = round(off[ref], 1) if off else None
        # the picture vs the clock at the same tick (the old measure)
        out["playback_picture_vs_clock_ms"] = round(lags[-1], 3) if lags else None
        if device and dev_span and samples_out and rate:
            # samples the device consumed vs its clock: a paced device, not a free-running stream
            out["device_samples_vs_clock_ms"] = round(abs(samples_out / rate - dev_span) * 1e3, 1)
        # between ticks the picture ages; this is bounded by the tick interval, not accumulating
        out["playback_display_age_ms_at_end"] = round(abs(clock - shown) * 1e3, 2)
        out["playback_tick_gap_ms_max"] = round(float(np.diff(ticks).max()) * 1e3, 1) if len(ticks) > 1 else None
        out["playback_clock_vs_wall_ms"] = round(abs(clock - wall) * 1e3, 2)
        out["playback_lag_ms_mean"] = round(float(np.mean(lags)), 3) if lags else None
        out["playback_lag_ms_max"] = round(float(np.max(lags)), 3) if lags else None
        out["playback_tick_hz"] = round((len(ticks) - 1) / (ticks[-1] - ticks[0]), 1) if len(ticks) > 1 else None

    # ---------------------------------------------------------------- GUI stall while generating
    if "generate" not in skip:
        out.update(_stall_during_generation(app, args, tmp, pump))
    out["load_average_1min_end"] = round(os.getloadavg()[0], 2)
    return out


def _stall_during_generation(app, args, tmp: Path, pump) -> dict:
    import numpy as np
    from PySide6 import QtCore

    from diface_editor.core.paths import model_dir
    from diface_editor.gui.main_window import MainWindow
    from diface_editor.gui.settings import EditorSettings

    res: dict = {}
    model = Path(args.model) if args.model else model_dir("default")
    if not (model / "config.json").is_file():
        if args.model:
            return {"max_stall_ms_generate": None, "generate_error": f"no model bundle at {model}"}
        import torch  # noqa: F401  (the tiny bundle is built with the ml API)

        from diface_editor.core.arkit import ARKIT_NAMES
        from diface_editor.ml.bundle import MotionModel

        cfg = {"name": "tiny untrained bench model", "fps": 30.0, "motion_space": "arkit",
               "face_channels": list(ARKIT_NAMES),
               "audio_encoder": {"type": "logmel", "n_mels": 32, "channels": 16, "dim": 16, "dilations": [1, 2]},
               "parts": {"face": {"denoiser": {"in_channels": 52, "ch": 32, "ch_mult": [1, 2], "audio_dim": 16,
                                               "flag_mode": "channel"}, "diffusion": {"num_train_steps": 100}},
                         "head": {"denoiser": {"in_channels": 3, "ch": 32, "ch_mult": [1, 2], "audio_dim": 16},
                                  "diffusion": {"num_train_steps": 100}}},
               "sampling": {"sampler": "dpmpp", "steps": 10, "guidance": 1.0}}
        model = MotionModel.from_config(cfg).save(tmp / "tiny-model")
        res["model"] = "tiny untrained bundle (models/default is not installed)"
    else:
        res["model"] = str(model)
    sr = 16000
    n = int(args.generate_seconds * sr)
    t = np.arange(n) / sr
    sig = 0.3 * np.sign(np.sin(2 * np.pi * 140 * t)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) ** 2
    wav = tmp / "speech.wav"
    import soundfile as sf

    sf.write(str(wav), sig.astype(np.float32), sr)
    w = MainWindow(settings=EditorSettings(), auto_generate=False)
    w.ask_to_save = False
    w.resize(1600, 1000)
    w.show()
    pump(0.5)
    w.open_path(wav)
    w.doc.set_model_id(str(model))
    pump(0.2)
    beats: list[float] = []
    hb = QtCore.QTimer()
    hb.setTimerType(QtCore.Qt.PreciseTimer)
    hb.setInterval(10)
    hb.timeout.connect(lambda: beats.append(time.perf_counter()))
    hb.start()
    pump(0.2)
    done = {"ok": False, "error": None}
    w.bridge.result_applied.connect(lambda j: done.__setitem__("ok", True))
    w.bridge.failed.connect(lambda _j, message: done.__setitem__("error", str(message)))
    n_previews = [0]
    w.bridge.preview.connect(lambda a: n_previews.__setitem__(0, n_previews[0] + (a is not None)))
    t0 = time.perf_counter()
    w.generate()
    while (w.bridge.busy or not done["ok"]) and done["error"] is None and time.perf_counter() - t0 < 600:
        app.processEvents(QtCore.QEventLoop.AllEvents, 5)
        time.sleep(0.001)
    took = time.perf_counter() - t0
    hb.stop()
    gaps = np.diff([b for b in beats if b >= t0 - 0.05]) * 1e3
    res["generate_seconds_of_audio"] = args.generate_seconds
    res["generate_wall_s"] = round(took, 2)
    res["generate_ok"] = bool(done["ok"])
    if done["error"] is not None:  # e.g. the model could not be loaded: said, not waited out
        res["generate_error"] = done["error"]
    res["generate_previews_drawn"] = n_previews[0]
    res["max_stall_ms_generate"] = round(float(gaps.max() - 10.0), 1) if len(gaps) else None
    res["stall_ms_p99_generate"] = round(float(np.percentile(gaps, 99) - 10.0), 1) if len(gaps) else None
    res["heartbeats"] = int(len(gaps))
    w.close()
    w.deleteLater()
    pump(0.1)
    return res
