"""diface's reference mode against numbers from the original 3DiFACE code (tolerance 1e-5).

``tests/data/fidelity/`` holds a tiny random-weight checkpoint in the original layout and
``reference.npz``, the original code's outputs on it, written by ``tools/threediface_reference.py``
(run by hand from a scratch folder with a checkout of ``bala1144/3DiFACE``; nothing is fetched or run
from the original code here). Noise is injected the same way on both sides (see the tool), so the
1000-step DDPM passes are compared sample for sample.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

DATA = Path(__file__).parent / "data" / "fidelity"
ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-5
STYLE = 2  # 3DiFACE's demo: condition_index 2

torch.set_num_threads(2)


def _tool():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import threediface_reference as tool
    finally:
        sys.path.pop(0)
    return tool


@pytest.fixture(scope="module")
def ref():
    with np.load(DATA / "reference.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from diface_editor.ml.bundle import MotionModel
    from diface_editor.ml.compat import threediface as td
    from tests._compat_helpers import tiny_w2v_config

    out = tmp_path_factory.mktemp("fidelity") / "bundle"
    td.import_3diface([DATA / "face", DATA / "head"], out, wav2vec2_config=tiny_w2v_config(), guidance=0.5)
    m = MotionModel.load(out, device="cpu")
    assert m.sampling.get("reference_mode") == 1
    return m.eval()


def _close(name, got, want):
    d = float(np.max(np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64))))
    print(f"fidelity {name}: max abs diff {d:.2e} (scale {float(np.max(np.abs(want))):.3g})")
    assert d <= TOL, f"{name}: max abs diff {d:.3g} > {TOL}"


def test_schedule(model, ref):
    _close("schedule face (betas)", model.part("face").diffusion.betas, ref["betas_face"])
    _close("schedule head (betas)", model.part("head").diffusion.betas, ref["betas_head"])


def test_forward_passes(model, ref):
    nf = int(ref["nf"])
    t = torch.full((1,), _tool().FWD_T, dtype=torch.long)
    audio = torch.from_numpy(ref["feat_hidden"])[None]
    style = torch.zeros(1, 8)
    style[0, STYLE] = 1
    face = model.part("face").denoiser
    x = torch.from_numpy(ref["fwd_face_x"]).T[None]
    with torch.no_grad():
        cond = face(x, t, None, audio, None, style)[0].T
        uncond = face(x, t, None, audio, torch.ones(1, dtype=torch.bool), style)[0].T
        xh = torch.from_numpy(ref["fwd_head_x"]).T[None]
        head = model.part("head").denoiser(xh[:, :3], t, xh[:, 3:], audio, None, None)[0].T
    assert cond.shape == (nf, 30)
    _close("forward face (conditional)", cond, ref["fwd_face"])
    _close("forward face (unconditional)", uncond, ref["fwd_face_uncond"])
    _close("forward head", head, ref["fwd_head"])


def test_audio_features(model, ref):
    from diface_editor.ml.compat import reference as rm

    tool = _tool()
    nf = int(ref["nf"])
    audio = tool.test_audio()
    assert rm.reference_frame_count(len(audio)) == nf
    w2v, do_norm = rm.load_wav2vec2(model)
    x = rm.normalise_waveform(audio, do_norm)[: int(nf / 30 * 16000)]
    h = rm.reference_features(w2v, x, nf)
    _close("audio features (wav2vec2, interpolated CNN features)", h, ref["feat_hidden"])
    fm = model.part("face").denoiser.audio_feature_map
    with torch.no_grad():
        _close("audio features (after audio_feature_map)", fm(h), ref["feat_mapped"])


@pytest.mark.slow
def test_ddpm_generate(model, ref):
    from diface_editor.ml.compat import reference as rm

    tool = _tool()
    seed = tool.SEEDS["gen"][0]
    assert tool.SEEDS["gen"][1] == seed + 1
    anim = rm.reference_generate(model, tool.test_audio(), seed=seed, style=STYLE)
    assert anim.n_frames == int(ref["nf"])
    _close("generate face (DDPM-1000, guidance 0.5)", anim.face, ref["gen_face"])
    _close("generate head (DDPM-1000, unguided)", model.part("head").normalise(anim.head), ref["gen_head"])


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["in_between", "keyframe", "keyframe_swap"])
def test_edit_modes(model, ref, mode):
    from diface_editor.core.animation import Animation
    from diface_editor.ml.compat import reference as rm

    tool = _tool()
    seed = tool.SEEDS[mode][0]
    assert tool.SEEDS[mode][1] == seed + 1
    spec = {"in_between": rm.EditSpec("in_between", span=tool.IN_BETWEEN),
            "keyframe": rm.EditSpec("keyframe"),
            "keyframe_swap": rm.EditSpec("keyframe_swap", pairs=tool.SWAP_PAIRS)}[mode]
    gt = Animation(fps=30.0, face=ref["edit_gt_face"].copy(), head=ref["edit_gt_head"].copy(), channel_names=(),
                   space="vertex")
    out = rm.reference_edit(model, gt, tool.test_audio(), spec, seed=seed, style=STYLE, parts=("face", "head"))
    _close(f"edit {mode} face", out.face, ref[f"edit_{mode}_face"])
    _close(f"edit {mode} head", model.part("head").normalise(out.head), ref[f"edit_{mode}_head"])


@pytest.mark.slow
def test_cli_reference_mode(model, tmp_path, capsys):
    """The bundle's reference_mode drives `diface generate` / `diface edit`; --no-reference-mode opts out."""
    import soundfile as sf

    from diface_editor.cli.main import main
    from diface_editor.core.formats import load_animation

    wav = tmp_path / "a.wav"
    sf.write(wav, _tool().test_audio(2.2), 16000)
    bundle = str(model.path)
    assert main(["generate", str(wav), "-o", str(tmp_path / "g.npz"), "--model", bundle, "--style", "2",
                 "--device", "cpu"]) == 0
    assert "reference mode" in capsys.readouterr().out
    g = load_animation(tmp_path / "g.npz")
    assert g.n_frames == 32  # 2 whole seconds * 30, down to a multiple of 32
    assert main(["generate", str(wav), "-o", str(tmp_path / "x.npz"), "--model", bundle, "--sampler", "ddim",
                 "--reference-mode"]) != 0
    assert main(["edit", str(tmp_path / "g.npz"), "-o", str(tmp_path / "e.npz"), "--model", bundle, "--audio",
                 str(wav), "--swap", "3:20,25:5", "--parts", "head", "--device", "cpu"]) == 0
    e = load_animation(tmp_path / "e.npz")
    np.testing.assert_array_equal(e.face, g.face)  # only the head was edited
    np.testing.assert_allclose(e.head[[20, 5]], g.head[[3, 25]], atol=1e-5)  # the targets took the sources' poses
    assert not np.array_equal(e.head[3], g.head[3])  # the source frame is generated, not pinned
