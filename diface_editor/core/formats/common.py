"""Helpers shared by the file formats: the vertex template carried in metadata and text summaries.

Vertex-space animations (``space="vertex"``) are offsets from a template mesh. When an animation
comes from absolute vertices (3DiFACE ``.npy``), that template must travel with it so the clip can
be displayed and exported again. :class:`~diface_editor.core.animation.Animation` has only a
``metadata: dict[str, str]``, so the template is stored there under :data:`TEMPLATE_KEY` as
``"f32le-b64:<base64 of the (V, 3) float32 little-endian array>"``; the native ``.npz`` format
stores it as a real array instead and restores the metadata entry on load. Use
:func:`get_template` / :func:`set_template`, never the raw string.
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from diface_editor.core.animation import Animation
from diface_editor.core.rotations import axis_angle_to_ypr

#: Metadata key of the (V, 3) vertex template of a vertex-space animation.
TEMPLATE_KEY = "vertex_template"
_TEMPLATE_PREFIX = "f32le-b64:"
#: Metadata keys for the audio an animation belongs to.
AUDIO_PATH_KEY = "audio_path"
AUDIO_SHA_KEY = "audio_sha256"


def encode_template(template: np.ndarray) -> str:
    t = np.ascontiguousarray(template, dtype="<f4").reshape(-1, 3)
    return _TEMPLATE_PREFIX + base64.b64encode(t.tobytes()).decode("ascii")


def decode_template(text: str) -> np.ndarray | None:
    if not text or not text.startswith(_TEMPLATE_PREFIX):
        return None
    raw = base64.b64decode(text[len(_TEMPLATE_PREFIX):])
    return np.frombuffer(raw, dtype="<f4").reshape(-1, 3).astype(np.float32)


def set_template(anim: Animation, template: np.ndarray) -> None:
    """Record the (V, 3) template (metres) of a vertex-space animation in its metadata (in place)."""
    t = np.asarray(template, np.float32).reshape(-1, 3)
    if anim.space == "vertex" and anim.n_face != 3 * len(t):
        raise ValueError(f"template has {len(t)} vertices, the animation {anim.n_face // 3}")
    anim.metadata[TEMPLATE_KEY] = encode_template(t)


def get_template(anim: Animation) -> np.ndarray | None:
    """The (V, 3) float32 template recorded with :func:`set_template`, or ``None``."""
    return decode_template(anim.metadata.get(TEMPLATE_KEY, ""))


def _range(a: np.ndarray, fmt: str = "{:.3f}") -> str:
    if a.size == 0:
        return "-"
    return f"{fmt.format(float(a.min()))}..{fmt.format(float(a.max()))}"


def describe_animation(anim: Animation, path: Path | str, kind: str, notes: list[str] | None = None) -> str:
    """A few lines summarising an animation: format, frames, fps, duration, channels, value ranges."""
    lines = [f"{Path(path).name}: {kind}"]
    lines.append(f"  frames: {anim.n_frames} at {anim.fps:g} fps ({anim.duration:.3f} s)")
    if anim.space == "arkit":
        lines.append(f"  face: {anim.n_face} blendshape channels (ARKit names), weights {_range(anim.face)}")
        if anim.n_frames and anim.n_face:
            peak = anim.face.max(axis=0)
            order = np.argsort(-peak)[:3]
            active = ", ".join(f"{anim.channel_names[i]} {peak[i]:.2f}" for i in order if peak[i] > 0)
            if active:
                lines.append(f"  most active: {active}")
    else:
        nv = anim.n_face // 3
        off = anim.face.reshape(anim.n_frames, nv, 3) if anim.n_frames else np.zeros((0, nv, 3))
        mag = np.linalg.norm(off, axis=-1) * 1000.0 if off.size else np.zeros(0)
        tmpl = "with template" if TEMPLATE_KEY in anim.metadata else "no template recorded"
        lines.append(f"  face: vertex offsets for {nv} vertices ({tmpl}), max offset "
                     f"{float(mag.max()) if mag.size else 0.0:.2f} mm")
    if anim.n_frames:
        ypr = np.degrees(axis_angle_to_ypr(anim.head))
        ang = np.degrees(np.linalg.norm(anim.head, axis=-1))
        lines.append(f"  head: axis-angle, max rotation {float(ang.max()):.1f} deg; yaw {_range(ypr[:, 0], '{:.1f}')}, "
                     f"pitch {_range(ypr[:, 1], '{:.1f}')}, roll {_range(ypr[:, 2], '{:.1f}')} deg")
    ap = anim.metadata.get(AUDIO_PATH_KEY)
    if ap:
        sha = anim.metadata.get(AUDIO_SHA_KEY, "")
        lines.append(f"  audio: {ap}" + (f" (sha256 {sha[:12]}...)" if sha else ""))
    for n in notes or []:
        lines.append(f"  {n}")
    return "\n".join(lines)


def resolve_rig(rig):
    """The rig a format writer should use: ``None`` = the shipped default head, a path = a rig
    ``.npz`` file, otherwise ``rig`` itself (a :class:`~diface_editor.core.rig.Rig`)."""
    from diface_editor.core.rig import BlendshapeRig, load_default_rig

    if rig is None:
        return load_default_rig()
    if isinstance(rig, (str, Path)):
        return BlendshapeRig.load(rig)
    return rig
