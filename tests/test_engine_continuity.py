"""Generated motion blends into the known motion around it (no seams, no keyframe spikes)."""

import numpy as np
import pytest

from diface_editor.engine.continuity import blend_into_context


def _noise(T, C=1, s=0.005, seed=0):
    return np.random.default_rng(seed).normal(0, s, (T, C))


def test_a_keyframe_pulls_its_neighbourhood_instead_of_spiking():
    T = 61
    vals = _noise(T)
    known = np.zeros((T, 1), bool)
    known[:10] = known[51:] = True   # context on both sides
    known[30] = True                 # the keyframe
    vals[30] = 1.0                   # the model ignored it: generated neighbours stay near 0
    out = blend_into_context(vals, known)
    assert out[30, 0] == 1.0
    assert np.array_equal(out[known], vals[known].astype(np.float32))
    before = np.abs(np.diff(vals[:, 0])).max()
    after = np.abs(np.diff(out[:, 0])).max()
    assert before > 0.9 and after < 0.15            # a ramp, not a one-frame spike
    assert out[29, 0] > 0.85 and out[31, 0] > 0.85  # the neighbours follow the key
    assert abs(out[12, 0]) < 0.1 and abs(out[48, 0]) < 0.1  # and the effect fades towards the context


def test_a_step_at_an_edit_border_is_removed():
    T = 120
    t = np.arange(T, dtype=float)
    smooth = np.sin(t / 9.0)[:, None]
    vals = smooth.copy()
    vals[40:] += 0.5                 # generated frames 40.. start half a unit off the context
    known = np.zeros((T, 1), bool)
    known[:40] = True
    out = blend_into_context(vals, known)
    assert np.array_equal(out[:40], vals[:40].astype(np.float32))
    assert abs(out[40, 0] - out[39, 0]) < 0.15      # was 0.6
    # beyond the fade (45 frames) the generated motion is kept as sampled
    assert np.allclose(out[-5:, 0], vals[-5:, 0], atol=1e-6)


def test_motion_that_already_continues_is_left_alone():
    T = 90
    t = np.arange(T, dtype=float)
    vals = np.stack([np.sin(t / 7.0), np.cos(t / 11.0)], 1) + _noise(T, 2, 0.002, 1)
    known = np.zeros((T, 2), bool)
    known[:30] = known[60:] = True
    out = blend_into_context(vals, known)
    assert np.abs(out - vals).max() < 0.01


@pytest.mark.parametrize("fill", [True, False])
def test_nothing_or_everything_known_is_a_copy(fill):
    vals = _noise(20, 3)
    known = np.full((20, 3), fill)
    assert np.array_equal(blend_into_context(vals, known), vals.astype(np.float32))


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        blend_into_context(np.zeros((5, 2)), np.zeros((5, 3), bool))


def test_smoothing_removes_jitter_but_keeps_known_entries():
    from diface_editor.engine.continuity import smooth_generated

    T = 120
    t = np.arange(T, dtype=float)
    slow = np.sin(t / 15.0)[:, None]
    vals = slow + _noise(T, 1, 0.05, 2)
    known = np.zeros((T, 1), bool)
    known[:20] = True
    known[70] = True
    out = smooth_generated(vals, known, 3.0)
    assert np.array_equal(out[known], vals[known].astype(np.float32))
    gen = ~known[:, 0]
    jitter = lambda x: np.abs(np.diff(x[:, 0] - slow[:, 0]))[gen[1:]].mean()  # noqa: E731
    assert jitter(out) < 0.35 * jitter(vals)                     # jitter gone
    assert np.abs(out - slow)[gen].mean() < np.abs(vals - slow)[gen].mean()  # closer to the slow motion
    assert np.array_equal(smooth_generated(vals, known, 0.0), vals.astype(np.float32))


def _warp_one_run_at_a_time(v, known, short, short_ramp, tolerance=0.5, max_ramp=45):
    """The warp without velocity matching, written run by run from its definition."""
    out = v.astype(np.float64).copy()
    T = v.shape[0]

    def smooth(u):
        u = np.clip(u, 0.0, 1.0)
        return u * u * (3.0 - 2.0 * u)

    def shrink(x, tol):
        return float(np.sign(x) * max(0.0, abs(x) - tol))

    for c in range(v.shape[1]):
        kc, col = known[:, c], v[:, c].astype(np.float64)
        if kc.all() or not kc.any():
            continue
        f = 0
        while f < T:
            if kc[f]:
                f += 1
                continue
            a = f
            while f < T and not kc[f]:
                f += 1
            b, n = f, f - a
            t = np.arange(a, b, dtype=np.float64)
            disp = np.zeros(n)
            ramp = min(n + 1, max_ramp)
            tol = tolerance * (1.4826 * float(np.median(np.abs(np.diff(col[a:b], 2)))) if n >= 3 else 0.0)
            if a > 0:
                ctx = a >= 2 and kc[a - 2]
                r = min(ramp, short_ramp) if short[a - 1, c] else ramp
                v_in = col[a - 1] - col[a - 2] if ctx else 0.0
                disp += shrink(col[a - 1] + v_in - col[a], tol if ctx else 0.0) * (1.0 - smooth((t - (a - 1)) / r))
            if b < T:
                ctx = b + 1 < T and kc[b + 1]
                r = min(ramp, short_ramp) if short[b, c] else ramp
                v_out = col[b + 1] - col[b] if ctx else 0.0
                disp += shrink(col[b] - v_out - col[b - 1], tol if ctx else 0.0) * (1.0 - smooth((b - t) / r))
            out[a:b, c] = col[a:b] + disp
    return out.astype(np.float32)


def test_a_window_with_many_pins_is_warped_as_each_run_alone():
    """Channels without velocity matching (a transcript's mouth pins: hundreds of short runs) are
    warped all at once, exactly as run after run would be; known entries never change."""
    rng = np.random.default_rng(3)
    for _ in range(60):
        T, C = int(rng.integers(2, 120)), int(rng.integers(1, 20))
        v = (np.cumsum(rng.standard_normal((T, C)), 0) * rng.uniform(0.01, 1.0)).astype(np.float32)
        known = rng.random((T, C)) < rng.uniform(0.05, 0.9)
        short = known & (rng.random((T, C)) < 0.5)
        sr = int(rng.integers(1, 6))
        got = blend_into_context(v, known, short=short, short_ramp=sr, match_velocity=False)
        np.testing.assert_array_equal(got, _warp_one_run_at_a_time(v, known, short, sr))
        np.testing.assert_array_equal(got[known], v[known])
