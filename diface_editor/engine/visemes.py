"""Transcript-aware sampling: viseme constraints and the performance controls.

**Viseme constraints.** The phones of a forced alignment (:class:`~diface_editor.core.transcript.Transcript`)
become pinned mouth values that the diffusion in-paints around, through the per-channel known mask
(the face model's ``flag_mode "channel"``: known entries come back exactly, the continuity warp
eases the generated motion into them):

* **p/b/m**: lips sealed in the core of the phone (the teacher's closure envelope, at least one frame):
  ``jawOpen``, ``mouthClose``, ``mouthPress*``, ``mouthRoll*``, ``mouthLowerDown*``, ``mouthUpperUp*``,
  ``mouthFunnel``, ``mouthPucker`` (and the other lip-shaping channels of the teacher's mouth set);
* **f/v**: the lower lip rolled up to the upper incisors in the core of the phone (same channels);
* **w/uw/ow** (and the rounded glide of aw): ``mouthPucker`` and ``mouthFunnel`` at the rounding's peak;
* **every vowel** (open aa/ae/ao, the diphthongs ay/aw with their closing glide, and the others):
  ``jawOpen`` and ``mouthClose`` over the vowel (the opening follows vowel height and loudness);
* **other consonants**: ``jawOpen`` and ``mouthClose`` over the phone, except within
  :data:`FV_NEIGHBOUR_FREE_S` of a neighbouring f/v (the lips' move to and from the teeth);
* **pauses** of at least :data:`PAUSE_MIN_S`: ``jawOpen`` and ``mouthClose`` at the teacher's rest,
  :data:`PAUSE_MARGIN_S` inside the pause on each side;
* **words the aligner could not place** (phone :data:`UNALIGNED`, a partial alignment): nothing, within
  :data:`UNALIGNED_MARGIN_S` of them either (their times are estimates): the model follows the audio.

Only the mouth's openness (``jawOpen - mouthClose``) is pinned between the lip visemes; the lip shape
(smile, stretch, dimple, funnel away from rounded vowels), the upper face and the head stay the model's.
Measured on the real-speech evaluation set (``diface eval --real data/real_eval --with-transcript``,
openness correlation clean / conversational / noisy / telephone): pins at p/b/m, f/v, rounding and
vowel jaw only gave 0.736 / 0.757 / 0.721 / 0.725; adding ``mouthClose`` to the vowels and the
consonant and pause pins gives 0.740 / 0.829 / 0.752 / 0.740, the same as the teacher's own openness
without its per-clip style jitter (0.736 / 0.837 / 0.758 / 0.744). Consonants next to an f/v were left
free (pinning them too cost 3 of 57 conversational f/v contacts), as were the edges of a pause (the
lips' own timing into and out of speech: 120 ms at first, now :data:`PAUSE_MARGIN_S`). With the teacher's
real-speech jaw calibration and the per-word aligner (2026-12-04; clean / conversational / telephone / noisy): 0.756 / 0.842 / 0.770 /
0.742 with the shipped model, against the jitter-free teacher's 0.759 / 0.849 / 0.779 / 0.753. Vowels
shorter than 60 ms and the outer 40 % of consonants had been left to the model; pinning them too
(2026-12-04, later) gives 0.756 / 0.844 / 0.772 / 0.747, and conversational f/v contacts go from 54 to
56 of 57; the teacher's per-phone gain draws left out of the pins (its mean gain) gave
0.755 / 0.843 / 0.769 / 0.751, no better. Until the end of 2026-12-04 a rounding pin (UW, OW, W, AW) kept the
jaw of its frame free and only the open 55 % of AY/AW was pinned, though every vowel was meant to be:
pinning those too gives 0.762 / 0.845 / 0.779 / 0.747 (jitter-free teacher 0.759 / 0.850 / 0.779 / 0.753).
Pause pins from 40 ms inside a pause's edges instead of 120 ms: 0.759 / 0.851 / 0.779 / 0.751, jitter-free
teacher 0.759 / 0.850 / 0.779 / 0.754 (``diface eval --real data/real_eval --with-transcript``; the
margin was chosen on held-out speakers, the training recordings of ``data/real_train`` aligned clean,
through the telephone channel and in noise: 0.7254 / 0.7357 / 0.7211 at 120 ms, 0.7262 / 0.7377 /
0.7213 at 40 ms, jitter-free teacher 0.7237 / 0.7367 / 0.7200; 0 ms cost telephone f/v contacts).
Until the seventh session of 2026-12-04 a consonant next to an f/v was left free as a whole; a drawn-out
one (the 0.35 s L of "fall" said slowly) then opened like a vowel in babble noise. Pinning it except
within 100 ms of the f/v: on held-out speakers (``data/real_train`` in babble, pink and white noise)
no change, on the tuning half of ``data/real_eval_noise`` (``tools/build_noise_stress_set.py``, even
clips) babble 0.8308 -> 0.8435 (teacher 0.8423), on its other half babble 0.8300 -> 0.8320 (teacher
0.8349), f/v contacts unchanged everywhere (0 ms cost 3 % of the babble ones; 60 ms, the same as 100).
Until the ninth session of 2026-12-04 only pauses of 0.2 s or more were pinned; in the noisy recordings
the model opened the mouth in the shorter ones (0.20 more open than the teacher on average there).
Pinning every pause of 0.1 s or more (shorter ones have no frame inside their margins): held-out
speakers (``data/real_train`` clean / babble / pink / white) -0.0002 / +0.0013 / -0.0000 / +0.0001, the
noise stress set babble / pink / white -0.0001 / +0.0002 / +0.0001, the evaluation set clean /
conversational / telephone / noisy +0.0004 / -0.0002 / +0.0014 / +0.0024 (pinned model's openness
correlation, after minus before; ``docs/bench/2026-12-04f-free-frames``).
The frames still free (the last 40 ms before and after speech, pauses under 0.1 s, p/b/m and f/v outside
their cores, consonants within 100 ms of an f/v; 5-8 % of the frames) are the model's; there it is
worse than the teacher in noisy speech (noise moves the mouth: a phrase-final p that opens early) and
better in clean speech. Moving their openness halfway to the teacher's was tried (2026-12-05) and not
kept: noisy recordings of the evaluation set's speakers gained (+0.0026), the held-out speakers lost
(clean -0.0012, babble -0.0012), at the edges of p/b/m (``docs/bench/2026-12-05-free-pull``).

The values are the procedural teacher's (:func:`diface_editor.synth.teacher.animate` on the phones and
the request's audio, without its per-clip style jitter): its viseme targets after coarticulation and
the jaw/lip dynamics, with its closure and labiodental envelopes. The continuity warp eases the
generated motion into a pin over :data:`~diface_editor.engine.windows.SHORT_RAMP` frames only, so a
closure shapes its own phone and not the next second of motion (measured on real speech: with the
long context ramp the openness correlation fell from 0.78 to 0.59; jaw pins at single vowel frames
instead of whole vowels gave 0.70 against 0.77). Head motion and the upper face stay the
model's (no pins there).

**Strength** ``s`` (``viseme_strength``): ``0`` = no pins at all (the request is the audio-only one, bit
for bit); otherwise the engine draws the audio-only result and the pinned one with the same seed and
returns the audio-only result with its mouth channels (``jaw*``, ``mouth*``, ``tongueOut``, ``cheekPuff``)
moved towards the pinned result's: ``audio_only + s * (pinned - audio_only)`` entry by entry, exactly the
pinned values at ``s = 1``. Every other face channel (brows, eyes, cheeks, nose) and the head stay the
audio-only result's bit for bit: the pins constrain the mouth only (a joint face model would otherwise
shift the brows by up to 0.18 when the mouth is pinned). The deviation the pins cause is scaled rather
than the number of pinned frames: fewer pinned frames would drop whole closures (a p either closes or
not), whereas a scaled deviation weakens every viseme evenly, stays as smooth as its two coherent
endpoints and keeps known entries exact (both endpoints hold them).

**Performance controls** (``lip_sync``, ``upper_face``, ``head_motion``, each 1 = the model's): the
generated values of a sampled window are scaled about the rest pose (0) before the continuity warp
blends them into their known neighbours: the mouth (``jaw*``, ``mouth*``, ``tongueOut``,
``cheekPuff``), the upper face (``brow*``, ``eye*`` except the blinks, ``cheekSquint*``, ``noseSneer*``)
and the head rotation. Known entries (keyframes, context) are never scaled. Viseme pins follow
``lip_sync`` through the teacher's ``articulation`` (its vowel and consonant targets; its p/b/m seals
and rest pose stay): with a transcript most speech frames are pinned, and a control that scaled only the
frames between them would barely move the mouth (until 2026-12-04 the 95th percentile of ``jawOpen``
stayed 0.638 at ``lip_sync`` 0.5, 1 and 1.5 on a clean read sentence; now 0.32 / 0.64 / 0.96).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from diface_editor.core.transcript import UNALIGNED  # a word a partial alignment could not place

log = logging.getLogger(__name__)

#: channels pinned at a p/b/m closure and an f/v contact (those of the teacher's mouth set that
#: open or shape the lips vertically; smile, dimple and stretch stay the model's)
LIP_CHANNELS = ("jawOpen", "mouthClose", "mouthPressLeft", "mouthPressRight", "mouthRollLower", "mouthRollUpper",
                "mouthShrugLower", "mouthShrugUpper", "mouthLowerDownLeft", "mouthLowerDownRight",
                "mouthUpperUpLeft", "mouthUpperUpRight", "mouthFunnel", "mouthPucker", "jawForward", "tongueOut")
ROUND_CHANNELS = ("mouthPucker", "mouthFunnel")
JAW_CHANNELS = ("jawOpen", "mouthClose")
BILABIAL = ("P", "B", "M")
LABIODENTAL = ("F", "V")
ROUNDED = {"W": 0.5, "UW": 0.5, "OW": 0.8, "AW": 0.85}  # phone -> where in it the rounding peaks
OPEN = {"AA": (0.0, 1.0), "AE": (0.0, 1.0), "AO": (0.0, 1.0), "AY": (0.0, 0.55), "AW": (0.0, 0.55)}
#: every other vowel: its jaw peak is pinned too (the opening follows vowel height, as the teacher's)
OTHER_VOWELS = ("AH", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
MIN_OPEN_S = 0.0  # vowels shorter than this keep the model's jaw (0: every vowel is pinned)
CONSONANT_CORE = 0.5  # openness pinned over this fraction of a consonant on each side of its centre (0.5: all)
VOWEL_JAW = True
VOWEL_HALF = 99  # frames pinned on each side of a vowel jaw peak, inside the vowel (99: the whole vowel)
CLOSE_ANTICIPATION_S = 0.01  # the teacher's envelopes run anticipation_s / 2 ahead of the phone
FV_NEIGHBOUR_FREE_S = 0.1  # a consonant next to an f/v keeps the model's openness this far from it (s)
PAUSES = ("SIL", "SP", "")
UNALIGNED_MARGIN_S = 0.1  # no pins this close to an unaligned word (its edges are estimates)
PAUSE_MIN_S = 0.1     # shorter pauses stay the model's (0.1: the shortest pause carve_pauses cuts)
PAUSE_MARGIN_S = 0.04  # pinned from this far inside a pause's edges


def _base(phone: str) -> str:
    return str(phone).upper().rstrip("012")


def _core_frames(s: float, e: float, fps: float, n: int, frac: float = 0.3) -> list[int]:
    """Frames in the core of a phone: within ``frac`` of its length of its (anticipated) centre (0.3:
    where the teacher's closure envelope is 1; 0.5: the whole phone); at least the nearest frame."""
    c = 0.5 * (s + e) - CLOSE_ANTICIPATION_S
    half = max(frac * (e - s), 0.55 / fps)
    frames = [f for f in range(max(0, int(np.floor((c - half) * fps))), min(n, int(np.ceil((c + half) * fps)) + 1))
              if abs(f / fps - c) <= half]
    if not frames:
        f = int(round(c * fps))
        frames = [min(max(f, 0), n - 1)] if n else []
    return frames


_CACHE_SIZE = 4
_cache_lock = threading.Lock()
_tracks: OrderedDict[tuple, tuple[np.ndarray, tuple]] = OrderedDict()  # key -> (track, normalised phones)
_prosody: OrderedDict[tuple, object] = OrderedDict()


def _audio_key(samples: np.ndarray | None, sample_rate: int | None) -> tuple:
    """A cheap identity of an audio clip: its length, rate and a hash of every few-hundredth sample."""
    if samples is None:
        return ()
    x = np.ascontiguousarray(np.asarray(samples, np.float32).reshape(-1))
    step = max(1, x.size // 8192)
    return (int(x.size), int(sample_rate or 0), hashlib.blake2b(x[::step].tobytes(), digest_size=16).hexdigest())


def _remember(cache: OrderedDict, key: tuple, value):
    with _cache_lock:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)
    return value


def _recall(cache: OrderedDict, key: tuple):
    with _cache_lock:
        value = cache.get(key)
        if value is not None:
            cache.move_to_end(key)
        return value


def teacher_track(phones: Sequence[tuple[str, float, float]], n_frames: int, fps: float,
                  samples: np.ndarray | None = None, sample_rate: int | None = None,
                  articulation: float = 1.0) -> np.ndarray:
    """(n_frames, 52) float32: the mouth channels of the teacher's face in ARKit order for ``phones``
    (with the audio's loudness when given; no style jitter, seed 0; ``articulation`` scales its vowel
    and consonant targets, not its p/b/m seals); the other channels are 0. Read-only: the cached
    array itself (copy it to change it).

    Every edit of a take with a transcript asks for the pins again: the tracks of the last few
    (phones, audio) pairs and the audio's prosody are kept. A keyframe drag reuses a track; a
    retimed or renamed phone (same number of phones) re-animates only the frames the change can
    reach (:func:`~diface_editor.synth.teacher.mouth_reach`) and copies the rest from the last
    track, so a phone drag costs the same on a 10-minute take as on a 10-second one.
    """
    from diface_editor.synth.prosody import analyse
    from diface_editor.synth.teacher import TeacherConfig, mouth_reach, mouth_track, normalise_phones

    audio = _audio_key(samples, sample_rate)
    ph = tuple((str(p), float(s), float(e)) for p, s, e in phones)
    n, fps, art = max(1, int(n_frames)), float(fps), float(articulation)
    key = (ph, n, fps, audio, art)
    hit = _recall(_tracks, key)
    if hit is not None:
        return hit[0]
    pros = None
    if samples is not None:
        x = np.asarray(samples, np.float32).reshape(-1)
        pkey = (audio, n, fps)
        pros = _recall(_prosody, pkey)
        if pros is None and x.size:
            pros = _remember(_prosody, pkey, analyse(x, int(sample_rate), n, fps))
    cfg = TeacherConfig(fps=fps, style_jitter=0.0, articulation=art)
    track = None
    norm = tuple(normalise_phones(ph))  # what the teacher animates, in its order
    base = _nearest_track(norm, n, fps, audio, art)
    if base is not None:
        old, old_track = base
        changed = [i for i, (a, b) in enumerate(zip(old, norm)) if a != b]
        i0, i1 = changed[0], changed[-1]
        spans = old[i0:i1 + 1] + norm[i0:i1 + 1]
        before, after = mouth_reach(spans, cfg)
        f0 = max(0, int(np.floor((min(s for _, s, _ in spans) - before) * fps)))
        f1 = min(n, int(np.ceil((max(e for _, _, e in spans) + after) * fps)) + 1)
        if f1 - f0 < n // 2:  # else a whole pass costs about as much
            track = old_track.copy()
            track[f0:f1] = mouth_track(ph, n, cfg, prosody=pros, frames=(f0, f1))
    if track is None:
        track = mouth_track(ph, n, cfg, prosody=pros)
    track.flags.writeable = False  # shared by every caller (a long take's track is megabytes)
    return _remember(_tracks, key, (track, norm))[0]


def _nearest_track(norm: tuple, n: int, fps: float, audio: tuple, art: float) -> tuple[tuple, np.ndarray] | None:
    """The most recent cached (normalised phones, track) of the same clip and articulation with as
    many normalised phones as ``norm`` (the teacher draws a gain per phone in order, so only then is a
    local update exact), or None."""
    with _cache_lock:
        for (_ph, n2, fps2, audio2, art2), (track, old) in reversed(_tracks.items()):
            if (n2 == n and fps2 == fps and audio2 == audio and art2 == art and len(old) == len(norm)
                    and old != norm):
                return old, track
    return None


def viseme_pins(phones: Sequence[tuple[str, float, float]], n_frames: int, fps: float,
                channel_names: Sequence[str], samples: np.ndarray | None = None,
                sample_rate: int | None = None, lip_sync: float = 1.0,
                rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(mask (T, C) bool, values (T, C) float32)``: the viseme constraints of ``phones`` for a face
    with ``channel_names`` (ARKit names; channels the model lacks are skipped). ``lip_sync``: the
    lip-sync strength control, the teacher's articulation for the pinned values (p/b/m stay sealed).
    ``rows``: (T,) bool, the frames whose pins are wanted (an edit's regenerated frames); the others
    stay unpinned, and only the phones near those frames are visited, so an edit of a long take costs
    what one of a short take does (the pins in ``rows`` are the whole clip's there). See the module doc."""
    from diface_editor.core.arkit import ARKIT_NAMES

    names = list(channel_names)
    idx = {n: i for i, n in enumerate(names)}
    t_idx = {n: i for i, n in enumerate(ARKIT_NAMES)}
    mask = np.zeros((n_frames, len(names)), bool)
    values = np.zeros((n_frames, len(names)), np.float32)
    phones = [(_base(p), float(s), float(e)) for p, s, e in phones if float(e) > float(s)]
    if not phones or n_frames < 1 or "jawOpen" not in idx:
        return mask, values
    want = None if rows is None else np.asarray(rows, bool).reshape(-1)[:n_frames]
    if want is not None and not want.any():
        return mask, values
    teacher = teacher_track(phones, n_frames, fps, samples, sample_rate, articulation=lip_sync)
    visit = range(len(phones)) if want is None else _phones_near(phones, want, fps)

    def pin(frames, chans) -> None:
        for f in frames:
            if 0 <= f < n_frames and (want is None or want[f]):
                for ch in chans:
                    if ch in idx and ch in t_idx:
                        mask[f, idx[ch]] = True
                        values[f, idx[ch]] = teacher[f, t_idx[ch]]

    jaw = teacher[:, t_idx["jawOpen"]]
    if any(p == UNALIGNED for p, _s, _e in phones):  # the model follows the audio there: nothing is pinned
        blocked = np.zeros(n_frames, bool)
        for p, s, e in phones:
            if p == UNALIGNED:  # frames f with s - margin <= f / fps <= e + margin
                f0 = max(0, int(np.ceil((s - UNALIGNED_MARGIN_S) * fps - 1e-9)))
                blocked[f0:max(f0, int(np.floor((e + UNALIGNED_MARGIN_S) * fps + 1e-9)) + 1)] = True
        want = ~blocked if want is None else want & ~blocked
    for j in visit:
        p, s, e = phones[j]
        if p in BILABIAL or p in LABIODENTAL:
            pin(_core_frames(s, e, fps, n_frames), LIP_CHANNELS)
    # every pin takes the teacher's value at its frame, so overlapping pins agree: a rounding peak, a
    # vowel and a closure at the same frame only pin more of its channels
    for j in visit:
        p, s, e = phones[j]
        if p in ROUNDED:
            pin([int(round((s + ROUNDED[p] * (e - s)) * fps))], ROUND_CHANNELS)
        if (p in OPEN or (VOWEL_JAW and p in OTHER_VOWELS)) and e - s >= MIN_OPEN_S:
            v0 = int(np.floor(s * fps))  # the vowel's frames: v0..v1-1 (at least one)
            v0, v1 = max(0, v0), min(n_frames, max(int(np.ceil(e * fps)), v0 + 1))
            a, b = OPEN.get(p, (0.0, 1.0))  # the peak is searched in the open part of a diphthong
            f0, f1 = int(np.floor((s + a * (e - s)) * fps)), int(np.ceil((s + b * (e - s)) * fps))
            f0, f1 = max(v0, f0), min(v1, max(f1, f0 + 1))
            if f1 > f0:
                peak = f0 + int(np.argmax(jaw[f0:f1]))
                span = range(peak - VOWEL_HALF, peak + VOWEL_HALF + 1) if VOWEL_HALF else (peak,)
                pin([f for f in span if v0 <= f < v1], JAW_CHANNELS)
    vowels = set(OPEN) | set(OTHER_VOWELS)
    for j in visit:  # openness between the visemes: consonant cores and pauses
        p, s, e = phones[j]
        if p in PAUSES:
            if e - s >= PAUSE_MIN_S:
                f0, f1 = int(np.ceil((s + PAUSE_MARGIN_S) * fps)), int(np.floor((e - PAUSE_MARGIN_S) * fps))
                pin(range(max(0, f0), min(n_frames, f1 + 1)), JAW_CHANNELS)
        elif p not in vowels and p not in BILABIAL and p not in LABIODENTAL:
            lo, hi = s, e  # an f/v neighbour leaves the consonant's frames near it free
            if j > 0 and phones[j - 1][0] in LABIODENTAL:
                lo = s + FV_NEIGHBOUR_FREE_S
            if j + 1 < len(phones) and phones[j + 1][0] in LABIODENTAL:
                hi = e - FV_NEIGHBOUR_FREE_S
            pin([f for f in _core_frames(s, e, fps, n_frames, CONSONANT_CORE) if lo <= f / fps <= hi], JAW_CHANNELS)
    return mask, values


def _phones_near(phones: Sequence[tuple[str, float, float]], want: np.ndarray, fps: float) -> list[int]:
    """Indices (in order) of the phones whose pins can reach a ``want`` frame: every phone pins frames
    within its own span widened by a frame (a phone's core is at least the frame nearest its
    anticipated centre), so those overlapping a run of ``want`` frames widened by 2 frames."""
    starts = np.fromiter((s for _, s, _ in phones), np.float64, len(phones))
    ends = np.fromiter((e for _, _, e in phones), np.float64, len(phones))
    near = np.zeros(len(phones), bool)
    d = np.diff(np.concatenate(([0], want.astype(np.int8), [0])))
    for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):  # runs [a, b) of wanted frames
        near |= (ends >= (a - 2) / fps) & (starts <= (b + 2) / fps)
    return np.flatnonzero(near).tolist()


# ---------------------------------------------------------------------- performance controls
def channel_group(names: Sequence[str], which: str) -> np.ndarray:
    if which == "mouth":
        keep = [n.startswith(("jaw", "mouth")) or n in ("tongueOut", "cheekPuff") for n in names]
    else:
        keep = [(n.startswith(("brow", "eye", "cheekSquint", "noseSneer")) and not n.startswith("eyeBlink"))
                for n in names]
    return np.asarray(keep, bool)


def performance_gains(part: str, channel_names: Sequence[str], n_channels: int, *, lip_sync: float = 1.0,
                      upper_face: float = 1.0, head_motion: float = 1.0) -> np.ndarray | None:
    """(C,) per-channel gain of ``part``'s generated values, or ``None`` when every gain is 1
    (nothing to do: the result stays bit for bit the model's)."""
    if part == "head":
        return None if head_motion == 1.0 else np.full(n_channels, float(head_motion), np.float32)
    names = list(channel_names)
    if (lip_sync == 1.0 and upper_face == 1.0) or len(names) != n_channels:
        return None
    g = np.ones(n_channels, np.float32)
    g[channel_group(names, "mouth")] = float(lip_sync)
    g[channel_group(names, "upper")] = float(upper_face)
    return None if np.all(g == 1.0) else g
