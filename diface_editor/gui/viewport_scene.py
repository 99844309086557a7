"""The vispy scene the viewport draws: a turntable camera and the rig's shaded mesh.

Shared by both viewport back-ends (:mod:`diface_editor.gui.viewport_offscreen`,
:mod:`diface_editor.gui.viewport_widget`). Each frame only the vertex positions and normals are
uploaded (faces, colours and the shader stay), with smooth normals from a bincount scatter
(:func:`diface_editor.core.geometry.vertex_normals`, ~10x faster than vispy's ``np.add.at``).

vispy private API (vispy pinned to 0.17.x in pyproject.toml): :meth:`Scene.upload` writes the mesh's
two vertex buffers (``Mesh._vertices``, ``ShadingFilter._normals``) directly; the public
``mesh_data_changed`` would rebuild the colour buffer and re-link the shader on every frame.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from diface_editor.core.geometry import vertex_colours, vertex_normals
from diface_editor.core.rig import Rig

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
GL_LOCK = threading.RLock()


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

        The mesh is drawn *indexed*: one entry per rig vertex (V) in the position, normal and colour
        buffers plus an index buffer of the faces, instead of vispy's default of three unshared
        vertices per triangle (3F, about 6x as many). Software GL (llvmpipe) shades every vertex it
        is given, so this cuts the vertex work of a frame by that factor; the picture is the same.
        ``mesh_data_changed`` would also rebuild the colour buffer and re-link the shader program on
        every frame; after the first upload only the two vertex buffers change.
        """
        verts = np.ascontiguousarray(verts, dtype=np.float32)
        mesh, sf = self.mesh, self.mesh.shading_filter
        if not self._uploaded or not hasattr(mesh, "_vertices") or not hasattr(sf, "_normals"):
            self.md.set_vertices(verts)
            mesh.mesh_data_changed()
            mesh._update_data()  # vispy's buffers (indexed by faces) now, replaced by the shared ones below
            self._index_mesh()
            self._uploaded = True
        mesh._vertices.set_data(verts, convert=True)
        sf._normals.set_data(vertex_normals(verts, self.rig.faces).astype(np.float32), convert=True)
        mesh.update()

    def _index_mesh(self) -> None:
        """Switch the mesh's buffers to one entry per vertex and draw through an index buffer."""
        from vispy.gloo import IndexBuffer, VertexBuffer

        mesh, sf = self.mesh, self.mesh.shading_filter
        cols = np.asarray(self.md.get_vertex_colors(), np.float32)
        mesh.shared_program.vert["base_color"] = VertexBuffer(cols)
        mesh._index_buffer = IndexBuffer(np.ascontiguousarray(self.rig.faces, dtype=np.uint32))
        # the shading filter re-uploads normals when the mesh data's (face-indexed) normals object
        # changes; pin its cache to that object so only upload() writes the per-vertex normals
        sf._normals_cache = self.md.get_vertex_normals(indexed="faces")
