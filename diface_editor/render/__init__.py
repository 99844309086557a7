"""Rendering of a rig's mesh without a window (vispy + EGL): pictures, videos, thumbnails.

``render.geometry`` and ``render.camera`` are numpy only (the GUI viewport reuses them);
``render.offscreen`` needs vispy and an OpenGL context (EGL, surfaceless Mesa works with no display).
"""

from diface_editor.render.camera import CameraSpec
from diface_editor.render.geometry import PART_COLOURS, vertex_colours, vertex_normals

__all__ = ["CameraSpec", "PART_COLOURS", "vertex_colours", "vertex_normals", "OffscreenRenderer", "RenderError"]


def __getattr__(name):  # vispy is imported only when the renderer itself is asked for
    if name in ("OffscreenRenderer", "RenderError"):
        from diface_editor.render import offscreen
        return getattr(offscreen, name)
    raise AttributeError(name)
