"""The head's vispy visual: an indexed, smooth-shaded triangle mesh with one lean shader program.

vispy's ``Mesh`` visual draws the same picture with a generic program: a chain of transform
functions per vertex, a shading filter written for any mesh, and two fragment filters that end in
``discard`` (the view box's clipper and the picking filter). A fragment shader that can discard
turns off the early depth test in software GL (Mesa llvmpipe), so every hidden surface of the head
(the far side, teeth, tongue, eyeballs) is shaded too. This visual:

* takes no filters: the viewport's view fills its canvas (nothing to clip) and nothing is picked;
* maps vertices with one 4x4 matrix, the visual-to-render transform collapsed on the CPU per draw,
  and takes the viewing ray as the vertex minus the camera (found on the CPU too);
* lights in the rig's own frame (light direction mapped there per draw), Blinn-Phong with the
  same terms as vispy's shading filter, so the picture is the same;
* draws opaque (no blending) through index buffers of the rig's faces, one buffer entry per
  vertex: the triangles whose back faces cannot be seen with back faces culled, the rest two-sided
  (:mod:`diface_editor.core.mesh_sides`; lighting flips the normal of a back face).

Shapes: positions and normals (V, 3) float32, colours (V, 4) float32 in 0..1, faces (F, 3).
"""

from __future__ import annotations

import numpy as np
from vispy import gloo
from vispy.scene.visuals import create_visual_node
from vispy.visuals import Visual

VERTEX_SHADER = """
uniform mat4 u_mvp;      // visual -> render (clip) coordinates, vispy's row-vector layout
uniform vec4 u_eye;      // the camera in visual coordinates: (x, y, z, 1), or (-d, 0) for an
                         // orthographic view looking along d
attribute vec3 a_position;
attribute vec3 a_normal;
attribute vec4 a_color;
varying vec3 v_normal;
varying vec3 v_eye;
varying vec4 v_color;

void main() {
    gl_Position = u_mvp * vec4(a_position, 1.0);
    // the viewing ray to this vertex, in visual coordinates: from the camera (perspective), or the
    // one direction of an orthographic view; linear in the position, so interpolated exactly
    v_eye = a_position * u_eye.w - u_eye.xyz;
    v_normal = a_normal;
    v_color = a_color;
}
"""

FRAGMENT_SHADER = """
uniform vec3 u_light_vec;   // the unit direction light travels, visual coordinates
uniform vec3 u_ambient;     // colour x intensity
uniform vec3 u_diffuse;
uniform vec3 u_specular;
varying vec3 v_normal;
varying vec3 v_eye;
varying vec4 v_color;

void main() {
    vec3 n = normalize(gl_FrontFacing ? v_normal : -v_normal);
    float diffuse = max(dot(-u_light_vec, n), 0.0);
    vec3 halfway = -normalize(u_light_vec + normalize(v_eye));
    // Blinn-Phong highlight with the exponent SHININESS = 24 as (x^8)^3 (pow() is exp2(log2()):
    // dearer per pixel in software GL), only where the light reaches
    float s = clamp(dot(halfway, n), 0.0, 1.0);
    float s2 = s * s;
    float s4 = s2 * s2;
    float s8 = s4 * s4;
    float specular = diffuse > 0.0 ? s8 * s8 * s8 : 0.0;
    gl_FragColor = vec4(v_color.rgb * (u_ambient + diffuse * u_diffuse) + specular * u_specular, v_color.a);
}
"""

#: the highlight's Blinn-Phong exponent (fixed in :data:`FRAGMENT_SHADER`)
SHININESS = 24


def camera_in(render_to_visual: np.ndarray) -> np.ndarray:
    """The camera in the coordinates that ``render_to_visual`` (4, 4, vispy's row-vector layout: the
    inverse of the visual-to-clip matrix) maps clip space to: ``(x, y, z, 1)`` for a perspective
    view; ``(-d, 0)`` for an orthographic one looking along the unit direction ``d``."""
    inv = np.asarray(render_to_visual, np.float64)
    # the camera is the point that projects to clip (0, 0, z, 0); for an orthographic view that is
    # a point at infinity
    e = np.array([0.0, 0.0, 1.0, 0.0]) @ inv
    if abs(e[3]) > 1e-9 * max(float(np.linalg.norm(e)), 1e-300):
        return np.append(e[:3] / e[3], 1.0)
    near, far = np.array([0.0, 0.0, -1.0, 1.0]) @ inv, np.array([0.0, 0.0, 1.0, 1.0]) @ inv
    d = far[:3] / far[3] - near[:3] / near[3]
    return np.append(-d / max(float(np.linalg.norm(d)), 1e-300), 0.0)


def _light_term(rgba) -> np.ndarray:
    """(r, g, b, intensity) -> the colour times its intensity, float32 (3,)."""
    c = np.asarray(rgba, np.float64)
    return (c[:3] * (c[3] if len(c) > 3 else 1.0)).astype(np.float32)


class HeadMeshVisual(Visual):
    """The rig's mesh: positions and normals change per frame, faces and colours stay.

    Args:
        vertices: (V, 3) float32 rest positions; normals: (V, 3) unit normals.
        faces: (F, 3) vertex indices; colors: (V, 4) RGBA in 0..1.

    Lighting (``ambient``, ``diffuse``, ``specular``: RGBA with the intensity in alpha; the
    highlight's exponent is :data:`SHININESS`) and ``light_dir`` (the direction light travels, in *scene* coordinates) are
    plain attributes read at every draw.
    """

    def __init__(self, vertices: np.ndarray, normals: np.ndarray, faces: np.ndarray, colors: np.ndarray) -> None:
        Visual.__init__(self, vcode=VERTEX_SHADER, fcode=FRAGMENT_SHADER)
        self.set_gl_state("opaque", depth_test=True, cull_face=False)
        self._positions = gloo.VertexBuffer(np.ascontiguousarray(vertices, np.float32))
        self._normals = gloo.VertexBuffer(np.ascontiguousarray(normals, np.float32))
        self._bounds = np.stack([np.min(vertices, 0), np.max(vertices, 0)], 1)
        self._one_sided: gloo.IndexBuffer | None = None
        self._two_sided: gloo.IndexBuffer | None = None
        self.set_faces(np.zeros((0, 3), np.uint32), faces)
        self.shared_program["a_position"] = self._positions
        self.shared_program["a_normal"] = self._normals
        self.shared_program["a_color"] = gloo.VertexBuffer(np.ascontiguousarray(colors, np.float32))
        self.ambient = (1.0, 1.0, 1.0, 0.30)
        self.diffuse = (1.0, 0.97, 0.93, 0.78)
        self.specular = (1.0, 1.0, 1.0, 0.10)
        self.light_dir = (0.0, 0.0, -1.0)
        #: ``(visual->render, visual->scene, camera)`` for the next draw when its owner has them
        #: already (:meth:`Scene.prepare_draw`: two (4, 4) matrices and :func:`camera_in`'s (4,));
        #: used once, then computed again
        self.frame_transforms: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    # filters would add fragment code (vispy's clipper and picking filter both can discard, which
    # turns off the early depth test in software GL); this visual takes none
    def attach(self, filt, view=None) -> None:
        return None

    def detach(self, filt, view=None) -> None:
        return None

    def set_vertices(self, vertices: np.ndarray, normals: np.ndarray) -> None:
        """New (V, 3) positions and unit normals (faces and colours stay)."""
        v = np.ascontiguousarray(vertices, np.float32)
        self._positions.set_data(v, convert=True)
        self._normals.set_data(np.ascontiguousarray(normals, np.float32), convert=True)
        self._bounds = np.stack([v.min(0), v.max(0)], 1)
        self.update()

    def set_faces(self, one_sided: np.ndarray, two_sided: np.ndarray) -> None:
        """The triangles to draw, (N, 3) vertex indices each, in drawing order: ``one_sided`` with back
        faces culled (counter-clockwise is the front), ``two_sided`` with both sides."""
        self._one_sided = self._buffer(self._one_sided, one_sided)
        self._two_sided = self._buffer(self._two_sided, two_sided)
        self.update()

    @staticmethod
    def _buffer(buf: gloo.IndexBuffer | None, faces: np.ndarray) -> gloo.IndexBuffer | None:
        if len(faces) == 0:
            return None
        data = np.ascontiguousarray(faces, np.uint32)
        if buf is None:
            return gloo.IndexBuffer(data)
        buf.set_data(data)
        return buf

    def draw(self) -> None:
        if not self.visible or self._prepare_draw(view=self) is False:
            return
        self._configure_gl_state()
        if self._one_sided is not None:
            gloo.set_state(cull_face=True)
            gloo.set_cull_face("back")
            gloo.set_front_face("ccw")
            self._program.draw("triangles", self._one_sided)
            gloo.set_state(cull_face=False)
        if self._two_sided is not None:
            self._program.draw("triangles", self._two_sided)

    def _compute_bounds(self, axis, view):
        return tuple(self._bounds[axis])

    def _prepare_transforms(self, view) -> None:
        pass  # the transform is collapsed to one matrix at each draw (_prepare_draw)

    def _prepare_draw(self, view) -> bool:
        given, self.frame_transforms = self.frame_transforms, None
        if given is not None and view is self:
            mvp, to_scene, eye = (np.asarray(m, np.float64) for m in given)
        else:
            # every transform in a 3-D view (matrix, scale-translate, null) is linear in homogeneous
            # coordinates, so the chain is the matrix its basis vectors map to (rows: images of e_i)
            mvp = np.asarray(view.transforms.get_transform("visual", "render").map(np.eye(4)), np.float64)
            to_scene = np.asarray(view.transforms.get_transform("visual", "scene").map(np.eye(4)), np.float64)
            eye = camera_in(np.linalg.inv(mvp))
        prog = view.view_program
        prog["u_mvp"] = mvp.astype(np.float32)
        prog["u_eye"] = eye.astype(np.float32)
        # the light direction from scene into visual coordinates (a direction: w = 0)
        light = np.asarray(self.light_dir, np.float64) @ np.linalg.inv(to_scene)[:3, :3]
        prog["u_light_vec"] = (light / max(float(np.linalg.norm(light)), 1e-12)).astype(np.float32)
        prog["u_ambient"] = _light_term(self.ambient)
        prog["u_diffuse"] = _light_term(self.diffuse)
        prog["u_specular"] = _light_term(self.specular)
        return True


#: the scene-graph node of :class:`HeadMeshVisual` (``HeadMesh(..., parent=view.scene)``)
HeadMesh = create_visual_node(HeadMeshVisual)
