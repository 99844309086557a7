"""The vispy scene the viewport draws: a turntable camera and the rig's shaded mesh.

Shared by both viewport back-ends (:mod:`diface_editor.gui.viewport_offscreen`,
:mod:`diface_editor.gui.viewport_widget`). The head is a
:class:`~diface_editor.gui.head_visual.HeadMeshVisual` (one lean shader, no discarding filters, so
software GL keeps its early depth test); each frame only its vertex positions and normals are
uploaded (faces, colours and the shader stay), the normals from a precomputed sparse scatter
(:class:`diface_editor.core.geometry.SmoothNormals`, ~1 ms for the default head).

Software GL (Mesa llvmpipe) spends a frame setting up triangles and shading pixels, so
:meth:`Scene.prepare_draw` keeps both down: triangles whose back faces the camera cannot see are
drawn with back faces culled (:mod:`diface_editor.core.mesh_sides`: closed surfaces always, the
head's skin while the camera is not looking into the neck), and all are drawn nearest first
(sorted along the viewing direction, again whenever the camera has turned by more than
``RESORT_DEGREES``) so the depth test rejects most hidden fragments before they are shaded.
:meth:`Scene.pixel_rect` says which part of the framebuffer the head covers, so only that part is
read back.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from diface_editor.core.geometry import SmoothNormals, vertex_colours
from diface_editor.core.mesh_sides import mesh_sides
from diface_editor.core.rig import Rig
from diface_editor.gui.head_visual import HeadMesh, camera_in

log = logging.getLogger(__name__)

#: Default view: a little from the character's left and above, like the render module's default.
DEFAULT_AZIMUTH = 24.0
DEFAULT_ELEVATION = 6.0
DEFAULT_FOV = 24.0
#: the faces are sorted nearest-first again when the viewing direction turned by more than this
RESORT_DEGREES = 20.0
#: after this long without changes the offscreen viewport redraws once at 2x (anti-aliased)
REFINE_DELAY_MS = 200

#: vispy keeps one process-wide "current canvas" (``gloo.get_current_canvas``), and ``Program.draw``
#: sends its GL commands to that canvas's queue. Two offscreen viewports (two windows) render on two
#: threads, so every use of a canvas holds this lock and makes its canvas current first; without it
#: one thread's commands run against the other's GL objects ("Cannot FRAMEBUFFER object 28 because it
#: does not exist", GL_INVALID_FRAMEBUFFER_OPERATION).
GL_LOCK = threading.RLock()


class Scene:
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
        extra = getattr(rig, "extra", {}) or {}
        cols = vertex_colours(rig.n_vertices, extra.get("part_labels"), extra.get("part_names"))
        self.normals = SmoothNormals(rig.faces, rig.n_vertices)
        template = np.asarray(rig.template, np.float32)
        self.vertices = template  # (V, 3) the positions drawn now, rig frame (metres)
        self._centroids = template[rig.faces].mean(1)  # (F, 3): the sort key of each triangle
        self._sorted_along: np.ndarray | None = None  # the viewing direction the faces are sorted for
        self._order = np.arange(len(rig.faces))  # faces nearest-first for that direction
        self.sides = mesh_sides(template, rig.faces)
        self._one_sided: np.ndarray | None = None  # (F,) bool: the faces drawn with back faces culled
        self._render_of_draw: np.ndarray | None = None  # rig -> render of the draw prepare_draw began
        self.mesh = HeadMesh(template, self.normals(template), rig.faces,
                             np.concatenate([cols, np.ones((len(cols), 1), np.float32)], 1), parent=self.view.scene)
        # rig axes: y up, face along +z -> vispy's z-up turntable frame (face towards -y, the camera)
        tr = MatrixTransform()
        tr.rotate(90, (1, 0, 0))
        self.mesh.transform = tr
        self._light = np.array([0.4, -0.5, 1.0, 0.0])  # camera frame: a key light from the upper left front
        self.view.scene.transform.changed.connect(self.update_light)
        self.reset_camera()
        self.update_light()

    def detach(self) -> None:
        """Take this scene's view off its canvas (before another scene replaces it)."""
        self.canvas.central_widget.remove_widget(self.view)
        self.view.parent = None

    def update_light(self, *_):
        d = self.view.camera.transform.map(self._light)[:3]
        self.mesh.light_dir = tuple(-np.asarray(d))
        self.mesh.update()

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
        """New (V, 3) vertex positions and their normals to the GPU; faces and colours stay."""
        verts = np.ascontiguousarray(verts, dtype=np.float32)
        self.mesh.set_vertices(verts, self.normals(verts))
        self.vertices = verts

    def _rig_to(self, system: str) -> np.ndarray:
        """The (4, 4) map from rig coordinates to ``system`` (vispy's row-vector layout: p @ m)."""
        # every transform between a 3-D view's coordinate systems is linear in homogeneous
        # coordinates, so the chain is the matrix its basis vectors map to
        return np.asarray(self.mesh.get_transform("visual", system).map(np.eye(4)), np.float64)

    def prepare_draw(self) -> None:
        """Before drawing: sort the triangles nearest-first if the camera turned by more than
        ``RESORT_DEGREES`` since the last sort, and choose the one-sided ones for where it is now."""
        m = self._rig_to("render")
        self._render_of_draw = m
        try:
            inv = np.linalg.inv(m)
        except np.linalg.LinAlgError:
            return
        eye = camera_in(inv)  # (x, y, z, 1), or (-d, 0) if orthographic
        # the transforms of this draw, worked out once (each is a walk along vispy's transform chain)
        self.mesh.frame_transforms = (m, self._rig_to("scene"), eye)
        near, far = np.array([0.0, 0.0, -1.0, 1.0]) @ inv, np.array([0.0, 0.0, 1.0, 1.0]) @ inv
        d = far[:3] / far[3] - near[:3] / near[3]  # the viewing direction through the picture's centre
        n = np.linalg.norm(d)
        if not np.isfinite(n) or n == 0:
            return
        d /= n
        resort = self._sorted_along is None or d @ self._sorted_along < np.cos(np.radians(RESORT_DEGREES))
        if resort:
            self._sorted_along = d
            self._order = np.argsort(self._centroids @ d, kind="stable")
        one = self.sides.one_sided(self.vertices, eye)
        if resort or self._one_sided is None or not np.array_equal(one, self._one_sided):
            self._one_sided = one
            ordered = self.rig.faces[self._order]
            mask = one[self._order]
            self.mesh.set_faces(ordered[mask], ordered[~mask])

    def pixel_rect(self, fb_size: tuple[int, int], pad: int = 2, align: int = 1) -> tuple[int, int, int, int]:
        """The framebuffer pixels the head covers now: ``(x, y, w, h)``, y from the bottom (GL's origin).

        Call with the framebuffer pushed. ``fb_size`` is its (w, h) in pixels; the rectangle is the
        projected vertices' bounding box grown by ``pad`` pixels, its corners on multiples of ``align``,
        clipped to the framebuffer (w or h 0 when the head is out of view). The whole framebuffer if
        a vertex is at or behind the camera (then the box says nothing).
        """
        W, H = fb_size
        to_render, self._render_of_draw = self._render_of_draw, None
        if to_render is not None:  # rig -> render (from prepare_draw) -> framebuffer: a short chain
            to_fb = np.asarray(self.mesh.get_transform("render", "framebuffer").map(np.eye(4)), np.float64)
            m = (to_render @ to_fb).astype(np.float32)
        else:
            m = self._rig_to("framebuffer").astype(np.float32)
        p = m[:3].T @ self.vertices.T + m[3][:, None]  # (4, V): rows x, y, z, w (float32: ~0.05 ms)
        w = p[3]
        if not w.min() > 1e-9:
            return 0, 0, W, H
        x, y = p[0] / w, p[1] / w
        lo, hi = np.array([x.min(), y.min()]), np.array([x.max(), y.max()])
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            return 0, 0, W, H
        x0, y0 = np.floor(lo) - pad
        x1, y1 = np.ceil(hi) + pad
        x0, y0 = max(0, int(x0) // align * align), max(0, int(y0) // align * align)
        x1, y1 = min(W, -(-int(x1) // align) * align), min(H, -(-int(y1) // align) * align)
        return x0, y0, max(0, x1 - x0), max(0, y1 - y0)
