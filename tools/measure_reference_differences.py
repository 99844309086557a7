#!/usr/bin/env python3
"""Measure rows 1-6 of docs/3diface_compat.md's differences table: how far each of diface's default
behaviours moves the result away from reference mode (= the original code; reference mode matches
it to 1e-6, tests/test_fidelity_threediface.py).

Runs on the tiny random-weight checkpoint of the fidelity tests (tests/data/fidelity, original
layout), imported into a temporary bundle, with the fidelity tool's test signal (9.3 s, 256 frames
by the original's rule) and its edit settings (in_between 90:250, swap pairs). Sizes are in the
model's normalised units unless a unit is given (head rotations in degrees). Random weights: the
sizes show that each difference is real and how it compares with the output's own scale, not what
a trained checkpoint would give.

Usage: .venv/bin/python tools/measure_reference_differences.py [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import threediface_reference as tool  # noqa: E402  (the test signal and edit settings; runs nothing original)

STYLE = 2


def _bundle(tmp: Path):
    from diface_editor.ml.bundle import MotionModel
    from diface_editor.ml.compat import threediface as td
    from tests._compat_helpers import tiny_w2v_config

    data = ROOT / "tests" / "data" / "fidelity"
    out = tmp / "bundle"
    td.import_3diface([data / "face", data / "head"], out, wav2vec2_config=tiny_w2v_config(), guidance=0.5)
    return MotionModel.load(out, device="cpu").eval()


def _max(a, b, rows=None) -> float:
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    return float((d if rows is None else d[rows]).max())


def _warp_in_default_pipeline(model, base, clip, span) -> dict:
    """diface's default range edit of the head (DDPM, the bundle's windows), with and without the
    continuity warp (``run_windows(blend=...)``), same seed: how far the warp moves generated frames."""
    from functools import partial

    from diface_editor.engine import jobs
    from diface_editor.engine.requests import EditRequest
    from diface_editor.engine.worker import Engine

    T = int(round(clip.duration * 30))
    held = base.with_arrays(face=np.concatenate([base.face, np.repeat(base.face[-1:], T - base.n_frames, 0)]),
                            head=np.concatenate([base.head, np.repeat(base.head[-1:], T - base.n_frames, 0)]))
    req = EditRequest(base=held, audio=clip, mode="range", range=span, parts=("head",), sampler="ddpm",
                      guidance=1.0, seed=200, style=STYLE)
    engine = Engine(model)
    with_warp = engine.run_sync(req).animation.head
    original = jobs.run_windows
    jobs.run_windows = partial(original, blend=False)
    try:
        without = engine.run_sync(req).animation.head
    finally:
        jobs.run_windows = original
    a, b = span
    return {"default_pipeline_max_deg": float(np.degrees(_max(with_warp[a:b], without[a:b])))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args()
    torch.set_num_threads(2)
    from diface_editor.core.animation import Animation
    from diface_editor.core.audio import AudioClip
    from diface_editor.engine.continuity import blend_into_context
    from diface_editor.ml.compat import reference as rm
    from diface_editor.ml.sampling import sample_window

    res: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        model = _bundle(Path(tmp))
        audio = tool.test_audio()
        nf = rm.reference_frame_count(len(audio))
        feats = rm.reference_features_for(model, audio, nf)
        face, head = model.part("face"), model.part("head")
        gen = rm.reference_generate(model, audio, seed=100, style=STYLE, features=feats)
        zf = face.normalise(gen.face)
        a, b = tool.IN_BETWEEN
        rows = np.arange(a, b)

        # 1. known frames of the face: x0 only (original) or also written into x_t (diface)
        spec = rm.EditSpec("in_between", span=(a, b))
        known, mask = spec.known(zf)
        first: dict[bool, np.ndarray] = {}
        final: dict[bool, np.ndarray] = {}
        for in_xt in (False, True):
            def cb(step, total, x0, _k=in_xt):
                if step == 1:
                    first[_k] = x0[0].copy()
            final[in_xt] = sample_window(face, feats, known, mask, sampler="ddpm", guidance=0.5, seed=200,
                                         style=STYLE, known_in_xt=in_xt, callback=cb)[0]
        res["1_known_frames_face"] = {"after_one_step": _max(first[False], first[True], rows),
                                      "final": _max(final[False], final[True], rows),
                                      "output_scale": float(np.abs(final[False][rows]).max())}

        # 2. guidance on the head: none (original) or the bundle's 0.5 (diface's default)
        h_orig = sample_window(head, feats, np.zeros((nf, 3), np.float32), np.zeros((nf, 3), bool),
                               sampler="ddpm", guidance=1.0, seed=101)[0]
        h_g = sample_window(head, feats, np.zeros((nf, 3), np.float32), np.zeros((nf, 3), bool),
                            sampler="ddpm", guidance=0.5, seed=101)[0]
        res["2_head_guidance"] = {"max_abs": _max(h_orig, h_g), "output_max": float(np.abs(h_orig).max()),
                                  "max_deg": float(np.degrees(_max(head.denormalise(h_orig),
                                                                   head.denormalise(h_g))))}

        # 3. the continuity warp applied to an original in_between edit of the head
        base = Animation(fps=30.0, face=gen.face.copy(), head=gen.head.copy(), channel_names=(), space="vertex")
        ed = rm.reference_edit(model, base, audio, spec, seed=200, style=STYLE, parts=("head",), features=feats)
        kmask = np.ones((nf, 3), bool)
        kmask[a:b] = False
        warped = blend_into_context(ed.head.astype(np.float32), kmask)
        res["3_continuity_warp_head"] = {
            "on_original_output_max_deg": float(np.degrees(_max(ed.head, warped, rows))),
            "edit_range_deg": float(np.degrees(np.ptp(ed.head[rows], axis=0).max())),
            **_warp_in_default_pipeline(model, base, AudioClip(audio, 16000), (a, b))}

        # 4. context and window length: the face model's reshape quirk (same frames, 32- vs 64-frame window)
        t = torch.full((1,), 500, dtype=torch.long)
        x = torch.from_numpy(zf[:64].T.copy())[None]
        au = torch.as_tensor(feats[:64])[None]
        sty = torch.zeros(1, 8)
        sty[0, STYLE] = 1
        with torch.no_grad():
            y64 = face.denoiser(x, t, None, au, None, sty)[0].T.numpy()
            y32 = face.denoiser(x[..., :32], t, None, au[:, :32], None, sty)[0].T.numpy()
        T_diface = int(round(len(audio) / 16000 * 30))
        res["4_context_window"] = {"window_32_vs_64_max_abs": _max(y64[:32], y32),
                                   "output_scale": float(np.abs(y64).max()),
                                   "frames_original": nf, "frames_diface": T_diface,
                                   "in_between_context_frames_diface": 30, "in_between_context_frames_original": nf}

        # 5. keyframe_swap: the original generates the source frames; diface pins them
        sw = rm.reference_edit(model, base, audio, rm.EditSpec("keyframe_swap", pairs=tool.SWAP_PAIRS), seed=400,
                               style=STYLE, parts=("head",), features=feats)
        src = [p[0] for p in tool.SWAP_PAIRS]
        other = rm.reference_generate(model, audio, seed=400, style=STYLE, parts=("head",), features=feats)
        res["5_swap_source_moves"] = {"max_deg": float(np.degrees(_max(sw.head[src], base.head[src]))),
                                      "seed_to_seed_head_max_deg": float(np.degrees(_max(other.head, gen.head))),
                                      "pairs": [list(p) for p in tool.SWAP_PAIRS]}

        # 6. audio features: diface's windowed encoder vs the original's interpolated CNN features
        enc = model.build_audio_encoder()
        clip = AudioClip(audio, 16000)
        ours = np.asarray(enc.features(clip, nf, 30.0), np.float64)
        theirs = feats.numpy().astype(np.float64)
        if ours.shape != theirs.shape:
            raise SystemExit(f"feature shapes differ: {ours.shape} vs {theirs.shape}")
        cos = (ours * theirs).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1) + 1e-12)
        res["6_audio_features"] = {"mean_abs": float(np.abs(ours - theirs).mean()),
                                   "max_abs": float(np.abs(ours - theirs).max()),
                                   "feature_scale_mean_abs": float(np.abs(theirs).mean()),
                                   "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min())}
    text = json.dumps(res, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
