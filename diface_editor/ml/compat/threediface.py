"""Import published 3DiFACE checkpoints (face and head models) into an ordinary diface model bundle.

Why one module of ~850 lines: it is the one description of a foreign format. The ``args.yml`` checks,
the tensor-name mapping and the part builder all read the same tables of 3DiFACE targets, accepted
parameters and renames below, and this docstring documents them together; every function here serves
``import_3diface`` (``diface import-3diface``) and nothing else imports its internals. Split it along
its sections (args.yml, checkpoints, key mapping, wav2vec2, building parts) if it grows further.

A 3DiFACE model folder holds ``args.yml`` (``OmegaConf.save`` of the training arguments:
``motion_model: {target, params}``, ``diffusion: {target, params}``, ``data_cfg``, and many
training-only keys) and the weights as a plain ``state_dict`` in ``checkpoints/model%09d.pt``
(or ``model*.pt`` beside ``args.yml``). Two kinds of model are published:

* **face** (``cond_model_for_win30.diffnoise_2_motion_concat_w_audio_cond``): vertex offsets from
  a FLAME/VOCA template, 15069 channels, no flag channel, no skips, identity one-hot over
  ``num_identity_classes`` (8 VOCA subjects, names in ``train_subjects``) through a bias-free
  ``decoder.style_map``; its audio is folded to lower levels by a raw *reshape* of the full-rate
  features (``DenoiserConfig.audio_fold="reshape"``); it holds a whole wav2vec2-base-960h
  (``audio_encoder.*``) and ``audio_feature_map`` (768 -> ch).
* **head** (``conv_head_model.conv_concat_w_audio_cond_skip``): 3 axis-angle channels plus a
  keyframe-flag channel (``in_channel`` 4), additive skips whose level-0 skip is the input
  projection (``first_skip="embedded"``), audio average-pooled per level, usually no style and
  no audio encoder of its own: at inference it is fed ``audio_feature_map(wav2vec2(audio))`` of
  the *face* model, so the importer copies that ``audio_feature_map`` into the head denoiser.

The networks map onto :class:`~diface_editor.ml.denoiser.Denoiser` one to one; the only renames
are the face model's fusion blocks (``...in_infuse.0.*`` / ``...infusion_layers.k.0.*`` ->
``...mle_layer.0.*``) and wav2vec2's weight-norm tensors (``weight_g``/``weight_v`` of transformers
< 4.31 -> ``parametrizations.weight.original0/1``). The sinusoid buffers ``encoder.PPE.pe`` and
``encoder.embed_timestep.sequence_pos_encoder.pe`` are not weights: they are checked against the
formula diface computes on the fly. Every other tensor must be present with the expected shape and
no tensor may be left over (:func:`convert_state`), so an import either reproduces the network
exactly or fails with one message listing every missing, unexpected and mis-shaped tensor.

Diffusion: 1000 steps, cosine schedule, x0 prediction, fixed-small posterior variance, ancestral
sampling; guidance ``uncond + s * (cond - uncond)`` with the projected audio zeroed for ``uncond``.
3DiFACE draws its diffusion noise from a configurable sampler (``diffusion.params.noise_cfg``):
``random_Noise(std_scale=s)`` is uniform on [0, s) and ``random_Noise_neg_one_2_pos_one`` uniform
on [-s, s); both are reproduced (``DiffusionConfig.noise``). guided-diffusion clamps the x0
prediction to [-1, 1] by default (``clip_denoised``), except in the ``_noclamp`` head diffusion:
reproduced by ``DiffusionConfig.clip_x0``. Motion units: the face model works on raw offsets in
metres (identity normalisation), the head model on axis-angle standardised with HDTF statistics
(:data:`HDTF_HEAD_MEAN`, :data:`HDTF_HEAD_STD`; the sigma-2 Gaussian smoothing is training-only).

Audio: the bundle's audio encoder is ``{"type": "hf", "path": "wav2vec2"}``, a transformers
checkpoint folder inside the bundle written from the checkpoint's ``audio_encoder.*`` tensors
(architecture from :func:`wav2vec2_base_960h_config`, built in code, nothing downloaded).
Difference: 3DiFACE interpolates the wav2vec2 CNN features to the motion frame count *before* the
transformer; diface's ``hf`` encoder runs the transformer on the 50 Hz features and interpolates
its output (see :mod:`diface_editor.ml.audio.hf`), so features differ slightly from the original.

Options in ``args.yml`` that would change the network or the sampling and that diface cannot
reproduce are collected and reported together (:class:`UnsupportedOptionsError`); training-only
keys are ignored. Checkpoints are read with ``torch.load(weights_only=True)``: no code runs.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from diface_editor.core.arkit import HEAD_NAMES
from diface_editor.core.errors import DifaceError
from diface_editor.ml.denoiser import Denoiser, DenoiserConfig, timestep_sinusoid
from diface_editor.ml.diffusion import DiffusionConfig, GaussianDiffusion
from diface_editor.ml.normalisation import Normaliser
from diface_editor.ml.part import ModelPart

log = logging.getLogger(__name__)

#: HDTF head-pose statistics exactly as 3DiFACE's code has them (axis-angle radians).
HDTF_HEAD_MEAN = (-0.05855013, -0.0028288, -0.01964026)
HDTF_HEAD_STD = (0.11084834, 0.10225139, 0.08779355)
#: Folder (inside the bundle) of the imported wav2vec2 checkpoint.
WAV2VEC2_DIR = "wav2vec2"
#: Frame rate of every 3DiFACE model (VOCASET's 60 fps is subsampled by 2).
FPS = 30.0
#: Window used when ``args.yml`` names none (3DiFACE's head data config: 288 frames).
DEFAULT_WINDOW = 288
PE_KEYS = ("encoder.PPE.pe", "encoder.embed_timestep.sequence_pos_encoder.pe")

_FACE_TARGETS = {"diffnoise_2_motion_concat_w_audio_cond." + c for c in
                 ("unet_w_cond_mask", "in_to_motion_unet_w_audio_cond", "style_optim_w_cond_mask")}
_HEAD_TARGETS = {"conv_concat_w_audio_cond_skip." + c for c in
                 ("in_to_motion_unet_w_audio_cond", "in_to_motion_unet_w_audio_cond_with_cond_mask",
                  "unet_w_audio_cond_mask_with_audio_encoding")}
_HEAD_WITH_ENCODER = "conv_concat_w_audio_cond_skip.unet_w_audio_cond_mask_with_audio_encoding"
#: diffusion target -> (model kind, clip_x0)
_DIFFUSION_TARGETS = {
    "motiondiffuse_w_cust_noise_losses.GaussianDiffusion": ("face", 1.0),
    "masked_head_diffuse_w_cust_noise_losses.GaussianDiffusion": ("head", 1.0),
    "masked_head_diffuse_w_cust_noise_losses_noclamp.GaussianDiffusion": ("head", None),
}
_PADDING = ("reflect", "zeros", "replicate", "circular")

# motion_model.params: supported keys (checked below) and keys that do not affect inference
_FACE_PARAMS = {"in_channel", "out_channel", "ch", "ch_multi", "activation", "norm", "padding_type",
                "num_identity_classes", "dec_model", "cond_mask_prob", "cond_mode", "train_subjects", "dataset"}
_HEAD_PARAMS = {"in_channel", "out_channel", "ch", "ch_multi", "activation", "norm", "padding_type",
                "num_identity_classes", "use_identity", "final_activation", "cond_mask_prob", "cond_mode",
                "train_subjects", "dataset"}
_MODEL_IGNORED = {"wav2vec_model", "init_from_ckpt", "use_time_step", "nhead", "num_compression",
                  "final_layer_zero_init", "input_mode", "noise_cfg", "val_subjects", "test_subjects"}
_DIFF_PARAMS = {"noise_schedule", "diffusion_steps", "model_mean_type", "model_var_type", "rescale_timesteps",
                "pred_disp", "pred_type", "enable_frame_flag", "noise_cfg", "loss_terms"}
_DIFF_IGNORED = {"scale_beta", "loss_type", "cond_mask_prob", "mask_frame_prob", "edit_type"}


# ====================================================================== errors and results
class ThreeDiFaceError(DifaceError):
    """A 3DiFACE model folder or checkpoint cannot be imported (the message says why)."""


class UnsupportedOptionsError(ThreeDiFaceError):
    """``args.yml`` uses options diface cannot reproduce; :attr:`options` lists them."""

    def __init__(self, source: Path, options: list[str]):
        self.options = list(options)
        super().__init__(f"{source} uses options diface cannot import: " + "; ".join(self.options)
                         + " (pass --ignore-option NAME for an option you know does not change the network)")


@dataclass
class ModelSpec:
    """What :func:`inspect_model` read from one 3DiFACE model folder.

    Attributes:
        kind: ``"face"`` or ``"head"``.
        folder, args_path, checkpoint: where things are; ``step`` is parsed from the file name.
        denoiser: the equivalent :class:`DenoiserConfig` (``audio_dim``/``audio_proj_dim`` are
            completed from the checkpoint by :func:`build_part`).
        diffusion: the equivalent :class:`DiffusionConfig`.
        normaliser: motion standardisation (face: identity; head: HDTF statistics).
        style_names: identity class names (empty without a style map).
        own_audio_encoder: the checkpoint holds ``audio_encoder.*`` and ``audio_feature_map``.
        window: training window in frames (``data_cfg.params.window``; default 288).
        guidance: 3DiFACE's classifier-free guidance needs ``cond_mask_prob > 0``.
        args: the parsed ``args.yml``.
    """

    kind: str
    folder: Path
    args_path: Path
    checkpoint: Path
    step: int | None
    denoiser: DenoiserConfig
    diffusion: DiffusionConfig
    normaliser: Normaliser
    style_names: tuple[str, ...]
    own_audio_encoder: bool
    window: int
    args: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass
class ImportResult:
    """What :func:`import_3diface` wrote."""

    bundle: Path
    parts: dict[str, Path]
    style_names: tuple[str, ...]
    n_parameters: dict[str, int]
    notes: list[str] = field(default_factory=list)


# ====================================================================== args.yml
def read_args(path: str | Path) -> dict[str, Any]:
    """``args.yml`` (or a folder holding it) parsed with PyYAML's safe loader (no object tags)."""
    import yaml

    p = Path(path).expanduser()
    if p.is_dir():
        p = p / "args.yml"
    if not p.is_file():
        raise ThreeDiFaceError(f"{p} does not exist; a 3DiFACE model folder holds args.yml and checkpoints/")
    try:
        d = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ThreeDiFaceError(f"cannot parse {p} as YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(d, dict):
        raise ThreeDiFaceError(f"{p} does not hold a YAML mapping of options")
    return d


def _short_target(target: Any) -> str:
    """The last two dotted components of a ``target`` (module file and class)."""
    return ".".join(str(target).split(".")[-2:])


def _as_int_list(v: Any) -> list[int] | None:
    if isinstance(v, (list, tuple)) and v and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return [int(x) for x in v]
    return None


def inspect_model(folder: str | Path, checkpoint: str | None = None, *,
                  ignore: Iterable[str] = ()) -> ModelSpec:
    """Read a 3DiFACE model folder's ``args.yml`` and pick its checkpoint.

    Args:
        folder: the model folder (``args.yml`` + ``checkpoints/model*.pt``).
        checkpoint: ``None``/``"latest"`` (highest step), a file name (``model000100035`` or
            ``model000100035.pt``) or a path.
        ignore: option names (``ch``, ``params.foo`` or the full ``motion_model.params.foo``)
            whose problems are not reported.
    Raises:
        UnsupportedOptionsError: every option diface cannot reproduce, in one message.
        ThreeDiFaceError: no args.yml, no checkpoint, not a 3DiFACE face/head model.
    """
    folder = Path(folder).expanduser()
    args_path = folder / "args.yml" if folder.is_dir() else folder
    if not folder.is_dir():
        folder = args_path.parent
    args = read_args(args_path)
    ignore = set(ignore)
    problems: list[str] = []

    def problem(name: str, text: str) -> None:
        if not ({name, name.split(".")[-1], ".".join(name.split(".")[-2:])} & ignore):
            problems.append(name + (text if text.startswith("=") else " " + text))

    mm = args.get("motion_model")
    df = args.get("diffusion")
    if not isinstance(mm, dict) or "target" not in mm:
        raise ThreeDiFaceError(f"{args_path} has no motion_model target; is this a 3DiFACE model folder?")
    if not isinstance(df, dict) or "target" not in df:
        raise ThreeDiFaceError(f"{args_path} has no diffusion target; is this a 3DiFACE model folder?")
    target = _short_target(mm["target"])
    if target in _FACE_TARGETS:
        kind = "face"
    elif target in _HEAD_TARGETS:
        kind = "head"
    else:
        raise UnsupportedOptionsError(args_path, [f"motion_model.target={mm['target']} (diface imports the "
                                                  "3DiFACE face model diffnoise_2_motion_concat_w_audio_cond and "
                                                  "the head model conv_concat_w_audio_cond_skip)"])
    p = dict(mm.get("params") or {})
    dp = dict(df.get("params") or {})
    data = dict((args.get("data_cfg") or {}).get("params") or {}) if isinstance(args.get("data_cfg"), dict) else {}

    # ---------------------------------------------------------------- unknown keys
    known = _FACE_PARAMS if kind == "face" else _HEAD_PARAMS
    for k in sorted(set(p) - known - _MODEL_IGNORED):
        problem(f"motion_model.params.{k}", "is not known to the importer")
    for k in sorted(set(dp) - _DIFF_PARAMS - _DIFF_IGNORED):
        problem(f"diffusion.params.{k}", "is not known to the importer")

    # ---------------------------------------------------------------- network
    def get_int(key: str, default: int | None = None) -> int | None:
        v = p.get(key, default)
        if not isinstance(v, int) or isinstance(v, bool):
            problem(f"motion_model.params.{key}", f"must be an integer, got {v!r}")
            return None
        return int(v)

    ch = get_int("ch")
    in_ch = get_int("in_channel")
    out_ch = get_int("out_channel")
    ch_multi = _as_int_list(p.get("ch_multi", [1, 1]))
    if ch_multi is None:
        problem("motion_model.params.ch_multi", f"must be a list of integers, got {p.get('ch_multi')!r}")
    elif ch_multi[0] != 1:
        problem("motion_model.params.ch_multi", f"must start with 1 (3DiFACE's input projection has ch "
                f"channels), got {ch_multi}")
    elif kind == "face" and any(m != 2 ** k for k, m in enumerate(ch_multi)):
        problem("motion_model.params.ch_multi", f"must be [1, 2, 4, ...] for the face model (its reshaped audio "
                f"doubles per level), got {ch_multi}")
    if ch is not None and (ch < 2 or ch % 2):
        problem("motion_model.params.ch", f"must be an even number (the timestep sinusoid), got {ch}")
    if p.get("activation", "swish") != "swish":
        problem("motion_model.params.activation", f"={p.get('activation')!r} (only swish/SiLU is supported)")
    if p.get("norm") is not None:
        problem("motion_model.params.norm", f"={p.get('norm')!r} (only norm: null is supported)")
    padding = p.get("padding_type", "reflect")
    if padding not in _PADDING:
        problem("motion_model.params.padding_type", f"={padding!r} is not a torch padding mode")
    if p.get("cond_mode") == "no_cond":
        problem("motion_model.params.cond_mode", "=no_cond (an unconditional model) is not supported")
    dataset = p.get("dataset", "vocaset")
    if dataset not in ("vocaset", "ardzdf"):
        problem("motion_model.params.dataset", f"={dataset!r} (only 30 fps VOCASET-style models are supported)")
    n_id = get_int("num_identity_classes", 8)
    cond_mask_prob = float(p.get("cond_mask_prob", 0.0) or 0.0)

    flags = "none"
    first_skip, skip_mode, fold = "infused", "none", "reshape"
    use_identity = True
    if kind == "face":
        if p.get("dec_model", "decoder_2layer_block_w_audio_new_layers") != "decoder_2layer_block_w_audio_new_layers":
            problem("motion_model.params.dec_model", f"={p.get('dec_model')!r} (only "
                    "decoder_2layer_block_w_audio_new_layers is supported)")
        if in_ch is not None and out_ch is not None and in_ch != out_ch:
            problem("motion_model.params.out_channel", f"={out_ch} differs from in_channel={in_ch}")
        if in_ch is not None and in_ch % 3:
            problem("motion_model.params.in_channel", f"={in_ch} is not 3 x vertices")
        n_motion = in_ch
    else:
        skip_mode, fold, first_skip = "add", "pool", "embedded"
        use_identity = bool(p.get("use_identity", False))
        if p.get("final_activation") is not None:
            problem("motion_model.params.final_activation", f"={p.get('final_activation')!r} (only null is supported)")
        if out_ch is not None and out_ch != 3:
            problem("motion_model.params.out_channel", f"={out_ch} (only 3 axis-angle channels are supported)")
        frame_flag = dp.get("enable_frame_flag", True)
        flags = "frame" if frame_flag else "none"
        want_in = 3 + (1 if frame_flag else 0)
        if in_ch is not None and in_ch != want_in:
            problem("motion_model.params.in_channel", f"={in_ch} (expected {want_in}: 3 axis-angle channels"
                    f"{' plus the keyframe flag' if frame_flag else ''})")
        n_motion = 3
        for key in ("normalize_pose", "to_6d_rotation"):
            if data.get(key):
                problem(f"data_cfg.params.{key}", "=true is not supported (diface uses axis-angle in radians)")

    # ---------------------------------------------------------------- diffusion
    dtarget = _short_target(df["target"])
    if dtarget not in _DIFFUSION_TARGETS:
        problem("diffusion.target", f"={df['target']} is not a known 3DiFACE diffusion")
        clip = 1.0
    else:
        dkind, clip = _DIFFUSION_TARGETS[dtarget]
        if dkind != kind:
            problem("diffusion.target", f"={df['target']} belongs to a {dkind} model, not a {kind} model")
    schedule = dp.get("noise_schedule", "cosine")
    if schedule not in ("cosine", "linear"):
        problem("diffusion.params.noise_schedule", f"={schedule!r} (cosine or linear)")
        schedule = "cosine"
    steps = dp.get("diffusion_steps", 1000)
    if not isinstance(steps, int) or steps < 2:
        problem("diffusion.params.diffusion_steps", f"={steps!r} must be an integer >= 2")
        steps = 1000
    if dp.get("model_mean_type", "START_X") != "START_X":
        problem("diffusion.params.model_mean_type", f"={dp.get('model_mean_type')} (only START_X, x0 prediction)")
    if dp.get("model_var_type", "FIXED_SMALL") != "FIXED_SMALL":
        problem("diffusion.params.model_var_type", f"={dp.get('model_var_type')} (only FIXED_SMALL)")
    if dp.get("rescale_timesteps", False):
        problem("diffusion.params.rescale_timesteps", "=true is not supported")
    if kind == "face" and dp.get("pred_disp", True) is not True:
        problem("diffusion.params.pred_disp", "=false (absolute vertices) is not supported; diface predicts "
                "offsets from the template")
    if kind == "head" and str(dp.get("pred_type", "head")).startswith("disp"):
        problem("diffusion.params.pred_type", f"={dp.get('pred_type')!r} is not a head-pose model")
    noise = _noise_spec(dp.get("noise_cfg"), problem)
    vel = (dp.get("loss_terms") or {}).get("velocity_weight", 1.0) if isinstance(dp.get("loss_terms"), dict) else 1.0

    # ---------------------------------------------------------------- data
    window = data.get("window", DEFAULT_WINDOW)
    if not isinstance(window, int) or window < 2:
        window = DEFAULT_WINDOW
    fps = data.get("fps", FPS)
    if isinstance(fps, (int, float)) and abs(float(fps) - FPS) > 1e-6:
        problem("data_cfg.params.fps", f"={fps} (only 30 fps models are supported)")

    if problems:
        raise UnsupportedOptionsError(args_path, problems)

    style_names: tuple[str, ...] = ()
    if use_identity and n_id:
        subjects = str(p.get("train_subjects", "") or "").split()
        style_names = tuple(subjects) if len(subjects) == n_id else tuple(f"identity_{i}" for i in range(n_id))
    den = DenoiserConfig(in_channels=int(n_motion), out_channels=int(n_motion), ch=int(ch), ch_mult=tuple(ch_multi),
                         blocks_per_level=1, audio_dim=0, flag_mode=flags,
                         style_classes=len(style_names), dropout=0.0, skip_mode=skip_mode, audio_fold=fold,
                         padding_mode=padding, first_skip=first_skip)
    diff = DiffusionConfig(num_train_steps=int(steps), schedule=schedule,
                           velocity_weight=float(vel) if isinstance(vel, (int, float)) else 1.0,
                           cond_drop_prob=min(max(cond_mask_prob, 0.0), 1.0), noise=noise, clip_x0=clip)
    if kind == "face":
        norm = Normaliser.identity(int(n_motion))
    elif data.get("standardize_data", True):
        norm = Normaliser(np.array(HDTF_HEAD_MEAN, np.float32), np.array(HDTF_HEAD_STD, np.float32))
    else:
        norm = Normaliser.identity(3)
    ckpt = find_checkpoint(folder, checkpoint)
    own = kind == "face" or target == _HEAD_WITH_ENCODER
    return ModelSpec(kind, folder, args_path, ckpt, _step_of(ckpt), den, diff, norm, style_names, own,
                     int(window), args)


def _noise_spec(cfg: Any, problem) -> dict[str, Any]:
    """DiffusionConfig.noise for a 3DiFACE ``noise_cfg`` (problems reported through ``problem``)."""
    if cfg is None:
        return {"type": "gaussian"}
    if not isinstance(cfg, dict) or "target" not in cfg:
        problem("diffusion.params.noise_cfg", f"={cfg!r} has no target")
        return {"type": "gaussian"}
    t = _short_target(cfg["target"])
    params = dict(cfg.get("params") or {})
    scale = params.get("std_scale", 1)
    extra = sorted(set(params) - {"std_scale", "dataset_path", "device"})
    if extra:
        problem("diffusion.params.noise_cfg.params", f"has unknown keys {', '.join(extra)}")
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not scale > 0:
        problem("diffusion.params.noise_cfg.params.std_scale", f"={scale!r} must be a positive number")
        scale = 1.0
    if t == "Disp_noise_sampler.random_Noise":
        return {"type": "uniform", "low": 0.0, "high": float(scale)}
    if t == "Disp_noise_sampler.random_Noise_neg_one_2_pos_one":
        return {"type": "uniform", "low": -float(scale), "high": float(scale)}
    problem("diffusion.params.noise_cfg.target", f"={cfg['target']} (supported: random_Noise and "
            "random_Noise_neg_one_2_pos_one; constant, dataset-statistics or positional noise is not)")
    return {"type": "gaussian"}


# ====================================================================== checkpoints
_STEP_RE = re.compile(r"^model(\d+)\.pt$")


def _step_of(path: Path) -> int | None:
    m = _STEP_RE.match(path.name)
    return int(m.group(1)) if m else None


def find_checkpoint(folder: str | Path, name: str | None = None) -> Path:
    """The checkpoint file of a model folder: ``checkpoints/model*.pt`` or ``model*.pt`` beside
    ``args.yml``; ``name`` ``None``/``"latest"`` picks the highest step, otherwise a file name
    (with or without ``.pt``) or a path."""
    folder = Path(folder).expanduser()
    if name and name != "latest":
        cand = Path(name).expanduser()
        if cand.is_file():
            return cand
        fname = name if name.endswith(".pt") else name + ".pt"
        for c in (folder / "checkpoints" / fname, folder / fname):
            if c.is_file():
                return c
        raise ThreeDiFaceError(f"checkpoint {name} not found in {folder / 'checkpoints'} or {folder}")
    files = [f for d in (folder / "checkpoints", folder) if d.is_dir() for f in d.glob("model*.pt") if f.is_file()]
    if not files:
        raise ThreeDiFaceError(f"no checkpoint (model*.pt) in {folder / 'checkpoints'} or {folder}")
    return max(files, key=lambda f: (_step_of(f) if _step_of(f) is not None else -1, f.name))


def load_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """A plain state dict read with ``torch.load(weights_only=True, map_location="cpu")`` (no code runs)."""
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ThreeDiFaceError(f"checkpoint {path} does not exist") from None
    except Exception as e:  # UnpicklingError for anything but tensors/containers, zip errors, ...
        raise ThreeDiFaceError(f"{path} is not a plain PyTorch state dict that can be loaded safely "
                               f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    if isinstance(obj, Mapping) and len(obj) == 1 and isinstance(next(iter(obj.values())), Mapping) \
            and next(iter(obj)) in ("state_dict", "model"):
        obj = next(iter(obj.values()))
    if not isinstance(obj, Mapping) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                               for k, v in obj.items()):
        raise ThreeDiFaceError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    return dict(obj)


# ====================================================================== key mapping
_FUSION_RE = re.compile(r"^((?:encoder|decoder)\.infusion_layers\.\d+|encoder\.in_infuse)\.mle_layer\.(.+)$")


def published_name(kind: str, ours: str) -> str:
    """The 3DiFACE state-dict name of a diface denoiser tensor (face fusion blocks have no
    ``mle_layer`` level; everything else keeps its name)."""
    if kind == "face":
        m = _FUSION_RE.match(ours)
        if m:
            return f"{m.group(1)}.{m.group(2)}"
    return ours


def _wn_alias(name: str) -> str:
    """wav2vec2 weight-norm names of transformers < 4.31 -> the parametrization names."""
    if name.endswith("pos_conv_embed.conv.weight_g"):
        return name[:-len("weight_g")] + "parametrizations.weight.original0"
    if name.endswith("pos_conv_embed.conv.weight_v"):
        return name[:-len("weight_v")] + "parametrizations.weight.original1"
    return name


def expected_names(kind: str, denoiser: Denoiser, *, own_audio: bool,
                   audio_encoder: torch.nn.Module | None = None) -> dict[str, tuple[int, ...]]:
    """Every tensor name (and shape) the published checkpoint must contain for this architecture.

    ``audio_feature_map.*`` and ``audio_encoder.*`` are included when ``own_audio``; the
    sinusoid buffers get the shape ``(max_len, 1, ch)`` with ``max_len = -1`` (any length).
    """
    out: dict[str, tuple[int, ...]] = {}
    for k, v in denoiser.state_dict().items():
        if k.startswith("audio_feature_map.") and not own_audio:
            continue
        out[published_name(kind, k)] = tuple(v.shape)
    ch = denoiser.config.widths()[0]
    for k in PE_KEYS:
        out[k] = (-1, 1, ch)
    if own_audio and audio_encoder is not None:
        for k, v in audio_encoder.state_dict().items():
            out["audio_encoder." + k] = tuple(v.shape)
    return out


def convert_state(kind: str, state: Mapping[str, torch.Tensor], denoiser: Denoiser, *, own_audio: bool,
                  audio_encoder: torch.nn.Module | None = None, source: str = "the checkpoint"
                  ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Split and rename a published state dict, strictly.

    Returns ``(denoiser_state, audio_encoder_state)`` ready for ``load_state_dict(strict=True)``
    (without ``audio_feature_map.*`` when ``own_audio`` is False). Raises
    :class:`ThreeDiFaceError` listing every missing, unexpected and mis-shaped tensor, and when
    the timestep sinusoid buffers differ from diface's formula.
    """
    state = {_wn_alias(k): v for k, v in state.items()}
    want = expected_names(kind, denoiser, own_audio=own_audio, audio_encoder=audio_encoder)
    missing = sorted(set(want) - set(state))
    unexpected = sorted(set(state) - set(want))
    bad = []
    for k in sorted(set(want) & set(state)):
        shape, got = want[k], tuple(state[k].shape)
        if len(shape) != len(got) or any(a != -1 and a != b for a, b in zip(shape, got)):
            bad.append(f"{k} is {got} but the architecture in args.yml needs {tuple(shape)}")
    if missing or unexpected or bad:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)}: {_short_list(missing)}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)}: {_short_list(unexpected)}")
        if bad:
            parts.append(f"wrong shape {len(bad)}: {_short_list(bad)}")
        raise ThreeDiFaceError(f"the {kind} weights in {source} do not match the architecture its args.yml "
                               "describes (" + "; ".join(parts) + ")")
    ch = denoiser.config.widths()[0]
    for k in PE_KEYS:
        _check_sinusoid(state[k], ch, source, k)
    reverse = {published_name(kind, k): k for k in denoiser.state_dict()}
    den = {reverse[k]: v.detach().to(torch.float32) for k, v in state.items()
           if k in reverse and (own_audio or not k.startswith("audio_feature_map."))}
    audio = {k[len("audio_encoder."):]: v.detach().to(torch.float32) for k, v in state.items()
             if k.startswith("audio_encoder.")}
    return den, audio


def _short_list(items: list[str], limit: int = 8) -> str:
    s = ", ".join(items[:limit])
    return s + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _check_sinusoid(pe: torch.Tensor, ch: int, source: str, key: str) -> None:
    if pe.ndim != 3 or pe.shape[1] != 1 or pe.shape[2] != ch or pe.shape[0] < 1:
        raise ThreeDiFaceError(f"{key} in {source} has shape {tuple(pe.shape)}, expected (max_len, 1, {ch})")
    n = min(int(pe.shape[0]), 5000)
    ref = timestep_sinusoid(torch.arange(n), ch)
    err = float((pe[:n, 0, :].float() - ref).abs().max())
    if not err <= 1e-4:
        raise ThreeDiFaceError(f"{key} in {source} is not the standard timestep sinusoid (max difference "
                               f"{err:.3g}); this checkpoint uses a timestep embedding diface cannot reproduce")


# ====================================================================== wav2vec2
def wav2vec2_base_960h_config():
    """transformers ``Wav2Vec2Config`` of facebook/wav2vec2-base-960h, built in code (no download)."""
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(
        vocab_size=32, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
        hidden_act="gelu", hidden_dropout=0.1, activation_dropout=0.1, attention_dropout=0.1,
        feat_proj_dropout=0.1, final_dropout=0.1, layerdrop=0.1, initializer_range=0.02, layer_norm_eps=1e-5,
        feat_extract_norm="group", feat_extract_activation="gelu", conv_dim=(512,) * 7,
        conv_stride=(5, 2, 2, 2, 2, 2, 2), conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_bias=False,
        num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16, do_stable_layer_norm=False,
        apply_spec_augment=True, mask_time_prob=0.05, mask_time_length=10, mask_feature_prob=0.0,
        mask_feature_length=10, pad_token_id=0, bos_token_id=1, eos_token_id=2)


def build_wav2vec2(config=None) -> torch.nn.Module:
    """A randomly initialised transformers ``Wav2Vec2Model`` (default: base-960h architecture)."""
    from transformers import Wav2Vec2Model

    return Wav2Vec2Model(config if config is not None else wav2vec2_base_960h_config()).eval()


def save_wav2vec2(model: torch.nn.Module, folder: Path) -> None:
    """Write a transformers checkpoint folder (config.json, model.safetensors, preprocessor_config.json)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    model.config.to_json_file(str(folder / "config.json"))
    save_file({k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()},
              str(folder / "model.safetensors"), metadata={"format": "pt"})
    pre = {"do_normalize": True, "feature_extractor_type": "Wav2Vec2FeatureExtractor", "feature_size": 1,
           "padding_side": "right", "padding_value": 0.0, "return_attention_mask": False, "sampling_rate": 16000}
    (folder / "preprocessor_config.json").write_text(json.dumps(pre, indent=2) + "\n", encoding="utf-8")


# ====================================================================== building parts
def build_part(spec: ModelSpec, state: Mapping[str, torch.Tensor], *, audio_dim: int,
               feature_map: Mapping[str, torch.Tensor] | None = None,
               audio_encoder: torch.nn.Module | None = None) -> tuple[ModelPart, dict[str, torch.Tensor]]:
    """The :class:`ModelPart` for one published model, weights loaded strictly.

    Args:
        spec: from :func:`inspect_model`.
        state: the published state dict.
        audio_dim: width of the audio encoder's hidden states (768 for wav2vec2-base).
        feature_map: ``{"weight", "bias"}`` of the ``audio_feature_map`` to use when the model has
            no audio encoder of its own (3DiFACE's head model gets the face model's).
        audio_encoder: a ``Wav2Vec2Model`` of the right architecture, used for the name/shape check
            of ``audio_encoder.*`` when the checkpoint holds one.
    Returns:
        ``(part, audio_encoder_state)`` (the latter empty without an own encoder).
    """
    cfg = spec.denoiser
    if spec.own_audio_encoder:
        fm = state.get("audio_feature_map.weight")
        if fm is None or fm.ndim != 2:
            raise ThreeDiFaceError(f"{spec.checkpoint} has no audio_feature_map.weight although its model "
                                   f"({spec.kind}) owns an audio encoder")
        proj = int(fm.shape[0])
    else:
        if feature_map is None:
            raise ThreeDiFaceError(f"the {spec.kind} model in {spec.folder} has no audio encoder of its own; 3DiFACE "
                                   "feeds it the face model's audio features: import it together with a face model "
                                   "(or pass --head-audio-from FACE_DIR)")
        proj = int(feature_map["weight"].shape[0])
    dcfg = DenoiserConfig.from_dict({**cfg.to_dict(), "audio_dim": int(audio_dim), "audio_proj_dim": proj})
    den = Denoiser(dcfg)
    den_state, audio_state = convert_state(spec.kind, state, den, own_audio=spec.own_audio_encoder,
                                           audio_encoder=audio_encoder if spec.own_audio_encoder else None,
                                           source=str(spec.checkpoint))
    if not spec.own_audio_encoder:
        den_state["audio_feature_map.weight"] = feature_map["weight"].detach().float()
        den_state["audio_feature_map.bias"] = feature_map["bias"].detach().float()
    result = den.load_state_dict(den_state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    names = () if spec.kind == "face" else HEAD_NAMES
    part = ModelPart(spec.kind, den.eval(), spec.normaliser, GaussianDiffusion(spec.diffusion), names,
                     spec.style_names)
    return part, audio_state


def _infer_audio_dim(state: Mapping[str, torch.Tensor]) -> int | None:
    w = state.get("audio_feature_map.weight")
    return int(w.shape[1]) if w is not None and w.ndim == 2 else None


# ====================================================================== the import
def import_3diface(folders: Sequence[str | Path], out: str | Path, *, face_checkpoint: str | None = None,
                   head_checkpoint: str | None = None, head_audio_from: str | Path | None = None,
                   name: str | None = None, guidance: float = 1.0, ignore_options: Iterable[str] = (),
                   wav2vec2_config=None, overwrite: bool = False) -> ImportResult:
    """Convert 3DiFACE model folders (one face and/or one head model) into a diface model bundle.

    Args:
        folders: model folders; each is recognised as face or head from its ``args.yml``.
        out: the bundle folder to write.
        face_checkpoint, head_checkpoint: which ``model*.pt`` (default: the highest step).
        head_audio_from: a face model folder whose audio encoder and ``audio_feature_map`` feed
            the head model (default: the face folder being imported; 3DiFACE uses its generalised
            face model ``cond_012_17_00_concat_prob10_vel10``).
        name: bundle name (default: from the folder names).
        guidance: recommended classifier-free guidance scale stored in the bundle.
        ignore_options: option names whose problems are not reported (see :func:`inspect_model`).
        wav2vec2_config: the ``Wav2Vec2Config`` of the checkpoint's audio encoder (default:
            :func:`wav2vec2_base_960h_config`; tests pass a tiny one).
        overwrite: replace an existing bundle folder.
    Raises:
        UnsupportedOptionsError, ThreeDiFaceError.
    """
    from diface_editor.ml.bundle import MotionModel

    out = Path(out).expanduser()
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ThreeDiFaceError(f"{out} already exists and is not empty; choose another output folder or pass --force")
    if not folders:
        raise ThreeDiFaceError("name at least one 3DiFACE model folder to import")
    specs: dict[str, ModelSpec] = {}
    for f in folders:
        kind = _kind_of(Path(f).expanduser())
        ckpt = face_checkpoint if kind == "face" else head_checkpoint
        spec = inspect_model(f, ckpt, ignore=ignore_options)
        if spec.kind in specs:
            raise ThreeDiFaceError(f"both {specs[spec.kind].folder} and {spec.folder} are {spec.kind} models; "
                                   "a bundle holds one face and one head model")
        specs[spec.kind] = spec
    notes: list[str] = []
    w2v_cfg = wav2vec2_config if wav2vec2_config is not None else wav2vec2_base_960h_config()
    states = {k: load_checkpoint(s.checkpoint) for k, s in specs.items()}

    # ---- the audio encoder of the bundle and the head's feature map
    source_state: Mapping[str, torch.Tensor] | None = None
    source_name = ""
    if "face" in specs:
        source_state, source_name = states["face"], str(specs["face"].checkpoint)
    head = specs.get("head")
    if head is not None and not head.own_audio_encoder and head_audio_from is not None:
        src_spec = inspect_model(head_audio_from, None, ignore=ignore_options)
        if src_spec.kind != "face":
            raise ThreeDiFaceError(f"--head-audio-from {head_audio_from} is a {src_spec.kind} model, not a face model")
        src_state = load_checkpoint(src_spec.checkpoint)
        if source_state is not None and not _same_audio(source_state, src_state):
            raise ThreeDiFaceError(f"the audio encoder of {src_spec.checkpoint} differs from the face model's "
                                   f"({source_name}); a bundle has one audio encoder")
        head_source = src_state
        notes.append(f"head audio features from {src_spec.checkpoint}")
        if source_state is None:
            source_state, source_name = src_state, str(src_spec.checkpoint)
    else:
        head_source = source_state
    if head is not None and head.own_audio_encoder:
        if source_state is not None and not _same_audio(source_state, states["head"]):
            raise ThreeDiFaceError(f"the head model's own audio encoder ({head.checkpoint}) differs from the face "
                                   f"model's ({source_name}); a bundle has one audio encoder")
        if source_state is None:
            source_state, source_name = states["head"], str(head.checkpoint)

    if source_state is None:
        raise ThreeDiFaceError(f"the head model in {head.folder} has no audio encoder of its own; 3DiFACE feeds it "
                               "the face model's audio features: import it together with a face model folder or "
                               "pass --head-audio-from FACE_DIR")
    audio_dim = _infer_audio_dim(source_state)
    w2v = build_wav2vec2(w2v_cfg)
    if audio_dim != int(w2v_cfg.hidden_size):
        raise ThreeDiFaceError(f"audio_feature_map in {source_name} expects {audio_dim}-dim audio features but the "
                               f"wav2vec2 architecture has {w2v_cfg.hidden_size}")

    parts: dict[str, ModelPart] = {}
    audio_state: dict[str, torch.Tensor] = {}
    for kind in ("face", "head"):
        spec = specs.get(kind)
        if spec is None:
            continue
        fm = None
        if not spec.own_audio_encoder:
            fm = {"weight": head_source["audio_feature_map.weight"], "bias": head_source["audio_feature_map.bias"]}
        part, a_state = build_part(spec, states[kind], audio_dim=audio_dim, feature_map=fm,
                                   audio_encoder=w2v)
        parts[kind] = part
        if a_state and not audio_state:
            audio_state = a_state
    if not audio_state:  # head model fed by another face model: take that model's encoder
        src = {k[len("audio_encoder."):]: v.float() for k, v in source_state.items() if k.startswith("audio_encoder.")}
        expected = set(w2v.state_dict())
        src = {_wn_alias(k): v for k, v in src.items()}
        if set(src) != expected:
            raise ThreeDiFaceError(f"the audio encoder in {source_name} does not match the wav2vec2 architecture "
                                   f"(missing {_short_list(sorted(expected - set(src)))}; unexpected "
                                   f"{_short_list(sorted(set(src) - expected))})")
        audio_state = src
    res = w2v.load_state_dict(audio_state, strict=True)
    assert not res.missing_keys and not res.unexpected_keys

    style_names: tuple[str, ...] = ()
    styled = [k for k, p in parts.items() if p.denoiser.config.style_classes]
    if len(styled) > 1:
        raise UnsupportedOptionsError(specs["head"].args_path, ["motion_model.params.use_identity=true together with "
                                      "a face model with identities (a bundle has one list of styles)"])
    if styled:
        style_names = tuple(specs[styled[0]].style_names)
    window = max(s.window for s in specs.values())
    factor = max(p.denoiser.config.factor for p in parts.values())
    window = max(2 * factor, (window // factor) * factor)
    bundle_name = name or " + ".join(f"3DiFACE {k} ({s.folder.name})" for k, s in specs.items())
    provenance = {k: {"folder": str(s.folder), "checkpoint": s.checkpoint.name, "step": s.step,
                      "motion_model_target": str(s.args["motion_model"]["target"]),
                      "diffusion_target": str(s.args["diffusion"]["target"])} for k, s in specs.items()}
    model = MotionModel(
        parts=parts, fps=FPS, motion_space="vertex",
        audio_encoder={"type": "hf", "path": WAV2VEC2_DIR, "layer": -1, "window_s": 10.0, "overlap_s": 2.0},
        name=bundle_name,
        description="Imported from published 3DiFACE checkpoints (vertex offsets on the FLAME/VOCA topology "
                    "and/or neck rotation).",
        style_names=style_names,
        sampling={"sampler": "ddim", "steps": 50, "guidance": float(guidance), "window_s": window / FPS,
                  "reference_mode": 1},  # 1 = on (a number: the config validator takes numbers)
        training={"source": "3diface-import", "models": provenance}, metrics={})
    out.mkdir(parents=True, exist_ok=True)
    save_wav2vec2(w2v, out / WAV2VEC2_DIR)
    model.model_card = _model_card(model, specs, notes)
    model.save(out)
    log.info("imported %s into %s", ", ".join(specs), out)
    return ImportResult(out, {k: s.checkpoint for k, s in specs.items()}, style_names,
                        {k: p.denoiser.n_parameters() for k, p in parts.items()}, notes)


def _kind_of(folder: Path) -> str:
    args = read_args(folder)
    t = _short_target((args.get("motion_model") or {}).get("target", ""))
    return "face" if t in _FACE_TARGETS else "head" if t in _HEAD_TARGETS else "unknown"


def _same_audio(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> bool:
    """Whether two checkpoints hold the same ``audio_encoder.*`` tensors."""
    ka = {_wn_alias(k) for k in a if k.startswith("audio_encoder.")}
    kb = {_wn_alias(k) for k in b if k.startswith("audio_encoder.")}
    a = {_wn_alias(k): v for k, v in a.items()}
    b = {_wn_alias(k): v for k, v in b.items()}
    return ka == kb and all(a[k].shape == b[k].shape and torch.equal(a[k], b[k]) for k in ka)


def _model_card(model, specs: dict[str, ModelSpec], notes: list[str]) -> str:
    from diface_editor.ml.bundle import render_model_card

    lines = [render_model_card(model).rstrip(), "", "## Provenance", "",
             "Converted by `diface import-3diface` from the published 3DiFACE checkpoints (Thambiraja et al., "
             "\"3DiFACE: Synthesizing and Editing Holistic 3D Facial Animation\", 3DV 2025). The weights keep "
             "their authors' licence terms; FLAME/VOCA templates are licensed separately and are not included.", ""]
    for k, s in specs.items():
        d = s.diffusion
        lines.append(f"- {k}: `{s.checkpoint}` (step {s.step}), {d.num_train_steps} steps, {d.schedule} schedule, "
                     f"noise {json.dumps(d.noise)}, clip_x0 {d.clip_x0}")
    lines += [f"- {n}" for n in notes]
    lines += ["", "## Use", "",
              "- Reference sampling as in 3DiFACE: `diface generate speech.wav -o take.npy --model THIS "
              "--sampler ddpm` (1000 ancestral steps); `--sampler ddim --steps 50` is the recommended fast setting.",
              "- Identities (`--style NAME|INDEX`): " + (", ".join(model.style_names) or "none") + ".",
              "- Vertex offsets are relative to a FLAME/VOCA template: export `.npy` with a template "
              "(VOCASET `templates.pkl`, a `.ply`/`.obj`; see docs/3diface_compat.md).",
              "- Audio features come from the imported wav2vec2 (`wav2vec2/`), with the transformer run at 50 Hz "
              "and its output interpolated; 3DiFACE interpolated the CNN features before the transformer.", ""]
    return "\n".join(lines)


def accepted_parameters(kind: str, *, ch: int, ch_multi: Sequence[int], n_identity: int = 8,
                        in_channel: int | None = None, flags: bool = True, own_audio: bool | None = None,
                        audio_proj: int | None = None, wav2vec2_config=None) -> list[tuple[str, tuple[int, ...]]]:
    """The published parameter names and shapes the importer accepts for one architecture
    (``(max_len, 1, ch)`` buffers are listed with ``max_len = -1``). Used for the documentation."""
    own = (kind == "face") if own_audio is None else own_audio
    if kind == "face":
        C = in_channel or 15069
        cfg = DenoiserConfig(in_channels=C, ch=ch, ch_mult=tuple(ch_multi), audio_dim=768, audio_proj_dim=ch,
                             flag_mode="none", style_classes=n_identity, skip_mode="none", audio_fold="reshape")
    else:
        cfg = DenoiserConfig(in_channels=3, ch=ch, ch_mult=tuple(ch_multi), audio_dim=768,
                             audio_proj_dim=audio_proj or ch, flag_mode="frame" if flags else "none",
                             style_classes=n_identity, skip_mode="add", audio_fold="pool", first_skip="embedded")
    with torch.device("meta"):
        den = Denoiser(cfg)
        enc = None
        if own:
            from transformers import Wav2Vec2Model

            enc = Wav2Vec2Model(wav2vec2_config if wav2vec2_config is not None else wav2vec2_base_960h_config())
    names = expected_names(kind, den, own_audio=own, audio_encoder=enc)
    return sorted(names.items(), key=lambda kv: _doc_order(kv[0]))


def _doc_order(name: str) -> tuple:
    top = 0 if name.startswith("encoder.") else 1 if name.startswith("decoder.") else \
        2 if name.startswith("audio_feature_map") else 3
    return (top, tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in name.split(".")))
