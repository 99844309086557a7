"""The editor's document: the single source of truth the GUI edits and the engine reads.

A :class:`Document` holds the audio (path, content hash, optionally the samples to embed in the
project file), the :class:`~diface_editor.core.animation.Animation`, the
:class:`~diface_editor.core.keyframes.KeyframeSet`, the selected frame range, the model id and the
sampler settings. Views (timeline, viewport) *observe* it through ``doc.events``; they never own
animation state.

Changing the motion or keyframes goes through :mod:`diface_editor.core.commands` (undoable); those
call the low-level mutators here (:meth:`Document.write_frames`, :meth:`Document.replace_animation`,
:meth:`Document.replace_keyframes`), which bump :attr:`Document.version` and emit events.
``version`` increases monotonically on every content change (undo included) and never repeats,
not even across documents (one process-wide counter), so a job computed from version ``v`` is
stale as soon as ``doc.version != v``, whichever document is open by then.

Events (``doc.events.<name>.connect(callback)``; every event has ``.type`` and ``.source``):

* ``animation(start, stop, replaced)``: frames ``start..stop-1`` changed; ``replaced`` is True when
  the whole animation object was swapped (its length may differ).
* ``keyframes()``: the keyframe set changed.
* ``selection(range)``: the selected ``(start, stop)`` frame range, or ``None``.
* ``audio()``: the audio clip or its path changed.
* ``settings()``: model id or sampler settings changed.
* ``transcript()``: the transcript or its alignment changed (:class:`~diface_editor.core.transcript.Transcript`).
* ``version(version)``: emitted after every content change (after the specific event).
"""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from diface_editor.core.animation import DEFAULT_FPS, Animation
from diface_editor.core.errors import DifaceError
from diface_editor.core.events import EmitterGroup
from diface_editor.core.keyframes import Keyframe, KeyframeSet
from diface_editor.core.samplers import SAMPLERS
from diface_editor.core.transcript import Transcript

if TYPE_CHECKING:  # core.audio is numpy-only too; imported lazily so the document works without it
    from diface_editor.core.audio import AudioClip

log = logging.getLogger(__name__)

_VERSIONS = itertools.count(1)
_VERSIONS_LOCK = threading.Lock()


def _next_version() -> int:
    with _VERSIONS_LOCK:
        return next(_VERSIONS)


class DocumentError(DifaceError, ValueError):
    """An edit does not fit the document (frame range outside the clip, wrong array shape)."""


@dataclass(frozen=True)
class SamplerSettings:
    """How the engine samples for this document.

    Attributes:
        sampler: ``"dpmpp"`` | ``"ddim"`` (few-step) | ``"ddpm"`` (full ancestral reference).
        steps: number of denoising steps; ``None`` = the model's default for the sampler.
        guidance: classifier-free guidance scale (1.0 = conditional only).
        seed: base random seed of the next generation.
        n_variants: how many candidates ``Variants`` draws.
        influence_frames: half-width in frames of the window regenerated around a keyframe edit.
        blinks: lay seeded procedural eye blinks over the face frames the engine generates (the
            shipped model does not blink by itself; see :mod:`diface_editor.core.blinks`).
        blink_seed: seed of the blink schedule; it stays put across edits so blinks keep their frames.
        viseme_strength: how hard the transcript's visemes are held (0 = audio only, bit for bit the
            result without a transcript; 1 = lips closed at p/b/m, lip to teeth at f/v, rounding and
            open vowels pinned; between: the pinned result blended with the audio-only one).
        lip_sync: mouth amplitude of generated frames and of the transcript's viseme pins (1 = the
            model's and the teacher's; 0.5 half, 1.5 more; p/b/m stay sealed).
        upper_face: activity of brows and eyes in generated frames (1 = the model's).
        head_motion: amount of generated head rotation (1 = the model's, 0 = still).
        style: the model's speaking style / identity (name or index as text); ``None`` = its default.
        reference_mode: imported 3DiFACE models only: run the original code's pipeline end to end
            (whole clip in one pass, DDPM over all training steps, its audio features, known frames and
            guidance; :mod:`diface_editor.ml.compat.reference`) instead of diface's. Sampler, steps,
            temperature, blinks, visemes and performance gains do not apply then.
    """

    sampler: str = "dpmpp"
    steps: int | None = None
    guidance: float = 1.0
    seed: int = 0
    n_variants: int = 4
    influence_frames: int = 15
    blinks: bool = True
    blink_seed: int = 0
    viseme_strength: float = 1.0
    lip_sync: float = 1.0
    upper_face: float = 1.0
    head_motion: float = 1.0
    style: str | None = None
    reference_mode: bool = False

    def __post_init__(self) -> None:
        for name, hi in (("viseme_strength", 1.0), ("lip_sync", 2.0), ("upper_face", 2.0), ("head_motion", 2.0)):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0.0 <= float(v) <= hi:
                raise DocumentError(f"{name.replace('_', ' ')} must be a number from 0 to {hi:g}, got {v!r}")
        if self.sampler not in SAMPLERS:
            raise DocumentError(f"unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        if self.steps is not None and int(self.steps) < 1:
            raise DocumentError(f"the number of sampling steps must be at least 1, got {self.steps}")
        if int(self.n_variants) < 1:
            raise DocumentError(f"the number of variants must be at least 1, got {self.n_variants}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SamplerSettings:
        """Settings from a dict, ignoring unknown keys (written by a newer version)."""
        known = {f.name: f.type for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        return cls(**kw)


class Document:
    """The editor document (see the module docstring).

    Args:
        animation: the motion; default: a neutral clip as long as ``audio`` (or 1 frame).
        audio: the :class:`~diface_editor.core.audio.AudioClip` or ``None``.
        audio_path: where the audio came from (defaults to ``audio.path``).
        audio_sha256: content hash of the decoded samples (defaults to ``audio.sha256``).
        embed_audio: store the samples inside the project file on save.
        keyframes: pinned poses.
        selection: ``(start, stop)`` frame range (stop exclusive) or ``None``.
        model_id: name of the model bundle (a folder under ``models/`` or a path).
        sampler: :class:`SamplerSettings`.
        metadata: free-form string pairs saved with the project.
        transcript: what is said and, once aligned, its word and phone timing (``None``: none).
    """

    def __init__(self, animation: Animation | None = None, *, audio: AudioClip | None = None,
                 audio_path: str | Path | None = None, audio_sha256: str | None = None,
                 embed_audio: bool = False, keyframes: KeyframeSet | None = None,
                 selection: tuple[int, int] | None = None, model_id: str = "default",
                 sampler: SamplerSettings | None = None, metadata: dict[str, str] | None = None,
                 transcript: Transcript | None = None) -> None:
        self.events = EmitterGroup(self, ("animation", "keyframes", "selection", "audio", "settings", "transcript",
                                          "version"))
        self._version = _next_version()
        self._audio = audio
        if audio_path is None and audio is not None and getattr(audio, "path", None):
            audio_path = audio.path
        self._audio_path = Path(audio_path) if audio_path else None
        if audio_sha256 is None and audio is not None:
            audio_sha256 = audio.sha256
        self._audio_sha256 = audio_sha256
        self.embed_audio = bool(embed_audio)
        if animation is None:
            n = frames_for_duration(audio.duration, DEFAULT_FPS) if audio is not None else 1
            animation = Animation.zeros(n)
        self._animation = animation
        self._keyframes = KeyframeSet(list(keyframes)) if keyframes is not None else KeyframeSet()
        self._selection = self._check_range(selection) if selection is not None else None
        self._model_id = str(model_id)
        self._sampler = sampler or SamplerSettings()
        self.metadata: dict[str, str] = dict(metadata or {})
        self._transcript = transcript
        #: where the document was last saved or opened as a project (``None`` = never saved)
        self.project_path: Path | None = None
        #: non-fatal problems found while loading (missing audio, hash mismatch), one sentence each
        self.warnings: list[str] = []

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_audio(cls, audio: AudioClip, fps: float = DEFAULT_FPS, **kw: Any) -> Document:
        """A document for ``audio`` with a neutral animation covering the whole clip."""
        anim = Animation.zeros(frames_for_duration(audio.duration, fps), fps=fps)
        return cls(anim, audio=audio, **kw)

    # ------------------------------------------------------------------ read-only state
    @property
    def version(self) -> int:
        """Content version: increases on every change of motion, keyframes or audio; unique per process."""
        return self._version

    @property
    def animation(self) -> Animation:
        """The motion. Treat it as read-only: change it through commands."""
        return self._animation

    @property
    def keyframes(self) -> KeyframeSet:
        """The keyframes. Treat it as read-only: change it through commands."""
        return self._keyframes

    @property
    def selection(self) -> tuple[int, int] | None:
        return self._selection

    @property
    def audio(self) -> AudioClip | None:
        return self._audio

    @property
    def audio_path(self) -> Path | None:
        return self._audio_path

    @property
    def audio_sha256(self) -> str | None:
        return self._audio_sha256

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def sampler(self) -> SamplerSettings:
        return self._sampler

    @property
    def transcript(self) -> Transcript | None:
        """The transcript and its alignment, or ``None``. Change it with :meth:`set_transcript` (or the
        undoable ``core.commands.SetTranscript``)."""
        return self._transcript

    @property
    def fps(self) -> float:
        return self._animation.fps

    @property
    def n_frames(self) -> int:
        return self._animation.n_frames

    @property
    def duration(self) -> float:
        """Seconds: the longer of the animation and the audio."""
        d = self._animation.duration
        if self._audio is not None:
            d = max(d, float(self._audio.duration))
        return d

    @property
    def title(self) -> str:
        """A short name for window titles: the project or audio file name."""
        if self.project_path is not None:
            return self.project_path.name
        if self._audio_path is not None:
            return self._audio_path.name
        return "untitled"

    # ------------------------------------------------------------------ low-level mutators
    def _bump(self) -> None:
        self._version = _next_version()
        self.events.version.emit(version=self._version)

    def write_frames(self, start: int, face: np.ndarray | None = None, head: np.ndarray | None = None,
                     face_cols: np.ndarray | list[int] | None = None) -> None:
        """Overwrite frames ``start..start+n-1`` in place (used by commands).

        Args:
            start: first frame.
            face: (n, C) or, with ``face_cols``, (n, len(face_cols)) values in the animation's units.
            head: (n, 3) axis-angle radians.
            face_cols: face column indices ``face`` refers to (default: all).
        """
        anim = self._animation
        n = len(face) if face is not None else (len(head) if head is not None else 0)
        if face is not None and head is not None and len(face) != len(head):
            raise DocumentError(f"face has {len(face)} frames but head has {len(head)}")
        start = int(start)
        if start < 0 or start + n > anim.n_frames:
            raise DocumentError(f"frames {start}..{start + n - 1} are outside the clip (0..{anim.n_frames - 1})")
        if face is not None:
            face = np.asarray(face, np.float32)
            if face_cols is None:
                if face.shape != (n, anim.n_face):
                    raise DocumentError(f"face values have shape {face.shape}, expected {(n, anim.n_face)}")
                anim.face[start:start + n] = face
            else:
                cols = np.asarray(face_cols, np.intp)
                if face.shape != (n, len(cols)):
                    raise DocumentError(f"face values have shape {face.shape}, expected {(n, len(cols))}")
                anim.face[start:start + n, cols] = face
        if head is not None:
            head = np.asarray(head, np.float32)
            if head.shape != (n, 3):
                raise DocumentError(f"head values have shape {head.shape}, expected {(n, 3)}")
            anim.head[start:start + n] = head
        self.events.animation.emit(start=start, stop=start + n, replaced=False)
        self._bump()

    def replace_animation(self, animation: Animation) -> None:
        """Swap the whole animation (its length may change); drops a selection outside it."""
        self._animation = animation
        if self._selection is not None and self._selection[1] > animation.n_frames:
            self._selection = None
            self.events.selection.emit(range=None)
        self.events.animation.emit(start=0, stop=animation.n_frames, replaced=True)
        self._bump()

    def replace_keyframes(self, keyframes: KeyframeSet) -> None:
        """Swap the keyframe set (used by commands)."""
        self._keyframes = KeyframeSet(list(keyframes))
        self.events.keyframes.emit()
        self._bump()

    def set_transcript(self, transcript: Transcript | None) -> None:
        """Set the transcript (content: bumps the version; a job computed before is stale)."""
        if transcript != self._transcript:
            self._transcript = transcript
            self.events.transcript.emit()
            self._bump()

    # ------------------------------------------------------------------ view state that does not bump version
    def _check_range(self, rng: tuple[int, int]) -> tuple[int, int]:
        a, b = int(rng[0]), int(rng[1])
        if a > b:
            a, b = b, a
        a, b = max(0, a), min(self._animation.n_frames, b)
        if b <= a:
            raise DocumentError(f"selection {rng[0]}..{rng[1]} does not cover any frame of the clip "
                                f"(0..{self._animation.n_frames - 1})")
        return a, b

    def set_selection(self, rng: tuple[int, int] | None) -> None:
        """Select frames ``start..stop-1`` (clipped to the clip, order-insensitive), or clear with ``None``."""
        new = None if rng is None else self._check_range(rng)
        if new != self._selection:
            self._selection = new
            self.events.selection.emit(range=new)

    def set_model_id(self, model_id: str) -> None:
        if str(model_id) != self._model_id:
            self._model_id = str(model_id)
            self.events.settings.emit()

    def set_sampler(self, sampler: SamplerSettings | None = None, *, content: bool = False, **changes: Any) -> None:
        """Replace the sampler settings, or change some fields: ``doc.set_sampler(steps=10)``.
        ``content``: a change the motion depends on (a performance control set by an undoable
        command): bumps the version, so a job computed with the old settings is stale."""
        new = replace(sampler or self._sampler, **changes)
        if new != self._sampler:
            self._sampler = new
            self.events.settings.emit()
            if content:
                self._bump()

    def frame_at(self, seconds: float) -> int:
        """Nearest frame of a time in seconds, clipped to the clip."""
        return self._animation.frame_of(seconds)


def frames_for_duration(seconds: float, fps: float) -> int:
    """Frames of motion for ``seconds`` of audio at ``fps``: ``round(seconds * fps)``, at least 1 (the
    one rule: a new document and every generated take have the same length)."""
    return max(1, int(round(float(seconds) * float(fps))))


def keyframes_to_json(keys: KeyframeSet | list[Keyframe] | tuple[Keyframe, ...]) -> list[dict[str, Any]]:
    """JSON-ready list of keyframes (values as exact Python floats or ``None``)."""
    return [{"frame": int(k.frame), "part": k.part, "group": k.group,
             "values": None if k.values is None else [float(v) for v in k.values]} for k in keys]


def keyframes_from_json(items: list[dict[str, Any]]) -> KeyframeSet:
    """Inverse of :func:`keyframes_to_json`."""
    out = []
    for d in items:
        vals = d.get("values")
        out.append(Keyframe(frame=int(d["frame"]), part=str(d.get("part", "head")), group=str(d.get("group", "all")),
                            values=None if vals is None else tuple(float(v) for v in vals)))
    return KeyframeSet(out)
