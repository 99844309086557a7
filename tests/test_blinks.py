"""Procedural eye blinks over generated faces (the shipped model does not blink by itself).

What users rely on: Generate gives blinks at natural intervals, the same seed gives the same
blinks, nothing but the eyelids changes, keyframe-pinned and kept frames are untouched, an edit
keeps the blinks where they were (also when its border falls inside a blink: the eyes do not stay
half shut), and blinks can be switched off (GUI setting, CLI flag).
"""

from __future__ import annotations

import numpy as np
import pytest

from _engine_fakes import FakeClip, FakeEncoder, GPModel
from diface_editor.core.arkit import ARKIT_NAMES
from diface_editor.core.blinks import BLINK_CHANNELS, auto_blinks, hide_blinks, lay_blinks
from diface_editor.core.document import SamplerSettings
from diface_editor.core.keyframes import Keyframe
from diface_editor.engine.requests import EditRequest, GenerateRequest
from diface_editor.engine.worker import Engine

NAMES = list(ARKIT_NAMES)
L, R = NAMES.index("eyeBlinkLeft"), NAMES.index("eyeBlinkRight")
EYELIDS = [NAMES.index(n) for n in ("eyeBlinkLeft", "eyeBlinkRight", "eyeWideLeft", "eyeWideRight")]
OTHERS = [i for i in range(len(NAMES)) if i not in EYELIDS]


def _peaks(x: np.ndarray, level: float = 0.5) -> int:
    above = x > level
    return int(np.count_nonzero(above[1:] & ~above[:-1]) + above[0])


def test_auto_blinks_are_natural_and_reproducible():
    a = auto_blinks(1800, 30.0, seed=3)  # one minute
    assert a.shape == (1800, 2) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    n = _peaks(a[:, 0])
    assert 10 <= n <= 30, n  # people blink ~15-20 times a minute
    closed_frames = np.count_nonzero(a[:, 0] > 0.5)
    assert closed_frames < 0.1 * len(a)  # a blink is short
    np.testing.assert_array_equal(a, auto_blinks(1800, 30.0, seed=3))
    assert not np.array_equal(a, auto_blinks(1800, 30.0, seed=4))
    # the schedule is made for the whole clip: its length is part of it (an edit lays the blinks of the
    # document's full length, never of a window), and it stays natural for the shorter clip
    half = auto_blinks(900, 30.0, seed=3)
    assert half.shape == (900, 2)
    assert not np.array_equal(half, a[:900])
    assert 4 <= _peaks(half[:, 0]) <= 16


def test_lay_blinks_changes_only_editable_eyelid_entries():
    rng = np.random.default_rng(0)
    face = rng.uniform(0, 0.3, (300, len(NAMES))).astype(np.float32)
    curves = auto_blinks(300, 30.0, seed=1)
    editable = np.zeros_like(face, bool)
    editable[100:200] = True
    out = lay_blinks(face, NAMES, curves, editable)
    np.testing.assert_array_equal(out[:100], face[:100])
    np.testing.assert_array_equal(out[200:], face[200:])
    np.testing.assert_array_equal(out[:, OTHERS], face[:, OTHERS])
    np.testing.assert_array_equal(out[100:200, L], np.maximum(face[100:200, L], curves[100:200, 0]))
    # a model without ARKit eyelids is left alone
    np.testing.assert_array_equal(lay_blinks(face[:, 14:], NAMES[14:], curves), face[:, 14:])


def test_hide_blinks_bridges_the_eyelids_and_keeps_keyframes():
    curves = auto_blinks(300, 30.0, seed=1)
    face = np.full((300, len(NAMES)), 0.1, np.float32)
    blinked = lay_blinks(face, NAMES, curves)
    during = np.flatnonzero(curves[:, 0] > 0.5)
    key = int(during[0])
    hidden = hide_blinks(blinked, NAMES, curves, keep_rows=[key])
    assert np.allclose(np.delete(hidden[:, L], key), 0.1, atol=1e-6)  # flat again between the blinks
    assert hidden[key, L] == blinked[key, L]
    np.testing.assert_array_equal(hidden[:, OTHERS], blinked[:, OTHERS])


@pytest.fixture(scope="module")
def engine():
    eng = Engine(GPModel(), encoder=FakeEncoder())
    yield eng
    eng.shutdown()


def test_generate_with_a_blink_seed_blinks_and_changes_nothing_else(engine):
    clip = FakeClip(12.0, seed=1)
    plain = engine.run_sync(GenerateRequest(clip, seed=2)).animation
    res = engine.run_sync(GenerateRequest(clip, seed=2, blink_seed=7))
    blinking = res.animation
    curves = auto_blinks(plain.n_frames, plain.fps, 7)
    assert _peaks(curves[:, 0]) >= 2
    assert np.all(blinking.face[:, L] >= curves[:, 0] - 1e-6) and np.all(blinking.face[:, R] >= curves[:, 1] - 1e-6)
    np.testing.assert_array_equal(blinking.face[:, OTHERS], plain.face[:, OTHERS])
    np.testing.assert_array_equal(blinking.head, plain.head)
    assert res.info["blinks"] and blinking.metadata["blink_seed"] == "7"
    assert not engine.run_sync(GenerateRequest(clip, seed=2)).info["blinks"]


def test_an_edit_keeps_the_blinks_and_its_borders_inside_a_blink_do_not_hold_the_eyes_shut(engine):
    clip = FakeClip(12.0, seed=3)
    base = engine.run_sync(GenerateRequest(clip, seed=1, blink_seed=0)).animation
    curves = auto_blinks(base.n_frames, base.fps, 0)
    closed = np.flatnonzero(curves[:, 0] > 0.5)
    f = int(closed[0])  # the edit starts right after a frame with the eyes shut
    a, b = f + 1, min(base.n_frames, f + 90)
    out = engine.run_sync(EditRequest(base, clip, mode="range", range=(a, b), seed=9, blink_seed=0)).animation
    np.testing.assert_array_equal(out.face[:a], base.face[:a])
    np.testing.assert_array_equal(out.face[b:], base.face[b:])
    assert not np.array_equal(out.face[a:b, OTHERS], base.face[a:b, OTHERS])
    # between blinks the eyelids inside the edit are where the model puts them, not dragged shut
    open_rows = np.flatnonzero(curves[a:b, 0] < 1e-4) + a
    base_level = float(np.abs(base.face[open_rows, L]).max())
    assert float(out.face[open_rows, L].max()) <= base_level + 0.35
    assert np.all(out.face[a:b, L] >= curves[a:b, 0] - 1e-6)  # the same blinks inside the edit


def test_a_keyframe_on_the_eyes_wins_over_a_blink(engine):
    clip = FakeClip(8.0, seed=4)
    base = engine.run_sync(GenerateRequest(clip, seed=1, blink_seed=2)).animation
    curves = auto_blinks(base.n_frames, base.fps, 2)
    f = int(np.argmax(curves[:, 0]))
    values = base.face[f].copy()
    values[L] = values[R] = 0.0  # eyes wide open, pinned where a blink would be
    key = Keyframe(f, "face", values=tuple(float(v) for v in values))
    out = engine.run_sync(EditRequest(base, clip, mode="keyframes", keyframes=(key,), radius=20, blink_seed=2)).animation
    assert out.face[f, L] == 0.0 and out.face[f, R] == 0.0
    np.testing.assert_array_equal(out.face[: f - 20], base.face[: f - 20])


def test_blinks_are_a_document_setting_that_is_on_by_default_and_saved():
    s = SamplerSettings()
    assert s.blinks and s.blink_seed == 0
    off = SamplerSettings.from_dict({**s.to_dict(), "blinks": False, "blink_seed": 5})
    assert not off.blinks and off.blink_seed == 5
    assert SamplerSettings.from_dict({"sampler": "ddim"}).blinks  # projects from before the setting


def test_cli_generate_blinks_by_default_and_no_blinks_turns_them_off():
    import argparse

    from diface_editor.cli.sampling_args import add_sampling_arguments, sampling_values

    p = argparse.ArgumentParser()
    add_sampling_arguments(p, samples_help="")
    model = GPModel()
    assert sampling_values(p.parse_args([]), model)["blink_seed"] == 0
    assert sampling_values(p.parse_args(["--blink-seed", "4"]), model)["blink_seed"] == 4
    assert sampling_values(p.parse_args(["--no-blinks"]), model)["blink_seed"] is None
    assert set(BLINK_CHANNELS) <= set(NAMES)


def test_editing_a_take_made_without_these_blinks_adds_none(engine):
    clip = FakeClip(12.0, seed=5)
    plain = engine.run_sync(GenerateRequest(clip, seed=1)).animation  # blinks off
    curves = auto_blinks(plain.n_frames, plain.fps, 0)
    f = int(np.argmax(curves[:, 0]))
    a, b = max(0, f - 30), min(plain.n_frames, f + 30)
    res = engine.run_sync(EditRequest(plain, clip, mode="range", range=(a, b), seed=4, blink_seed=0))
    assert not res.info["blinks"]
    assert res.animation.face[f, L] < curves[f, 0] - 0.2  # the model's open eyes, no blink laid in
    # the same edit of a take generated with the schedule keeps blinking inside the range
    blinking = engine.run_sync(GenerateRequest(clip, seed=1, blink_seed=0)).animation
    res = engine.run_sync(EditRequest(blinking, clip, mode="range", range=(a, b), seed=4, blink_seed=0))
    assert res.info["blinks"] and res.animation.face[f, L] >= curves[f, 0] - 1e-6
