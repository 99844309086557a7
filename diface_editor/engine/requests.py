"""What the engine is asked to do: immutable request objects.

All frame numbers are 0-based indices at the animation's (= the model's) frame rate. A request
holds a snapshot of the document (``base``) and the audio; the engine never mutates either.

* :class:`GenerateRequest`: a new animation for a whole audio clip (any length; long clips are
  generated in overlapping windows).
* :class:`EditRequest`: 3DiFACE's three edit modes on an existing animation:

  - ``"range"``: regenerate frames ``range[0]..range[1]-1`` of ``parts``, keep everything else
    (``in_between``); keyframes inside the range stay pinned.
  - ``"keyframes"``: pin ``keyframes`` and regenerate ``parts`` within ``radius`` frames around each
    frame of ``centres`` (``centres=None``: around every keyframe, as 3DiFACE's ``keyframe`` and the
    CLI do; ``radius=None``: regenerate every frame that is not pinned). An editor passes the frames
    that changed (a moved keyframe's old and new frame, a deleted keyframe's frame) as ``centres``
    and the keyframes near them only as pins, so a neighbouring keyframe does not widen the edit.
  - ``"swap"``: copy the pose of ``swap_parts`` at frame ``swap[0]`` to frame ``swap[1]``, pin both
    frames and regenerate ``parts`` within ``radius`` around ``swap[1]`` (``keyframe_swap``;
    ``radius=None``: everything not pinned).
* :class:`VariantsRequest`: ``n`` different results of one edit (one seed each), to pick from.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from diface_editor.core.animation import Animation
from diface_editor.core.errors import DifaceError
from diface_editor.core.keyframes import Keyframe
from diface_editor.core.samplers import SAMPLERS

if TYPE_CHECKING:  # core.audio is a sibling module; only the type is needed here
    from diface_editor.core.audio import AudioClip

Part = Literal["face", "head"]
EDIT_MODES = ("range", "keyframes", "swap")
PARTS = ("face", "head")


class RequestError(DifaceError, ValueError):
    """A request does not make sense (bad range, unknown sampler, empty parts...)."""


#: Largest classifier-free guidance scale accepted (useful values are about 1 to 5; far above, the
#: motion saturates to nonsense).
MAX_GUIDANCE = 20.0
#: Largest number of sampler steps accepted (DDPM's reference uses the model's training steps, 1000).
MAX_STEPS = 10_000


def _check_common(sampler: str, steps: int | None, guidance: float, parts: tuple[str, ...]) -> None:
    if sampler not in SAMPLERS:
        raise RequestError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if steps is not None and int(steps) < 1:
        raise RequestError(f"the number of sampling steps must be at least 1, got {steps}")
    try:
        g = float(guidance)
    except (TypeError, ValueError):
        g = float("nan")
    if not 0 <= g <= MAX_GUIDANCE:
        raise RequestError(f"guidance must be a number from 0 to {MAX_GUIDANCE:g}, got {guidance}")
    if steps is not None and int(steps) > MAX_STEPS:
        raise RequestError(f"the number of sampling steps must be at most {MAX_STEPS}, got {steps}")
    if not parts or any(p not in PARTS for p in parts) or len(set(parts)) != len(parts):
        raise RequestError(f"parts must be a non-empty selection of 'face' and 'head', got {parts!r}")


def _check_transcript(request) -> None:
    """Phones (``(label, start_s, end_s)``), the viseme strength in [0, 1] and the performance gains in [0, 2]."""
    if request.phones is not None:
        try:
            phones = tuple((str(p), float(a), float(b)) for p, a, b in request.phones)
        except (TypeError, ValueError):
            raise RequestError("phones must be (label, start_s, end_s) triples") from None
        object.__setattr__(request, "phones", phones)
    for name, hi in (("viseme_strength", 1.0), ("lip_sync", 2.0), ("upper_face", 2.0), ("head_motion", 2.0)):
        try:
            v = float(getattr(request, name))
        except (TypeError, ValueError):
            v = float("nan")
        if not 0.0 <= v <= hi:
            raise RequestError(f"{name.replace('_', ' ')} must be a number from 0 to {hi:g}, got {getattr(request, name)}")
        object.__setattr__(request, name, v)


def _check_temperature(temperature: float | None) -> None:
    if temperature is not None and not 0.0 < float(temperature) <= 2.0:
        raise RequestError(f"temperature must be in (0, 2], got {temperature}")


@dataclass(frozen=True, eq=False)
class GenerateRequest:
    """Generate motion for a whole audio clip.

    Attributes:
        audio: the speech (any length).
        seed: random seed; the same seed, model and request give the same motion.
        sampler: ``"ddpm"`` (ancestral, all steps), ``"ddim"`` or ``"dpmpp"`` (few-step).
        steps: number of sampling steps (``None``: the sampler's default from the model config;
            ignored by ``"ddpm"``, which always runs every training step).
        guidance: classifier-free guidance scale on the audio (1 = plain conditional).
        parts: which parts to generate; the others stay neutral (zeros).
        style: identity/style of the model's speaker set (name or index), ``None`` = the model's default.
        n_samples: number of different animations to return (drawn in one run from ``seed``).
        temperature: sampling temperature for every part (``None``: the model's recommended one per
            part; lower = less variety, closer to the likeliest motion).
        blink_seed: lay seeded procedural eye blinks (:func:`diface_editor.core.blinks.auto_blinks`)
            over the generated face frames of an ARKit model; ``None`` = the model's eyes as sampled.
            The schedule depends only on this seed and the clip length, so edits keep the blinks.
        phones: the transcript's aligned phones ``(label, start_s, end_s)`` (``None``: audio only); the
            engine pins visemes at them (:mod:`diface_editor.engine.visemes`).
        viseme_strength: 0 = ignore ``phones`` (bit for bit the audio-only result), 1 = full pins,
            between: the pinned result's deviation from the audio-only one scaled.
        lip_sync, upper_face, head_motion: performance gains of the generated mouth, brows/eyes and
            head rotation (1 = the model's; :func:`~diface_editor.engine.visemes.performance_gains`).
        reference_mode: imported 3DiFACE models: run the original pipeline instead of diface's
            (:mod:`diface_editor.engine.reference_jobs`); sampler, steps, temperature, blinks, visemes
            and gains are then not used.
        recognise_words: without ``phones``: the engine first recognises the words in the audio and
            aligns them (:func:`~diface_editor.engine.edit_policy.transcribe_speech`) and pins their
            visemes; the :class:`~diface_editor.core.transcript.Transcript` (aligned, or with the reason
            it is not) comes back as the result's ``info["transcript"]``.
    """

    audio: AudioClip
    seed: int = 0
    sampler: str = "dpmpp"
    steps: int | None = None
    guidance: float = 1.0
    parts: tuple[Part, ...] = ("face", "head")
    style: str | int | None = None
    n_samples: int = 1
    temperature: float | None = None
    blink_seed: int | None = None
    phones: tuple[tuple[str, float, float], ...] | None = None
    viseme_strength: float = 1.0
    lip_sync: float = 1.0
    upper_face: float = 1.0
    head_motion: float = 1.0
    reference_mode: bool = False
    recognise_words: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.parts))
        _check_common(self.sampler, self.steps, self.guidance, self.parts)
        _check_temperature(self.temperature)
        _check_transcript(self)
        if int(self.n_samples) < 1:
            raise RequestError(f"n_samples must be at least 1, got {self.n_samples}")


@dataclass(frozen=True, eq=False)
class EditRequest:
    """Regenerate part of an existing animation (``base``), keeping everything else bit-identical.

    Attributes:
        base: the document's animation (a snapshot; not modified).
        audio: the clip's speech (same timeline as ``base``).
        mode: ``"range"``, ``"keyframes"`` or ``"swap"`` (see the module docstring).
        range: ``(start, stop)`` frames, stop exclusive (mode ``"range"``).
        keyframes: pinned poses. In ``"range"`` mode those inside the range stay pinned; in
            ``"keyframes"`` mode they are the keyframes the edit is about.
        radius: frames of influence on each side of a centre (``"keyframes"``) or of the swap
            target (``"swap"``); ``None`` regenerates every frame that is not pinned.
        centres: frames around which a ``"keyframes"`` edit regenerates (``None``: every keyframe's
            frame). With centres, ``keyframes`` may be empty (e.g. re-solving where a keyframe was
            deleted). Only for mode ``"keyframes"``.
        swap: ``(a, b)``: copy the pose at frame ``a`` to frame ``b`` (mode ``"swap"``).
        swap_parts: which poses the swap copies (``"head"`` rotation and/or ``"face"`` channels).
        parts: which parts are regenerated.
        seed, sampler, steps, guidance, style, temperature, blink_seed, phones, viseme_strength,
        lip_sync, upper_face, head_motion, reference_mode: as in :class:`GenerateRequest`.
        face_channels: ``"all"``, or ``"mouth"``: of the face only the mouth channels (jaw, mouth,
            tongue, cheek puff) are regenerated, the other channels are kept (a transcript re-solve:
            the phones only constrain the mouth).
    """

    base: Animation
    audio: AudioClip
    mode: Literal["range", "keyframes", "swap"] = "range"
    range: tuple[int, int] | None = None
    keyframes: tuple[Keyframe, ...] = ()
    radius: int | None = None
    centres: tuple[int, ...] | None = None
    swap: tuple[int, int] | None = None
    swap_parts: tuple[Part, ...] = ("face", "head")
    parts: tuple[Part, ...] = ("face", "head")
    seed: int = 0
    sampler: str = "dpmpp"
    steps: int | None = None
    guidance: float = 1.0
    style: str | int | None = None
    temperature: float | None = None
    blink_seed: int | None = None
    phones: tuple[tuple[str, float, float], ...] | None = None
    viseme_strength: float = 1.0
    lip_sync: float = 1.0
    upper_face: float = 1.0
    head_motion: float = 1.0
    reference_mode: bool = False
    face_channels: Literal["all", "mouth"] = "all"

    def __post_init__(self) -> None:
        if self.face_channels not in ("all", "mouth"):
            raise RequestError(f"face_channels must be 'all' or 'mouth', got {self.face_channels!r}")
        _check_temperature(self.temperature)
        _check_transcript(self)
        object.__setattr__(self, "parts", tuple(self.parts))
        object.__setattr__(self, "swap_parts", tuple(self.swap_parts))
        object.__setattr__(self, "keyframes", tuple(self.keyframes))
        _check_common(self.sampler, self.steps, self.guidance, self.parts)
        t = self.base.n_frames
        if self.mode not in EDIT_MODES:
            raise RequestError(f"unknown edit mode {self.mode!r}; choose one of {', '.join(EDIT_MODES)}")
        if self.radius is not None and int(self.radius) < 0:
            raise RequestError(f"the keyframe radius must be >= 0 frames, got {self.radius}")
        for k in self.keyframes:
            if not 0 <= k.frame < t:
                raise RequestError(f"keyframe at frame {k.frame} is outside the clip (0..{t - 1})")
        if self.mode == "range":
            if self.range is None:
                raise RequestError("a range edit needs a frame range")
            a, b = (int(v) for v in self.range)
            if not 0 <= a < b <= t:
                raise RequestError(f"range {a}..{b} is not a non-empty range inside the clip (0..{t})")
            object.__setattr__(self, "range", (a, b))
        elif self.mode == "keyframes":
            if self.centres is None:
                if not self.keyframes:
                    raise RequestError("a keyframe edit needs at least one keyframe")
            else:
                try:
                    centres = tuple(sorted({operator.index(c) for c in self.centres}))
                except TypeError:
                    raise RequestError(f"centres must be frame numbers, got {self.centres!r}") from None
                if not centres:
                    raise RequestError("a keyframe edit with centres needs at least one centre frame")
                bad = [c for c in centres if not 0 <= c < t]
                if bad:
                    raise RequestError(f"centre frame {bad[0]} is outside the clip (0..{t - 1})")
                object.__setattr__(self, "centres", centres)
        if self.centres is not None and self.mode != "keyframes":
            raise RequestError(f"centres only apply to keyframe edits, not to mode {self.mode!r}")
        if self.mode == "swap":
            if self.swap is None:
                raise RequestError("a swap edit needs a source and a target frame")
            a, b = (int(v) for v in self.swap)
            if not (0 <= a < t and 0 <= b < t) or a == b:
                raise RequestError(f"swap frames {a} and {b} must be two different frames inside the clip (0..{t - 1})")
            if not self.swap_parts or any(p not in PARTS for p in self.swap_parts):
                raise RequestError(f"swap_parts must be 'face' and/or 'head', got {self.swap_parts!r}")
            object.__setattr__(self, "swap", (a, b))


@dataclass(frozen=True, eq=False)
class VariantsRequest:
    """``n`` different results of ``edit`` (drawn in one run from ``edit.seed``), returned as a list."""

    edit: EditRequest
    n: int = 4

    def __post_init__(self) -> None:
        if int(self.n) < 1:
            raise RequestError(f"the number of variants must be at least 1, got {self.n}")


Request = GenerateRequest | EditRequest | VariantsRequest
