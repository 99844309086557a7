"""Test doubles for the engine tests (not collected as tests).

``GPModel`` implements :class:`diface_editor.engine.backend.WindowModel` with a real conditional
generative model that needs no training: every channel is a Gaussian process over time (squared-
exponential kernel), and a window is sampled from the GP posterior given the known entries. It
honours known entries exactly, continues motion smoothly from its context (like an inpainting
diffusion model should) and is deterministic per seed, so the engine's window logic (which frames
are known, what is pasted where, seams) can be checked without torch.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time

import numpy as np

from diface_editor.core.arkit import ARKIT_NAMES
from diface_editor.engine.backend import Cancelled, WindowSpec
from diface_editor.engine.events import JobCancelled, JobFailed, JobResult

#: events that end a job
TERMINAL = (JobResult, JobFailed, JobCancelled)


def events_until(engine, job_id: int, timeout: float = 20.0, kinds: tuple[type, ...] = TERMINAL) -> list:
    """Events from ``engine.events`` (an Engine or ProcessEngine) up to and including the first event of
    ``job_id`` that is one of ``kinds`` (default: the job's terminal event). ``timeout`` in seconds
    only bounds a hang: it fails the test, it measures nothing."""
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ev = engine.events.get(timeout=0.1)
        except queue.Empty:
            continue
        out.append(ev)
        if ev.job_id == job_id and isinstance(ev, kinds):
            return out
    raise AssertionError(f"no {', '.join(k.__name__ for k in kinds)} event for job {job_id}; got {out}")


class FakeClip:
    """Just enough of core.audio.AudioClip for the engine: samples, rate, duration, sha256."""

    def __init__(self, seconds: float, sample_rate: int = 16000, seed: int = 0):
        rng = np.random.default_rng(seed)
        n = int(round(seconds * sample_rate))
        t = np.arange(n) / sample_rate
        env = 0.5 + 0.5 * np.sin(2 * np.pi * 2.5 * t)
        self.samples = (0.3 * env * rng.standard_normal(n)).astype(np.float32)
        self.sample_rate = sample_rate
        self.duration = n / sample_rate
        self.sha256 = hashlib.sha256(self.samples.tobytes()).hexdigest()
        self.path = None


class FakeEncoder:
    """Features (n_frames, 2): smoothed frame RMS energy and its change. Counts calls (cache tests)."""

    def __init__(self):
        self.calls = 0

    def features(self, clip, n_frames: int, fps: float) -> np.ndarray:
        self.calls += 1
        hop = clip.sample_rate / fps
        idx = (np.arange(n_frames)[:, None] * hop + np.arange(int(hop))[None]).astype(int)
        idx = np.clip(idx, 0, len(clip.samples) - 1)
        rms = np.sqrt((clip.samples[idx] ** 2).mean(1))
        k = np.exp(-0.5 * (np.arange(-9, 10) / 3.0) ** 2)
        rms = np.convolve(np.pad(rms, 9, mode="edge"), k / k.sum(), mode="valid")
        rms = (rms - rms.mean()) / (rms.std() + 1e-8)
        return np.stack([rms, np.gradient(rms)], 1).astype(np.float32)


class GPModel:
    """A Gaussian-process window sampler with the engine's model interface.

    ``delay``: seconds to sleep per step. ``hold``: the next sampling call stops after its first
    step until it is cancelled (then ``hold`` turns off), so a job can only end by being cancelled
    (cancellation tests, without timing); ``holding`` is set when a call is held. ``fail``: when set,
    sampling raises a RuntimeError (error tests). ``calls`` records (part, window length, n_samples)
    of every sample call.
    """

    fps = 30.0
    space = "arkit"
    channel_names = ARKIT_NAMES
    n_face = len(ARKIT_NAMES)
    parts = ("face", "head")
    temperature: dict[str, float] = {}  # no recommendation: every part samples at 1
    smoothing: dict[str, float] = {}  # no low-pass of generated motion

    def __init__(self, spec: WindowSpec | None = None, length_scale: float = 6.0, delay: float = 0.0,
                 hold: bool = False):
        self.spec = spec or WindowSpec(window=96, overlap=24, context=16)
        self.length_scale = length_scale
        self.delay = delay
        self.hold = hold
        self.holding = threading.Event()
        self.fail = threading.Event()
        self.calls: list[tuple[str, int, int]] = []
        rng = np.random.default_rng(123)
        self._stats = {"face": (rng.uniform(0, 0.3, self.n_face).astype(np.float32),
                                rng.uniform(0.05, 0.2, self.n_face).astype(np.float32)),
                       "head": (np.array([-0.05855, -0.00283, -0.01964], np.float32),
                                np.array([0.11085, 0.10225, 0.08779], np.float32))}

    def default_steps(self, sampler: str) -> int:
        return 5

    def make_encoder(self):
        return FakeEncoder()

    def normalize(self, part, x):
        m, s = self._stats[part]
        return ((np.asarray(x, np.float32) - m) / s).astype(np.float32)

    def denormalize(self, part, x):
        m, s = self._stats[part]
        return (np.asarray(x, np.float32) * s + m).astype(np.float32)

    def _kernel(self, n: int) -> np.ndarray:
        t = np.arange(n, dtype=np.float64)
        return np.exp(-0.5 * ((t[:, None] - t[None]) / self.length_scale) ** 2)

    def sample(self, part, features, known, known_mask, *, sampler, steps, guidance, seed, n_samples,
               style, callback, cancel, temperature=None):
        if self.fail.is_set():
            raise RuntimeError("simulated model failure")
        known = np.asarray(known, np.float64)
        known_mask = np.asarray(known_mask, bool)
        n, c = known.shape
        self.calls.append((part, n, n_samples))
        rng = np.random.default_rng(seed)
        prior_mean = 0.3 * float(guidance) * np.asarray(features, np.float64)[:, :1] * np.ones((1, c))
        k = self._kernel(n)
        out = np.empty((n_samples, n, c))
        mean = np.empty((n, c))
        z = rng.standard_normal((n_samples, n, c))
        for col_pattern in np.unique(known_mask.T, axis=0):
            cols = np.flatnonzero((known_mask.T == col_pattern).all(1))
            kn, un = np.flatnonzero(col_pattern), np.flatnonzero(~col_pattern)
            mu = prior_mean[:, cols].copy()
            cov = k[np.ix_(un, un)]
            if kn.size and un.size:
                kkk = k[np.ix_(kn, kn)] + 1e-6 * np.eye(kn.size)
                kuk = k[np.ix_(un, kn)]
                sol = np.linalg.solve(kkk, kuk.T).T
                mu[un] += sol @ (known[np.ix_(kn, cols)] - prior_mean[np.ix_(kn, cols)])
                cov = cov - sol @ kuk.T
            mu[kn] = known[np.ix_(kn, cols)]
            mean[:, cols] = mu
            chol = np.linalg.cholesky(cov + 1e-6 * np.eye(un.size)) if un.size else None
            for s in range(n_samples):
                x = mu.copy()
                if un.size:
                    x[un] += chol @ z[s][np.ix_(un, cols)]
                out[s][:, cols] = x
        for i in range(steps):
            if cancel is not None and cancel():
                raise Cancelled()
            if self.delay:
                time.sleep(self.delay)
            if callback is not None:
                callback(i + 1, steps, np.broadcast_to(mean, (n_samples, n, c)).astype(np.float32))
            if self.hold:
                self._hold_until_cancelled(cancel)
        return out.astype(np.float32)

    def _hold_until_cancelled(self, cancel) -> None:
        self.holding.set()
        while cancel is None or not cancel():
            time.sleep(0.002)
        self.hold = False
        raise Cancelled()


# ------------------------------------------------------------------------------- tiny real model
def tiny_model_config(train_steps: int = 20) -> dict:
    """A bundle config for a very small real model (face + head, learned log-mel audio encoder)."""
    return {"name": "tiny test model", "fps": 30.0, "motion_space": "arkit", "face_channels": list(ARKIT_NAMES),
            "audio_encoder": {"type": "logmel", "n_mels": 16, "channels": 8, "dim": 8, "dilations": [1]},
            "parts": {"face": {"denoiser": {"in_channels": 52, "ch": 8, "ch_mult": [1, 2], "audio_dim": 8,
                                            "flag_mode": "channel"},
                               "diffusion": {"num_train_steps": train_steps}},
                      "head": {"denoiser": {"in_channels": 3, "ch": 8, "ch_mult": [1, 2], "audio_dim": 8},
                               "diffusion": {"num_train_steps": train_steps}}},
            "sampling": {"sampler": "dpmpp", "steps": 3, "guidance": 1.0, "window_s": 2.0, "overlap_s": 0.5,
                         "context_s": 0.3}}


def tiny_model(train_steps: int = 20, seed: int = 0):
    """An untrained tiny ``MotionModel`` whose zero-initialised output layers are randomised, so its
    predictions depend on the input (a zero output layer would make every sample 0)."""
    import torch

    from diface_editor.ml.bundle import MotionModel

    torch.manual_seed(seed)
    model = MotionModel.from_config(tiny_model_config(train_steps))
    with torch.no_grad():
        for part in model.parts.values():
            for prm in part.denoiser.parameters():
                if prm.ndim > 1 and float(prm.abs().sum()) == 0.0:
                    prm.normal_(0.0, 0.3)
    return model.eval()


def write_speech(path, seconds: float = 4.0, rate: int = 16000) -> None:
    """A speech-like test signal (a buzzy tone with a 3 Hz syllable envelope) as a wav file."""
    import soundfile as sf

    t = np.arange(int(rate * seconds)) / rate
    sig = 0.3 * np.sign(np.sin(2 * np.pi * 140 * t)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) ** 2
    sf.write(str(path), sig.astype(np.float32), rate)
