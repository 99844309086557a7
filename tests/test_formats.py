"""Animation file formats: round trips, safe .npy loading, Live Link CSV, registry, atomic saves."""

from __future__ import annotations

import errno
import os
import pickle

import numpy as np
import pytest

from diface_editor.core.animation import Animation
from diface_editor.core.arkit import ARKIT_NAMES
from diface_editor.core.atomic import WriteError, atomic_write_bytes
from diface_editor.core.audio import AudioClip, save_wav
from diface_editor.core.errors import DifaceError
from diface_editor.core.formats import (
    FORMATS,
    FormatError,
    describe,
    get_format,
    list_formats,
    load_animation,
    register_format,
    registry,
    resample_animation,
    save_animation,
)
from diface_editor.core.formats.common import get_template
from diface_editor.core.formats.livelink import HEADER, format_timecode
from diface_editor.core.formats.native import NATIVE_FORMAT_VERSION
from diface_editor.core.rig import BlendshapeRig
from diface_editor.core.rotations import axis_angle_to_ypr, ypr_to_axis_angle
from diface_editor.core.safe_pickle import UnsafePickleError, safe_load_file, safe_loads


@pytest.fixture
def rig() -> BlendshapeRig:
    rng = np.random.default_rng(7)
    v = 20
    return BlendshapeRig(template=rng.uniform(-0.1, 0.1, (v, 3)), faces=np.array([[0, 1, 2], [2, 3, 4]]),
                         pivot=np.zeros(3), deltas=rng.normal(0, 0.005, (52, v, 3)), blendshape_names=ARKIT_NAMES)


def arkit_anim(frames: int = 40, fps: float = 30.0, seed: int = 0) -> Animation:
    rng = np.random.default_rng(seed)
    face = rng.uniform(0, 1, (frames, 52)).astype(np.float32)
    head = ypr_to_axis_angle(rng.uniform(-0.5, 0.5, (frames, 3))).astype(np.float32)
    return Animation(fps=fps, face=face, head=head, metadata={"take": "7", "note": "ünïcode"})


# ---------------------------------------------------------------------------------------------- native
def test_native_round_trip_is_exact_with_audio_reference(tmp_path):
    a = arkit_anim()
    wav = tmp_path / "line.wav"
    save_wav(wav, np.sin(np.arange(8000) / 5).astype(np.float32) * 0.3, 16000)
    clip = AudioClip.load(wav)
    p = save_animation(a, tmp_path / "take.npz", audio=clip)
    b = load_animation(p)
    assert b.equals(a) and b.space == "arkit" and b.channel_names == ARKIT_NAMES
    assert b.metadata["take"] == "7" and b.metadata["note"] == "ünïcode"
    assert b.metadata["audio_sha256"] == clip.sha256
    assert os.path.samefile(b.metadata["audio_path"], wav)
    # saving the loaded animation again keeps the reference
    save_animation(b, tmp_path / "again.npz")
    assert load_animation(tmp_path / "again.npz").metadata["audio_sha256"] == clip.sha256
    with np.load(p, allow_pickle=False) as z:  # readable without pickles
        assert int(z["format_version"]) == NATIVE_FORMAT_VERSION


def test_native_vertex_space_keeps_template(tmp_path):
    rng = np.random.default_rng(3)
    verts = rng.normal(0, 0.05, (12, 9, 3)).astype(np.float32)
    np.save(tmp_path / "m.npy", {"vertice": verts, "pose": np.zeros((12, 3), np.float32)})
    a = load_animation(tmp_path / "m.npy")
    save_animation(a, tmp_path / "m.npz")
    b = load_animation(tmp_path / "m.npz")
    assert b.equals(a) and b.space == "vertex"
    np.testing.assert_array_equal(get_template(b), verts[0])
    save_animation(b, tmp_path / "back.npy")
    back = np.load(tmp_path / "back.npy", allow_pickle=True).item()
    np.testing.assert_allclose(back["vertice"], verts, atol=1e-7)


def test_native_newer_version_is_refused(tmp_path):
    p = save_animation(arkit_anim(5), tmp_path / "a.npz")
    with np.load(p) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["format_version"] = np.array(NATIVE_FORMAT_VERSION + 1)
    np.savez(p, **arrays)
    with pytest.raises(FormatError, match="newer diface") as ei:
        load_animation(p)
    assert "update diface" in str(ei.value)


@pytest.mark.parametrize("content", ["garbage", "foreign", "pickled"])
def test_native_bad_files(tmp_path, content):
    p = tmp_path / "x.npz"
    if content == "garbage":
        p.write_bytes(b"PK\x03\x04 this is not a zip")
    elif content == "foreign":
        np.savez(p, weights=np.zeros(3))
    else:
        np.savez(p, format_version=np.array(1), fps=np.array(30.0), face=np.array([{"a": 1}], dtype=object),
                 head=np.zeros((1, 3)))
    with pytest.raises(FormatError) as ei:
        load_animation(p)
    assert "\n" not in str(ei.value)


# ---------------------------------------------------------------------------------------------- 3DiFACE .npy
def test_npy_export_import_round_trip_with_rig(tmp_path, rig):
    a = arkit_anim(25)
    p = save_animation(a, tmp_path / "out.npy", rig=rig)
    raw = np.load(p, allow_pickle=True).item()  # what 3DiFACE tools read
    assert set(raw) == {"vertice", "pose"}
    assert raw["vertice"].shape == (25, rig.n_vertices, 3) and raw["pose"].shape == (25, 3)
    expected = rig.template + np.einsum("tk,kvc->tvc", a.face, rig.deltas)
    np.testing.assert_allclose(raw["vertice"], expected, atol=1e-6)  # unposed vertices
    np.testing.assert_array_equal(raw["pose"], a.head)

    b = load_animation(p, template=rig.template)
    assert b.space == "vertex" and b.n_frames == 25 and b.fps == 30.0
    np.testing.assert_allclose(b.face.reshape(25, -1, 3), expected - rig.template, atol=1e-6)
    np.testing.assert_array_equal(b.head, a.head)
    # without a template the first frame is the template, and export restores the same vertices
    c = load_animation(p)
    np.testing.assert_array_equal(c.face[0], 0)
    save_animation(c, tmp_path / "again.npy")
    again = np.load(tmp_path / "again.npy", allow_pickle=True).item()
    np.testing.assert_allclose(again["vertice"], raw["vertice"], atol=1e-6)


def test_npy_faceformer_plain_array_and_fps(tmp_path):
    arr = np.random.default_rng(0).normal(0, 0.01, (8, 5 * 3))  # like VOCASET's (T, 15069) float64
    np.save(tmp_path / "ff.npy", arr)
    a = load_animation(tmp_path / "ff.npy", fps=60)
    assert a.fps == 60 and a.n_face == 15 and np.all(a.head == 0)
    np.testing.assert_allclose(get_template(a).reshape(-1), arr[0].astype(np.float32))


@pytest.mark.parametrize("data, expect", [
    ({"vertice": np.zeros((5, 4, 2))}, "must be (frames, vertices, 3)"),
    ({"vertice": np.zeros((5, 13))}, "must be (frames, vertices, 3)"),
    ({"vertice": np.zeros((5, 4, 3)), "pose": np.zeros((5, 4))}, "pose must be (frames, 3)"),
    ({"vertice": np.zeros((5, 4, 3)), "pose": np.zeros((6, 3))}, "5 frames but pose has 6"),
    ({"verts_typo": np.zeros((5, 4, 3))}, "no 'vertice'"),
    ({"vertice": np.array([["a", "b", "c"]])}, "not numbers"),
    ({"vertice": np.full((2, 4, 3), np.nan)}, "NaN"),
    ([np.zeros((5, 4, 3))], "expected a dict"),
])
def test_npy_wrong_shapes_give_clear_errors(tmp_path, data, expect):
    p = tmp_path / "bad.npy"
    if isinstance(data, list):  # a 0-d object array holding a list
        holder = np.empty((), dtype=object)
        holder[()] = data
        data = holder
    np.save(p, data, allow_pickle=True)
    with pytest.raises(DifaceError) as ei:
        load_animation(p)
    assert expect in str(ei.value) and "\n" not in str(ei.value)


def test_npy_template_mismatch(tmp_path):
    np.save(tmp_path / "m.npy", {"vertice": np.zeros((3, 4, 3))})
    with pytest.raises(FormatError, match="template has 5 vertices"):
        load_animation(tmp_path / "m.npy", template=np.zeros((5, 3)))


class _Exploit:
    """Unpickling this with a normal loader creates the marker file (``open(marker, "w")``)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_npy_with_code_executing_pickle_is_refused(tmp_path):
    marker = tmp_path / "PWNED"
    p = tmp_path / "evil.npy"
    np.save(p, {"vertice": np.zeros((2, 3, 3)), "pose": _Exploit(str(marker))}, allow_pickle=True)
    with pytest.raises(UnsafePickleError) as ei:
        load_animation(p)
    msg = str(ei.value)
    assert not marker.exists()
    assert "open" in msg and "not loaded" in msg and "\n" not in msg
    with pytest.raises(UnsafePickleError):
        describe(p)
    assert not marker.exists()
    # the file really is dangerous: numpy's own pickle loading runs it
    try:
        np.load(p, allow_pickle=True)
    except Exception:
        pass
    assert marker.exists()


def test_safe_pickle_accepts_plain_dicts_of_arrays(tmp_path):
    templates = {"FaceTalk_170725_00137_TA": np.arange(15, dtype=np.float64).reshape(5, 3),
                 "scalar": np.float32(30.0), "ints": np.arange(3, dtype=np.int16)}
    for proto in (2, 3, 4, 5):
        out = safe_loads(pickle.dumps(templates, protocol=proto))
        assert set(out) == set(templates)
        np.testing.assert_array_equal(out["FaceTalk_170725_00137_TA"], templates["FaceTalk_170725_00137_TA"])
        assert out["scalar"] == np.float32(30.0)
    # files pickled by numpy 1.x name numpy.core.multiarray
    old_numpy = pickle.dumps(templates, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in old_numpy
    np.testing.assert_array_equal(safe_loads(old_numpy)["ints"], templates["ints"])
    (tmp_path / "templates.pkl").write_bytes(pickle.dumps(templates, protocol=2))
    assert set(safe_load_file(tmp_path / "templates.pkl")) == set(templates)
    with pytest.raises(UnsafePickleError, match="os.system|posix.system"):
        safe_loads(b"cos\nsystem\n(S'touch /tmp/never'\ntR.")
    with pytest.raises(DifaceError, match="not a readable pickle"):
        safe_loads(b"\x80\x04garbage")


# ---------------------------------------------------------------------------------------------- Live Link CSV
def test_livelink_round_trip(tmp_path):
    a = arkit_anim(75, fps=30)
    p = save_animation(a, tmp_path / "take.csv")
    lines = p.read_text().splitlines()
    assert lines[0].split(",") == list(HEADER) and len(HEADER) == 2 + 61
    assert lines[0].startswith("Timecode,BlendShapeCount,EyeBlinkLeft,") and lines[0].endswith("RightEyeRoll")
    assert lines[1].startswith("00:00:00:00.000,61,") and lines[31].startswith("00:00:01:00.000,61,")
    b = load_animation(p)
    assert b.fps == 30 and b.n_frames == 75 and b.channel_names == ARKIT_NAMES
    np.testing.assert_allclose(b.face, a.face, atol=1e-9)
    np.testing.assert_allclose(b.head, a.head, atol=1e-6)


@pytest.mark.parametrize("units", ["degrees", "normalized"])
def test_livelink_head_units_round_trip(tmp_path, units):
    a = arkit_anim(10)
    p = save_animation(a, tmp_path / "u.csv", head_units=units)
    b = load_animation(p, head_units=units, fps=30)
    np.testing.assert_allclose(b.head, a.head, atol=1e-6)
    row = p.read_text().splitlines()[1].split(",")
    yaw = float(row[HEADER.index("HeadYaw")])
    expect = axis_angle_to_ypr(a.head[0].astype(np.float64))[0]
    assert yaw == pytest.approx(np.degrees(expect) if units == "degrees" else expect / (np.pi / 2), abs=1e-6)


def test_livelink_eye_columns_follow_gaze(tmp_path):
    a = Animation.zeros(3)
    face = a.face.copy()
    face[1, ARKIT_NAMES.index("eyeLookOutLeft")] = 1.0   # left eye looks to the character's left
    face[1, ARKIT_NAMES.index("eyeLookInRight")] = 1.0   # right eye too
    face[2, ARKIT_NAMES.index("eyeLookDownLeft")] = 0.5
    p = save_animation(a.with_arrays(face=face), tmp_path / "eyes.csv")
    rows = [r.split(",") for r in p.read_text().splitlines()]
    col = {n: i for i, n in enumerate(rows[0])}
    assert float(rows[2][col["LeftEyeYaw"]]) == pytest.approx(np.radians(30))
    assert float(rows[2][col["RightEyeYaw"]]) == pytest.approx(np.radians(30))
    assert float(rows[3][col["LeftEyePitch"]]) == pytest.approx(np.radians(12.5))
    assert float(rows[1][col["LeftEyeYaw"]]) == 0.0


def test_livelink_missing_columns_named(tmp_path):
    header = [h for h in HEADER if h not in ("JawOpen", "HeadRoll")]
    p = tmp_path / "partial.csv"
    p.write_text(",".join(header) + "\n" + ",".join(["00:00:00:00.000"] + ["0"] * (len(header) - 1)) + "\n")
    with pytest.raises(FormatError) as ei:
        load_animation(p)
    msg = str(ei.value)
    assert "JawOpen" in msg and "HeadRoll" in msg and "missing" in msg
    # without a Timecode column the rows are read as consecutive frames at a given fps
    no_tc = [h for h in HEADER if h != "Timecode"]
    p.write_text(",".join(no_tc) + "\n" + "\n".join(",".join(["61"] + ["0.25"] * (len(no_tc) - 1))
                                                    for _ in range(4)) + "\n")
    with pytest.raises(FormatError, match="missing the Live Link Face column Timecode"):
        load_animation(p)
    a = load_animation(p, fps=24)
    assert a.fps == 24 and a.n_frames == 4 and np.allclose(a.face, 0.25)


def test_livelink_real_style_timecodes_extra_columns_and_dropped_frame(tmp_path):
    # like a phone recording: timecode at 60 fps, a row every 2 timecode frames (30 fps), odd start,
    # sub-frame fractions, lower-case/extra columns, one dropped row
    header = ["Timecode", "BlendShapeCount"] + [n.lower() for n in HEADER[2:]] + ["Extra"]
    rows = []
    ff_total = 13 * 3600 * 60 + 13 * 60 * 60 + 4 * 60 + 31
    jaw = HEADER.index("JawOpen")
    for k in range(80):
        if k == 40:
            continue  # dropped frame
        t = ff_total + 2 * k
        s, ff = divmod(t, 60)
        h, rem = divmod(s, 3600)
        m, s = divmod(rem, 60)
        vals = ["0"] * (len(HEADER) - 2)
        vals[jaw - 2] = f"{k / 100:.4f}"
        rows.append(",".join([f"{h:02d}:{m:02d}:{s:02d}:{ff:02d}.652", "61"] + vals + ["x"]))
    p = tmp_path / "phone.csv"
    p.write_text(",".join(header) + "\n" + "\n".join(rows) + "\n")
    a = load_animation(p)
    assert a.fps == 30 and a.n_frames == 80
    np.testing.assert_allclose(a.channel("jawOpen"), np.arange(80) / 100, atol=1e-6)  # frame 40 interpolated
    assert "resampled" in a.metadata["timing"]
    assert a.metadata["start_timecode"] == "13:13:04:31.652"


def test_livelink_refuses_vertex_space_and_bad_values(tmp_path):
    v = Animation(fps=30, face=np.zeros((3, 6)), head=np.zeros((3, 3)), channel_names=(), space="vertex")
    with pytest.raises(FormatError, match="vertex-offset"):
        save_animation(v, tmp_path / "v.csv")
    p = save_animation(arkit_anim(3), tmp_path / "ok.csv")
    text = p.read_text().splitlines()
    parts = text[2].split(",")
    parts[HEADER.index("JawOpen")] = "oops"
    text[2] = ",".join(parts)
    p.write_text("\n".join(text) + "\n")
    with pytest.raises(FormatError, match="row 3, column JawOpen: 'oops' is not a number"):
        load_animation(p)


def test_timecode_formatting():
    assert format_timecode(0, 30) == "00:00:00:00.000"
    assert format_timecode(30 * 3661 + 29, 30) == "01:01:01:29.000"
    assert format_timecode(1, 60) == "00:00:00:01.000"


# ---------------------------------------------------------------------------------------------- registry
def test_registry_lists_formats_for_gui_and_cli():
    names = [f.name for f in list_formats(can_save=True)]
    assert {"native", "3diface", "livelink"} <= set(names)
    for f in FORMATS.values():
        assert f.extension.startswith(".") and f.description and isinstance(f.can_load, bool)
    assert get_format("CSV").name == "livelink" and get_format(".npz").name == "native"
    with pytest.raises(FormatError, match="known formats"):
        get_format("fbx2000")
    with pytest.raises(FormatError, match="cannot tell the animation format"):
        save_animation(arkit_anim(2), "/nonexistent/x.xyz")


def test_register_custom_format(tmp_path):
    def save_txt(anim, path, *, precision: int = 3):
        atomic_write_bytes(path, "\n".join(" ".join(f"{v:.{precision}f}" for v in row) for row in anim.face).encode())

    try:
        register_format("facetxt", ".ftxt", "test: weights as text", save=save_txt)
        p = save_animation(arkit_anim(2), tmp_path / "w.ftxt", precision=2)
        assert len(p.read_text().splitlines()) == 2
        with pytest.raises(FormatError, match="cannot save with the option bogus"):
            save_animation(arkit_anim(2), tmp_path / "w.ftxt", bogus=1)
        with pytest.raises(FormatError, match="exported but not imported"):
            load_animation(p)
        p2 = save_animation(arkit_anim(2), tmp_path / "noext", format="facetxt")
        assert p2.suffix == ".ftxt"
    finally:
        registry.FORMATS.pop("facetxt", None)
        registry._BY_EXT.pop(".ftxt", None)


def test_unknown_load_option_is_refused(tmp_path):
    p = save_animation(arkit_anim(2), tmp_path / "a.npz")
    with pytest.raises(FormatError, match="native format cannot load with the option fps"):
        load_animation(p, fps=60)


def test_describe_every_format(tmp_path, rig):
    a = arkit_anim(60)
    for name, kw in [("a.npz", {}), ("a.csv", {}), ("a.npy", {"rig": rig})]:
        p = save_animation(a, tmp_path / name, **kw)
        text = describe(p)
        assert "60" in text and "frames" in text, text
    assert "2.000 s" in describe(tmp_path / "a.npz") and "30 fps" in describe(tmp_path / "a.csv")
    assert "20 vertices" in describe(tmp_path / "a.npy")
    with pytest.raises(FormatError, match="not found"):
        describe(tmp_path / "missing.npz")


# ---------------------------------------------------------------------------------------------- atomic saves
@pytest.mark.parametrize("name", ["a.npz", "a.csv", "a.npy"])
def test_failed_save_leaves_old_file_intact(tmp_path, monkeypatch, rig, name):
    p = save_animation(arkit_anim(5, seed=1), tmp_path / name, **({"rig": rig} if name.endswith("npy") else {}))
    before = p.read_bytes()

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(WriteError) as ei:
        save_animation(arkit_anim(9, seed=2), p, **({"rig": rig} if name.endswith("npy") else {}))
    msg = str(ei.value)
    assert "not written" in msg and "disk is full" in msg and str(p) in msg
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == [name]


def test_write_error_midway_removes_temp(tmp_path, monkeypatch):
    p = save_animation(arkit_anim(5), tmp_path / "a.npz")
    before = p.read_bytes()
    real = np.savez_compressed

    def half_then_fail(file, **arrays):
        with open(file, "wb") as f:
            f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", half_then_fail)
    with pytest.raises(WriteError, match="disk is full"):
        save_animation(arkit_anim(7), p)
    monkeypatch.setattr(np, "savez_compressed", real)
    assert p.read_bytes() == before and len(list(tmp_path.iterdir())) == 1
    assert load_animation(p).n_frames == 5


def test_save_into_missing_folder(tmp_path):
    with pytest.raises(WriteError, match="folder does not exist"):
        save_animation(arkit_anim(2), tmp_path / "nope" / "a.npz")


def test_file_mode_is_normal(tmp_path):
    p = save_animation(arkit_anim(2), tmp_path / "a.npz")
    um = os.umask(0)
    os.umask(um)
    assert (p.stat().st_mode & 0o777) == (0o666 & ~um)


# ---------------------------------------------------------------------------------------------- resample
def test_resample_keeps_duration_and_original_samples():
    a = arkit_anim(30, fps=30)
    b = resample_animation(a, 60)
    assert b.fps == 60 and b.n_frames == 60
    np.testing.assert_allclose(b.face[::2], a.face, atol=1e-6)
    np.testing.assert_allclose(b.head[::2], a.head, atol=1e-5)
    c = resample_animation(b, 30)
    np.testing.assert_allclose(c.face, a.face, atol=1e-6)
    # interpolated head poses stay between neighbours (angle-wise)
    mid = np.linalg.norm(b.head[1::2][:-1] - (a.head[:-1] + a.head[1:]) / 2, axis=-1)
    assert mid.max() < 0.05
