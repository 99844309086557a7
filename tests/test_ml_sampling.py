"""Masked sampling: exact known entries for every sampler, determinism, guidance, callbacks,
cancellation, and agreement with diffusers' schedulers."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from diface_editor.ml.sampling import (
    DEFAULT_STEPS,
    SamplingCancelled,
    SamplingError,
    _Net,
    sample,
    sample_window,
    timesteps_for,
)
from tests._ml_helpers import tiny_part

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _problem(T=24, C=5, D=4, seed=0):
    rng = np.random.default_rng(seed)
    known = rng.normal(size=(T, C)).astype(np.float32)
    mask = np.zeros((T, C), bool)
    mask[:4] = True                # context at the start
    mask[10, :] = True             # a keyframe
    mask[15:, 2] = True            # one channel pinned over a range
    feats = rng.normal(size=(T, D)).astype(np.float32)
    return feats, known, mask


@pytest.mark.parametrize("sampler,steps", [("ddim", 8), ("dpmpp", 8), ("dpmpp", 1), ("ddim", 3)])
def test_known_entries_come_back_exactly(sampler, steps):
    part = tiny_part()
    feats, known, mask = _problem()
    out = sample_window(part, feats, known, mask, sampler=sampler, steps=steps, guidance=2.0, seed=3, n_samples=2)
    assert out.shape == (2, 24, 5) and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    assert np.abs(out[:, mask] - known[mask]).max() <= 1e-5
    # generated entries really are generated (not copied zeros or the known array)
    assert np.abs(out[:, ~mask]).max() > 1e-3
    assert not np.allclose(out[0], out[1])  # two variants differ


def test_ddpm_reference_over_all_1000_steps_keeps_known_entries():
    part = tiny_part(name="head", C=3, D=2, ch_mult=(1,), flag_mode="frame")
    rng = np.random.default_rng(1)
    known = rng.normal(size=(8, 3)).astype(np.float32)
    mask = np.zeros((8, 3), bool)
    mask[[0, 5]] = True
    steps = []
    out = sample_window(part, rng.normal(size=(8, 2)).astype(np.float32), known, mask, sampler="ddpm", seed=0,
                        callback=lambda s, n, x0: steps.append((s, n)))
    assert steps[0] == (1, 1000) and steps[-1] == (1000, 1000) and len(steps) == 1000
    assert np.abs(out[0][mask] - known[mask]).max() <= 1e-5
    assert np.abs(out[0][~mask]).max() > 1e-3


def test_same_seed_same_result_other_seed_other_result():
    part = tiny_part()
    feats, known, mask = _problem()
    a = sample_window(part, feats, known, mask, steps=6, seed=11)
    b = sample_window(part, torch.from_numpy(feats), torch.from_numpy(known), torch.from_numpy(mask), steps=6,
                      seed=11)
    c = sample_window(part, feats, known, mask, steps=6, seed=12)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    d1 = sample_window(part, feats, known, mask, sampler="ddim", steps=6, eta=1.0, seed=5)
    d2 = sample_window(part, feats, known, mask, sampler="ddim", steps=6, eta=1.0, seed=5)
    assert np.array_equal(d1, d2)


def test_guidance_one_is_the_conditional_model_only():
    part = tiny_part()
    calls = []
    real_forward = part.denoiser.forward

    def spy(x, t, flags=None, audio=None, cond_mask=None, style=None):
        calls.append((x.shape[0], None if cond_mask is None else cond_mask.tolist()))
        return real_forward(x, t, flags, audio, cond_mask, style)

    part.denoiser.forward = spy
    feats, known, mask = _problem()
    sample_window(part, feats, known, mask, steps=4, guidance=1.0, n_samples=3)
    assert len(calls) == 4 and all(b == 3 and (cm is None or not any(cm)) for b, cm in calls)
    calls.clear()
    sample_window(part, feats, known, mask, steps=4, guidance=2.5, n_samples=3)
    # one batched forward per step: 3 conditional + 3 unconditional
    assert len(calls) == 4 and all(b == 6 and cm == [False] * 3 + [True] * 3 for b, cm in calls)


def test_guidance_zero_is_unconditional_and_cfg_combines_passes():
    part = tiny_part()
    feats, known, mask = _problem()
    uncond = sample_window(part, feats, known, mask, steps=5, guidance=0.0, seed=2)
    no_audio = sample_window(part, None, known, mask, steps=5, seed=2)
    assert np.allclose(uncond, no_audio, atol=1e-6)
    # one guided step equals uncond + s * (cond - uncond) of separate passes
    C, T = 5, 24
    km = torch.from_numpy(mask.T)[None]
    kv = torch.where(km, torch.from_numpy(known.T)[None], torch.zeros(()))
    flags = km.float()
    audio = torch.from_numpy(feats)[None]
    x = torch.randn(1, C, T)
    with torch.no_grad():
        guided = _Net(part, kv, km, flags, audio, None, 3.0)(x, 500)
        x_in = torch.where(km, kv, x)
        cond = part.denoiser(x_in, torch.tensor([500]), flags, audio)
        unc = part.denoiser(x_in, torch.tensor([500]), flags, None)
    expect = torch.where(km, kv, unc + 3.0 * (cond - unc))
    assert torch.allclose(guided, expect, atol=1e-5)


def test_callback_sees_every_step_with_exact_known_preview():
    part = tiny_part()
    feats, known, mask = _problem()
    seen = []
    sample_window(part, feats, known, mask, steps=7, n_samples=2,
                  callback=lambda s, n, x0: seen.append((s, n, x0.shape, np.abs(x0[:, mask] - known[mask]).max())))
    assert [s for s, *_ in seen] == list(range(1, 8))
    assert all(n == 7 and shape == (2, 24, 5) and err <= 1e-5 for _, n, shape, err in seen)


@pytest.mark.parametrize("kind", ["event", "callable"])
def test_cancel_between_steps_raises_and_leaves_no_state(kind):
    part = tiny_part()
    part.denoiser.train()  # the sampler must restore the caller's mode too
    feats, known, mask = _problem()
    ev = threading.Event()
    cancel = ev if kind == "event" else ev.is_set
    steps = []

    def cb(s, n, x0):
        steps.append(s)
        if s == 2:
            ev.set()

    with pytest.raises(SamplingCancelled):
        sample_window(part, feats, known, mask, steps=10, seed=4, callback=cb, cancel=cancel)
    assert steps == [1, 2]
    assert part.denoiser.training
    part.denoiser.eval()
    ev.clear()
    again = sample_window(part, feats, known, mask, steps=10, seed=4, cancel=cancel)
    fresh = sample_window(tiny_part(), feats, known, mask, steps=10, seed=4)
    assert np.array_equal(again, fresh)


def test_bad_arguments_are_clear_errors():
    part = tiny_part()
    feats, known, mask = _problem()
    with pytest.raises(SamplingError, match="unknown sampler"):
        sample_window(part, feats, known, mask, sampler="euler")
    with pytest.raises(SamplingError, match="all 1000 steps"):
        sample_window(part, feats, known, mask, sampler="ddpm", steps=20)
    with pytest.raises(SamplingError, match="features must be"):
        sample_window(part, feats[:10], known, mask)
    with pytest.raises(SamplingError, match="known_mask"):
        sample_window(part, feats, known, mask[:, :3])
    with pytest.raises(SamplingError, match="no style classes"):
        sample_window(part, feats, known, mask, style=1)


def test_trailing_timesteps():
    assert timesteps_for("dpmpp", 10, 1000) == [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]
    assert timesteps_for("ddim", 1, 1000) == [999]
    assert len(timesteps_for("ddim", None, 1000)) == DEFAULT_STEPS["ddim"]
    ts = timesteps_for("dpmpp", 7, 1000)
    assert ts[0] == 999 and all(a > b for a, b in zip(ts, ts[1:])) and len(ts) == 7
    assert timesteps_for("ddpm", None, 1000) == list(range(999, -1, -1))


@pytest.mark.parametrize("name,steps", [("ddim", 10), ("dpmpp", 10), ("dpmpp", 7)])
def test_matches_diffusers_schedulers(name, steps):
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    part = tiny_part(name="head", C=4, D=0, flag_mode="none")
    m = part.denoiser
    betas = part.diffusion.betas
    S, C, T = 2, 4, 16
    g = torch.Generator().manual_seed(3)
    with torch.inference_mode():
        ours = sample(part, torch.zeros(S, C, T), torch.zeros(S, C, T, dtype=torch.bool), None, sampler=name,
                      steps=steps, generator=g)
    if name == "ddim":
        sch = DDIMScheduler(num_train_timesteps=1000, trained_betas=betas, clip_sample=False, set_alpha_to_one=True,
                            prediction_type="sample", timestep_spacing="trailing")
    else:
        sch = DPMSolverMultistepScheduler(num_train_timesteps=1000, trained_betas=betas, algorithm_type="dpmsolver++",
                                          solver_order=2, prediction_type="sample", timestep_spacing="trailing",
                                          final_sigmas_type="zero")
    sch.set_timesteps(steps)
    assert sch.timesteps.tolist() == timesteps_for(name, steps, 1000)
    x = torch.randn((S, C, T), generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        for t in sch.timesteps:
            x = sch.step(m(x, torch.full((S,), int(t))), t, x).prev_sample
    assert torch.allclose(ours, x, atol=1e-5)
