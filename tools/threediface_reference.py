#!/usr/bin/env python
"""Reference numbers from the public 3DiFACE code, for ``tests/test_fidelity_threediface.py``.

Run by hand, never at test time, from a scratch folder holding a checkout of the original code
(``bala1144/3DiFACE``), with a Python that has torch and transformers (the project's venv works;
nothing is installed). The original code is only imported from that folder, never copied here::

    git -C /tmp/3diface-orig ... (a checkout of bala1144/3DiFACE)
    cd /tmp/scratch && python /path/to/diface/tools/threediface_reference.py \\
        --original /tmp/3diface-orig --data /path/to/diface/tests/data/fidelity

It writes (into ``--data``): the tiny random-weight checkpoints in the original layout
(``face/args.yml`` + ``face/checkpoints/model000001000.pt``, ``head/args.yml`` + ``head/model000001000.pt``,
``wav2vec2/`` a tiny random transformers Wav2Vec2 config, 16-wide) unless they exist, and
``reference.npz``: the original code's outputs on them:

* ``betas_face``, ``betas_head``: the schedules (``GaussianDiffusion.betas``);
* ``fwd_*``: one forward pass of each network (face conditional and unconditional, head);
* ``feat_hidden``, ``feat_mapped``: ``encode_audio`` before / after ``audio_feature_map``;
* ``gen_face``, ``gen_head``: ``run_external_audio``'s face (guidance 0.5) and head (unguided)
  1000-step DDPM passes (face as displacements, head normalised);
* ``edit_<mode>_face`` / ``edit_<mode>_head`` for in_between 90:250, keyframe (every 60th frame),
  keyframe_swap (several pairs): ``get_edit_mask`` + the same passes on the inputs ``edit_gt_*``.

Noise is injected: every ``custom_noise_sampler.sample_like(x)`` (x: (B, T, C)) returns
``torch.rand((B, C, T), generator=g).transpose(1, 2) * std_scale`` from a generator seeded per pass,
which is what diface draws for the same seed in its (S, C, T) layout. Harness-only adaptations
(no effect on the arithmetic): the training-only loss helpers (FLAME masks) are stubbed, and the
face model's ``audio_feature_map`` is built for the tiny wav2vec2's width (the original hard-codes 768),
eager attention in transformers 5 (the original sets ``output_attentions``, refused with sdpa),
and the checkpoints store 64 rows of the sinusoid buffers (checked against the model's own 5000).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import types
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
C_FACE = 30            # 10 vertices: tiny, same code path as 15069
SWAP_PAIRS = ((100, 30), (200, 150), (40, 220))
IN_BETWEEN = (90, 250)
SEEDS = {"gen": (100, 101), "in_between": (200, 201), "keyframe": (300, 301), "keyframe_swap": (400, 401)}
FWD_T = 437


def test_audio(seconds: float = 9.3) -> np.ndarray:
    """Deterministic speech-like test signal (16 kHz float32), identical wherever it is computed."""
    t = np.arange(int(seconds * 16000), dtype=np.float64) / 16000
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 2.7 * t) ** 2
    x = env * (0.4 * np.sin(2 * np.pi * 180 * t + 3 * np.sin(2 * np.pi * 0.8 * t))
               + 0.2 * np.sin(2 * np.pi * 1130 * t) + 0.05 * np.sin(2 * np.pi * 3100 * t * (1 + 0.1 * t)))
    return x.astype(np.float32)


def edit_inputs(nf: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic takes to edit: face displacements (nf, C_FACE) metres, head pose (nf, 3) radians."""
    f = np.arange(nf, dtype=np.float64)[:, None]
    face = 0.004 * np.sin(2 * np.pi * f / 37 + np.arange(C_FACE)[None] * 0.3)
    head = np.stack([0.15 * np.sin(2 * np.pi * f[:, 0] / 90), 0.1 * np.cos(2 * np.pi * f[:, 0] / 130),
                     0.05 * np.sin(2 * np.pi * f[:, 0] / 70 + 1)], 1)
    return face.astype(np.float32), head.astype(np.float32)


HDTF_MEAN = np.array([-0.05855013, -0.0028288, -0.01964026], np.float32)
HDTF_STD = np.array([0.11084834, 0.10225139, 0.08779355], np.float32)


def write_checkpoints(data: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from tests._compat_helpers import face_args, face_state, head_args, head_state, tiny_w2v_config, write_model

    cfg = tiny_w2v_config()
    fs = face_state(C=C_FACE, ch=8, ch_multi=(1, 2), K=8, audio_dim=cfg.hidden_size, w2v_cfg=cfg)
    # modern weight-norm names, so that the original (transformers >= 4.31 here) loads the same tensors
    fs = {k.replace("weight_g", "parametrizations.weight.original0").replace("weight_v",
          "parametrizations.weight.original1"): v for k, v in fs.items()}
    hs = head_state(ch=8, ch_multi=(1, 2, 2))
    fs = {k: (v[:64].clone() if k.endswith(".pe") else v) for k, v in fs.items()}  # short sinusoid buffers
    hs = {k: (v[:64].clone() if k.endswith(".pe") else v) for k, v in hs.items()}
    write_model(data / "face", face_args(C=C_FACE, ch=8, ch_multi=(1, 2), window=256), fs, step=1000)
    write_model(data / "head", head_args(ch=8, ch_multi=(1, 2, 2), window=256), hs, step=1000, beside=True)
    from transformers import Wav2Vec2Model

    torch.manual_seed(0)
    Wav2Vec2Model(cfg).save_pretrained(str(data / "wav2vec2"))


def _short_pe(model, sd):
    """The committed checkpoints keep 64 rows of the sinusoid buffers (size); check them against the
    model's own (5000 rows, the same sinusoid) and keep the model's."""
    own = model.state_dict()
    for k in [k for k in sd if k.endswith(".pe")]:
        torch.testing.assert_close(sd[k], own[k][: sd[k].shape[0]], rtol=0, atol=1e-6)
        del sd[k]
    return sd


class InjectedNoise:
    def __init__(self, seed: int, scale: float):
        self.g = torch.Generator().manual_seed(seed)
        self.scale = scale

    def sample_like(self, x):
        B, T, C = x.shape
        return (torch.rand((B, C, T), generator=self.g).transpose(1, 2) * self.scale).contiguous()

    __call__ = sample_like


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--original", type=Path, required=True, help="checkout of bala1144/3DiFACE (scratch folder)")
    ap.add_argument("--data", type=Path, default=ROOT / "tests" / "data" / "fidelity")
    a = ap.parse_args()
    if Path.cwd().resolve().is_relative_to(ROOT) or a.original.resolve().is_relative_to(ROOT):
        raise SystemExit("run this from a scratch folder, with the original code outside the project")
    torch.set_num_threads(1)
    data = a.data.resolve()
    if not (data / "face" / "args.yml").is_file():
        write_checkpoints(data)
    import yaml

    # training-only helpers the diffusion constructors import (FLAME masks need licensed files)
    for name in ("face_animation_model.utils.losses", "FLAMEModel", "FLAMEModel.flame_masks"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules["face_animation_model.utils.losses"].Custom_errors = lambda *a, **k: None
    sys.modules["FLAMEModel.flame_masks"].get_flame_mask = lambda: types.SimpleNamespace(lips=[0])
    sys.path.insert(0, str(a.original.resolve()))
    import importlib

    def obj(target):
        mod, cls = target.rsplit(".", 1)
        return getattr(importlib.import_module(mod), cls)

    # the face model loads wav2vec2 from $HOME/<wav2vec_model>
    os.environ["HOME"] = str(data)
    fargs = yaml.safe_load((data / "face" / "args.yml").read_text())
    hargs = yaml.safe_load((data / "head" / "args.yml").read_text())
    fp = dict(fargs["motion_model"]["params"], wav2vec_model="wav2vec2")
    face = obj(fargs["motion_model"]["target"])(**fp)
    hidden = face.audio_encoder.config.hidden_size
    # the original sets config.output_attentions, which transformers 5 only allows with eager attention
    face.audio_encoder.config._attn_implementation = "eager"
    face.audio_feature_map = torch.nn.Linear(hidden, fp["ch"])
    sd = torch.load(data / "face" / "checkpoints" / "model000001000.pt", map_location="cpu", weights_only=True)
    r = face.load_state_dict(_short_pe(face, sd), strict=False)
    assert not r.unexpected_keys and not [k for k in r.missing_keys if not k.endswith(".pe")], r
    face.eval()
    head = obj(hargs["motion_model"]["target"])(**hargs["motion_model"]["params"])
    hsd = torch.load(data / "head" / "model000001000.pt", map_location="cpu", weights_only=True)
    r = head.load_state_dict(_short_pe(head, hsd), strict=False)
    assert not r.unexpected_keys and not [k for k in r.missing_keys if not k.endswith(".pe")], r
    head.eval()
    fdiff = obj(fargs["diffusion"]["target"])(**fargs["diffusion"]["params"])
    hdiff = obj(hargs["diffusion"]["target"])(**hargs["diffusion"]["params"])
    guided = obj("face_animation_model.model.cfg_sampler.ClassifierFreeSampleModel")(face, 0.5)
    scale = float(fargs["diffusion"]["params"]["noise_cfg"]["params"]["std_scale"])

    from transformers import Wav2Vec2FeatureExtractor

    audio = test_audio()
    proc = Wav2Vec2FeatureExtractor(do_normalize=True)
    iv = torch.from_numpy(np.squeeze(proc(audio, sampling_rate=16000).input_values)).view(1, -1)
    nf = (iv.shape[1] // 16000) * 30 // 32 * 32
    iv = iv[:, :int(nf / 30 * 16000)]
    template = torch.zeros(1, C_FACE)
    one_hot = torch.zeros(1, 8)
    one_hot[0, 2] = 1
    out: dict[str, np.ndarray] = {"nf": np.array(nf), "betas_face": fdiff.betas, "betas_head": hdiff.betas}

    with torch.no_grad():
        feat = face.encode_audio(iv, nf)
        out["feat_mapped"] = feat[0].numpy()
        out["feat_hidden"] = face.audio_encoder(iv, face.dataset, frame_num=nf).last_hidden_state[0].numpy()
        g = torch.Generator().manual_seed(7)
        xf = torch.randn(1, nf, C_FACE, generator=g) * 0.01
        xh = torch.cat([torch.randn(1, nf, 3, generator=g), (torch.rand(1, nf, 1, generator=g) > 0.7).float()], -1)
        t = torch.tensor([FWD_T])
        fb = (iv, torch.zeros(1, nf, C_FACE), template, one_hot, "clip")
        out["fwd_face_x"], out["fwd_head_x"] = xf[0].numpy(), xh[0].numpy()
        out["fwd_face"] = face(xf, t, batch=fb)[0].numpy()
        face.cond_mode = "no_cond"
        out["fwd_face_uncond"] = face(xf, t, batch=fb)[0].numpy()
        face.cond_mode = "audio"
        hb = (feat, torch.zeros(1, nf, 3), template, one_hot, "clip")
        out["fwd_head"] = head(xh, t, batch=hb)[0].numpy()

        def run_face(seed, y=None):
            fdiff.custom_noise_sampler = InjectedNoise(seed, scale)
            kw = {"batch": fb} if y is None else {"batch": fb, "y": y}
            return (fdiff.p_sample_loop(guided, (1, nf, C_FACE), model_kwargs=kw) - template.unsqueeze(1))[0].numpy()

        def run_head(seed, y=None):
            hdiff.custom_noise_sampler = InjectedNoise(seed, scale)
            kw = {"batch": hb} if y is None else {"batch": hb, "y": y}
            return hdiff.p_sample_loop(head, (1, nf, 3), model_kwargs=kw)[0].numpy()

        out["gen_face"] = run_face(SEEDS["gen"][0])
        out["gen_head"] = run_head(SEEDS["gen"][1])
        gt_face, gt_head = edit_inputs(nf)
        out["edit_gt_face"], out["edit_gt_head"] = gt_face, gt_head
        gt_head_n = (gt_head - HDTF_MEAN) / HDTF_STD
        for mode in ("in_between", "keyframe", "keyframe_swap"):
            fs_, hs_ = SEEDS[mode]
            res = []
            for gt in (torch.from_numpy(gt_face)[None], torch.from_numpy(gt_head_n)[None]):
                y = {}
                if mode == "in_between":
                    y["inpainted_motion"] = gt
                    y["inpainting_mask"] = torch.ones_like(gt, dtype=torch.bool)
                    y["inpainting_mask"][:, IN_BETWEEN[0]:IN_BETWEEN[1], :] = False
                elif mode == "keyframe_swap":
                    y["inpainted_motion"] = torch.zeros_like(gt)
                    y["inpainting_mask"] = torch.zeros_like(gt, dtype=torch.bool)
                    for from_, to_ in SWAP_PAIRS:
                        y["inpainting_mask"][:, to_, :] = True
                        y["inpainted_motion"][:, to_, :] = gt[:, from_, :]
                else:
                    y["inpainted_motion"] = gt
                    y["inpainting_mask"] = torch.zeros_like(gt, dtype=torch.bool)
                    for idx in range(0, nf, 60):
                        y["inpainting_mask"][:, idx, :] = True
                res.append(y)
            out[f"edit_{mode}_face"] = run_face(fs_, res[0])
            out[f"edit_{mode}_head"] = run_head(hs_, res[1])
    np.savez_compressed(data / "reference.npz", **{k: np.asarray(v) for k, v in out.items()})
    print(f"wrote {data / 'reference.npz'} ({nf} frames, {math.fsum(v.size for v in out.values()):.0f} numbers)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
