"""``diface-editor [AUDIO|PROJECT] [--screenshot PNG --at SECONDS --size WxH]``.

With no file it opens the shipped demo. With ``--screenshot`` it loads the file (and waits for the
generation it starts, if any), moves the playhead to ``--at`` seconds, saves a picture of the
window and exits: for documentation, tests and bug reports. Without a display, ``--screenshot``
re-runs itself under ``xvfb-run`` when that is installed.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="diface-editor", description="diface: a keyframe editor for speech-driven "
                                "3D facial animation. Opens an audio file or a .diface project (default: the demo).")
    p.add_argument("path", nargs="?", help="audio file (wav, flac, ogg, mp3, ...) or .diface project")
    p.add_argument("--screenshot", metavar="PNG", help="save a picture of the window and exit")
    p.add_argument("--at", type=float, default=None, metavar="SECONDS",
                   help="with --screenshot: playhead time of the picture (default: 1/3 of the clip)")
    p.add_argument("--size", default="1600x1000", metavar="WxH", help="window size for --screenshot (default 1600x1000)")
    p.add_argument("--no-generate", action="store_true", help="do not generate automatically after opening audio")
    p.add_argument("--timeout", type=float, default=600.0, help="with --screenshot: seconds to wait for generation")
    p.add_argument("-v", "--verbose", action="store_true", help="log details")
    return p


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w < 200 or h < 150:
            raise ValueError
        return w, h
    except ValueError:
        raise SystemExit(f"diface-editor: error: --size must look like 1600x1000, got {text!r}") from None


def _has_display() -> bool:
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "vnc", "eglfs", "minimal")))


def _reexec_under_xvfb(argv: list[str], size: tuple[int, int]) -> int | None:
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        return None
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", DIFACE_NO_AUDIO=os.environ.get("DIFACE_NO_AUDIO", "1"))
    cmd = [xvfb, "-a", "-s", f"-screen 0 {size[0] + 64}x{size[1] + 64}x24", sys.executable, "-m", "diface_editor", *argv]
    return subprocess.call(cmd, env=env)


def tune_gil_for_gui() -> None:
    """Process-wide, once at start-up: a GIL switch interval of 1 ms. Threads of this process that
    run Python (the in-process engine's worker with ``DIFACE_ENGINE=thread``, the engine process's
    reader and sender) hold the GIL most of the time; every Qt call on the GUI thread releases and
    re-takes it, waiting up to the switch interval each time (5 ms by default: a handler making 20
    Qt calls then takes 100 ms). 1 ms keeps the GUI responsive at a small cost in throughput."""
    if sys.getswitchinterval() > 0.001:
        sys.setswitchinterval(0.001)


def _install_excepthook(window_getter) -> None:
    """Unexpected errors in Qt slots show a dialog (with details) instead of killing the editor."""
    def hook(etype, value, tb):
        text = "".join(traceback.format_exception(etype, value, tb))
        log.error("unexpected error:\n%s", text)
        w = window_getter()
        if w is not None:
            try:
                w.error("Unexpected error", f"{etype.__name__}: {value}", details=text)
                return
            except Exception:
                pass
        sys.__excepthook__(etype, value, tb)

    sys.excepthook = hook


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    size = _parse_size(args.size)
    if not _has_display():
        if args.screenshot:
            rc = _reexec_under_xvfb(argv, size)
            if rc is not None:
                return rc
        print("diface-editor: no display found (DISPLAY is not set).\n"
              "  Run it under a virtual display:  xvfb-run -a -s \"-screen 0 1600x1000x24\" diface-editor\n"
              "  or take a picture without a window:  diface-editor --screenshot editor.png", file=sys.stderr)
        return 2
    if sys.platform == "linux" and os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "xcb")  # the vispy canvas needs a real GL surface
    # The GUI thread does many tiny numpy products (one frame of the rig, curves); a multi-threaded
    # OpenBLAS makes each take milliseconds on a busy machine. torch keeps its own thread pool.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    tune_gil_for_gui()

    from PySide6 import QtCore, QtWidgets

    from diface_editor import __version__
    from diface_editor.gui.main_window import MainWindow
    from diface_editor.gui.theme import apply_dark_theme

    QtWidgets.QApplication.setApplicationName("diface")
    QtWidgets.QApplication.setApplicationDisplayName("diface")
    QtWidgets.QApplication.setApplicationVersion(__version__)
    QtWidgets.QApplication.setOrganizationName("diface")
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0]])
    apply_dark_theme(app)

    holder: dict = {}
    _install_excepthook(lambda: holder.get("w"))
    try:
        window = MainWindow(auto_generate=not args.no_generate)
    except Exception as e:  # e.g. no OpenGL: say so instead of a traceback
        log.exception("the editor window could not be created")
        print(f"diface-editor: error: the editor window could not be created ({type(e).__name__}: {e})",
              file=sys.stderr)
        return 1
    holder["w"] = window

    if args.screenshot:
        return _screenshot(app, window, args, size)

    # the window first (in a "loading" state), then the file: no black window while it loads
    window.show()
    name = Path(args.path).name if args.path else "the last project"
    window.statusBar().showMessage(f"Loading {name}…")
    window.setCursor(QtCore.Qt.BusyCursor)
    app.processEvents()

    def load() -> None:
        if args.path:
            window.open_path(args.path)
        else:
            window.open_last()
        window.unsetCursor()

    QtCore.QTimer.singleShot(0, load)
    rc = app.exec()
    holder.clear()
    return int(rc)


def wait_until(app, predicate, timeout: float) -> bool:
    """Process events until ``predicate()`` is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        app.processEvents()
        time.sleep(0.01)
    return True


def _screenshot(app, window, args, size: tuple[int, int]) -> int:
    window.ask_to_save = False
    window.resize(*size)
    window.show()
    wait_until(app, lambda: window.isVisible(), 5)
    ok = window.open_path(args.path) if args.path else window.open_demo()
    if not ok and args.path:
        print(f"diface-editor: error: {window.last_error}", file=sys.stderr)
    if not wait_until(app, lambda: not window.bridge.busy and not window.aligning_on_open, args.timeout):
        print(f"diface-editor: warning: generation did not finish within {args.timeout:.0f} s", file=sys.stderr)
    doc = window.doc
    at = args.at if args.at is not None else (doc.duration / 3 if doc is not None else 0.0)
    window.playback.seek(at)
    t_end = time.monotonic() + 0.5
    while time.monotonic() < t_end:  # let layouts, the GL canvas and the timeline settle
        app.processEvents()
        time.sleep(0.02)
    window.viewport.draw_now()
    app.processEvents()
    out = Path(args.screenshot).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    pix = window.grab()
    saved = pix.save(str(out), "PNG")
    window.close()
    app.processEvents()
    if not saved:
        print(f"diface-editor: error: could not write {out}", file=sys.stderr)
        return 1
    print(f"diface-editor: saved {out} ({pix.width()}x{pix.height()})")
    return 0 if (ok or not args.path) else 1
