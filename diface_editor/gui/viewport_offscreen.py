"""The offscreen viewport back-end: a render thread draws the scene with EGL, a raster widget shows it.

A render thread owns a headless EGL context with the vispy scene, draws into a framebuffer and hands
back a :class:`~diface_editor.gui.gl_readback.Picture`; a plain raster widget shows it and forwards mouse input. The GUI thread never
waits for OpenGL (with software rendering, Mesa llvmpipe, a frame takes tens of milliseconds), and
the rest of the window stays raster-painted: a ``QOpenGLWidget`` anywhere in a window makes Qt
compose the *whole* window through OpenGL on every repaint (measured here: ~65 ms for a status-bar
update in a 1600x1000 window, 0.2 ms without it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from diface_editor.core.rig import Rig
from diface_editor.gui.gl_readback import Picture, read_rgb32
from diface_editor.gui.theme import COLORS
from diface_editor.gui.viewport_scene import GL_LOCK, REFINE_DELAY_MS, Scene

log = logging.getLogger(__name__)


class RenderWorker(QtCore.QObject):
    """Lives on the render thread: owns the EGL canvas and the scene, renders on request.

    Vertices arrive through a mailbox (only the newest set is uploaded), input and size changes
    through queued signals; drawing is coalesced by a zero-delay timer, so a burst of requests makes
    one picture. Pictures go back with ``frame_ready(Picture, ms)``
(:class:`~diface_editor.gui.gl_readback.Picture`: the part of the frame the head covers).
    """

    frame_ready = QtCore.Signal(object, float)
    started = QtCore.Signal(bool, str)

    def __init__(self, rig: Rig) -> None:
        super().__init__()
        self.rig = rig
        self.canvas = None
        self.scene: Scene | None = None
        self._fbos: dict = {}
        self._timer: QtCore.QTimer | None = None
        self._refine: QtCore.QTimer | None = None
        self._lock = threading.Lock()
        self._mail: np.ndarray | None = None
        # pictures in order: how many vertex sets were posted, which one the render in progress draws,
        # and the newest one drawn (wait_drawn waits on it)
        self._posted = self._drawing = self._drawn = 0
        self._drawn_cond = threading.Condition(self._lock)
        self._size = (640, 480)
        self._dpr = 1.0
        self.last_image: Picture | None = None
        self._bg = QtGui.QColor(COLORS["viewport_bg"])

    @contextlib.contextmanager
    def _gl(self):
        """Hold ``GL_LOCK`` with this worker's canvas current."""
        with GL_LOCK:
            self.canvas.set_current()
            yield

    # ------------------------------------------------------------------ thread-side slots
    @QtCore.Slot()
    def start(self) -> None:
        try:
            os.environ.setdefault("EGL_PLATFORM", "surfaceless")
            from vispy import scene

            with GL_LOCK:
                self.canvas = scene.SceneCanvas(app="egl", keys=None, bgcolor=COLORS["viewport_bg"], show=False,
                                                size=self._size)
                self.canvas.set_current()
                self.scene = Scene(self.canvas, self.rig)
        except Exception as e:  # no EGL, no GL: the viewport falls back to a GL widget
            self.started.emit(False, f"{type(e).__name__}: {e}")
            return
        self._timer = QtCore.QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.render)
        # when nothing changed for a moment, draw once more at 2x and scale down (anti-aliasing)
        self._refine = QtCore.QTimer()
        self._refine.setSingleShot(True)
        self._refine.setInterval(REFINE_DELAY_MS)
        self._refine.timeout.connect(lambda: self.render(supersample=2))
        self.started.emit(True, "")

    def post_vertices(self, verts: np.ndarray) -> bool:
        """Called from the GUI thread: leave ``verts`` in the mailbox. True if a wake-up is needed."""
        with self._lock:
            empty = self._mail is None
            self._mail = verts
            self._posted += 1
        return empty

    def wait_drawn(self, timeout_s: float) -> bool:
        """Called from the GUI thread: block until the picture of the newest vertices posted so far is
        drawn, at most ``timeout_s``; True if it was (at once when nothing is pending)."""
        with self._drawn_cond:
            target = self._posted
            return self._drawn_cond.wait_for(lambda: self._drawn >= target, timeout_s)

    @QtCore.Slot()
    def take_vertices(self) -> None:
        if self.take_vertices_now():
            self.schedule()

    @QtCore.Slot(object)
    def set_rig(self, rig: Rig) -> None:
        """Show another head (a new mesh in a new view; the camera frames it)."""
        if self.canvas is None:
            return
        with self._lock:
            self._mail = None  # vertices of the old head
        with self._gl():
            if self.scene is not None:
                self.scene.detach()
            self.rig = rig
            self.scene = Scene(self.canvas, rig)
        self.schedule()

    @QtCore.Slot(int, int, float)
    def resize(self, w: int, h: int, dpr: float) -> None:
        self._size, self._dpr = (max(1, w), max(1, h)), float(dpr)
        if self.canvas is not None:
            with self._gl():
                self.canvas.size = self._size  # the EGL backend makes a new pbuffer but emits no resize event
                self.canvas.events.resize(size=self._size, physical_size=self._size)
            self.schedule()

    @QtCore.Slot(str, object)
    def mouse(self, kind: str, kw: dict) -> None:
        """Mouse input from the picture's widget, fed to the canvas like its own window's input.

        Press, move and release go through the canvas backend's ``_vispy_mouse_*`` (private vispy
        API, pinned to 0.17.x): they track the press and last events that a turntable drag needs.
        """
        if self.canvas is None:
            return
        b = self.canvas._backend
        with self._gl():
            if kind == "press":
                b._vispy_mouse_press(**kw)
            elif kind == "move":
                b._vispy_mouse_move(**kw)
            elif kind == "release":
                b._vispy_mouse_release(**kw)
            elif kind == "wheel":
                self.canvas.events.mouse_wheel(**kw)
        self.schedule()

    @QtCore.Slot()
    def reset_camera(self) -> None:
        if self.scene is not None:
            with self._gl():
                self.scene.reset_camera()
            self.schedule()

    def schedule(self) -> None:
        if self._timer is not None and not self._timer.isActive():
            self._timer.start()

    @QtCore.Slot()
    def render(self, supersample: int = 1) -> None:
        if self.canvas is None:
            return
        with self._gl():
            pic, ms = self._draw(supersample)
        self.last_image = pic
        self.frame_ready.emit(pic, ms)
        with self._drawn_cond:
            self._drawn = max(self._drawn, self._drawing)
            self._drawn_cond.notify_all()
        if supersample == 1 and self._refine is not None:
            self._refine.start()

    def _draw(self, supersample: int) -> tuple[Picture, float]:
        """Draw the scene into a framebuffer: (picture, milliseconds). Inside :meth:`_gl`."""
        from vispy import gloo
        from vispy.gloo import gl

        self.take_vertices_now()
        t0 = time.perf_counter()
        c = self.canvas
        w, h = self._size
        out_size = (max(1, int(w * self._dpr)), max(1, int(h * self._dpr)))
        logical = (w * supersample, h * supersample)
        size = (out_size[0] * supersample, out_size[1] * supersample)
        if supersample > 1:
            # vispy's views ignore an FBO larger than the canvas (the scene lands in one corner), so
            # the canvas itself is enlarged for this picture and restored afterwards
            c.size = logical
            c.events.resize(size=logical, physical_size=logical)
        try:
            fbo = self._fbos.get(size)
            if fbo is None:
                if len(self._fbos) >= 2:  # one for playback frames, one for the anti-aliased redraw
                    self._fbos.clear()
                fbo = self._fbos[size] = gloo.FrameBuffer(color=gloo.RenderBuffer(size[::-1]),
                                                          depth=gloo.RenderBuffer(size[::-1]))
            c.push_fbo(fbo, (0, 0), logical)
            try:
                self.scene.prepare_draw()
                c.context.clear(color=c.bgcolor, depth=True)
                c.draw_visual(c.scene)
                c.context.flush_commands()
                gl.glFlush()  # software GL rasterises on its own threads while this one finds the rectangle
                x, y, rw, rh = self.scene.pixel_rect(size, align=supersample)
                img = read_rgb32(x, y, rw, rh)
            finally:
                c.pop_fbo()
        finally:
            if supersample > 1:
                c.size = self._size
                c.events.resize(size=self._size, physical_size=self._size)
        top = size[1] - (y + rh)  # the rectangle's top row, counted from the top
        if supersample > 1 and not img.isNull():
            img = img.scaled(rw // supersample, rh // supersample, QtCore.Qt.IgnoreAspectRatio,
                             QtCore.Qt.SmoothTransformation)
        img.setDevicePixelRatio(self._dpr)
        pic = Picture(img, x // supersample, top // supersample, out_size[0], out_size[1], self._dpr, self._bg)
        return pic, (time.perf_counter() - t0) * 1e3

    def take_vertices_now(self) -> bool:
        """Upload the newest vertices from the mailbox, if any; True if there were some."""
        with self._lock:
            verts, self._mail = self._mail, None
            if verts is not None:
                self._drawing = self._posted
        if verts is None or self.scene is None:
            return False
        with self._gl():
            self.scene.upload(verts)
        return True

    @QtCore.Slot(int)
    def render_now(self, supersample: int) -> None:
        """Render immediately (called with a blocking connection by :meth:`Viewport.draw_now`)."""
        if self._timer is not None:
            self._timer.stop()
            self._refine.stop()
        self.render(supersample=supersample)

    @QtCore.Slot()
    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._refine.stop()
        if self.canvas is not None:
            try:
                with self._gl():
                    self._fbos.clear()
                    self.canvas.close()
            except Exception as e:  # pragma: no cover - driver specific
                log.debug("closing the offscreen canvas: %s", e)
            self.canvas = None
            self.scene = None


class ImageView(QtWidgets.QWidget):
    """Shows the rendered pictures and forwards mouse and wheel input to the render thread.

    Without a back-end (no head to show) it only paints the background.
    """

    def __init__(self, parent: QtWidgets.QWidget, backend: OffscreenBackend | None = None) -> None:
        super().__init__(parent)
        self._backend = backend
        self.picture: Picture | None = None
        self.setFocusPolicy(QtCore.Qt.ClickFocus)
        self.setAttribute(QtCore.Qt.WA_OpaquePaintEvent)
        self._bg = QtGui.QColor(COLORS["viewport_bg"])

    def set_picture(self, pic: Picture, now: bool = False) -> None:
        """Show ``pic``: repaint where the head was and where it is now (the rest is background), at the
        next paint or, with ``now``, before returning."""
        old, self.picture = self.picture, pic
        if old is None or (old.width, old.height, old.dpr) != (pic.width, pic.height, pic.dpr):
            region = QtGui.QRegion(self.rect())
        else:
            region = QtGui.QRegion(old.head_rect()) + QtGui.QRegion(pic.head_rect())
        if now:
            self.repaint(region)
        else:
            self.update(region)

    def paintEvent(self, ev) -> None:
        p = QtGui.QPainter(self)
        p.fillRect(ev.rect(), self._bg)
        if self.picture is not None:
            self.picture.paint(p, background=False)
        p.end()

    def resizeEvent(self, ev) -> None:
        if self._backend is not None:
            self._backend.sig_resize.emit(self.width(), self.height(), float(self.devicePixelRatioF()))
        super().resizeEvent(ev)

    def _send(self, kind: str, kw: dict) -> None:
        if self._backend is not None:
            self._backend.sig_mouse.emit(kind, kw)

    def _reset_camera(self) -> None:
        if self._backend is not None:
            self._backend.reset_camera()

    def _kw(self, ev, button: bool = True) -> dict:
        p = ev.position()
        kw = {"pos": (float(p.x()), float(p.y())), "modifiers": _vispy_modifiers(ev.modifiers()),
              "buttons": _vispy_buttons(ev.buttons())}
        if button:
            kw["button"] = _vispy_button(ev.button())
        return kw

    def mousePressEvent(self, ev) -> None:
        if _vispy_button(ev.button()) is not None:
            self._send("press", self._kw(ev))
        ev.accept()

    def mouseMoveEvent(self, ev) -> None:
        self._send("move", self._kw(ev, button=False))
        ev.accept()

    def mouseReleaseEvent(self, ev) -> None:
        if _vispy_button(ev.button()) is not None:
            self._send("release", self._kw(ev))
        ev.accept()

    def mouseDoubleClickEvent(self, ev) -> None:
        self._reset_camera()
        ev.accept()

    def wheelEvent(self, ev) -> None:
        d = ev.angleDelta()
        kw = self._kw(ev, button=False)
        kw["delta"] = (d.x() / 120.0, d.y() / 120.0)
        self._send("wheel", kw)
        ev.accept()

    def keyPressEvent(self, ev) -> None:
        if ev.key() == QtCore.Qt.Key_F and not ev.modifiers():
            self._reset_camera()
            ev.accept()
        else:
            super().keyPressEvent(ev)


def _stop_thread(thread: QtCore.QThread) -> None:
    try:
        if thread.isRunning():
            thread.quit()
            thread.wait(5000)
    except RuntimeError:  # the C++ object is already gone
        pass


def _vispy_button(b) -> int | None:
    return {QtCore.Qt.LeftButton: 1, QtCore.Qt.RightButton: 2, QtCore.Qt.MiddleButton: 3}.get(b)


def _vispy_buttons(buttons) -> list[int]:
    """Vispy ids (1 left, 2 right, 3 middle) of the buttons held down."""
    return [v for q, v in ((QtCore.Qt.LeftButton, 1), (QtCore.Qt.RightButton, 2), (QtCore.Qt.MiddleButton, 3))
            if buttons & q]


def _vispy_modifiers(mods) -> tuple:
    from vispy.util import keys

    out = []
    for qt, k in ((QtCore.Qt.ShiftModifier, keys.SHIFT), (QtCore.Qt.ControlModifier, keys.CONTROL),
                  (QtCore.Qt.AltModifier, keys.ALT), (QtCore.Qt.MetaModifier, keys.META)):
        if mods & qt:
            out.append(k)
    return tuple(out)


class OffscreenBackend(QtCore.QObject):
    """The render thread and the widget that shows its pictures (``display``).

    Use :meth:`start`; every method runs on the GUI thread.
    """

    mode = "offscreen"
    sig_wake = QtCore.Signal()
    sig_resize = QtCore.Signal(int, int, float)
    sig_mouse = QtCore.Signal(str, object)
    sig_reset = QtCore.Signal()
    sig_render_now = QtCore.Signal(int)
    sig_stop = QtCore.Signal()
    sig_rig = QtCore.Signal(object)

    def __init__(self, thread: QtCore.QThread, worker: RenderWorker, parent: QtWidgets.QWidget) -> None:
        super().__init__(parent)  # a child of the viewport: queued pictures die with it
        self.thread, self.worker = thread, worker
        self.last_render_ms = 0.0
        # never leave a running QThread behind (Qt aborts the process when one is destroyed running)
        self._finalizer = weakref.finalize(self, _stop_thread, thread)
        self.sig_wake.connect(worker.take_vertices)
        self.sig_resize.connect(worker.resize)
        self.sig_mouse.connect(worker.mouse)
        self.sig_reset.connect(worker.reset_camera)
        self.sig_render_now.connect(worker.render_now, QtCore.Qt.BlockingQueuedConnection)
        self.sig_stop.connect(worker.stop, QtCore.Qt.BlockingQueuedConnection)
        self.sig_rig.connect(worker.set_rig, QtCore.Qt.BlockingQueuedConnection)
        worker.frame_ready.connect(self._on_frame_ready)
        self.display = ImageView(parent, self)

    @classmethod
    def start(cls, rig: Rig, parent: QtWidgets.QWidget, on_quit: Callable[[], None]) -> OffscreenBackend | str:
        """Start the render thread: the back-end, or why it could not start (no EGL, no GL).

        ``on_quit`` is connected to the application's ``aboutToQuit`` (it should call :meth:`close`).
        """
        thread = QtCore.QThread()
        thread.setObjectName("diface-viewport-render")
        worker = RenderWorker(rig)
        worker.moveToThread(thread)
        result: dict = {}
        worker.started.connect(lambda ok, why: result.update(ok=ok, why=why), QtCore.Qt.DirectConnection)
        thread.start()
        QtCore.QMetaObject.invokeMethod(worker, "start", QtCore.Qt.BlockingQueuedConnection)
        if not result.get("ok"):
            thread.quit()
            thread.wait()
            return result.get("why", "unknown error")
        app = QtCore.QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(on_quit)
        return cls(thread, worker, parent)

    def _on_frame_ready(self, pic: Picture, ms: float, now: bool = False) -> None:
        self.last_render_ms = ms
        if pic is not self.display.picture:  # (already put on screen by wait_for_picture)
            self.display.set_picture(pic, now)

    def show(self, verts: np.ndarray) -> None:
        """Draw (V, 3) vertices soon (on the render thread; only the newest set is drawn)."""
        if self.worker.post_vertices(verts):
            self.sig_wake.emit()

    def wait_for_picture(self, timeout_s: float) -> bool:
        """Block the GUI thread until the newest vertices shown are drawn (at most ``timeout_s``) and
        put that picture on screen at once; True if it was drawn in time (or nothing was pending)."""
        if not self.worker.wait_drawn(timeout_s):
            return False
        pic = self.worker.last_image
        if pic is not None and pic is not self.display.picture:
            self._on_frame_ready(pic, self.last_render_ms, now=True)
        return True

    def set_rig(self, rig: Rig) -> None:
        self.sig_rig.emit(rig)  # blocks until the render thread has the new scene

    def reset_camera(self) -> None:
        self.sig_reset.emit()

    def draw_now(self, antialias: bool = True) -> None:
        self.sig_render_now.emit(2 if antialias else 1)  # blocks until the render thread has drawn
        pic = self.worker.last_image
        if pic is not None:
            self._on_frame_ready(pic, self.last_render_ms, now=True)
        else:
            self.display.repaint()

    def render_image(self) -> np.ndarray:
        self.draw_now()
        img = self.worker.last_image.full().convertToFormat(QtGui.QImage.Format_RGBA8888)
        arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
        return arr[:, : img.width() * 4].reshape(img.height(), img.width(), 4).copy()

    def close(self) -> None:
        self.sig_stop.emit()  # blocks until the canvas is closed on its thread
        self.thread.quit()
        self.thread.wait()
        self._finalizer.detach()
