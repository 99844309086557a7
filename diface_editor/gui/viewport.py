"""The 3-D viewport: the shaded head rig drawn with vispy, embedded in Qt.

The viewport *observes* the document (and the playback time); it never owns animation state. For
each shown frame it evaluates the rig for that one frame (:meth:`Rig.frame_vertices
<diface_editor.core.rig.Rig.frame_vertices>`, ~0.5 ms) and hands the vertices to its back-end, which
uploads them to the existing mesh (:mod:`diface_editor.gui.viewport_scene`).

Camera: turntable. Left drag orbits, right drag or wheel zooms, Shift+left drag pans, double click
or ``F`` (View > Reset Camera) frames the head again.

Two ways to put the picture on screen (``DIFACE_VIEWPORT=offscreen|widget``; default ``offscreen``,
falling back to ``widget`` when there is no EGL):

* ``offscreen`` (:class:`~diface_editor.gui.viewport_offscreen.OffscreenBackend`): a render thread
  draws with a headless EGL context and hands back pictures; the GUI thread never waits for OpenGL.
* ``widget`` (:class:`~diface_editor.gui.viewport_widget.WidgetBackend`): vispy's Qt backend (a
  ``QOpenGLWidget``) on the GUI thread, for systems without EGL.

Without a head (the shipped rig could not be loaded) there is no back-end and the viewport says why.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Protocol

import numpy as np
from PySide6 import QtCore, QtWidgets

from diface_editor.core.animation import Animation
from diface_editor.core.document import Document
from diface_editor.core.rig import BlendshapeRig, Rig
from diface_editor.gui.viewport_offscreen import ImageView, OffscreenBackend
from diface_editor.gui.viewport_widget import WidgetBackend

log = logging.getLogger(__name__)

__all__ = ["Viewport"]


class Backend(Protocol):
    """What the viewport needs from a way of putting the head on screen."""

    mode: str  # "offscreen" | "widget"
    display: QtWidgets.QWidget
    last_render_ms: float

    def show(self, verts: np.ndarray) -> None: ...
    def wait_for_picture(self, timeout_s: float) -> bool: ...
    def set_rig(self, rig: Rig) -> None: ...
    def reset_camera(self) -> None: ...
    def draw_now(self, antialias: bool = True) -> None: ...
    def render_image(self) -> np.ndarray: ...
    def close(self) -> None: ...


class Viewport(QtWidgets.QWidget):
    """Shows ``rig`` deformed by the document's animation at the current time.

    Args:
        rig: the rig to draw; ``None`` loads the shipped default head (``resources/head_rig.npz``);
            if that fails the viewport shows the reason instead of a head.
        mode: ``"offscreen"`` or ``"widget"`` (default: ``$DIFACE_VIEWPORT`` or ``"offscreen"``).

    Attributes:
        backend: the back-end in use (``None`` without a head, or once closed).
        mode: the back-end's mode (``"offscreen"`` falls back to ``"widget"`` without EGL), ``"none"``
            without a head, ``"closed"`` after :meth:`close_canvas`.
        last_vertices: (V, 3) vertices of the frame shown last (``None`` before the first).
        last_update_ms: time to evaluate the rig for the last frame (GUI thread).
        last_render_ms: time the last picture took to draw (render thread, offscreen mode).
    """

    frame_drawn = QtCore.Signal(int)

    def __init__(self, rig: Rig | None = None, parent: QtWidgets.QWidget | None = None,
                 mode: str | None = None) -> None:
        super().__init__(parent)
        self.doc: Document | None = None
        self._preview: Animation | None = None
        self._time = 0.0
        self._shown: tuple | None = None  # (id(anim), frame) last drawn
        self._wait_next_change = 0.0  # seconds (see picture_first_on_next_change)
        self.last_update_ms = 0.0
        self.last_vertices: np.ndarray | None = None
        self.rig_error: str | None = None
        self._closed = False
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
        self.backend: Backend | None = None
        if rig is not None:
            self.backend = self._start_backend((mode or os.environ.get("DIFACE_VIEWPORT") or "offscreen").lower())
        self.display: QtWidgets.QWidget = self.backend.display if self.backend is not None else ImageView(self)
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

    def _start_backend(self, mode: str) -> Backend:
        """The offscreen back-end if asked for and EGL works, else the GL widget."""
        if mode == "offscreen":
            started = OffscreenBackend.start(self.rig, self, on_quit=self.close_canvas)
            if not isinstance(started, str):
                return started
            log.info("offscreen (EGL) viewport unavailable (%s); using a GL widget", started)
        return WidgetBackend(self.rig, self)

    @property
    def mode(self) -> str:
        if self.backend is not None:
            return self.backend.mode
        return "closed" if self._closed else "none"

    @property
    def last_render_ms(self) -> float:
        return self.backend.last_render_ms if self.backend is not None else 0.0

    def eventFilter(self, obj, ev) -> bool:
        if obj is self.display and ev.type() == QtCore.QEvent.Resize:
            self.message.setGeometry(20, 0, max(10, self.display.width() - 40), self.display.height())
        return super().eventFilter(obj, ev)

    # ------------------------------------------------------------------ the head
    def set_rig(self, rig: Rig | None) -> bool:
        """Show ``rig`` from now on (e.g. a subject's mesh for vertex-space takes); ``None``: the
        shipped head. False if this viewport has no drawing back-end (it started without a head)."""
        if self.backend is None:
            return False
        if rig is None:
            from diface_editor.core.rig import load_default_rig
            rig = load_default_rig()
        self.rig = rig
        self._shown = None
        self.last_vertices = None
        self.message.setText("")
        self.backend.set_rig(rig)
        self.refresh()
        return True

    # ------------------------------------------------------------------ camera
    def reset_camera(self) -> None:
        """Frame the head from the default direction."""
        if self.backend is not None:
            self.backend.reset_camera()

    def wait_for_picture(self, timeout_s: float) -> bool:
        """Let the picture of the frame just shown come first: block (at most ``timeout_s``) until it
        is drawn and on screen. For a picture the user is waiting for (a released pin's pose): on two
        cores the GUI thread's redraw of the other views competes with the render thread for the CPU
        and the GIL and delays it. True if it was drawn in time or nothing was pending."""
        return True if self.backend is None else bool(self.backend.wait_for_picture(float(timeout_s)))

    def draw_now(self, antialias: bool = True) -> None:
        """Draw synchronously (benchmarks, screenshots): the picture is on screen when this returns.

        ``antialias``: draw at 2x and scale down (offscreen mode; what an idle viewport shows), else
        draw like a playback frame.
        """
        if self.backend is not None:
            self.backend.draw_now(antialias)

    # ------------------------------------------------------------------ document binding
    def set_document(self, doc: Document | None) -> None:
        if self.doc is not None:
            self.doc.events.disconnect_object(self)
        self.doc = doc
        self._preview = None
        self._shown = None
        self._wait_next_change = 0.0
        if doc is not None:
            doc.events.animation.connect(self._on_animation)
        self.refresh()

    @property
    def preview(self) -> Animation | None:
        """The animation shown instead of the document's (a live preview), or None."""
        return self._preview

    def set_preview(self, anim: Animation | None) -> None:
        """Show ``anim`` instead of the document's animation (live preview); ``None`` ends it (and does
        nothing when no preview is shown: a result's end-of-preview must not redraw the old pose, which
        would make the render thread draw a stale picture before the result's)."""
        if anim is None and self._preview is None:
            return
        self._preview = anim
        self._shown = None
        self.refresh()

    def _on_animation(self, ev) -> None:
        if self._preview is not None:  # the preview stays on screen; its end shows the new animation
            return
        self._shown = None
        self.refresh()
        wait, self._wait_next_change = self._wait_next_change, 0.0
        if wait > 0:
            self.wait_for_picture(wait)

    def picture_first_on_next_change(self, timeout_s: float) -> None:
        """The next change of the document's animation (an interactive re-solve's result) is drawn
        before the other views hear of it: :meth:`wait_for_picture` for at most ``timeout_s`` then."""
        self._wait_next_change = float(timeout_s)

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
            verts = self.rig.frame_vertices(anim, f)
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
        # the same vertices as the picture on screen (or being drawn) need no new picture: e.g. a
        # pin drag's pose at its key's frame, which the re-solve's result keeps exactly
        same = self.last_vertices is not None and np.array_equal(verts, self.last_vertices)
        self.last_vertices = verts
        if self.backend is not None and not same:
            self.backend.show(verts)
        self._shown = key
        self.info.setText(f"frame {f}  ·  {f / anim.fps:.2f} s")
        self.info.adjustSize()
        self.last_update_ms = (time.perf_counter() - t0) * 1e3
        self.frame_drawn.emit(f)

    def render_image(self) -> np.ndarray:
        """(H, W, 4) uint8 RGBA of the current state (drawn now)."""
        if self.backend is None:
            return np.zeros((1, 1, 4), np.uint8)
        return self.backend.render_image()

    def close_canvas(self) -> None:
        """Stop the render thread (or close the GL widget's canvas). Call before the window closes."""
        if self.doc is not None:
            self.doc.events.disconnect_object(self)
            self.doc = None
        if self.backend is not None:
            self.backend.close()
            self.backend = None
            self._closed = True
