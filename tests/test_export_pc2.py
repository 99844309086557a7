"""PC2 point caches (Blender Mesh Cache): header layout, posed vertices, round trips."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from _export_helpers import random_take, sphere_head
from diface_editor.core.formats import FORMATS, describe, load_animation, save_animation
from diface_editor.core.formats.common import get_template
from diface_editor.core.formats.pc2 import read_pc2, read_pc2_header, write_pc2
from diface_editor.core.formats.registry import FormatError


@pytest.fixture(scope="module")
def rig():
    return sphere_head()


def test_pc2_header_is_blenders_layout(tmp_path, rig):
    take = random_take(7)
    path = save_animation(take, tmp_path / "t.pc2", rig=rig, start_frame=1.0)
    raw = path.read_bytes()
    magic, version, n_points, start, rate, n_samples = struct.unpack_from("<12siiffi", raw, 0)
    assert magic == b"POINTCACHE2\0" and version == 1
    assert (n_points, start, rate, n_samples) == (rig.n_vertices, 1.0, 1.0, 7)
    assert len(raw) == 32 + 7 * rig.n_vertices * 12
    first = np.frombuffer(raw, "<f4", rig.n_vertices * 3, 32).reshape(-1, 3)
    np.testing.assert_array_equal(first, rig.vertices(take)[0])  # posed: head rotation included


def test_pc2_reader_gives_back_the_posed_rig_vertices(tmp_path, rig):
    take = random_take(12)
    path = save_animation(take, tmp_path / "t.pc2", rig=rig)
    pts, header = read_pc2(path)
    assert header.n_samples == 12 and header.n_points == rig.n_vertices
    np.testing.assert_array_equal(pts, rig.vertices(take))
    assert np.abs(pts - rig.vertices(face=take.face)).max() > 1e-3  # the rotation is in the points


def test_pc2_unposed_drops_the_head_rotation(tmp_path, rig):
    take = random_take(5)
    pts, _ = read_pc2(save_animation(take, tmp_path / "t.pc2", rig=rig, posed=False))
    np.testing.assert_array_equal(pts, rig.vertices(face=take.face))


def test_pc2_import_is_vertex_motion_relative_to_template_or_first_frame(tmp_path, rig):
    take = random_take(10)
    path = save_animation(take, tmp_path / "t.pc2", rig=rig)
    expected = rig.vertices(take)
    a = load_animation(path, template=rig)  # relative to the rig's template
    assert a.space == "vertex" and a.n_frames == 10 and a.fps == 30.0
    np.testing.assert_allclose(a.face.reshape(10, -1, 3) + rig.template, expected, atol=1e-7)
    np.testing.assert_array_equal(get_template(a), rig.template)
    assert not np.any(a.head)
    b = load_animation(path, fps=25.0)  # relative to the first sample
    assert b.fps == 25.0
    np.testing.assert_array_equal(b.face[0], 0.0)
    np.testing.assert_array_equal(get_template(b), expected[0])
    # saving the imported clip again writes the same points (within float32 rounding of the offsets)
    again, _ = read_pc2(save_animation(b, tmp_path / "again.pc2"))
    np.testing.assert_allclose(again, expected, atol=1e-7)


def test_pc2_is_registered_and_described(tmp_path, rig):
    fmt = FORMATS["pc2"]
    assert fmt.can_save and fmt.can_load and fmt.extension == ".pc2"
    path = save_animation(random_take(4), tmp_path / "t.pc2", rig=rig)
    text = describe(path)
    assert f"{rig.n_vertices} points, 4 samples" in text


def test_pc2_rejects_truncated_and_foreign_files(tmp_path, rig):
    good = tmp_path / "t.pc2"
    write_pc2(good, rig.vertices(random_take(3)))
    cut = tmp_path / "cut.pc2"
    cut.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(FormatError, match="truncated"):
        read_pc2_header(cut)
    other = tmp_path / "other.pc2"
    other.write_bytes(b"MDD\0" + bytes(60))
    with pytest.raises(FormatError, match="not a PC2 point cache"):
        load_animation(other)


def test_pc2_vertex_motion_with_head_rotation_needs_a_pivot(tmp_path, rig):
    take = random_take(4)
    b = load_animation(save_animation(take, tmp_path / "t.pc2", rig=rig))
    rotated = b.with_arrays(head=np.full((4, 3), 0.1, np.float32))
    rotated.metadata.update(b.metadata)
    with pytest.raises(FormatError, match="pivot"):
        save_animation(rotated, tmp_path / "r.pc2")
