"""Shared pieces of ``diface generate`` and ``diface edit``: model/sampler options, loading the
model, times given as frames or seconds, the tqdm progress bar and writing one or more outputs."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from diface_editor.core.errors import DifaceError
from diface_editor.core.samplers import SAMPLERS

log = logging.getLogger(__name__)


class CliArgumentError(DifaceError, ValueError):
    """A command-line value cannot be understood."""


def add_sampling_arguments(p: argparse.ArgumentParser, *, samples_help: str) -> None:
    g = p.add_argument_group("model and sampling")
    g.add_argument("--model", metavar="DIR", default=None,
                   help="model bundle folder (default: the shipped models/default)")
    g.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, mps (default: auto)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    g.add_argument("--reference-mode", dest="reference_mode", action="store_true", default=None,
                   help="imported 3DiFACE models: reproduce the original code end to end (whole clip, DDPM-1000, "
                        "its audio features, known frames and guidance; see docs/3diface_compat.md); default: "
                        "the bundle's sampling.reference_mode")
    g.add_argument("--no-reference-mode", dest="reference_mode", action="store_false",
                   help="diface's own pipeline even for a model whose bundle asks for reference mode")
    g.add_argument("--sampler", choices=SAMPLERS, default=None,
                   help="ddpm = 3DiFACE's 1000-step reference; ddim / dpmpp = few-step (default: the model's)")
    g.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's recommendation)")
    g.add_argument("--guidance", type=float, default=None,
                   help="classifier-free guidance scale on the audio (default: the model's)")
    g.add_argument("--temperature", type=float, default=None,
                   help="sampling temperature for every part, in (0, 2]: lower = less variety, closer to the "
                        "likeliest motion (default: the model's recommendation per part)")
    g.add_argument("--blink-seed", type=int, default=0, metavar="N",
                   help="seed of the procedural eye blinks laid over the generated face (default: 0)")
    g.add_argument("--no-blinks", action="store_true",
                   help="no procedural blinks: the model's eyes as sampled (the shipped model does not blink)")
    g.add_argument("--style", default=None, help="speaking style / identity of the model (name or index)")
    g.add_argument("--samples", type=int, default=1, metavar="N", help=samples_help)
    g.add_argument("--parts", default="face,head", help="parts to generate: face, head or face,head (default)")
    t = p.add_argument_group("transcript and performance")
    t.add_argument("--text", default=None, metavar="TEXT",
                   help="what is said: aligned with the audio (pocketsphinx) and the mouth pinned to its visemes "
                        "(lips closed at p/b/m, lip to teeth at f/v, rounding, vowel opening)")
    t.add_argument("--text-file", default=None, metavar="FILE", help="the transcript from a text file")
    t.add_argument("--no-transcribe", action="store_true",
                   help="without --text: do not recognise the words in the audio (Whisper tiny.en) to pin the "
                        "visemes; the mouth then follows the diffusion model's audio-only motion")
    t.add_argument("--keep-text", action="store_true",
                   help="use --text even where it does not match what the speech recogniser hears (by default "
                        "a transcript of another take is not used)")
    t.add_argument("--viseme-strength", type=float, default=1.0, metavar="S",
                   help="how hard the transcript's visemes are held, 0..1 (0: audio only; default 1)")
    t.add_argument("--lip-sync", type=float, default=1.0, metavar="G",
                   help="mouth amplitude of the generated motion, 0..2 (default 1 = the model's)")
    t.add_argument("--upper-face", type=float, default=1.0, metavar="G",
                   help="brow and eye activity, 0..2 (default 1 = the model's)")
    t.add_argument("--head-motion", type=float, default=1.0, metavar="G",
                   help="amount of head rotation, 0..2 (default 1 = the model's; 0 = still)")


def parse_parts(text: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    if not parts or any(p not in ("face", "head") for p in parts) or len(set(parts)) != len(parts):
        raise CliArgumentError(f"--parts must be face, head or face,head, not {text!r}")
    return parts


def parse_frame(text: str, fps: float, *, what: str = "time") -> int:
    """``"120"`` -> frame 120; ``"1.5s"`` -> ``round(1.5 * fps)``."""
    t = text.strip().lower()
    try:
        if t.endswith("s"):
            return int(round(float(t[:-1]) * fps))
        return int(t)
    except ValueError:
        raise CliArgumentError(f"{what} {text!r} is neither a frame number (120) nor seconds (1.5s)") from None


def parse_frame_pair(text: str, fps: float, n_frames: int, *, what: str) -> tuple[int, int]:
    """``"A:B"`` (frames or seconds each; an empty side means the clip's start / end)."""
    if text.count(":") != 1:
        raise CliArgumentError(f"{what} must look like A:B (frames, or seconds as 1.5s), not {text!r}")
    a, b = text.split(":")
    return (parse_frame(a, fps, what=what) if a.strip() else 0,
            parse_frame(b, fps, what=what) if b.strip() else n_frames)


def load_model(args: argparse.Namespace):
    """The model bundle named by ``--model`` (or the shipped default), on ``--device``."""
    from diface_editor.engine.loading import load_model as _load

    return _load(args.model, device=args.device)


def check_sampling_args(args: argparse.Namespace) -> None:
    """The sampling options that need no model, checked before anything slow starts (loading the
    model, decoding audio): ranges of --guidance, --temperature, --steps, --samples, --parts."""
    import math

    from diface_editor.engine.requests import MAX_GUIDANCE, MAX_STEPS

    if args.guidance is not None and not (math.isfinite(args.guidance) and 0 <= args.guidance <= MAX_GUIDANCE):
        raise CliArgumentError(f"--guidance must be a number from 0 to {MAX_GUIDANCE:g} (useful: about 1 to 5), "
                               f"got {args.guidance:g}")
    if args.temperature is not None and not (math.isfinite(args.temperature) and 0 < args.temperature <= 2):
        raise CliArgumentError(f"--temperature must be in (0, 2], got {args.temperature:g}")
    if args.steps is not None and not 1 <= args.steps <= MAX_STEPS:
        raise CliArgumentError(f"--steps must be from 1 to {MAX_STEPS}, got {args.steps}")
    if not 1 <= args.samples <= 64:
        raise CliArgumentError(f"--samples must be from 1 to 64, got {args.samples}")
    parse_parts(args.parts)
    for flag, hi in (("viseme_strength", 1.0), ("lip_sync", 2.0), ("upper_face", 2.0), ("head_motion", 2.0)):
        v = getattr(args, flag, 1.0)
        if not (math.isfinite(v) and 0 <= v <= hi):
            raise CliArgumentError(f"--{flag.replace('_', '-')} must be a number from 0 to {hi:g}, got {v:g}")
    if getattr(args, "text", None) is not None and getattr(args, "text_file", None) is not None:
        raise CliArgumentError("give the transcript either as --text or as --text-file, not both")


def read_transcript(args: argparse.Namespace) -> str | None:
    """The transcript text of ``--text`` / ``--text-file`` (``None``: none given)."""
    if getattr(args, "text_file", None):
        try:
            return Path(args.text_file).read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            raise CliArgumentError(f"cannot read the transcript {args.text_file}: {e.strerror or e}") from None
    return getattr(args, "text", None)


def transcript_for_audio(args: argparse.Namespace, audio):
    """The transcript of ``audio``: ``--text`` / ``--text-file`` aligned with it, else (unless
    ``--no-transcribe``) the words recognised in it and aligned (Whisper tiny.en + pocketsphinx); a
    :class:`~diface_editor.core.transcript.Transcript`, or ``None`` with ``--no-transcribe``. A failed
    alignment or recognition is reported on stderr in one sentence; generation then goes on from the
    audio alone."""
    from diface_editor.engine.align_process import align_interruptibly
    from diface_editor.engine.session import transcribe_speech

    text = read_transcript(args)
    if text is None:
        if getattr(args, "no_transcribe", False):
            return None
        tr = transcribe_speech(audio)
        if tr.error:
            print(f"note: no words from the audio ({tr.error}); generating from the audio alone", file=sys.stderr)
        else:
            print(f"recognised {len(tr.words)} words in the audio (pass --text for the exact words, "
                  f"--no-transcribe for the audio-only model): {tr.text[:120]}", file=sys.stderr)
        return tr
    tr = align_interruptibly(audio, text, check=not getattr(args, "keep_text", False))
    if tr.error:
        hint = " (--keep-text uses it anyway)" if tr.mismatched else ""
        print(f"warning: the transcript was not used ({tr.error}){hint}; generating from the audio alone",
              file=sys.stderr)
    elif tr.unaligned_words:
        print(f"note: {tr.status()}", file=sys.stderr)
    else:
        log.info("aligned %d words, %d phones", len(tr.words), len(tr.phones))
    return tr


def check_output(path: str | Path) -> None:
    """OUT can be written (its folder exists, it is no folder, pipe or device), checked before the work."""
    from diface_editor.core.formats import format_for_path
    from diface_editor.core.formats.registry import check_output_path

    format_for_path(path)
    check_output_path(Path(path))


def sampling_values(args: argparse.Namespace, model) -> dict:
    """sampler / steps / guidance / style / parts / seed for a request, model defaults filled in.

    A ``--style`` the model does not have (or any style on a model without styles) is an error."""
    from diface_editor.engine.motion_adapter import resolve_style

    check_sampling_args(args)
    if args.style is not None and hasattr(model, "parts"):
        resolve_style(model, args.style)
    rec = dict(getattr(model, "sampling", {}) or {})
    sampler = args.sampler or rec.get("sampler", "dpmpp")
    steps = args.steps
    if steps is None and sampler != "ddpm" and rec.get("sampler") == sampler:
        steps = rec.get("steps")
    guidance = args.guidance if args.guidance is not None else float(rec.get("guidance", 1.0))
    if args.samples < 1:
        raise CliArgumentError("--samples must be at least 1")
    return {"sampler": sampler, "steps": steps, "guidance": guidance, "style": args.style,
            "parts": parse_parts(args.parts), "seed": args.seed, "temperature": args.temperature,
            "blink_seed": None if args.no_blinks else int(args.blink_seed),
            "viseme_strength": float(getattr(args, "viseme_strength", 1.0)),
            "lip_sync": float(getattr(args, "lip_sync", 1.0)), "upper_face": float(getattr(args, "upper_face", 1.0)),
            "head_motion": float(getattr(args, "head_motion", 1.0))}


def edit_session(v: dict, audio, base=None, keyframes=(), transcript=None):
    """The :class:`~diface_editor.engine.session.EditSession` the CLI builds its requests with: a
    document of ``base`` (default: a neutral clip as long as ``audio``), ``audio`` and ``keyframes``
    whose sampler settings, parts, style, temperature and performance controls are those of ``v``
    (:func:`sampling_values`), with ``transcript`` (its aligned phones pin the visemes)."""
    from diface_editor.core.document import Document, SamplerSettings
    from diface_editor.core.keyframes import KeyframeSet
    from diface_editor.engine.session import EditOptions, EditSession

    blink = v["blink_seed"]
    sampler = SamplerSettings(sampler=v["sampler"], steps=v["steps"], guidance=float(v["guidance"]),
                              seed=int(v["seed"]), blinks=blink is not None, blink_seed=int(blink or 0),
                              **{k: float(v.get(k, 1.0)) for k in ("viseme_strength", "lip_sync", "upper_face",
                                                                   "head_motion")})
    doc = Document(base, audio=audio, keyframes=KeyframeSet(list(keyframes)), sampler=sampler,
                   transcript=transcript)
    return EditSession(doc, options=EditOptions(parts=tuple(v["parts"])), style=v["style"],
                       temperature=v["temperature"])


class ProgressBar:
    """A tqdm bar on stderr fed by the engine's :class:`~diface_editor.engine.events.JobProgress` events."""

    def __init__(self, desc: str) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=1, desc=desc, unit="step", file=sys.stderr, leave=True, dynamic_ncols=True)

    def __call__(self, event) -> None:
        from diface_editor.engine.events import JobProgress

        if isinstance(event, JobProgress):
            if self.bar.total != event.total:
                self.bar.total = event.total
            self.bar.n = event.step
            self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def output_paths(out: Path, n: int) -> list[Path]:
    """``out`` for one result; ``stem_1.ext .. stem_N.ext`` for several."""
    if n == 1:
        return [out]
    return [out.with_name(f"{out.stem}_{i + 1}{out.suffix}") for i in range(n)]


def save_results(anims, out: Path, audio) -> list[Path]:
    """Write each animation (format from the suffix); ``.npz`` files record the audio clip."""
    from diface_editor.core.formats import save_animation

    written = []
    for anim, path in zip(anims, output_paths(out, len(anims))):
        opts = {"audio": audio} if path.suffix.lower() == ".npz" and getattr(audio, "path", None) else {}
        written.append(save_animation(anim, path, **opts))
    return written


def use_reference_mode(args, model) -> bool:
    """``--reference-mode`` / ``--no-reference-mode``, else the bundle's ``sampling.reference_mode``
    unless ``--sampler``/``--steps`` ask for a few-step sampler (reference mode is DDPM over all
    training steps; with an explicit ``--reference-mode`` they are an error)."""
    on = getattr(args, "reference_mode", None)
    few_step = getattr(args, "sampler", None) not in (None, "ddpm") or getattr(args, "steps", None) is not None
    if on is None:  # the bundle's setting; an explicit few-step sampler means diface's own pipeline
        return bool(model.sampling.get("reference_mode")) and not few_step
    if on and few_step:
        raise CliArgumentError("reference mode runs 3DiFACE's 1000-step DDPM: leave out --sampler/--steps "
                               "(or pass --no-reference-mode)")
    return bool(on)
