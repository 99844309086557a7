"""Synthetic 3DiFACE model folders for the compat tests (not collected as tests).

The state dicts are written from the published architecture (module names and shapes of
3DiFACE's ``diffnoise_2_motion_concat_w_audio_cond`` face model and ``conv_concat_w_audio_cond_skip``
head model), independently of diface's importer, and :func:`reference_face` /
:func:`reference_head` recompute the published forward pass functionally from those tensors, so
the tests compare the imported diface network with an independent implementation.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

VOCA_TRAIN = ("FaceTalk_170728_03272_TA FaceTalk_170904_00128_TA FaceTalk_170725_00137_TA "
              "FaceTalk_170915_00223_TA FaceTalk_170811_03274_TA FaceTalk_170913_03279_TA "
              "FaceTalk_170904_03276_TA FaceTalk_170912_03278_TA")
FACE_TARGET = "face_animation_model.model.cond_model_for_win30.diffnoise_2_motion_concat_w_audio_cond.unet_w_cond_mask"
HEAD_TARGET = ("face_animation_model.model.conv_head_model.conv_concat_w_audio_cond_skip."
               "in_to_motion_unet_w_audio_cond_with_cond_mask")
FACE_DIFFUSION = "face_animation_model.diffusion.motiondiffuse_w_cust_noise_losses.GaussianDiffusion"
HEAD_DIFFUSION = "face_animation_model.diffusion.masked_head_diffuse_w_cust_noise_losses_noclamp.GaussianDiffusion"
NOISE = "face_animation_model.diffusion.Disp_noise_sampler.random_Noise"


def tiny_w2v_config():
    """A tiny wav2vec2 (50 Hz frames like the real one: strides 5*4*4*4 = 320 samples)."""
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24,
                          conv_dim=(8, 8, 8, 8), conv_stride=(5, 4, 4, 4), conv_kernel=(10, 4, 4, 4), conv_bias=False,
                          num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, feat_extract_norm="group",
                          do_stable_layer_norm=False, vocab_size=32, mask_time_prob=0.05)


def _pe(max_len: int, d: int) -> torch.Tensor:
    pos = torch.arange(max_len).unsqueeze(1)
    div = torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
    pe = torch.zeros(max_len, 1, d)
    pe[:, 0, 0::2] = torch.sin(pos * div)
    pe[:, 0, 1::2] = torch.cos(pos * div)
    return pe


def _rnd(g: torch.Generator, *shape: int, scale: float = 0.2) -> torch.Tensor:
    return torch.randn(*shape, generator=g) * scale


def wav2vec2_state(cfg, seed: int = 0, old_weight_norm: bool = True) -> dict[str, torch.Tensor]:
    """``audio_encoder.*`` tensors of a randomly initialised Wav2Vec2Model (old weight_g/weight_v
    names as transformers < 4.31 saved them, when ``old_weight_norm``)."""
    from transformers import Wav2Vec2Model

    torch.manual_seed(seed)
    sd = Wav2Vec2Model(cfg).state_dict()
    out = {}
    for k, v in sd.items():
        if old_weight_norm:
            k = k.replace("parametrizations.weight.original0", "weight_g").replace("parametrizations.weight.original1",
                                                                                  "weight_v")
        out["audio_encoder." + k] = v.clone()
    return out


def face_state(C: int = 15069, ch: int = 8, ch_multi=(1, 2), K: int = 8, audio_dim: int = 16, seed: int = 0,
               w2v_cfg=None) -> dict[str, torch.Tensor]:
    """A face-model state dict with the published names and shapes (random values)."""
    g = torch.Generator().manual_seed(seed)
    s: dict[str, torch.Tensor] = {}

    def conv(name, o, i, k):
        s[name + ".weight"] = _rnd(g, o, i, k, scale=1 / math.sqrt(i * k))
        s[name + ".bias"] = _rnd(g, o, scale=0.05)

    conv("encoder.in_embed.0", ch, C, 1)
    conv("encoder.in_infuse.0", ch, 2 * ch, 3)
    for i in range(len(ch_multi) - 1):
        bi, bo = ch * ch_multi[i], ch * ch_multi[i + 1]
        conv(f"encoder.mle_layers.{i}.mle_layer.0", bo, bi, 2)
        conv(f"encoder.mle_layers.{i}.mle_layer.2", bo, bo, 3)
        conv(f"encoder.infusion_layers.{i}.0", bo, 2 * bo, 3)
    s["encoder.PPE.pe"] = _pe(5000, ch)
    s["encoder.embed_timestep.sequence_pos_encoder.pe"] = s["encoder.PPE.pe"].clone()
    for j in (0, 2):
        s[f"encoder.embed_timestep.time_embed.{j}.weight"] = _rnd(g, ch, ch, scale=1 / math.sqrt(ch))
        s[f"encoder.embed_timestep.time_embed.{j}.bias"] = _rnd(g, ch, scale=0.05)
    rev = list(ch_multi)[::-1]
    for i in range(len(rev) - 1):
        bi, bo = ch * rev[i], ch * rev[i + 1]
        s[f"decoder.mle_layers.{i}.mle_layer.0.weight"] = _rnd(g, bi, bo, 2, scale=1 / math.sqrt(bi * 2))
        s[f"decoder.mle_layers.{i}.mle_layer.0.bias"] = _rnd(g, bo, scale=0.05)
        conv(f"decoder.mle_layers.{i}.mle_layer.2", bo, bo, 3)
        conv(f"decoder.infusion_layers.{i}.0", bo, 2 * bo, 3)
    s["decoder.style_map.weight"] = _rnd(g, ch, K, scale=0.5)
    s["decoder.out_embed.weight"] = _rnd(g, C, ch, scale=0.3)
    s["decoder.out_embed.bias"] = _rnd(g, C, scale=0.05)
    s["audio_feature_map.weight"] = _rnd(g, ch, audio_dim, scale=1 / math.sqrt(audio_dim))
    s["audio_feature_map.bias"] = _rnd(g, ch, scale=0.05)
    s.update(wav2vec2_state(w2v_cfg if w2v_cfg is not None else tiny_w2v_config(), seed))
    return s


def head_state(ch: int = 8, ch_multi=(1, 2, 2), cond: int | None = None, flags: bool = True, K: int = 0,
               seed: int = 1, own_audio: bool = False, audio_dim: int = 16, w2v_cfg=None) -> dict[str, torch.Tensor]:
    """A head-model state dict with the published names and shapes (random values)."""
    g = torch.Generator().manual_seed(seed)
    cond = cond or ch
    s: dict[str, torch.Tensor] = {}

    def conv(name, o, i, k):
        s[name + ".weight"] = _rnd(g, o, i, k, scale=1 / math.sqrt(i * k))
        s[name + ".bias"] = _rnd(g, o, scale=0.05)

    conv("encoder.in_embed.0", ch, 3 + int(flags), 1)
    conv("encoder.in_infuse.mle_layer.0", ch, ch + cond, 3)
    for i in range(len(ch_multi) - 1):
        bi, bo = ch * ch_multi[i], ch * ch_multi[i + 1]
        conv(f"encoder.mle_layers.{i}.mle_layer.0", bo, bi, 2)
        conv(f"encoder.mle_layers.{i}.mle_layer.2", bo, bo, 3)
        conv(f"encoder.infusion_layers.{i}.mle_layer.0", bo, bo + cond, 3)
    s["encoder.PPE.pe"] = _pe(5000, ch)
    s["encoder.embed_timestep.sequence_pos_encoder.pe"] = s["encoder.PPE.pe"].clone()
    for j in (0, 2):
        s[f"encoder.embed_timestep.time_embed.{j}.weight"] = _rnd(g, ch, ch, scale=1 / math.sqrt(ch))
        s[f"encoder.embed_timestep.time_embed.{j}.bias"] = _rnd(g, ch, scale=0.05)
    rev = list(ch_multi)[::-1]
    for i in range(len(rev) - 1):
        bi, bo = ch * rev[i], ch * rev[i + 1]
        s[f"decoder.mle_layers.{i}.mle_layer.0.weight"] = _rnd(g, bi, bo, 2, scale=1 / math.sqrt(bi * 2))
        s[f"decoder.mle_layers.{i}.mle_layer.0.bias"] = _rnd(g, bo, scale=0.05)
        conv(f"decoder.mle_layers.{i}.mle_layer.2", bo, bo, 3)
        conv(f"decoder.infusion_layers.{i}.mle_layer.0", bo, bo + cond, 3)
    if K:
        s["decoder.style_map.weight"] = _rnd(g, ch, K, scale=0.5)
    s["decoder.out_embed.weight"] = _rnd(g, 3, ch, scale=0.3)
    s["decoder.out_embed.bias"] = _rnd(g, 3, scale=0.05)
    if own_audio:
        s["audio_feature_map.weight"] = _rnd(g, ch, audio_dim, scale=1 / math.sqrt(audio_dim))
        s["audio_feature_map.bias"] = _rnd(g, ch, scale=0.05)
        s.update(wav2vec2_state(w2v_cfg if w2v_cfg is not None else tiny_w2v_config(), seed))
    return s


def face_args(C: int = 15069, ch: int = 8, ch_multi=(1, 2), window: int = 32, **extra_params) -> dict:
    """An ``args.yml`` dict in the layout ``OmegaConf.save(vars(args))`` writes for the face model."""
    params = {"in_channel": C, "out_channel": C, "ch": ch, "ch_multi": list(ch_multi), "activation": "swish",
              "norm": None, "padding_type": "reflect", "num_identity_classes": 8,
              "dec_model": "decoder_2layer_block_w_audio_new_layers", "cond_mask_prob": 0.1, "cond_mode": "audio",
              "train_subjects": VOCA_TRAIN, "dataset": "vocaset",
              "wav2vec_model": "projects/dataset/voca_face_former/wav2vec2-base-960h", "init_from_ckpt": None,
              **extra_params}
    return {
        "cuda": True, "device": 0, "seed": 10, "batch_size": 1, "dataset": "vocaset", "data_dir": "",
        "arch": "trans_enc", "layers": 8, "latent_dim": 512, "cond_mask_prob": 0.1, "noise_schedule": "cosine",
        "diffusion_steps": 1000, "sigma_small": True, "save_dir": "/home/someone/checkpoints/cond_012",
        "overwrite": False, "lr": 0.0001, "num_steps": 600000, "cfg": "configs/cond_012.yaml",
        "motion_model": {"target": FACE_TARGET, "params": params},
        "diffusion": {"target": FACE_DIFFUSION, "params": {
            "noise_schedule": "cosine", "scale_beta": 1.0, "diffusion_steps": 1000, "model_mean_type": "START_X",
            "model_var_type": "FIXED_SMALL", "loss_type": "MSE", "rescale_timesteps": False, "pred_disp": True,
            "loss_terms": {"velocity_weight": 10.0},
            "noise_cfg": {"target": NOISE, "params": {"std_scale": 0.02}}}},
        "data_cfg": {"target": "face_animation_model.data.data_loader.DataModuleFromConfig_fixed_windows",
                     "params": {"dataset": "vocaset", "window": window, "fps": 30, "batch_size": 8}},
        "train_loop_cfg": {"target": "face_animation_model.train.training_loop.TrainLoop", "params": {}},
    }


def head_args(ch: int = 8, ch_multi=(1, 2, 2), flags: bool = True, window: int = 64, **extra_params) -> dict:
    params = {"in_channel": 3 + int(flags), "out_channel": 3, "ch": ch, "ch_multi": list(ch_multi),
              "activation": "swish", "norm": None, "padding_type": "reflect", "num_identity_classes": 8,
              "use_identity": False, "final_layer_zero_init": True, "final_activation": None, "cond_mask_prob": 0.1,
              "cond_mode": "audio", "train_subjects": "", "dataset": "vocaset", **extra_params}
    return {
        "seed": 10, "batch_size": 64, "dataset": "vocaset",
        "motion_model": {"target": HEAD_TARGET, "params": params},
        "diffusion": {"target": HEAD_DIFFUSION, "params": {
            "noise_schedule": "cosine", "scale_beta": 1.0, "diffusion_steps": 1000, "model_mean_type": "START_X",
            "model_var_type": "FIXED_SMALL", "loss_type": "MSE", "rescale_timesteps": False, "pred_type": "head",
            "loss_terms": {"velocity_weight": 0.001}, "cond_mask_prob": 0.1, "mask_frame_prob": 0.02,
            "edit_type": "random_mask_type", "enable_frame_flag": flags,
            "noise_cfg": {"target": NOISE, "params": {"std_scale": 0.02}}}},
        "data_cfg": {"target": "data.hdtf_dataset.precompute_windows_dataset.DataModuleFromConfig_windows",
                     "params": {"dataset": "vocaset", "window": window, "fps": 30, "standardize_data": True,
                                "normalize_pose": False, "to_6d_rotation": False, "smooth_sigma": 2.0}},
    }


def write_model(folder: Path, args: dict, state: dict[str, torch.Tensor], step: int = 100035,
                beside: bool = False) -> Path:
    """Write ``args.yml`` and ``checkpoints/model%09d.pt`` (or ``model%09d.pt`` beside args.yml)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "args.yml").write_text(yaml.safe_dump(args, sort_keys=False), encoding="utf-8")
    ck = folder if beside else folder / "checkpoints"
    ck.mkdir(exist_ok=True)
    torch.save(state, ck / f"model{step:09d}.pt")
    return folder


# ---------------------------------------------------------------------------- reference forward passes
def _c3(x, s, name):
    return F.conv1d(F.pad(x, (1, 1), mode="reflect"), s[name + ".weight"], s[name + ".bias"])


def _temb(s, t):
    e = s["encoder.PPE.pe"][t]  # (B, 1, ch)
    e = F.linear(e, s["encoder.embed_timestep.time_embed.0.weight"], s["encoder.embed_timestep.time_embed.0.bias"])
    e = F.linear(F.silu(e), s["encoder.embed_timestep.time_embed.2.weight"],
                 s["encoder.embed_timestep.time_embed.2.bias"])
    return e.permute(0, 2, 1)


def _down(x, s, p):
    x = F.silu(F.conv1d(x, s[p + ".mle_layer.0.weight"], s[p + ".mle_layer.0.bias"], stride=2))
    return F.silu(_c3(x, s, p + ".mle_layer.2"))


def _up(x, s, p):
    x = F.silu(F.conv_transpose1d(x, s[p + ".mle_layer.0.weight"], s[p + ".mle_layer.0.bias"], stride=2))
    return F.silu(_c3(x, s, p + ".mle_layer.2"))


def project_audio(s, hidden: torch.Tensor, drop: bool = False) -> torch.Tensor:
    """``audio_feature_map(hidden)`` (B, T, D) -> (B, ch, T), zeroed when ``drop`` (3DiFACE's mask_cond)."""
    a = F.linear(hidden, s["audio_feature_map.weight"], s["audio_feature_map.bias"])
    return (torch.zeros_like(a) if drop else a).permute(0, 2, 1)


def reference_face(s, x, t, audio, one_hot, n_levels):
    """3DiFACE face model: x (B, C, T), t (B,), audio (B, ch, T) projected, one_hot (B, K) -> (B, C, T)."""
    B, _, T = audio.shape
    h = F.silu(F.conv1d(x, s["encoder.in_embed.0.weight"], s["encoder.in_embed.0.bias"]))
    h = h + _temb(s, t)
    h = F.silu(_c3(torch.cat([h, audio], 1), s, "encoder.in_infuse.0"))
    a, TT = audio, T
    for i in range(n_levels):
        h = _down(h, s, f"encoder.mle_layers.{i}")
        a = a.reshape(B, -1, TT // 2)
        h = F.silu(_c3(torch.cat([h, a], 1), s, f"encoder.infusion_layers.{i}.0"))
        TT //= 2
    for i in range(n_levels):
        h = _up(h, s, f"decoder.mle_layers.{i}")
        a = audio.reshape(B, -1, TT * 2)
        h = F.silu(_c3(torch.cat([h, a], 1), s, f"decoder.infusion_layers.{i}.0"))
        TT *= 2
    h = h + F.linear(one_hot, s["decoder.style_map.weight"])[:, :, None]
    return F.linear(h.permute(0, 2, 1), s["decoder.out_embed.weight"], s["decoder.out_embed.bias"]).permute(0, 2, 1)


def reference_head(s, x_with_flag, t, audio, n_levels, one_hot=None):
    """3DiFACE head model: x (B, 3+1, T) with the flag last, audio (B, cond, T) projected -> (B, 3, T)."""
    h = F.silu(F.conv1d(x_with_flag, s["encoder.in_embed.0.weight"], s["encoder.in_embed.0.bias"]))
    skips = [h]
    h = h + _temb(s, t)
    h = F.silu(_c3(torch.cat([h, audio], 1), s, "encoder.in_infuse.mle_layer.0"))
    auds = [audio]
    a = audio
    for i in range(n_levels):
        h = _down(h, s, f"encoder.mle_layers.{i}")
        a = F.avg_pool1d(a, 2, 2)
        h = F.silu(_c3(torch.cat([h, a], 1), s, f"encoder.infusion_layers.{i}.mle_layer.0"))
        skips.append(h)
        auds.append(a)
    auds.pop()
    skips.pop()
    for i in range(n_levels):
        h = _up(h, s, f"decoder.mle_layers.{i}")
        h = F.silu(_c3(torch.cat([h, auds.pop()], 1), s, f"decoder.infusion_layers.{i}.mle_layer.0"))
        h = h + skips.pop()
    if one_hot is not None:
        h = h + F.linear(one_hot, s["decoder.style_map.weight"])[:, :, None]
    return F.linear(h.permute(0, 2, 1), s["decoder.out_embed.weight"], s["decoder.out_embed.bias"]).permute(0, 2, 1)


# ---------------------------------------------------------------------------- fake research data
def write_fake_vocaset(root: Path, subjects=("FaceTalk_170728_03272_TA", "FaceTalk_170904_00128_TA"),
                       sentences=(1, 2, 3), n_vertices: int = 100, seed: int = 0) -> dict:
    """VOCASET in the FaceFormer layout: 16 kHz wavs of 1-2 s, (T60, 3V) vertices at 60 fps, templates.pkl."""
    import pickle

    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(seed)
    (root / "wav").mkdir(parents=True, exist_ok=True)
    (root / "vertices_npy").mkdir(exist_ok=True)
    templates = {s: (rng.normal(size=(n_vertices, 3)) * 0.1).astype(np.float64) for s in subjects}
    (root / "templates.pkl").write_bytes(pickle.dumps(templates, protocol=2))
    seqs = {}
    for s in subjects:
        for k in sentences:
            name = f"{s}_sentence{k:02d}"
            dur = rng.uniform(1.0, 2.0)
            n60 = int(dur * 60)
            t = np.arange(n60)[:, None] / 60.0
            off = 0.003 * np.sin(2 * np.pi * rng.uniform(1, 4, 3 * n_vertices) * t + rng.uniform(0, 6, 3 * n_vertices))
            verts = templates[s].reshape(1, -1) + off
            np.save(root / "vertices_npy" / f"{name}.npy", verts.astype(np.float32))
            env = np.repeat(np.abs(np.sin(np.arange(int(dur * 30)) * 0.7)), 16000 // 30)
            sf.write(str(root / "wav" / f"{name}.wav"), (0.2 * env * rng.standard_normal(env.size)).astype(np.float32),
                     16000)
            seqs[name] = verts
    return {"templates": templates, "vertices": seqs}
