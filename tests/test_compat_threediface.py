"""Importing 3DiFACE checkpoints: strict loading, forward equivalence, sampling, errors, CLI."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from diface_editor.ml.compat import threediface as td
from tests._compat_helpers import (
    face_args,
    face_state,
    head_args,
    head_state,
    project_audio,
    reference_face,
    reference_head,
    tiny_w2v_config,
    write_model,
)

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def w2v_cfg():
    return tiny_w2v_config()


@pytest.fixture(scope="module")
def models(tmp_path_factory, w2v_cfg):
    """A face (real 15069-wide, 30-step schedule) and a head model folder (100 steps) + the bundle.

    Short schedules keep the tests fast; the samplers treat every schedule length the same way."""
    root = tmp_path_factory.mktemp("threediface")
    fs = face_state(w2v_cfg=w2v_cfg)
    hs = head_state()
    fa = face_args()
    fa["diffusion"]["params"]["diffusion_steps"] = 30
    ha = head_args()
    ha["diffusion"]["params"]["diffusion_steps"] = 100
    write_model(root / "face", fa, fs)
    write_model(root / "head", ha, hs, beside=True)
    res = td.import_3diface([root / "face", root / "head"], root / "bundle", wav2vec2_config=w2v_cfg, guidance=0.5)
    return {"root": root, "face": fs, "head": hs, "bundle": res.bundle, "result": res}


def test_synthesised_checkpoints_load_strictly(models, w2v_cfg):
    """Every published tensor is used and every diface tensor is filled: no missing or unexpected keys."""
    from diface_editor.ml.bundle import MotionModel

    for kind, state, spec_dir in (("face", models["face"], "face"), ("head", models["head"], "head")):
        spec = td.inspect_model(models["root"] / spec_dir)
        w2v = td.build_wav2vec2(w2v_cfg)
        fm = None if spec.own_audio_encoder else {"weight": models["face"]["audio_feature_map.weight"],
                                                  "bias": models["face"]["audio_feature_map.bias"]}
        part, audio_state = td.build_part(spec, state, audio_dim=16, feature_map=fm, audio_encoder=w2v)
        den_keys = set(part.denoiser.state_dict())
        published = set(state)
        mapped = {td.published_name(kind, k) for k in den_keys}
        if not spec.own_audio_encoder:
            mapped -= {"audio_feature_map.weight", "audio_feature_map.bias"}
        audio_keys = {k for k in published if k.startswith("audio_encoder.")}
        # every published tensor is accounted for: denoiser weights, the two sinusoid buffers, wav2vec2
        assert published == mapped | set(td.PE_KEYS) | audio_keys
        # and a strict load of both halves reports nothing missing or unexpected
        den_state, a_state = td.convert_state(kind, state, part.denoiser, own_audio=spec.own_audio_encoder,
                                              audio_encoder=w2v if spec.own_audio_encoder else None)
        if fm is not None:
            den_state.update({"audio_feature_map." + k: v for k, v in fm.items()})
        r = part.denoiser.load_state_dict(den_state, strict=True)
        assert r.missing_keys == [] and r.unexpected_keys == []
        if spec.own_audio_encoder:
            r = w2v.load_state_dict(a_state, strict=True)
            assert r.missing_keys == [] and r.unexpected_keys == []
            # the old weight-norm names were mapped
            assert "encoder.pos_conv_embed.conv.parametrizations.weight.original0" in a_state
    model = MotionModel.load(models["bundle"], device="cpu")  # the bundle loader checks names and shapes again
    assert set(model.parts) == {"face", "head"}
    assert model.style_names[2] == "FaceTalk_170725_00137_TA"
    assert model.audio_encoder["type"] == "hf" and model.audio_encoder["path"] == td.WAV2VEC2_DIR


def test_imported_networks_equal_the_published_forward_pass(models):
    from diface_editor.ml.bundle import MotionModel

    m = MotionModel.load(models["bundle"], device="cpu")
    fs, hs = models["face"], models["head"]
    g = torch.Generator().manual_seed(0)
    B, T = 2, 32
    hidden = torch.randn(B, T, 16, generator=g)
    t = torch.tensor([999, 7])
    x = torch.randn(B, 15069, T, generator=g) * 0.01
    one_hot = torch.zeros(B, 8)
    one_hot[0, 2] = one_hot[1, 5] = 1
    with torch.no_grad():
        for drop in (False, True):
            ref = reference_face(fs, x, t, project_audio(fs, hidden, drop), one_hot, n_levels=1)
            ours = m.part("face").denoiser(x, t, None, hidden, torch.tensor([drop, drop]), one_hot)
            assert torch.allclose(ours, ref, atol=1e-5, rtol=1e-5)
        xh = torch.randn(B, 3, T, generator=g)
        flag = (torch.rand(B, 1, T, generator=g) > 0.5).float()
        ref = reference_head(hs, torch.cat([xh, flag], 1), t, project_audio(fs, hidden), n_levels=2)
        ours = m.part("head").denoiser(xh, t, flag, hidden, None, None)
        assert torch.allclose(ours, ref, atol=1e-5, rtol=1e-5)
        assert ref.abs().max() > 0.1  # a non-trivial output


def _cosine_betas(n):
    f = lambda u: math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    return np.array([min(1 - f((i + 1) / n) / f(i / n), 0.999) for i in range(n)])


def _reference_ddpm(model_fn, n_steps, shape, gen, low, high, clip):
    """guided-diffusion's p_sample_loop with 3DiFACE's uniform noise sampler (x0 prediction, fixed-small variance)."""
    betas = _cosine_betas(n_steps)
    ab = np.cumprod(1 - betas)
    ab_prev = np.append(1.0, ab[:-1])
    var = betas * (1 - ab_prev) / (1 - ab)
    c1 = betas * np.sqrt(ab_prev) / (1 - ab)
    c2 = (1 - ab_prev) * np.sqrt(1 - betas) / (1 - ab)

    def noise():
        return torch.rand(shape, generator=gen, dtype=torch.float32) * (high - low) + low

    x = noise()
    for t in range(n_steps - 1, -1, -1):
        x0 = model_fn(x, t)
        if clip is not None:
            x0 = x0.clamp(-clip, clip)
        mean = float(c1[t]) * x0 + float(c2[t]) * x
        z = noise()
        x = mean + (float(np.sqrt(var[t])) * z if t > 0 else 0.0)
    return x


def test_ddpm_reproduces_3diface_ancestral_sampling(models):
    """Ancestral DDPM over the whole schedule (head: 100 steps, no clamp; face: 30 steps, guided, clamped
    x0, uniform noise) matches guided-diffusion's p_sample_loop as 3DiFACE runs it."""
    from diface_editor.ml.bundle import MotionModel
    from diface_editor.ml.sampling import sample_window

    m = MotionModel.load(models["bundle"], device="cpu")
    hs, fs = models["head"], models["face"]
    T = 32
    hidden = torch.randn(1, T, 16, generator=torch.Generator().manual_seed(1))
    head = m.part("head")
    assert head.diffusion.config.num_train_steps == 100 and head.diffusion.config.clip_x0 is None
    ours = sample_window(head, hidden[0].numpy(), np.zeros((T, 3), np.float32), np.zeros((T, 3), bool),
                         sampler="ddpm", seed=3)
    audio = project_audio(fs, hidden)
    flag0 = torch.zeros(1, 1, T)
    with torch.no_grad():
        ref = _reference_ddpm(lambda x, t: reference_head(hs, torch.cat([x, flag0], 1), torch.tensor([t]), audio, 2),
                              100, (1, 3, T), torch.Generator().manual_seed(3), 0.0, 0.02, None)
    assert np.allclose(ours[0], ref[0].T.numpy(), atol=1e-4)

    face = m.part("face")
    assert face.diffusion.config.num_train_steps == 30 and face.diffusion.config.clip_x0 == 1.0
    assert face.diffusion.config.noise == {"type": "uniform", "low": 0.0, "high": 0.02}
    s = 0.5
    ours = sample_window(face, hidden[0].numpy(), np.zeros((T, 15069), np.float32), np.zeros((T, 15069), bool),
                         sampler="ddpm", seed=4, guidance=s, style=2)
    oh = torch.zeros(1, 8)
    oh[0, 2] = 1

    def guided(x, t):
        tt = torch.tensor([t])
        cond = reference_face(fs, x, tt, project_audio(fs, hidden), oh, 1)
        unc = reference_face(fs, x, tt, project_audio(fs, hidden, drop=True), oh, 1)
        return unc + s * (cond - unc)

    with torch.no_grad():
        ref = _reference_ddpm(guided, 30, (1, 15069, T), torch.Generator().manual_seed(4), 0.0, 0.02, 1.0)
    assert np.allclose(ours[0], ref[0].T.numpy(), atol=1e-4)


def test_every_sampler_runs_on_the_imported_bundle(models):
    from diface_editor.ml.bundle import MotionModel
    from diface_editor.ml.sampling import sample_window

    m = MotionModel.load(models["bundle"], device="cpu")
    feats = np.random.default_rng(0).normal(size=(40, 16)).astype(np.float32)
    for sampler, steps in (("ddim", 4), ("dpmpp", 4), ("ddpm", None)):
        known = np.zeros((40, 15069), np.float32)
        mask = np.zeros((40, 15069), bool)
        known[:8], mask[:8] = 0.001, True  # an edit: the first frames are given
        out = sample_window(m.part("face"), feats, known, mask, sampler=sampler, steps=steps, style="FaceTalk_170904_00128_TA")
        assert out.shape == (1, 40, 15069) and np.isfinite(out).all()
        assert np.array_equal(out[0, :8], known[:8])
    out = sample_window(m.part("head"), feats, np.zeros((40, 3), np.float32), np.zeros((40, 3), bool), sampler="ddim",
                        steps=3, n_samples=2)
    assert out.shape == (2, 40, 3) and np.isfinite(out).all()


def test_wav2vec2_weights_are_the_checkpoints(models, w2v_cfg):
    from safetensors.torch import load_file

    saved = load_file(str(models["bundle"] / td.WAV2VEC2_DIR / "model.safetensors"))
    src = {td._wn_alias(k)[len("audio_encoder."):]: v for k, v in models["face"].items() if k.startswith("audio_encoder.")}
    assert set(saved) == set(src)
    assert all(torch.equal(saved[k], src[k]) for k in src)
    assert (models["bundle"] / td.WAV2VEC2_DIR / "preprocessor_config.json").is_file()


def test_unsupported_options_are_listed_in_one_error(tmp_path):
    args = face_args(norm="batch", activation="relu", some_new_switch=3)
    args["diffusion"]["params"]["model_var_type"] = "FIXED_LARGE"
    args["diffusion"]["params"]["noise_cfg"] = {"target": "diffusion.Disp_noise_sampler.constant_random_Noise",
                                                "params": {"std_scale": 0.02}}
    write_model(tmp_path / "face", args, {"x": torch.zeros(1)})
    with pytest.raises(td.UnsupportedOptionsError) as e:
        td.inspect_model(tmp_path / "face")
    msg = str(e.value)
    for needle in ("motion_model.params.norm", "motion_model.params.activation", "motion_model.params.some_new_switch",
                   "diffusion.params.model_var_type", "diffusion.params.noise_cfg.target"):
        assert needle in msg
    assert len(e.value.options) == 5
    # an option the user vouches for can be ignored
    with pytest.raises(td.UnsupportedOptionsError) as e:
        td.inspect_model(tmp_path / "face", ignore=["some_new_switch"])
    assert len(e.value.options) == 4


def test_mismatched_checkpoint_names_every_problem(tmp_path, w2v_cfg):
    st = face_state(w2v_cfg=w2v_cfg)
    del st["encoder.in_infuse.0.bias"]
    st["decoder.extra.weight"] = torch.zeros(3)
    st["decoder.out_embed.bias"] = torch.zeros(15068)
    write_model(tmp_path / "face", face_args(), st)
    with pytest.raises(td.ThreeDiFaceError) as e:
        td.import_3diface([tmp_path / "face"], tmp_path / "b", wav2vec2_config=w2v_cfg)
    msg = str(e.value)
    assert "encoder.in_infuse.0.bias" in msg and "decoder.extra.weight" in msg and "decoder.out_embed.bias" in msg
    assert not (tmp_path / "b" / "config.json").exists()


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch " + str(_Boom.marker),))


def test_checkpoint_that_would_run_code_is_refused(tmp_path, w2v_cfg):
    _Boom.marker = tmp_path / "pwned"
    write_model(tmp_path / "face", face_args(), {"encoder.in_embed.0.weight": _Boom()})
    with pytest.raises(td.ThreeDiFaceError, match="not a plain PyTorch state dict"):
        td.import_3diface([tmp_path / "face"], tmp_path / "b", wav2vec2_config=w2v_cfg)
    assert not _Boom.marker.exists()


def test_head_without_audio_source_is_a_clear_error(tmp_path, w2v_cfg):
    write_model(tmp_path / "head", head_args(), head_state())
    with pytest.raises(td.ThreeDiFaceError, match="--head-audio-from"):
        td.import_3diface([tmp_path / "head"], tmp_path / "b", wav2vec2_config=w2v_cfg)


def test_checkpoint_choice(tmp_path):
    folder = write_model(tmp_path / "face", face_args(), {"a": torch.zeros(1)}, step=500)
    torch.save({"a": torch.zeros(1)}, folder / "checkpoints" / "model000001000.pt")
    torch.save({"a": torch.zeros(1)}, folder / "checkpoints" / "opt000002000.pt")
    assert td.find_checkpoint(folder).name == "model000001000.pt"
    assert td.find_checkpoint(folder, "model000000500").name == "model000000500.pt"
    with pytest.raises(td.ThreeDiFaceError, match="model000000700"):
        td.find_checkpoint(folder, "model000000700")


def test_cli_import_then_generate(models, tmp_path, monkeypatch, w2v_cfg):
    import soundfile as sf

    from diface_editor.cli.main import main
    from diface_editor.core.formats import load_animation

    monkeypatch.setattr(td, "wav2vec2_base_960h_config", lambda: w2v_cfg)
    out = tmp_path / "bundle"
    assert main(["import-3diface", str(models["root"] / "face"), str(models["root"] / "head"), "-o", str(out)]) == 0
    assert main(["import-3diface", str(models["root"] / "face"), "-o", str(out)]) == 1  # exists, no --force
    wav = tmp_path / "speech.wav"
    sf.write(str(wav), (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32), 16000)
    take = tmp_path / "take.npz"
    assert main(["generate", str(wav), "-o", str(take), "--model", str(out), "--device", "cpu", "--sampler", "ddim",
                 "--steps", "2", "--style", "2"]) == 0
    anim = load_animation(take)
    assert anim.space == "vertex" and anim.face.shape == (30, 15069) and anim.head.shape == (30, 3)
    assert np.isfinite(anim.face).all() and np.abs(anim.head).max() > 0


def test_docs_list_the_accepted_parameters():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "3diface_compat.md").read_text(encoding="utf-8")
    for kind, kw in (("face", dict(ch=64, ch_multi=[1, 2, 4])), ("head", dict(ch=64, ch_multi=[1, 2, 2], own_audio=False,
                                                                           n_identity=0))):
        for name, _shape in td.accepted_parameters(kind, **kw):
            if name.startswith("audio_encoder.encoder.layers.") and not name.startswith("audio_encoder.encoder.layers.0."):
                continue  # the doc lists layer 0 and says "for each of the 12 layers"
            assert f"`{name}`" in doc, name
