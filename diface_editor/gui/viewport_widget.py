"""The GL-widget viewport back-end: vispy's Qt canvas (a ``QOpenGLWidget``) on the GUI thread.

For systems without EGL (the offscreen back-end, :mod:`diface_editor.gui.viewport_offscreen`, is the
default). Drawing happens in the widget's paint event, on the GUI thread.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6 import QtWidgets

from diface_editor.core.rig import Rig
from diface_editor.gui.theme import COLORS
from diface_editor.gui.viewport_scene import Scene

log = logging.getLogger(__name__)


class WidgetBackend:
    """A vispy ``SceneCanvas`` embedded as ``display``; ``F`` on it frames the head again."""

    mode = "widget"
    last_render_ms = 0.0  # drawn inside Qt's paint event: not measured

    def __init__(self, rig: Rig, parent: QtWidgets.QWidget) -> None:
        import vispy
        from vispy import scene

        vispy.use("pyside6")
        self.canvas = scene.SceneCanvas(keys=None, bgcolor=COLORS["viewport_bg"], show=False, parent=parent,
                                        autoswap=False)  # QOpenGLWidget composes itself: no swap
        self.scene = Scene(self.canvas, rig)
        self.display: QtWidgets.QWidget = self.canvas.native
        # one-sided triangles and their order for the camera of this draw (before the scene draws)
        self.canvas.events.draw.connect(lambda ev: self.scene.prepare_draw(), position="first")
        self.canvas.events.key_press.connect(
            lambda ev: self.reset_camera() if ev.key is not None and ev.key.name == "F" else None)

    def show(self, verts: np.ndarray) -> None:
        """Upload (V, 3) vertices; Qt paints them with the widget."""
        self.scene.upload(verts)

    def wait_for_picture(self, timeout_s: float) -> bool:
        """Nothing to wait for: this back-end draws in the GUI thread's paint event."""
        return True

    def set_rig(self, rig: Rig) -> None:
        self.scene.detach()
        self.scene = Scene(self.canvas, rig)

    def reset_camera(self) -> None:
        self.scene.reset_camera()
        self.canvas.update()

    def draw_now(self, antialias: bool = True) -> None:
        """Paint now and wait for OpenGL (``antialias`` has no effect here)."""
        from vispy.gloo import gl

        self.canvas.native.repaint()
        gl.glFinish()

    def render_image(self) -> np.ndarray:
        return self.canvas.render()

    def close(self) -> None:
        self.canvas.close()
