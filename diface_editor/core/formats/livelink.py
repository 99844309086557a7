"""Live Link Face CSV (Epic's iPhone capture app; read by Unreal, MetaHuman tools, Blender/Maya add-ons).

Layout: one header row, then one row per frame::

    Timecode,BlendShapeCount,EyeBlinkLeft,...,TongueOut,HeadYaw,HeadPitch,HeadRoll,
    LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll

* ``Timecode``: ``HH:MM:SS:FF.mmm``: hours, minutes, seconds, frame within the second and the
  fractional part of the frame (e.g. ``13:13:04:31.652`` in a real recording). We write it at the
  clip's own frame rate starting at ``00:00:00:00.000``.
* ``BlendShapeCount``: always 61 (52 blendshapes + 9 rotation values).
* 52 blendshape weights in 0..1, ARKit names with an upper-case first letter, in
  :data:`~diface_editor.core.arkit.ARKIT_NAMES` order, written with 10 decimals like the app.
* Head and eye rotations as yaw/pitch/roll.

Angle convention (our choice, documented because sources disagree): the angles are the Euler
angles of :mod:`diface_editor.core.rotations`, ``R = R_y(yaw) R_x(pitch) R_z(roll)`` in the rig
axes (x = the character's left, y up, z forward out of the face; the same axes as ARKit's face
anchor). Positive yaw turns the face towards the character's left, positive pitch lowers the chin,
positive roll tilts the head towards the character's right shoulder. Units: **radians** by default
(``head_units="radians"``). Public tools read these columns differently: some treat them as
radians (e.g. a PyLiveLinkFace example converts them with ``math.degrees``), others as values
normalised to -1..1 with 1 = 90 degrees (a Flutter bone driver scales them by pi/2); real captures
hold small values (|v| < 0.5) that fit both. Choose ``head_units="normalized"`` (1.0 = 90 deg) or
``"degrees"`` when a target expects that; loading must use the same choice as saving for a round
trip. Engines may also flip signs; check one known pose in the target tool.

Eye rotation columns: on save, derived from the gaze blendshapes (``eyes="derive"``, default):
``LeftEyeYaw = 30 deg * (eyeLookOutLeft - eyeLookInLeft)``, ``RightEyeYaw = 30 deg *
(eyeLookInRight - eyeLookOutRight)`` (positive = looking towards the character's left, like head
yaw), ``EyePitch = 25 deg * (eyeLookDown - eyeLookUp)`` (positive = looking down), roll 0; in
``head_units``. ``eyes="zero"`` writes zeros. On load the eye columns are ignored: the
``eyeLook*`` weights carry the gaze.

Loading: the Timecode, the 52 blendshape and the 3 head columns are required (a clear error names
any that are missing, case-insensitively); extra columns are ignored. The frame rate comes from
``fps=`` (then rows are consecutive frames) or is inferred from the timecodes: the timecode rate
is the smallest standard rate above the largest frame number (30 when the clip is shorter than a
second and no frame number reaches 30), the capture rate is the timecode rate over the median
step. Rows with dropped frames are filled by linear interpolation onto a uniform frame grid.
Plain integer timecodes (frame numbers) are accepted too.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
from pathlib import Path

import numpy as np

from diface_editor.core.animation import DEFAULT_FPS, Animation, AnimationError
from diface_editor.core.arkit import ARKIT_NAMES
from diface_editor.core.atomic import atomic_write_text
from diface_editor.core.formats.common import describe_animation
from diface_editor.core.formats.registry import FormatError, register_format
from diface_editor.core.limits import MAX_FRAMES, LimitError, check_fps
from diface_editor.core.rotations import axis_angle_to_ypr, ypr_to_axis_angle

log = logging.getLogger(__name__)

LLF_NAMES: tuple[str, ...] = tuple(n[0].upper() + n[1:] for n in ARKIT_NAMES)
HEAD_COLUMNS = ("HeadYaw", "HeadPitch", "HeadRoll")
EYE_COLUMNS = ("LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw", "RightEyePitch", "RightEyeRoll")
HEADER: tuple[str, ...] = ("Timecode", "BlendShapeCount") + LLF_NAMES + HEAD_COLUMNS + EYE_COLUMNS
BLENDSHAPE_COUNT = 61
EYE_YAW_MAX = math.radians(30.0)
EYE_PITCH_MAX = math.radians(25.0)
_UNITS = {"radians": 1.0, "degrees": math.pi / 180.0, "normalized": math.pi / 2.0}  # file value * k = radians
_STANDARD_RATES = (24.0, 25.0, 30.0, 48.0, 50.0, 60.0, 72.0, 90.0, 100.0, 120.0, 240.0)
_TC = re.compile(r"^\s*(\d+):(\d+):(\d+)[:;](\d+)(?:\.(\d+))?\s*$")


def _unit_factor(head_units: str) -> float:
    try:
        return _UNITS[head_units]
    except KeyError:
        raise FormatError(f"unknown head_units {head_units!r}; use one of {', '.join(_UNITS)}") from None


def format_timecode(frame: int, fps: float) -> str:
    """``HH:MM:SS:FF.mmm`` of frame ``frame`` at ``fps`` (FF counted at the nominal integer rate)."""
    nominal = max(1, int(round(fps)))
    if abs(fps - nominal) < 1e-9:
        secs, ff = divmod(int(frame), nominal)
        sub = 0
    else:
        t = frame / fps
        secs = int(math.floor(t + 1e-9))
        f = (t - secs) * nominal
        ff = int(math.floor(f + 1e-6))
        sub = min(999, int(round((f - ff) * 1000)))
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{ff:02d}.{sub:03d}"


def save_livelink_csv(anim: Animation, path: Path, *, head_units: str = "radians", eyes: str = "derive") -> None:
    """Write an ARKit-space animation as a Live Link Face CSV (see the module docstring)."""
    if anim.space != "arkit":
        raise FormatError("Live Link Face CSV holds ARKit blendshape weights; this animation is in vertex-offset "
                          "space (export it as .npy or .npz instead)")
    if eyes not in ("derive", "zero"):
        raise FormatError(f"unknown eyes option {eyes!r}; use 'derive' or 'zero'")
    k = _unit_factor(head_units)
    dropped = [n for n in anim.channel_names if n not in ARKIT_NAMES]
    if dropped:
        log.warning("Live Link Face CSV has no column for %s; not written", ", ".join(dropped))
    face = anim.reorder_channels(ARKIT_NAMES).face.astype(np.float64) if anim.channel_names != ARKIT_NAMES \
        else anim.face.astype(np.float64)
    face = np.clip(face, 0.0, 1.0)  # Live Link expects weights in 0..1 (a model's output can dip below 0)
    ypr = axis_angle_to_ypr(anim.head.astype(np.float64)) / k
    eye = np.zeros((anim.n_frames, 6))
    if eyes == "derive":
        c = {n: face[:, i] for i, n in enumerate(ARKIT_NAMES)}
        eye[:, 0] = EYE_YAW_MAX * (c["eyeLookOutLeft"] - c["eyeLookInLeft"])
        eye[:, 1] = EYE_PITCH_MAX * (c["eyeLookDownLeft"] - c["eyeLookUpLeft"])
        eye[:, 3] = EYE_YAW_MAX * (c["eyeLookInRight"] - c["eyeLookOutRight"])
        eye[:, 4] = EYE_PITCH_MAX * (c["eyeLookDownRight"] - c["eyeLookUpRight"])
        eye /= k
    buf = io.StringIO()
    buf.write(",".join(HEADER) + "\n")
    values = np.concatenate([face, ypr, eye], axis=1)
    for i in range(anim.n_frames):
        buf.write(f"{format_timecode(i, anim.fps)},{BLENDSHAPE_COUNT},")
        buf.write(",".join(f"{v:.10f}" for v in values[i]))
        buf.write("\n")
    atomic_write_text(path, buf.getvalue())


def _parse_timecodes(raw: list[str], path: Path) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """(whole seconds, fractional frame numbers, is_frame_number) or None if unparsable."""
    secs = np.zeros(len(raw))
    frames = np.zeros(len(raw))
    m0 = _TC.match(raw[0]) if raw else None
    if m0:
        for i, s in enumerate(raw):
            m = _TC.match(s)
            if not m:
                raise FormatError(f"{path}: row {i + 2} has the timecode {s!r}, expected HH:MM:SS:FF.mmm")
            h, mi, se, ff, sub = m.groups()
            secs[i] = int(h) * 3600 + int(mi) * 60 + int(se)
            frames[i] = int(ff) + (float("0." + sub) if sub else 0.0)
        return secs, frames, False
    try:
        frames = np.array([float(s) for s in raw])
    except ValueError:
        return None
    return secs, frames, True


def _infer_timing(raw_tc: list[str], path: Path) -> tuple[float, np.ndarray | None]:
    """(fps, times in seconds relative to the first row, or None for 'consecutive rows')."""
    parsed = _parse_timecodes(raw_tc, path)
    if parsed is None:
        raise FormatError(f"{path}: the Timecode column is not HH:MM:SS:FF.mmm; pass fps= to read the rows as "
                          "consecutive frames")
    secs, frames, is_frame_number = parsed
    if not np.all(np.isfinite(frames)):
        raise FormatError(f"{path}: the Timecode column holds a value that is not a finite number")
    if is_frame_number:
        log.warning("%s: timecodes are frame numbers; assuming %g fps (pass fps= to choose)", path, DEFAULT_FPS)
        return DEFAULT_FPS, (frames - frames[0]) / DEFAULT_FPS
    max_ff = float(np.floor(frames.max())) if len(frames) else 0.0
    wraps = len(np.unique(secs)) > 1
    if wraps:
        tc_rate = next((r for r in _STANDARD_RATES if r > max_ff), max_ff + 1)
    else:
        tc_rate = next((r for r in (30.0, 60.0, 120.0, 240.0) if r > max_ff), max_ff + 1)
    times = secs + frames / tc_rate
    rel = times - times[0]
    if len(rel) < 2:
        return tc_rate, None
    steps = np.diff(rel)
    if np.any(steps <= 0):
        log.warning("%s: timecodes are not increasing; reading rows as consecutive frames at %g fps", path, tc_rate)
        return tc_rate, None
    fps = 1.0 / float(np.median(steps))
    snapped = min(_STANDARD_RATES, key=lambda r: abs(r - fps))
    fps = snapped if abs(snapped - fps) < 0.01 * fps else round(fps, 3)
    return fps, rel


def load_livelink_csv(path: Path, *, fps: float | None = None, head_units: str = "radians") -> Animation:
    """Read a Live Link Face CSV as an ARKit animation (see the module docstring).

    Args:
        fps: frame rate of the rows; default: inferred from the timecodes.
        head_units: how head angles are stored: ``"radians"`` (default, what we write),
            ``"degrees"`` or ``"normalized"`` (1.0 = 90 degrees).
    """
    k = _unit_factor(head_units)
    if fps is not None:
        try:
            fps = check_fps(fps, "fps")
        except LimitError as e:
            raise FormatError(f"{path}: {e}") from None
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise FormatError(f"{path} is not a text (CSV) file") from None
    rows = [r for r in csv.reader(io.StringIO(text)) if r and any(c.strip() for c in r)]
    if not rows:
        raise FormatError(f"{path} is empty; expected a Live Link Face CSV with a header row")
    header = [h.strip() for h in rows[0]]
    lower: dict[str, int] = {}
    for i, h in enumerate(header):
        if h and h.lower() in lower:
            raise FormatError(f"{path} has the column {h} twice (columns {lower[h.lower()] + 1} and {i + 1}); "
                              "keep one of them")
        lower[h.lower()] = i
    need = LLF_NAMES + HEAD_COLUMNS + (() if fps is not None else ("Timecode",))
    missing = [n for n in need if n.lower() not in lower]
    if missing:
        shown = ", ".join(missing[:12]) + (f" and {len(missing) - 12} more" if len(missing) > 12 else "")
        raise FormatError(f"{path} is missing the Live Link Face column{'s' if len(missing) > 1 else ''} {shown}")
    data_rows = rows[1:]
    if not data_rows:
        raise FormatError(f"{path} has a header but no frames")
    cols = [lower[n.lower()] for n in LLF_NAMES + HEAD_COLUMNS]
    values = np.empty((len(data_rows), len(cols)), np.float64)
    for r, row in enumerate(data_rows):
        if len(row) < len(header):
            raise FormatError(f"{path}: row {r + 2} has {len(row)} values but the header has {len(header)} columns")
        for j, c in enumerate(cols):
            try:
                values[r, j] = float(row[c])
            except ValueError:
                raise FormatError(f"{path}: row {r + 2}, column {header[c]}: {row[c]!r} is not a number") from None
    if not np.all(np.isfinite(values)):
        raise FormatError(f"{path} contains NaN or infinite values")
    meta = {"source_format": "livelink_csv", "head_units": head_units}
    if fps is None:
        tc = [row[lower["timecode"]] for row in data_rows]
        fps, rel = _infer_timing(tc, path)
        if rel is not None:
            span = float(rel[-1]) * fps
            if not np.isfinite(span) or span >= MAX_FRAMES:
                raise FormatError(f"{path}: the timecodes span {span:,.0f} frames at {fps:g} fps "
                                  f"(from {tc[0].strip()!r} to {tc[-1].strip()!r}), more than the limit of "
                                  f"{MAX_FRAMES:,} frames; check the Timecode column or pass fps= to read "
                                  "the rows as consecutive frames")
            idx = np.round(rel * fps).astype(np.int64)
            if not np.array_equal(idx, np.arange(len(idx))):
                grid = np.arange(int(idx[-1]) + 1) / fps
                values = np.stack([np.interp(grid, rel, values[:, j]) for j in range(values.shape[1])], axis=1)
                meta["timing"] = f"resampled {len(rel)} rows onto {len(grid)} uniform frames"
                log.info("%s: %s", path, meta["timing"])
        meta["start_timecode"] = tc[0].strip()
    face = values[:, :52].astype(np.float32)
    head = ypr_to_axis_angle(values[:, 52:55] * k).astype(np.float32)
    try:
        return Animation(fps=float(fps), face=face, head=head, channel_names=ARKIT_NAMES, space="arkit",
                         metadata=meta)
    except AnimationError as e:
        raise FormatError(f"{path}: {e}") from None


def describe_livelink_csv(path: Path) -> str:
    anim = load_livelink_csv(path)
    notes = ["head angles read as radians (yaw/pitch/roll)"]
    if "timing" in anim.metadata:
        notes.append(anim.metadata["timing"])
    return describe_animation(anim, path, "Live Link Face CSV (52 ARKit blendshapes + head/eye rotation)", notes)


register_format("livelink", (".csv",), "Live Link Face CSV (.csv): 52 ARKit blendshape weights per frame with "
                "timecode and head yaw/pitch/roll, for Unreal/MetaHuman, Blender and Maya importers",
                load=load_livelink_csv, save=save_livelink_csv, describe=describe_livelink_csv)
