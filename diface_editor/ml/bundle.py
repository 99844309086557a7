"""Model bundles: a folder holding a trained motion model.

Layout::

    <bundle>/
        config.json        format + version, fps, motion space, channel names, audio-encoder spec,
                           per part: denoiser architecture, diffusion config, normalisation
                           statistics, weights file; sampling defaults; training recipe; metrics
        face.safetensors   face denoiser weights (state dict, float32)
        head.safetensors   head denoiser weights
        audio.safetensors  trained audio-encoder weights (only for trainable encoders, e.g. logmel;
                           the audio_encoder spec names it: "weights": "audio.safetensors")
        MODEL_CARD.md      human-readable description with measured metrics

``config.json`` (format version 1)::

    {"format": "diface-model-bundle", "format_version": 1, "name": str, "description": str,
     "fps": 30.0, "motion_space": "arkit" | "vertex",
     "face_channels": [52 ARKit names] (empty for "vertex"), "head_channels": ["headRotX", ...],
     "style_names": [...], "audio_encoder": {spec for diface_editor.ml.audio.get_encoder, relative
                                            paths in it resolve against the bundle folder},
     "parts": {"face": {"weights": "face.safetensors", "denoiser": {DenoiserConfig},
                        "diffusion": {DiffusionConfig}, "normalisation": {"mean": [...], "std": [...]}},
               "head": {...}},
     "sampling": {"sampler": "dpmpp", "steps": 20, "guidance": 1.0, "window_s": 6.4,
                  optional "overlap_s", "context_s" (read by the engine's window logic)},
     "training": {...recipe...}, "metrics": {...}}

Either part may be absent (a face-only or head-only model). Nothing is pickled.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from diface_editor.core.arkit import ARKIT_NAMES, HEAD_NAMES
from diface_editor.core.errors import DifaceError
from diface_editor.ml.denoiser import Denoiser, DenoiserConfig
from diface_editor.ml.device import resolve_device
from diface_editor.ml.diffusion import DiffusionConfig, GaussianDiffusion
from diface_editor.ml.normalisation import HEAD_STATS_3DIFACE, Normaliser
from diface_editor.ml.part import ModelPart

log = logging.getLogger(__name__)

BUNDLE_FORMAT = "diface-model-bundle"
BUNDLE_FORMAT_VERSION = 1
PART_NAMES: tuple[str, ...] = ("face", "head")
CONFIG_FILE = "config.json"
CARD_FILE = "MODEL_CARD.md"

__all__ = ["BundleError", "MotionModel", "ModelPart", "Normaliser", "normalise", "denormalise",
           "HEAD_STATS_3DIFACE", "BUNDLE_FORMAT_VERSION"]


class BundleError(DifaceError):
    """A model bundle is missing, malformed, or its weights do not match its config."""


def normalise(part: ModelPart, x):
    """(..., C) motion of ``part`` in its units -> normalised float32 (numpy)."""
    return part.normaliser.normalise(x)


def denormalise(part: ModelPart, z):
    """(..., C) normalised -> motion of ``part`` in its units (float32 numpy)."""
    return part.normaliser.denormalise(z)


@dataclass(eq=False)
class MotionModel:
    """A loaded (or freshly built) motion model: face and/or head :class:`ModelPart`.

    Attributes:
        parts: ``{"face": ModelPart, "head": ModelPart}`` (either may be missing).
        fps: frame rate the model works at.
        motion_space: ``"arkit"`` (52 named blendshape weights) or ``"vertex"`` (3V offsets, metres).
        audio_encoder: the audio-encoder spec (interpreted by :mod:`diface_editor.ml.audio`).
        audio_weights: trained weights of a trainable audio encoder held in memory (set by
            training; saved as ``audio.safetensors`` and named in the spec). Empty after
            :meth:`load`: the encoder then reads the file named by the spec.
        name, description: shown in the UI and the model card.
        style_names: style class names (shared by both parts).
        sampling: recommended defaults ``{"sampler", "steps", "guidance"}``.
        training: the training recipe (free-form dict, stored for reproducibility).
        metrics: measured metrics (free-form dict, also rendered in the model card).
        model_card: markdown text of ``MODEL_CARD.md`` (generated from the config when None).
        path: folder it was loaded from, if any.
    """

    parts: dict[str, ModelPart]
    fps: float = 30.0
    motion_space: str = "arkit"
    audio_encoder: dict[str, Any] = field(default_factory=dict)
    audio_weights: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    name: str = ""
    description: str = ""
    style_names: tuple[str, ...] = ()
    sampling: dict[str, Any] = field(default_factory=lambda: {"sampler": "dpmpp", "steps": 20, "guidance": 1.0})
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    model_card: str | None = None
    path: Path | None = None
    _audio: Any = field(default=None, init=False, repr=False)

    # ------------------------------------------------------------------ access
    def part(self, name: str) -> ModelPart:
        """The ``"face"`` or ``"head"`` part; :class:`BundleError` if this model has none."""
        if name not in PART_NAMES:
            raise ValueError(f"unknown model part {name!r} (expected 'face' or 'head')")
        if name not in self.parts:
            where = f" {self.path}" if self.path else ""
            raise BundleError(f"the model{where} has no {name} part")
        return self.parts[name]

    def has_part(self, name: str) -> bool:
        return name in self.parts

    @property
    def face_channels(self) -> tuple[str, ...]:
        return self.parts["face"].channel_names if "face" in self.parts else ()

    @property
    def factor(self) -> int:
        """Windows whose length is a multiple of this need no internal padding (2**levels)."""
        return max(p.denoiser.config.factor for p in self.parts.values())

    @property
    def window_frames(self) -> int:
        """Recommended sampling window in frames: ``sampling["window_s"]`` (seconds), else the
        training window (``training["data"]["window_seconds"]``), else 8 s."""
        secs = self.sampling.get("window_s") or (self.training.get("data") or {}).get("window_seconds") or 8.0
        return int(round(float(secs) * self.fps))

    @property
    def device(self) -> torch.device:
        return next(iter(self.parts.values())).device

    def to(self, device: str | torch.device = "auto") -> MotionModel:
        """Move every denoiser to ``device`` (``"auto"``: cuda > mps > cpu); returns self."""
        dev = resolve_device(device)
        for p in self.parts.values():
            p.denoiser.to(dev)
            if p.student is not None:
                p.student.to(dev)
        return self

    def build_audio_encoder(self, device: str | torch.device | None = None, cache=None):
        """The audio encoder this model was trained with, on ``device`` (default: the model's device).

        Built from :attr:`audio_encoder` with :func:`diface_editor.ml.audio.get_encoder`
        (relative paths resolve against the bundle folder; trained weights come from the file the
        spec names, or from :attr:`audio_weights` when they are in memory) and reused: a trained
        (log-mel) encoder is the model's own and moves to ``device``; a frozen one (Whisper, HF) is
        shared between models, one per device, and is looked up again when ``device`` changes.

        Raises:
            BundleError: the model has no audio-encoder spec.
        """
        from diface_editor.ml.device import canonical_device, resolve_device

        dev = canonical_device(resolve_device(device if device is not None else self.device))
        # a trained (log-mel) encoder is the model's own and moves with it; a frozen one is shared
        # between models (one per device, from get_encoder's registry), so it is looked up again
        if self._audio is None or (not self._audio.trainable and canonical_device(self._audio.device) != dev):
            if not self.audio_encoder:
                raise BundleError(f"the model{' ' + str(self.path) if self.path else ''} names no audio encoder")
            from diface_editor.ml.audio import get_encoder

            spec = dict(self.audio_encoder)
            if self.audio_weights:
                spec.pop("weights", None)
            enc = get_encoder(spec, device=dev, bundle_dir=self.path, cache=cache)
            if self.audio_weights:
                enc.load_state_dict(self.audio_weights)
            self._audio = enc
        return self._audio.to(dev)

    def eval(self) -> MotionModel:
        for p in self.parts.values():
            p.denoiser.eval()
            if p.student is not None:
                p.student.eval()
        return self

    # ------------------------------------------------------------------ config
    def config_dict(self) -> dict[str, Any]:
        """The ``config.json`` content."""
        parts = {}
        for name, p in self.parts.items():
            parts[name] = {"weights": f"{name}.safetensors", "denoiser": p.denoiser.config.to_dict(),
                           "diffusion": p.diffusion.config.to_dict(), "normalisation": p.normaliser.to_dict()}
            if p.student is not None:
                parts[name]["student"] = {**p.student_info, "weights": f"{name}.student.safetensors"}
        head = self.parts.get("head")
        return {
            "format": BUNDLE_FORMAT, "format_version": BUNDLE_FORMAT_VERSION,
            "name": self.name, "description": self.description, "fps": float(self.fps),
            "motion_space": self.motion_space,
            "face_channels": list(self.face_channels),
            "head_channels": list(head.channel_names if head is not None else HEAD_NAMES),
            "style_names": list(self.style_names),
            "audio_encoder": ({**self.audio_encoder, "weights": "audio.safetensors"} if self.audio_weights
                              else dict(self.audio_encoder)),
            "parts": parts, "sampling": dict(self.sampling), "training": self.training, "metrics": self.metrics,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], *, path: Path | None = None) -> MotionModel:
        """Build the model a config describes, with freshly initialised weights (CPU).

        Raises:
            BundleError: the config is malformed (the message names the problem).
        """
        where = f"the model config {path / CONFIG_FILE}" if path else "the model config"
        try:
            if config.get("format", BUNDLE_FORMAT) != BUNDLE_FORMAT:
                raise ValueError(f"format is {config.get('format')!r}, expected {BUNDLE_FORMAT!r}")
            version = int(config.get("format_version", BUNDLE_FORMAT_VERSION))
            if version > BUNDLE_FORMAT_VERSION:
                raise ValueError(f"format version {version} is newer than this diface supports "
                                 f"({BUNDLE_FORMAT_VERSION}); update diface")
            _check_top_level(config)
            space = config.get("motion_space", "arkit")
            if space not in ("arkit", "vertex"):
                raise ValueError(f"motion_space must be 'arkit' or 'vertex', got {space!r}")
            face_names = tuple(config.get("face_channels", ARKIT_NAMES if space == "arkit" else ()))
            head_names = tuple(config.get("head_channels", HEAD_NAMES))
            style_names = tuple(config.get("style_names", ()))
            parts_cfg = config.get("parts")
            if not isinstance(parts_cfg, dict) or not parts_cfg:
                raise ValueError("it describes no model parts (expected 'parts' with 'face' and/or 'head')")
            parts: dict[str, ModelPart] = {}
            for pname, pc in parts_cfg.items():
                if pname not in PART_NAMES:
                    raise ValueError(f"unknown part {pname!r} (expected 'face' or 'head')")
                if not isinstance(pc, dict) or not isinstance(pc.get("denoiser"), dict):
                    raise ValueError(f"parts.{pname} must be an object with a 'denoiser' object")
                try:
                    dcfg = DenoiserConfig.from_dict(dict(pc["denoiser"]))
                    diff = GaussianDiffusion(DiffusionConfig.from_dict(dict(pc.get("diffusion") or {})))
                except (TypeError, ValueError) as e:
                    raise ValueError(f"parts.{pname}: {e}") from None
                norm_d = pc.get("normalisation")
                norm = Normaliser.from_dict(norm_d) if norm_d else Normaliser.identity(dcfg.in_channels)
                names = face_names if pname == "face" else head_names
                if dcfg.style_classes and style_names and len(style_names) != dcfg.style_classes:
                    raise ValueError(f"{len(style_names)} style names for {dcfg.style_classes} style classes")
                parts[pname] = ModelPart(pname, Denoiser(dcfg), norm, diff, names,
                                         style_names if dcfg.style_classes else ())
                st = pc.get("student")
                if st is not None:
                    if not isinstance(st, dict):
                        raise ValueError(f"parts.{pname}.student must be an object")
                    parts[pname].student = Denoiser(dcfg)
                    parts[pname].student_info = {k: v for k, v in st.items() if k != "weights"}
        except BundleError:
            raise
        except (KeyError, TypeError, ValueError) as e:
            msg = f"missing key {e}" if isinstance(e, KeyError) else str(e)
            raise BundleError(f"{where} is invalid: {msg}") from e
        return cls(parts=parts, fps=float(config.get("fps", 30.0)), motion_space=space,
                   audio_encoder=_spec_dict(config.get("audio_encoder", {})), name=str(config.get("name", "")),
                   description=str(config.get("description", "")), style_names=style_names,
                   sampling=dict(config.get("sampling", {"sampler": "dpmpp", "steps": 20, "guidance": 1.0})),
                   training=dict(config.get("training", {})), metrics=dict(config.get("metrics", {})), path=path)

    # ------------------------------------------------------------------ load / save
    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "auto") -> MotionModel:
        """Load a bundle folder (or its ``config.json``) onto ``device`` in eval mode.

        Every weight name and shape is checked against the config; any difference raises
        :class:`BundleError` listing the missing and unexpected keys and the shape mismatches.
        """
        path = Path(path).expanduser()
        if path.is_file() and path.name == CONFIG_FILE:
            path = path.parent
        cfg_path = path / CONFIG_FILE
        if not path.is_dir():
            raise BundleError(f"no model bundle found at {path} (the folder does not exist)")
        if not cfg_path.is_file():
            raise BundleError(f"{path} is not a model bundle: it has no {CONFIG_FILE}")
        try:
            config = json.loads(cfg_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BundleError(f"cannot read {cfg_path}: {e}") from e
        if not isinstance(config, dict):
            raise BundleError(f"{cfg_path} must contain a JSON object")
        model = cls.from_config(config, path=path)
        for pname, part in model.parts.items():
            wfile = path / str(config["parts"][pname].get("weights", f"{pname}.safetensors"))
            _load_weights(part.denoiser, wfile, f"model bundle {path} is missing its {pname} weights file {wfile.name}")
            if part.student is not None:
                sfile = path / str(config["parts"][pname]["student"].get("weights", f"{pname}.student.safetensors"))
                _load_weights(part.student, sfile, f"model bundle {path} names a {pname} student but its weights "
                                                   f"file {sfile.name} is missing")
        aw = model.audio_encoder.get("weights") if isinstance(model.audio_encoder, dict) else None
        if aw and not Path(aw).is_absolute() and not (path / aw).is_file():
            raise BundleError(f"model bundle {path} is missing its audio-encoder weights file {aw}")
        card = path / CARD_FILE
        model.model_card = card.read_text(encoding="utf-8") if card.is_file() else None
        model.to(device).eval()
        log.info("loaded model bundle %s (%s) on %s", path, ", ".join(model.parts), model.device)
        return model

    def save(self, path: str | os.PathLike) -> Path:
        """Write the bundle folder (created if needed; files replaced atomically). Returns the path."""
        path = Path(path).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        for name, p in self.parts.items():
            _save_weights(p.denoiser.state_dict(), path, name)
            if p.student is not None:
                _save_weights(p.student.state_dict(), path, f"{name}.student")
        if self.audio_weights:
            _save_weights(self.audio_weights, path, "audio")
        _write_text(path / CONFIG_FILE, json.dumps(self.config_dict(), indent=2) + "\n")
        _write_text(path / CARD_FILE, self.model_card or render_model_card(self))
        self.path = path
        return path


def _load_weights(module: torch.nn.Module, file: Path, missing: str) -> None:
    """Load the safetensors ``file`` into ``module`` (checked against it, cast to its dtypes);
    :class:`BundleError` with ``missing`` when the file is not there, or with the reason it cannot be read."""
    if not file.is_file():
        raise BundleError(missing)
    try:
        state = load_file(str(file), device="cpu")
    except (SafetensorError, OSError) as e:
        raise BundleError(f"cannot read the weights file {file}: {e}") from e
    check_state_dict(module, state, f"{file}")
    ref = module.state_dict()
    module.load_state_dict({k: v.to(ref[k].dtype) for k, v in state.items()}, strict=True)


def _save_weights(state: dict[str, torch.Tensor], folder: Path, stem: str) -> None:
    """Write ``state`` to ``folder/<stem>.safetensors`` atomically (a temporary file, then a rename)."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    tmp = folder / f".{stem}.safetensors.tmp"
    save_file(state, str(tmp), metadata={"format": "pt", "diface_part": stem})
    os.replace(tmp, folder / f"{stem}.safetensors")


def _spec_dict(spec: Any) -> dict[str, Any]:
    """An audio-encoder spec as a dict (string shorthands as in :mod:`diface_editor.ml.audio`)."""
    if isinstance(spec, str):
        s = spec.strip()
        return {"type": s} if s in ("logmel", "whisper") else {"type": "hf", "path": s}
    if not isinstance(spec, dict):
        raise BundleError(f"the audio_encoder entry of a model config must be a table or a string, got {spec!r}")
    return dict(spec)


def check_state_dict(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Raise :class:`BundleError` unless ``state`` has exactly the model's names and shapes."""
    ref = model.state_dict()
    missing = sorted(set(ref) - set(state))
    unexpected = sorted(set(state) - set(ref))
    shapes = sorted(k for k in set(ref) & set(state) if tuple(ref[k].shape) != tuple(state[k].shape))
    if not (missing or unexpected or shapes):
        return

    def _list(keys: list[str], fmt=lambda k: k, limit: int = 8) -> str:
        s = ", ".join(fmt(k) for k in keys[:limit])
        return s + (f" and {len(keys) - limit} more" if len(keys) > limit else "")

    problems = []
    if missing:
        problems.append(f"missing keys: {_list(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_list(unexpected)}")
    if shapes:
        problems.append("shape mismatches: " + _list(
            shapes, lambda k: f"{k} is {tuple(state[k].shape)} in the file but {tuple(ref[k].shape)} in the config"))
    raise BundleError(f"the weights in {source} do not match the architecture in config.json ("
                      + "; ".join(problems) + ")")


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def render_model_card(model: MotionModel) -> str:
    """A markdown model card generated from the model's config, recipe and metrics."""
    lines = [f"# {model.name or 'diface motion model'}", ""]
    if model.description:
        lines += [model.description, ""]
    lines += ["## Model", "",
              f"- Motion space: `{model.motion_space}`"
              + (f" ({len(model.face_channels)} face channels)" if model.face_channels else ""),
              f"- Frame rate: {model.fps:g} fps",
              f"- Audio encoder: `{json.dumps(model.audio_encoder, sort_keys=True)}`"]
    for name, p in model.parts.items():
        c = p.denoiser.config
        lines.append(f"- {name} denoiser: {p.denoiser.n_parameters():,} parameters, ch={c.ch}, "
                     f"ch_mult={list(c.ch_mult)}, flags={c.flag_mode}, skips={c.skip_mode}, "
                     f"audio {c.audio_dim}->{c.proj_dim} ({c.audio_fold}); diffusion "
                     f"{p.diffusion.config.num_train_steps} steps, {p.diffusion.config.schedule} schedule, "
                     "x0 prediction")
    s = model.sampling
    lines += [f"- Recommended sampling: {s.get('sampler')} with {s.get('steps')} steps, "
              f"guidance {s.get('guidance')}", ""]
    if model.training:
        lines += ["## Training", "", "```json", json.dumps(model.training, indent=2, sort_keys=True), "```", ""]
    lines += ["## Metrics", ""]
    if model.metrics:
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.6g} |" if isinstance(v, float) else f"| {k} | {v} |"
                  for k, v in model.metrics.items()]
    else:
        lines.append("No metrics recorded.")
    lines.append("")
    return "\n".join(lines)


def _check_top_level(config: dict[str, Any]) -> None:
    """Types and ranges of the top-level config fields (``ValueError`` naming the field)."""
    from diface_editor.core.limits import MAX_FPS

    def bad(key: str, must: str) -> ValueError:
        shown = repr(config[key])
        return ValueError(f"the field '{key}' must be {must}, got {shown if len(shown) <= 40 else shown[:37] + '...'}")

    if "fps" in config:
        v = config["fps"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 < v <= MAX_FPS):
            raise bad("fps", f"a number of frames per second in (0, {MAX_FPS:g}]")
    for key in ("face_channels", "head_channels", "style_names"):
        if key in config and not (isinstance(config[key], list) and all(isinstance(x, str) for x in config[key])):
            raise bad(key, "a list of strings")
    for key in ("name", "description", "format"):
        if key in config and not isinstance(config[key], str):
            raise bad(key, "a string")
    if "format_version" in config and (isinstance(config["format_version"], bool)
                                       or not isinstance(config["format_version"], int)):
        raise bad("format_version", "a whole number")
    for key in ("audio_encoder", "sampling", "training", "metrics"):
        if key in config and not isinstance(config[key], dict):
            raise bad(key, "an object")
    from diface_editor.core.samplers import SAMPLERS

    def num(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")

    for k, v in (config.get("sampling") or {}).items():
        where = f"sampling.{k}"
        if k == "sampler":
            ok, must = v in SAMPLERS, f"one of {', '.join(SAMPLERS)}"
        elif k == "steps":
            ok, must = v is None or (isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 10_000), \
                "a step count from 1 to 10000"
        elif isinstance(v, dict):  # per part (temperature, smooth_s)
            ok, must = all(num(x) and x >= 0 for x in v.values()), "numbers >= 0 per part"
        else:
            ok, must = v is None or (num(v) and v >= 0), "a number >= 0"
        if not ok:
            shown = repr(v)
            raise ValueError(f"the field '{where}' must be {must}, got {shown if len(shown) <= 40 else shown[:37]}")
