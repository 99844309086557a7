"""The 3-D viewport: the shaded head rig in a vispy ``SceneCanvas`` embedded in Qt.

The viewport *observes* the document (and the playback time); it never owns animation state. For
each shown frame it evaluates the rig for that one frame and uploads the new vertex positions to
the existing mesh (faces and colours stay), with smooth normals from a bincount scatter
(:func:`diface_editor.render.geometry.vertex_normals`, ~10x faster than vispy's ``np.add.at``).

Camera: turntable. Left drag orbits, right drag or wheel zooms, Shift+left drag pans,
``F`` (or View > Reset Camera) frames the head again.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from PySide6 import QtCore, QtWidgets

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


class Viewport(QtWidgets.QWidget):
    """Shows ``rig`` deformed by the document's animation at the current time.

    Args:
        rig: the rig to draw; ``None`` loads the shipped default head (``resources/head_rig.npz``);
            if that fails the viewport shows the reason instead of a head.
    """

    frame_drawn = QtCore.Signal(int)

    def __init__(self, rig: Rig | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        import vispy
        vispy.use("pyside6")
        from vispy import scene
        from vispy.visuals.transforms import MatrixTransform

        self.doc: Document | None = None
        self._preview: Animation | None = None
        self._time = 0.0
        self._shown: tuple | None = None  # (id(anim), version, frame) last drawn
        self.last_update_ms = 0.0
        self._uploaded = False
        self._cols_for: tuple | None = None
        self._cols = np.zeros(0, np.intp)
        self.rig_error: str | None = None
        if rig is None:
            try:
                from diface_editor.core.rig import load_default_rig
                rig = load_default_rig()
            except Exception as e:  # a missing/damaged resource must not stop the editor
                self.rig_error = str(e)
                log.warning("no head rig: %s", e)
        self.rig = rig

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.canvas = scene.SceneCanvas(keys=None, bgcolor=COLORS["viewport_bg"], show=False, parent=self,
                                        autoswap=False)  # QOpenGLWidget composes itself; a swap is wasted work
        self.canvas.native.setMinimumSize(200, 160)
        self.canvas.native.setToolTip("Left drag: orbit · wheel / right drag: zoom · Shift+drag: pan · F: reset view")
        lay.addWidget(self.canvas.native)
        self.view = self.canvas.central_widget.add_view()
        self.view.camera = scene.TurntableCamera(fov=DEFAULT_FOV, azimuth=DEFAULT_AZIMUTH,
                                                 elevation=DEFAULT_ELEVATION)
        # near = distance / sqrt(depth_value): vispy's default 1e6 wastes the depth buffer (z-fighting
        # between lips, teeth and eyelids); 64 keeps near/far at distance / 8 .. distance * 8
        self.view.camera.depth_value = 64.0
        self.mesh = None
        self._md = None
        # overlays are Qt labels on the GL widget (vispy's text visual costs ~1 s of glyph set-up)
        self.info = QtWidgets.QLabel("", self.canvas.native)
        self.info.setStyleSheet("color: #c8ccd2; background: transparent; font-size: 9pt;")
        self.info.move(10, 8)
        self.info.setAttribute(QtCore.Qt.WA_TransparentForMouseEvents)
        self.message = QtWidgets.QLabel("", self.canvas.native)
        self.message.setStyleSheet("color: #ffb4a8; background: transparent; font-size: 11pt;")
        self.message.setAlignment(QtCore.Qt.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setAttribute(QtCore.Qt.WA_TransparentForMouseEvents)
        if rig is not None:
            md_cls = _mesh_data_class()
            self._md = md_cls(vertices=rig.template.copy(), faces=rig.faces)
            extra = getattr(rig, "extra", {}) or {}
            cols = vertex_colours(rig.n_vertices, extra.get("part_labels"), extra.get("part_names"))
            self._md.set_vertex_colors(np.concatenate([cols, np.ones((len(cols), 1), np.float32)], 1))
            self.mesh = scene.visuals.Mesh(meshdata=self._md, shading="smooth", parent=self.view.scene)
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
            self.view.scene.transform.changed.connect(self._update_light)
            self.reset_camera()
            self._update_light()
        else:
            self.message.setText(f"No head to show: {self.rig_error}")
        self.canvas.events.resize.connect(self._on_resize)
        self.canvas.events.key_press.connect(self._on_key)
        self._on_resize()

    # ------------------------------------------------------------------ camera and decorations
    def reset_camera(self) -> None:
        """Frame the head from the default direction."""
        if self.rig is None:
            return
        cam = self.view.camera
        t = self.rig.template
        lo, hi = t.min(0), t.max(0)
        c = (lo + hi) / 2
        c[1] += 0.06 * (hi[1] - lo[1])  # look a little above the middle: the face, not the neck
        # rig (x, y, z) -> scene (x, -z, y)
        cam.center = (float(c[0]), float(-c[2]), float(c[1]))
        radius = float(np.linalg.norm(hi - lo) / 2)
        cam.azimuth = DEFAULT_AZIMUTH
        cam.elevation = DEFAULT_ELEVATION
        cam.fov = DEFAULT_FOV
        cam.scale_factor = radius * 1.75
        cam.distance = None
        self.canvas.update()

    def _update_light(self, *_):
        if self.mesh is None:
            return
        d = self.view.camera.transform.map(self._light)[:3]
        self.mesh.shading_filter.light_dir = tuple(-np.asarray(d))

    def _on_resize(self, *_):
        w, h = self.canvas.size
        self.message.setGeometry(20, 0, max(10, w - 40), h)
        self.info.adjustSize()

    def _on_key(self, ev):
        if ev.key is not None and ev.key.name == "F":
            self.reset_camera()

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
        """Redraw if the shown frame or animation changed."""
        anim = self._anim()
        if anim is None or self.mesh is None:
            return
        f = self.current_frame()
        key = (id(anim), self.doc.version if self.doc is not None else 0, f)
        if key == self._shown:
            return
        t0 = time.perf_counter()
        try:
            verts = self.frame_vertices(anim, f)
        except Exception as e:  # e.g. a vertex-space animation on a blendshape rig
            self.message.setText(str(e))
            self._shown = key
            return
        if self.message.text():
            self.message.setText("")
        self._upload(verts)
        self._shown = key
        self.info.setText(f"frame {f}  ·  {f / anim.fps:.2f} s")
        self.info.adjustSize()
        self.last_update_ms = (time.perf_counter() - t0) * 1e3
        self.canvas.update()
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

    def _upload(self, verts: np.ndarray) -> None:
        """Send new vertex positions (and normals) to the GPU, keeping faces, colours and the shader.

        ``MeshVisual.set_data``/``mesh_data_changed`` would rebuild the colour buffer and re-link
        the shader program on every frame; after the first upload only the two vertex buffers change.
        """
        md = self._md
        md.set_vertices(verts)  # keeps the MeshData consistent (and drops cached normals)
        mesh = self.mesh
        sf = mesh.shading_filter
        if not self._uploaded or not hasattr(mesh, "_vertices") or not hasattr(sf, "_normals"):
            mesh.mesh_data_changed()
            self._uploaded = True
            return
        mesh._vertices.set_data(verts[self.rig.faces], convert=True)
        normals = md.get_vertex_normals(indexed="faces")
        sf._normals.set_data(normals, convert=True)
        sf._normals_cache = normals
        mesh.update()

    def render_image(self) -> np.ndarray:
        """(H, W, 4) uint8 RGBA of the canvas (offscreen render of the current state)."""
        return self.canvas.render()

    def close_canvas(self) -> None:
        if self.doc is not None:
            self.doc.events.disconnect_object(self)
        self.canvas.close()
