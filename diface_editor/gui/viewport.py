"""The 3-D viewport: the shaded head rig drawn with vispy, embedded in Qt.

The viewport *observes* the document (and the playback time); it never owns animation state. For
each shown frame it evaluates the rig for that one frame (``np.einsum``, ~0.5 ms) and uploads the
new vertex positions to the existing mesh (faces, colours and the shader stay), with smooth normals
from a bincount scatter (:func:`diface_editor.render.geometry.vertex_normals`, ~10x faster than
vispy's ``np.add.at``).

Camera: turntable. Left drag orbits, right drag or wheel zooms, Shift+left drag pans, double click
or ``F`` (View > Reset Camera) frames the head again.

Two ways to put the picture on screen (``DIFACE_VIEWPORT=offscreen|widget``; default ``offscreen``,
falling back to ``widget`` when there is no EGL):

* ``offscreen``: a render thread owns a headless EGL context with the vispy scene, draws into a
  framebuffer and hands back a ``QImage``; a plain raster widget shows it and forwards mouse input.
  The GUI thread never waits for OpenGL (with software rendering, Mesa llvmpipe, a frame takes tens
  of milliseconds), and the rest of the window stays raster-painted: a ``QOpenGLWidget`` anywhere
  in a window makes Qt compose the *whole* window through OpenGL on every repaint (measured here:
  ~65 ms for a status-bar update in a 1600x1000 window, 0.2 ms without it).
* ``widget``: vispy's Qt backend (a ``QOpenGLWidget``) on the GUI thread, for systems without EGL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from diface_editor.core.animation import Animation
from diface_editor.core.document import Document
from diface_editor.core.rig import BlendshapeRig, Rig
from diface_editor.core.rotations import axis_angle_to_matrix
from diface_editor.gui.theme import COLORS
from diface_editor.render.geometry import vertex_colours, vertex_normals

log = logging.getLogger(__name__)

#: Default view: a little from the character's left and above, like the render module's default.
DEFAULT_AZIMUTH = 24.0
DEFAULT_ELEVATION = 6.0
DEFAULT_FOV = 24.0
#: after this long without changes the offscreen viewport redraws once at 2x (anti-aliased)
REFINE_DELAY_MS = 200

#: vispy keeps one process-wide "current canvas" (``gloo.get_current_canvas``), and ``Program.draw``
#: sends its GL commands to that canvas's queue. Two offscreen viewports (two windows) render on two
#: threads, so every use of a canvas holds this lock and makes its canvas current first; without it
#: one thread's commands run against the other's GL objects ("Cannot FRAMEBUFFER object 28 because it
#: does not exist", GL_INVALID_FRAMEBUFFER_OPERATION).
_GL_LOCK = threading.RLock()


# ============================================================================ the vispy scene
def _mesh_data_class():
    from vispy.geometry import MeshData

    class RigMeshData(MeshData):
        """MeshData whose vertex normals use a fast bincount scatter instead of ``np.add.at``."""

        def get_vertex_normals(self, indexed=None):
            if self._vertex_normals is None:
                self._vertex_normals = vertex_normals(self.get_vertices(), self.get_faces())
                self._vertex_normals_indexed_by_faces = None
            if indexed is None:
                return self._vertex_normals
            if indexed == "faces":
                if self._vertex_normals_indexed_by_faces is None:
                    self._vertex_normals_indexed_by_faces = self._vertex_normals[self.get_faces()]
                return self._vertex_normals_indexed_by_faces
            raise ValueError("indexed must be None or 'faces'")

    return RigMeshData


class _Scene:
    """The vispy scene of one canvas: a view with a turntable camera and the rig's mesh.

    Every method must run on the thread that owns the canvas's GL context.
    """

    def __init__(self, canvas, rig: Rig) -> None:
        from vispy import scene
        from vispy.visuals.transforms import MatrixTransform

        self.canvas = canvas
        self.rig = rig
        self.view = canvas.central_widget.add_view()
        self.view.camera = scene.TurntableCamera(fov=DEFAULT_FOV, azimuth=DEFAULT_AZIMUTH, elevation=DEFAULT_ELEVATION)
        # near = distance / sqrt(depth_value): vispy's default 1e6 wastes the depth buffer (z-fighting
        # between lips, teeth and eyelids); 64 keeps near/far at distance / 8 .. distance * 8
        self.view.camera.depth_value = 64.0
        self.md = _mesh_data_class()(vertices=rig.template.copy(), faces=rig.faces)
        extra = getattr(rig, "extra", {}) or {}
        cols = vertex_colours(rig.n_vertices, extra.get("part_labels"), extra.get("part_names"))
        self.md.set_vertex_colors(np.concatenate([cols, np.ones((len(cols), 1), np.float32)], 1))
        self.mesh = scene.visuals.Mesh(meshdata=self.md, shading="smooth", parent=self.view.scene)
        sf = self.mesh.shading_filter
        sf.ambient_light = (1, 1, 1, 0.30)
        sf.diffuse_light = (1, 0.97, 0.93, 0.78)
        sf.specular_light = (1, 1, 1, 0.10)
        sf.shininess = 24
        # rig axes: y up, face along +z -> vispy's z-up turntable frame (face towards -y, the camera)
        tr = MatrixTransform()
        tr.rotate(90, (1, 0, 0))
        self.mesh.transform = tr
        self._light = np.array([0.4, -0.5, 1.0, 0.0])  # camera frame: a key light from the upper left front
        self.view.scene.transform.changed.connect(self.update_light)
        self._uploaded = False
        self.reset_camera()
        self.update_light()

    def detach(self) -> None:
        """Take this scene's view off its canvas (before another scene replaces it)."""
        self.canvas.central_widget.remove_widget(self.view)
        self.view.parent = None

    def update_light(self, *_):
        d = self.view.camera.transform.map(self._light)[:3]
        self.mesh.shading_filter.light_dir = tuple(-np.asarray(d))

    def reset_camera(self) -> None:
        cam = self.view.camera
        t = self.rig.template
        lo, hi = t.min(0), t.max(0)
        c = (lo + hi) / 2
        c[1] += 0.06 * (hi[1] - lo[1])  # look a little above the middle: the face, not the neck
        cam.center = (float(c[0]), float(-c[2]), float(c[1]))  # rig (x, y, z) -> scene (x, -z, y)
        cam.azimuth = DEFAULT_AZIMUTH
        cam.elevation = DEFAULT_ELEVATION
        cam.fov = DEFAULT_FOV
        cam.scale_factor = float(np.linalg.norm(hi - lo) / 2) * 1.75
        cam.distance = None

    def upload(self, verts: np.ndarray) -> None:
        """New vertex positions (and normals) to the GPU, keeping faces, colours and the shader.

        ``mesh_data_changed`` would rebuild the colour buffer and re-link the shader program on
        every frame; after the first upload only the two vertex buffers change.
        """
        self.md.set_vertices(verts)  # keeps the MeshData consistent (and drops cached normals)
        mesh, sf = self.mesh, self.mesh.shading_filter
        if not self._uploaded or not hasattr(mesh, "_vertices") or not hasattr(sf, "_normals"):
            mesh.mesh_data_changed()
            self._uploaded = True
            return
        mesh._vertices.set_data(verts[self.rig.faces], convert=True)
        normals = self.md.get_vertex_normals(indexed="faces")
        sf._normals.set_data(normals, convert=True)
        sf._normals_cache = normals
        mesh.update()


# ============================================================================ offscreen renderer
class _RenderWorker(QtCore.QObject):
    """Lives on the render thread: owns the EGL canvas and the scene, renders on request.

    Vertices arrive through a mailbox (only the newest set is uploaded), input and size changes
    through queued signals; drawing is coalesced by a zero-delay timer, so a burst of requests makes
    one picture. Pictures go back with ``frame_ready(QImage, ms)``.
    """

    frame_ready = QtCore.Signal(object, float)
    started = QtCore.Signal(bool, str)

    def __init__(self, rig: Rig) -> None:
        super().__init__()
        self.rig = rig
        self.canvas = None
        self.scene: _Scene | None = None
        self._fbos: dict = {}
        self._timer: QtCore.QTimer | None = None
        self._refine: QtCore.QTimer | None = None
        self._lock = threading.Lock()
        self._mail: np.ndarray | None = None
        self._size = (640, 480)
        self._dpr = 1.0
        self.last_image: QtGui.QImage | None = None

    @contextlib.contextmanager
    def _gl(self):
        """Hold ``_GL_LOCK`` with this worker's canvas current."""
        with _GL_LOCK:
            self.canvas.set_current()
            yield

    # ------------------------------------------------------------------ thread-side slots
    @QtCore.Slot()
    def start(self) -> None:
        try:
            os.environ.setdefault("EGL_PLATFORM", "surfaceless")
            from vispy import scene

            with _GL_LOCK:
                self.canvas = scene.SceneCanvas(app="egl", keys=None, bgcolor=COLORS["viewport_bg"], show=False,
                                                size=self._size)
                self.canvas.set_current()
                self.scene = _Scene(self.canvas, self.rig)
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
        return empty

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
            self.scene = _Scene(self.canvas, rig)
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

    def schedule_from_gui(self) -> None:
        QtCore.QMetaObject.invokeMethod(self, "schedule_slot", QtCore.Qt.QueuedConnection)

    @QtCore.Slot()
    def schedule_slot(self) -> None:
        self.schedule()

    @QtCore.Slot()
    def render(self, supersample: int = 1) -> None:
        if self.canvas is None:
            return
        with self._gl():
            img, ms = self._draw(supersample)
        self.last_image = img
        self.frame_ready.emit(img, ms)
        if supersample == 1 and self._refine is not None:
            self._refine.start()

    def _draw(self, supersample: int) -> tuple[QtGui.QImage, float]:
        """Draw the scene into a framebuffer: (picture, milliseconds). Inside :meth:`_gl`."""
        from vispy import gloo

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
                c._draw_scene()
                pixels = np.ascontiguousarray(fbo.read())
            finally:
                c.pop_fbo()
        finally:
            if supersample > 1:
                c.size = self._size
                c.events.resize(size=self._size, physical_size=self._size)
        img = QtGui.QImage(pixels.data, pixels.shape[1], pixels.shape[0], pixels.strides[0],
                           QtGui.QImage.Format_RGBA8888)
        if supersample > 1:
            img = img.scaled(out_size[0], out_size[1], QtCore.Qt.IgnoreAspectRatio, QtCore.Qt.SmoothTransformation)
        else:
            img = img.copy()  # own the memory: it crosses threads
        img.setDevicePixelRatio(self._dpr)
        return img, (time.perf_counter() - t0) * 1e3

    def take_vertices_now(self) -> bool:
        """Upload the newest vertices from the mailbox, if any; True if there were some."""
        with self._lock:
            verts, self._mail = self._mail, None
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


class _ImageView(QtWidgets.QWidget):
    """Shows the rendered pictures and forwards mouse and wheel input to the render thread."""

    def __init__(self, viewport: "Viewport") -> None:
        super().__init__(viewport)
        self._vp = viewport
        self.image: QtGui.QImage | None = None
        self.setFocusPolicy(QtCore.Qt.ClickFocus)
        self.setAttribute(QtCore.Qt.WA_OpaquePaintEvent)
        self._bg = QtGui.QColor(COLORS["viewport_bg"])

    def set_image(self, img: QtGui.QImage) -> None:
        self.image = img
        self.update()

    def paintEvent(self, ev) -> None:
        p = QtGui.QPainter(self)
        p.fillRect(self.rect(), self._bg)
        if self.image is not None:
            p.drawImage(0, 0, self.image)
        p.end()

    def resizeEvent(self, ev) -> None:
        self._vp._sig_resize.emit(self.width(), self.height(), float(self.devicePixelRatioF()))
        super().resizeEvent(ev)

    def _kw(self, ev, button: bool = True) -> dict:
        p = ev.position()
        kw = {"pos": (float(p.x()), float(p.y())), "modifiers": _vispy_modifiers(ev.modifiers()),
              "buttons": _vispy_buttons(ev.buttons())}
        if button:
            kw["button"] = _vispy_button(ev.button())
        return kw

    def mousePressEvent(self, ev) -> None:
        if _vispy_button(ev.button()) is not None:
            self._vp._sig_mouse.emit("press", self._kw(ev))
        ev.accept()

    def mouseMoveEvent(self, ev) -> None:
        self._vp._sig_mouse.emit("move", self._kw(ev, button=False))
        ev.accept()

    def mouseReleaseEvent(self, ev) -> None:
        if _vispy_button(ev.button()) is not None:
            self._vp._sig_mouse.emit("release", self._kw(ev))
        ev.accept()

    def mouseDoubleClickEvent(self, ev) -> None:
        self._vp.reset_camera()
        ev.accept()

    def wheelEvent(self, ev) -> None:
        d = ev.angleDelta()
        kw = self._kw(ev, button=False)
        kw["delta"] = (d.x() / 120.0, d.y() / 120.0)
        self._vp._sig_mouse.emit("wheel", kw)
        ev.accept()

    def keyPressEvent(self, ev) -> None:
        if ev.key() == QtCore.Qt.Key_F and not ev.modifiers():
            self._vp.reset_camera()
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


# ============================================================================ the viewport widget
class Viewport(QtWidgets.QWidget):
    """Shows ``rig`` deformed by the document's animation at the current time.

    Args:
        rig: the rig to draw; ``None`` loads the shipped default head (``resources/head_rig.npz``);
            if that fails the viewport shows the reason instead of a head.
        mode: ``"offscreen"`` or ``"widget"`` (default: ``$DIFACE_VIEWPORT`` or ``"offscreen"``).

    Attributes:
        mode: the mode in use (``"offscreen"`` falls back to ``"widget"`` without EGL).
        last_vertices: (V, 3) vertices of the frame shown last (``None`` before the first).
        last_update_ms: time to evaluate the rig for the last frame (GUI thread).
        last_render_ms: time the last picture took to draw (render thread, offscreen mode).
    """

    frame_drawn = QtCore.Signal(int)
    _sig_wake = QtCore.Signal()
    _sig_resize = QtCore.Signal(int, int, float)
    _sig_mouse = QtCore.Signal(str, object)
    _sig_reset = QtCore.Signal()
    _sig_render_now = QtCore.Signal(int)
    _sig_stop = QtCore.Signal()
    _sig_rig = QtCore.Signal(object)

    def __init__(self, rig: Rig | None = None, parent: QtWidgets.QWidget | None = None,
                 mode: str | None = None) -> None:
        super().__init__(parent)
        self.doc: Document | None = None
        self._preview: Animation | None = None
        self._time = 0.0
        self._shown: tuple | None = None  # (id(anim), frame) last drawn
        self.last_update_ms = 0.0
        self.last_render_ms = 0.0
        self.last_vertices: np.ndarray | None = None
        self._cols_for: tuple | None = None
        self._cols = np.zeros(0, np.intp)
        self.rig_error: str | None = None
        self._thread: QtCore.QThread | None = None
        self._worker: _RenderWorker | None = None
        self._scene: _Scene | None = None  # widget mode only
        self.canvas = None  # widget mode only
        if rig is None:
            try:
                from diface_editor.core.rig import load_default_rig
                rig = load_default_rig()
            except Exception as e:  # a missing/damaged resource must not stop the editor
                self.rig_error = str(e)
                log.warning("no head rig: %s", e)
        self.rig = rig

        self._lay = QtWidgets.QVBoxLayout(self)
        self._lay.setContentsMargins(0, 0, 0, 0)
        mode = (mode or os.environ.get("DIFACE_VIEWPORT") or "offscreen").lower()
        self.mode = "none"
        if rig is not None and mode == "offscreen":
            why = self._start_offscreen()
            if why:
                log.info("offscreen (EGL) viewport unavailable (%s); using a GL widget", why)
        if rig is not None and self.mode == "none":
            self._start_widget()
        if self.mode == "none":
            self.display: QtWidgets.QWidget = _ImageView(self)
            self._lay.addWidget(self.display)
        self.display.setMinimumSize(200, 160)
        self.display.setToolTip("Left drag: orbit · wheel / right drag: zoom · Shift+drag: pan · "
                                "double click or F: reset view")
        # overlays are Qt labels (vispy's text visual costs ~1 s of glyph set-up)
        self.info = QtWidgets.QLabel("", self.display)
        self.info.setStyleSheet("color: #c8ccd2; background: transparent; font-size: 9pt;")
        self.info.move(10, 8)
        self.info.setAttribute(QtCore.Qt.WA_TransparentForMouseEvents)
        self.message = QtWidgets.QLabel("", self.display)
        self.message.setStyleSheet("color: #ffb4a8; background: transparent; font-size: 11pt;")
        self.message.setAlignment(QtCore.Qt.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setAttribute(QtCore.Qt.WA_TransparentForMouseEvents)
        if rig is None:
            self.message.setText(f"No head to show: {self.rig_error}")
        self.display.installEventFilter(self)

    # ------------------------------------------------------------------ back-ends
    def _start_offscreen(self) -> str:
        """Start the render thread; returns '' on success or why it failed."""
        thread = QtCore.QThread()
        thread.setObjectName("diface-viewport-render")
        worker = _RenderWorker(self.rig)
        worker.moveToThread(thread)
        result: dict = {}
        worker.started.connect(lambda ok, why: result.update(ok=ok, why=why), QtCore.Qt.DirectConnection)
        thread.start()
        QtCore.QMetaObject.invokeMethod(worker, "start", QtCore.Qt.BlockingQueuedConnection)
        if not result.get("ok"):
            thread.quit()
            thread.wait()
            return result.get("why", "unknown error")
        self._thread, self._worker = thread, worker
        # never leave a running QThread behind (Qt aborts the process when one is destroyed running)
        self._finalizer = weakref.finalize(self, _stop_thread, thread)
        app = QtCore.QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.close_canvas)
        self._sig_wake.connect(worker.take_vertices)
        self._sig_resize.connect(worker.resize)
        self._sig_mouse.connect(worker.mouse)
        self._sig_reset.connect(worker.reset_camera)
        self._sig_render_now.connect(worker.render_now, QtCore.Qt.BlockingQueuedConnection)
        self._sig_stop.connect(worker.stop, QtCore.Qt.BlockingQueuedConnection)
        self._sig_rig.connect(worker.set_rig, QtCore.Qt.BlockingQueuedConnection)
        worker.frame_ready.connect(self._on_frame_ready)
        self.display = _ImageView(self)
        self._lay.addWidget(self.display)
        self.mode = "offscreen"
        return ""

    def _start_widget(self) -> None:
        import vispy
        from vispy import scene

        vispy.use("pyside6")
        self.canvas = scene.SceneCanvas(keys=None, bgcolor=COLORS["viewport_bg"], show=False, parent=self,
                                        autoswap=False)  # QOpenGLWidget composes itself: no swap
        self._scene = _Scene(self.canvas, self.rig)
        self.display = self.canvas.native
        self._lay.addWidget(self.display)
        self.canvas.events.key_press.connect(
            lambda ev: self.reset_camera() if ev.key is not None and ev.key.name == "F" else None)
        self.mode = "widget"

    def _on_frame_ready(self, img: QtGui.QImage, ms: float) -> None:
        self.last_render_ms = ms
        self.display.set_image(img)

    def eventFilter(self, obj, ev) -> bool:
        if obj is self.display and ev.type() == QtCore.QEvent.Resize:
            self.message.setGeometry(20, 0, max(10, self.display.width() - 40), self.display.height())
        return super().eventFilter(obj, ev)

    # ------------------------------------------------------------------ the head
    def set_rig(self, rig: Rig | None) -> bool:
        """Show ``rig`` from now on (e.g. a subject's mesh for vertex-space takes); ``None``: the
        shipped head. False if this viewport has no drawing back-end (it started without a head)."""
        if self.mode == "none":
            return False
        if rig is None:
            from diface_editor.core.rig import load_default_rig
            rig = load_default_rig()
        self.rig = rig
        self._cols_for, self._shown = None, None
        self.last_vertices = None
        self.message.setText("")
        if self.mode == "offscreen":
            self._sig_rig.emit(rig)  # blocks until the render thread has the new scene
        else:
            self._scene.detach()
            self._scene = _Scene(self.canvas, rig)
        self.refresh()
        return True

    # ------------------------------------------------------------------ camera
    def reset_camera(self) -> None:
        """Frame the head from the default direction."""
        if self.mode == "offscreen":
            self._sig_reset.emit()
        elif self._scene is not None:
            self._scene.reset_camera()
            self.canvas.update()

    def request_draw(self) -> None:
        if self.mode == "widget":
            self.canvas.update()
        elif self.mode == "offscreen":
            self._worker.schedule_from_gui()

    def draw_now(self, antialias: bool = True) -> None:
        """Draw synchronously (benchmarks, screenshots): the picture is on screen when this returns.

        ``antialias``: draw at 2x and scale down (offscreen mode; what an idle viewport shows), else
        draw like a playback frame.
        """
        if self.mode == "offscreen":
            self._sig_render_now.emit(2 if antialias else 1)  # blocks until the render thread has drawn
            img = self._worker.last_image
            if img is not None:
                self._on_frame_ready(img, self.last_render_ms)
            self.display.repaint()
        elif self.mode == "widget":
            self.canvas.native.repaint()
            from vispy.gloo import gl
            gl.glFinish()

    # ------------------------------------------------------------------ document binding
    def set_document(self, doc: Document | None) -> None:
        if self.doc is not None:
            self.doc.events.disconnect_object(self)
        self.doc = doc
        self._preview = None
        self._shown = None
        if doc is not None:
            doc.events.animation.connect(self._on_animation)
        self.refresh()

    def set_preview(self, anim: Animation | None) -> None:
        """Show ``anim`` instead of the document's animation (live preview); ``None`` ends it."""
        self._preview = anim
        self._shown = None
        self.refresh()

    def _on_animation(self, ev) -> None:
        self._shown = None
        self.refresh()

    def set_time(self, t: float) -> None:
        self._time = float(t)
        self.refresh()

    def current_frame(self) -> int:
        anim = self._anim()
        if anim is None:
            return 0
        return int(np.clip(np.floor(self._time * anim.fps + 1e-6), 0, anim.n_frames - 1))

    def _anim(self) -> Animation | None:
        if self._preview is not None:
            return self._preview
        return self.doc.animation if self.doc is not None else None

    def refresh(self) -> None:
        """Show the current frame if it (or the animation) changed."""
        anim = self._anim()
        if anim is None or self.rig is None:
            return
        f = self.current_frame()
        # not keyed on doc.version: a keyframe or settings change must not redraw (the render thread
        # would compete with the sampler for the CPU); animation changes reset _shown via events
        key = (id(anim), f)
        if key == self._shown:
            return
        t0 = time.perf_counter()
        try:
            verts = self.frame_vertices(anim, f)
        except Exception as e:  # e.g. a vertex-space animation on a blendshape rig
            if anim.space == "vertex" and isinstance(self.rig, BlendshapeRig):
                self.message.setText("This take moves the vertices of a subject's mesh (a vertex-space model). "
                                     "Choose that mesh in View > Head Mesh for Vertex Takes…")
            else:
                self.message.setText(str(e))
            self._shown = key
            return
        if self.message.text():
            self.message.setText("")
        self.last_vertices = verts
        if self.mode == "offscreen":
            if self._worker.post_vertices(verts):
                self._sig_wake.emit()
        elif self.mode == "widget":
            self._scene.upload(verts)
        self._shown = key
        self.info.setText(f"frame {f}  ·  {f / anim.fps:.2f} s")
        self.info.adjustSize()
        self.last_update_ms = (time.perf_counter() - t0) * 1e3
        self.frame_drawn.emit(f)

    def frame_vertices(self, anim: Animation, f: int) -> np.ndarray:
        """(V, 3) float32 vertices of frame ``f`` (same as ``rig.vertices(anim.slice(f, f + 1))[0]``).

        The single-frame blendshape sum and rotation use ``np.einsum`` rather than BLAS: a multi-
        threaded OpenBLAS ``(1, K) @ (K, 3V)`` takes ~20 ms on a busy 2-core machine, einsum ~0.5 ms.
        """
        rig = self.rig
        if not isinstance(rig, BlendshapeRig) or anim.space != "arkit":
            return rig.vertices(anim.slice(f, f + 1))[0]
        rig.check(anim)
        if self._cols_for != anim.channel_names:
            names = anim.channel_names
            self._cols = np.array([names.index(n) if n in names else -1 for n in rig.blendshape_names], np.intp)
            self._cols_for = names
        row = anim.face[f]
        w = np.where(self._cols >= 0, row[np.maximum(self._cols, 0)], 0.0).astype(np.float32)
        flat = rig.deltas.reshape(len(rig.blendshape_names), -1)
        verts = rig.template + np.einsum("k,kn->n", w, flat).reshape(-1, 3)
        head = anim.head[f]
        if np.any(head):
            R = axis_angle_to_matrix(head).astype(np.float32)
            rotated = np.einsum("vj,ij->vi", verts - rig.pivot, R) + rig.pivot
            if rig.neck_weights is None:
                verts = rotated
            else:
                wn = rig.neck_weights[:, None]
                verts = wn * rotated + (1.0 - wn) * verts
        return verts.astype(np.float32, copy=False)

    def render_image(self) -> np.ndarray:
        """(H, W, 4) uint8 RGBA of the current state (drawn now)."""
        if self.mode == "offscreen":
            self.draw_now()
            img = self._worker.last_image.convertToFormat(QtGui.QImage.Format_RGBA8888)
            ptr = img.constBits()
            arr = np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine())
            return arr[:, : img.width() * 4].reshape(img.height(), img.width(), 4).copy()
        if self.mode == "widget":
            return self.canvas.render()
        return np.zeros((1, 1, 4), np.uint8)

    def close_canvas(self) -> None:
        """Stop the render thread (or close the GL widget's canvas). Call before the window closes."""
        if self.doc is not None:
            self.doc.events.disconnect_object(self)
            self.doc = None
        if self._thread is not None:
            self._sig_stop.emit()  # blocks until the canvas is closed on its thread
            self._thread.quit()
            self._thread.wait()
            self._thread = None
            self._finalizer.detach()
            self.mode = "closed"
        elif self.canvas is not None:
            self.canvas.close()
            self.canvas = None
