"""Small synthetic rigs and animations for the export tests (fast: a few hundred vertices)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diface_editor.core.animation import Animation
from diface_editor.core.arkit import ARKIT_NAMES
from diface_editor.core.rig import BlendshapeRig


def sphere_head(n: int = 10, seed: int = 0, neck: bool = True) -> BlendshapeRig:
    """A UV-sphere 'head' (radius 0.1 m, centre 0.12 m above the pivot) with 52 random sparse shapes.

    ``neck_weights`` fade from 0 at y = 0.04 m to 1 at y = 0.12 m (so part of the mesh is skinned to
    both joints); shape 51 (tongueOut) is all zero; ten vertices are labelled ``eye_white``.
    """
    rng = np.random.default_rng(seed)
    th, ph = np.meshgrid(np.linspace(0.1, np.pi - 0.1, n), np.linspace(0, 2 * np.pi, 2 * n, endpoint=False),
                         indexing="ij")
    v = np.stack([np.sin(th) * np.sin(ph), np.cos(th), np.sin(th) * np.cos(ph)], -1).reshape(-1, 3) * 0.1
    v += (0.0, 0.12, 0.0)
    faces = []
    for i in range(n - 1):
        for j in range(2 * n):
            a, b = i * 2 * n + j, i * 2 * n + (j + 1) % (2 * n)
            faces += [[a, a + 2 * n, b], [b, a + 2 * n, b + 2 * n]]  # counter-clockwise seen from outside
    V = len(v)
    deltas = np.zeros((52, V, 3), np.float32)
    for k in range(51):
        idx = rng.choice(V, size=V // 5 if k % 2 else V // 2, replace=False)  # some sparse, some dense
        deltas[k, idx] = rng.normal(0, 0.002, (len(idx), 3))
    nw = np.clip((v[:, 1] - 0.04) / 0.08, 0, 1) if neck else None
    labels = np.zeros(V, np.int8)
    labels[:10] = 1
    rig = BlendshapeRig(template=v, faces=np.array(faces), pivot=[0.0, 0.05, 0.0], neck_weights=nw, deltas=deltas,
                        blendshape_names=ARKIT_NAMES, name="sphere")
    rig.extra = {"part_labels": labels, "part_names": np.array(["skin", "eye_white"])}
    return rig


def save_rig(rig: BlendshapeRig, path: Path) -> Path:
    """Write ``rig`` in the rig ``.npz`` format that :meth:`BlendshapeRig.load` reads."""
    arrays = dict(template=rig.template, faces=rig.faces, pivot=rig.pivot, lip_idx=rig.lip_idx,
                  upper_face_idx=rig.upper_face_idx, blendshape_names=np.array(rig.blendshape_names),
                  deltas=rig.deltas, format_version=np.array(1))
    if rig.neck_weights is not None:
        arrays["neck_weights"] = rig.neck_weights
    np.savez(path, **arrays)
    return path


def random_take(n_frames: int = 24, seed: int = 1, fps: float = 30.0, head_scale: float = 0.25) -> Animation:
    """Smooth random ARKit weights in [0, 1] and head rotations of up to about ``head_scale`` rad."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames)[:, None] / fps
    freq = rng.uniform(0.3, 3.0, (1, 52))
    phase = rng.uniform(0, 2 * np.pi, (1, 52))
    face = 0.5 + 0.5 * np.sin(2 * np.pi * freq * t + phase)
    hf = rng.uniform(0.2, 1.0, (1, 3))
    head = head_scale * np.sin(2 * np.pi * hf * t + rng.uniform(0, 6, (1, 3)))
    return Animation(fps=fps, face=face.astype(np.float32), head=head.astype(np.float32))


def write_tone(path: Path, seconds: float, rate: int = 16000, freq: float = 220.0) -> Path:
    """A mono sine with a slow loudness envelope (a stand-in for speech)."""
    import soundfile

    t = np.arange(int(round(seconds * rate))) / rate
    x = 0.4 * np.sin(2 * np.pi * freq * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 2.0 * t))
    soundfile.write(str(path), x.astype(np.float32), rate)
    return path
