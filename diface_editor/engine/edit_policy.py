"""The edit policy as plain functions: seeds and sampler options from the document, the influence
window of keyframe edits, what counts as a no-op, keyframe commands, and the transcript-driven
helpers (alignment, the teacher's lip sync). Used by :class:`~diface_editor.engine.session.EditSession`,
the CLI and the benches."""


from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np

from diface_editor.core.animation import Animation
from diface_editor.core.commands import (
    Command,
    ReplaceAnimation,
    ReplaceFrames,
    SetKeyframes,
    add_keyframe,
)
from diface_editor.core.document import Document, SamplerSettings
from diface_editor.core.errors import DifaceError
from diface_editor.core.keyframes import Keyframe, KeyframeSet
from diface_editor.core.transcript import Transcript

log = logging.getLogger(__name__)


def blink_seed(settings: SamplerSettings) -> int | None:
    """The blink seed a request gets from the document's sampler settings (``None``: no blinks)."""
    return int(settings.blink_seed) if settings.blinks else None


def sampling_options(settings: SamplerSettings, steps: int | None) -> dict:
    """Request keywords from the document's sampler settings (``steps``: the steps this edit uses)."""
    return {"sampler": settings.sampler, "steps": steps, "guidance": float(settings.guidance),
            "blink_seed": blink_seed(settings), "viseme_strength": float(settings.viseme_strength),
            "lip_sync": float(settings.lip_sync), "upper_face": float(settings.upper_face),
            "head_motion": float(settings.head_motion), "reference_mode": bool(settings.reference_mode)}


def transcript_phones(doc: Document) -> tuple[tuple[str, float, float], ...] | None:
    """The document's aligned phones for a request (``None``: no transcript or not aligned)."""
    tr = doc.transcript
    return tuple(tr.phones) if tr is not None and tr.aligned else None


def influence_pins(keyframes: Iterable[Keyframe], centres: Sequence[int], radius: int | None) -> tuple[Keyframe, ...]:
    """The influence-window rule: of ``keyframes``, those within ``radius`` frames of a centre frame
    (all of them for ``radius=None``). They stay pinned in the solve around ``centres`` but get no
    window of their own, so every frame farther than ``radius`` from a centre is kept bit for bit."""
    keys = tuple(keyframes)
    if radius is None:
        return keys
    return tuple(k for k in keys if any(abs(k.frame - int(c)) <= radius for c in centres))


def changes_nothing(doc: Document, command: Command) -> bool:
    """Whether ``command`` would leave ``doc`` exactly as it is (a no-op edit gets no history entry):
    the same keyframes, or frames bit for bit equal to the document's."""
    if isinstance(command, SetKeyframes):
        key = lambda k: (k.frame, k.part, k.group)  # noqa: E731
        return sorted(doc.keyframes, key=key) == sorted(command.new, key=key)
    if isinstance(command, ReplaceFrames):
        a, b = command.start, command.start + command.n
        if b > doc.n_frames:
            return False
        anim = doc.animation
        face_ok = command.new_face is None or np.array_equal(
            anim.face[a:b] if command.face_cols is None else anim.face[a:b][:, command.face_cols], command.new_face)
        return face_ok and (command.new_head is None or np.array_equal(anim.head[a:b], command.new_head))
    if isinstance(command, ReplaceAnimation):
        return command.new.equals(doc.animation)
    return False


def add_keyframes(doc: Document, keys: Sequence[Keyframe]) -> Command:
    """One undo step adding ``keys`` (each checked and added as by
    :func:`~diface_editor.core.commands.add_keyframe`; one key is exactly that command)."""
    keys = list(keys)
    commands = [add_keyframe(doc, k) for k in keys]  # raises for a frame outside the clip
    if len(commands) == 1:
        return commands[0]
    ks = KeyframeSet(list(doc.keyframes))
    for k in keys:
        ks.add(k)
    return SetKeyframes(ks, text=f"add {' + '.join(k.part for k in keys)} keyframe at frame {keys[0].frame}")


def replace_keyframe(doc: Document, old: Keyframe, new: Keyframe, text: str) -> Command:
    """One undo step putting ``new`` in place of ``old`` (and of a key at ``new``'s frame, part and group)."""
    keys = [k for k in doc.keyframes if k != old]
    keys = [k for k in keys if (k.frame, k.part, k.group) != (new.frame, new.part, new.group)] + [new]
    return SetKeyframes(KeyframeSet(keys), text=text)


# ---------------------------------------------------------------------------- the session


def transcript_mismatch(audio, tr: Transcript) -> str | None:
    """Why the aligned transcript ``tr`` is not what ``audio`` says (one clause), or ``None`` when it may
    be: its placed words in the recogniser's first window (at most 30 s) compared with what the
    recogniser hears there (:mod:`diface_editor.core.heard_match`; Whisper tiny.en, cached per audio).

    ``None`` too when the recogniser is not installed or fails (logged): the check is a guard, and
    without it the alignment stands as before."""
    from diface_editor.core.heard_match import compare, counted_words

    try:
        from diface_editor.ml.audio.whisper_asr import available, get_recognizer

        if not available():
            return None
        window = get_recognizer().first_window(audio)
        unplaced = set(tr.unaligned_words)
        in_window = [(i, w) for i, (w, _a, b) in enumerate(tr.words) if b <= window.seconds + 0.05]
        typed = " ".join(w for i, w in in_window if i not in unplaced)
        total = len(counted_words(" ".join(w for _i, w in in_window)))
        m = compare(typed, window.heard, score=window.log_prob, typed_total=total)
    except DifaceError as e:
        log.warning("the transcript was not checked against the speech: %s", e)
        return None
    except Exception:  # the check must not stop an alignment
        log.exception("the transcript was not checked against the speech")
        return None
    log.info("transcript check: %d of %d heard / %d typed words shared, gap %s", m.shared, len(m.heard),
             len(m.typed), "-" if m.gap is None else f"{m.gap:.2f}")
    return None if m.matches else m.describe(window.heard)


def _align_heard_stretch(audio, text: str) -> Transcript | None:
    """A script the aligner refused (or squeezed onto the take: its placed words are not those heard),
    aligned on the stretch of it that the recogniser hears
    (:func:`~diface_editor.core.heard_match.said_stretch`; the script of a whole scene for the take of
    one line): its words before and after that stretch are given up (:data:`~diface_editor.core.
    transcript.UNALIGNED`, spread over the audio before the first word placed and after the last).
    ``None`` when the recogniser is missing, the stretch is the whole script or cannot be found, or
    :func:`~diface_editor.synth.align.align_stretch` refuses it."""
    from diface_editor.core.heard_match import said_stretch
    from diface_editor.core.transcript import transcript_words
    from diface_editor.synth.align import align_stretch

    try:
        from diface_editor.ml.audio.whisper_asr import available, get_recognizer

        if not available():
            return None
        window = get_recognizer().first_window(audio)
        words = transcript_words(text)
        span = said_stretch(words, window.heard)
        if span is None:
            return None
        i0, i1 = span
        if window.seconds < float(audio.duration) - 0.05:  # the end of a long take was not heard: keep it
            i1 = len(words)
        if i0 == 0 and i1 == len(words):
            return None
        al = align_stretch(np.asarray(audio.samples, np.float32), int(audio.sample_rate), text, i0, i1)
    except DifaceError as e:
        log.info("the stretch of the script that was heard did not align either: %s", e)
        return None
    except Exception:  # a failure here must not stop generation: the first refusal stands
        log.exception("aligning the stretch of the script that was heard failed")
        return None
    return Transcript.from_alignment(text, al)


def align_transcript(audio, text: str, partial: bool = True, check: bool = True) -> Transcript:
    """Force-align ``text`` with ``audio`` (pocketsphinx, :func:`diface_editor.synth.align.align`).
    ``partial``: where the whole text does not align, keep the stretches that do (the other words are
    :data:`~diface_editor.core.transcript.UNALIGNED` and pin nothing). ``check``: refuse an alignment
    whose words are plainly not what is said (:func:`transcript_mismatch`; forced alignment fits any
    text onto any speech): the result is then ``mismatched``, and ``check=False`` (the user's "use it
    anyway") aligns it as if the check had passed. A script the aligner refuses is aligned on the
    stretch the recogniser hears (:func:`_align_heard_stretch`) when ``partial``, checked or not.

    Never raises for a failed alignment: the returned :class:`Transcript` then has no timing and its
    ``error`` says why in one sentence (generation goes on from the audio alone)."""
    tr = Transcript(str(text).strip())
    if not tr.text:
        return tr.failed("the transcript is empty")
    try:
        from diface_editor.synth.align import align

        al = align(np.asarray(audio.samples, np.float32), int(audio.sample_rate), tr.text, partial=partial)
    except DifaceError as e:
        located = _align_heard_stretch(audio, tr.text) if partial else None
        if located is None:
            return tr.failed(str(e))
        why = transcript_mismatch(audio, located) if check else None
        return tr.failed(why, mismatched=True) if why else located
    except Exception as e:  # an aligner crash must not stop generation
        log.exception("transcript alignment failed")
        return tr.failed(f"the alignment failed ({type(e).__name__}: {e})")
    out = Transcript.from_alignment(tr.text, al)
    why = transcript_mismatch(audio, out) if check else None
    if why and partial:  # the words placed are not those heard: perhaps a script around the line, squeezed on
        located = _align_heard_stretch(audio, tr.text)
        if located is not None and transcript_mismatch(audio, located) is None:
            return located
    return tr.failed(why, mismatched=True) if why else out


def prepare_alignment() -> None:
    """Load what a transcript's alignment needs ahead of the first one: pocketsphinx's decoder and the
    recogniser that checks the transcript (:func:`transcript_mismatch`). Never raises: what is missing is
    left for the alignment itself to report."""
    try:
        from diface_editor.synth.align import prepare

        prepare()
        from diface_editor.ml.audio.whisper_asr import available, get_recognizer

        if available():
            get_recognizer()
    except Exception as e:  # noqa: BLE001 - the alignment reports it when it runs
        log.info("the alignment was not prepared: %s", e)


def transcribe_speech(audio) -> Transcript:
    """What ``audio`` says, recognised (Whisper tiny.en, :mod:`diface_editor.ml.audio.whisper_asr`) and
    force-aligned like a typed transcript (:func:`align_transcript`): the words and phones a clip gets
    when nobody typed its transcript.

    Never raises: without the recogniser, for silence, or when the recognised words cannot be aligned,
    the returned :class:`Transcript` has no timing and its ``error`` says why in one sentence
    (generation then follows the audio alone)."""
    try:
        from diface_editor.ml.audio.whisper_asr import transcribe

        text = transcribe(audio)
    except DifaceError as e:
        return Transcript("").failed(str(e))
    except Exception as e:  # a recogniser crash must not stop generation
        log.exception("speech recognition failed")
        return Transcript("").failed(f"speech recognition failed ({type(e).__name__}: {e})")
    if not text.strip():
        return Transcript("").failed("no words were recognised in the audio")
    # all or nothing: words recognised in noise or music would be forced onto it piecewise
    tr = align_transcript(audio, text, partial=False, check=False)
    if not tr.aligned:  # Whisper writes a word or two for noise or music; the aligner does not find them
        short = text if len(text) <= 60 else text[:57] + "..."
        return tr.failed(f"the recognised words ({short!r}) could not be aligned with the audio: "
                         "probably no clear speech")
    return tr


def with_recognised_words(request):
    """``request`` (a :class:`~diface_editor.engine.requests.GenerateRequest`) with the phones of the
    words recognised in its audio (:func:`transcribe_speech`) when they align and its viseme strength
    is above 0, else with none, and ``recognise_words`` off; and the :class:`Transcript` heard."""
    from dataclasses import replace

    heard = transcribe_speech(request.audio)
    phones = tuple(heard.phones) if heard.aligned and request.viseme_strength > 0 else None
    return replace(request, phones=phones, recognise_words=False), heard


def lipsync(audio, transcript: str, seed: int) -> Animation:
    """The procedural teacher's lip sync of ``transcript`` on ``audio`` (no model; any thread).

    Raises:
        DifaceError: one sentence (alignment failed, a tool is missing, or an unexpected error).
    """
    try:
        from diface_editor.synth.align import align
        from diface_editor.synth.teacher import animate

        samples = np.asarray(audio.samples, np.float32)
        al = align(samples, int(audio.sample_rate), transcript, partial=True)
        why = transcript_mismatch(audio, Transcript.from_alignment(transcript, al))
        if why:
            raise DifaceError(f"the transcript was not used: {why}")
        return animate(al.phones, duration=float(audio.duration), samples=samples,
                       sample_rate=int(audio.sample_rate), seed=int(seed))
    except DifaceError:
        raise
    except Exception as e:
        log.exception("teacher lip sync failed")
        raise DifaceError(f"the lip sync failed ({type(e).__name__}: {e})") from e
