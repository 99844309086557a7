"""The teacher animator: timed phones (+ optional audio) -> ARKit face curves and head motion.

A procedural animator that produces the training targets of the synthetic corpus and the
transcript-driven lip-sync baseline (``diface lipsync``). It works on any phone timing: TTS
engines' own timings, pocketsphinx's forced alignment of real speech, or hand-made lists.

Pipeline (all times in seconds, frame ``t`` is at ``t / fps``):

1. **Viseme targets**: every phone of the common set (:data:`~diface_editor.synth.phonemes.PHONES`)
   has a target pose over the mouth channels (:data:`VISEMES`); diphthongs (AY, AW, EY, OW, OY)
   move between two targets. Vowel targets scale with the vowel's loudness when audio is given.
2. **Coarticulation** a la Cohen & Massaro (1993): each segment exerts a dominance
   ``alpha * exp(-(d / w) ** 1.5)`` over time (``d`` = distance to the segment's core, ``w`` wider
   before the segment than after: anticipation), per channel group (jaw, rounding, lip closure,
   spreading, vertical lip opening, tongue); each channel is the dominance-weighted mean of the
   targets. Bilabials dominate lip closure; alveolars and velars barely constrain the lips, so
   the lips take their neighbours' shape ("soon" has a rounded s).
3. **Dynamics**: a critically damped second-order lag (two equal first-order lags, natural
   frequency ``jaw_omega`` / ``lip_omega`` rad/s), fed ``2 / omega`` seconds early so the motion is
   centred on the acoustic timing.
4. **Closures**: during the core of every P, B and M the lips are sealed regardless of context:
   ``mouthClose`` and ``mouthPress*`` high, ``jawOpen`` near 0 (a smooth envelope, at least one full
   frame at each closure); likewise, during the core of every F and V the lower lip rolls up to the
   upper incisors (``jawOpen`` near 0, ``mouthRollLower`` and ``mouthUpperUp`` up).
5. **Blinks** (random intervals, ~150 ms, more likely at pauses), **brow raises** on accented
   syllables (vowels that are local loudness/pitch peaks), and **head motion** (axis-angle
   radians: nods on accents, pitch-following tilt, plus smooth filtered noise), softly limited
   to a few degrees.

Everything random is drawn from ``numpy.random.default_rng(SeedSequence([seed, ...]))``: the
same inputs and seed give bit-identical output.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import lfilter

from diface_editor.core.animation import Animation
from diface_editor.core.arkit import ARKIT_NAMES
from diface_editor.core.blinks import blink_curves, blink_times
from diface_editor.core.ranges import concat_ranges
from diface_editor.core.transcript import UNALIGNED
from diface_editor.synth.phonemes import BILABIALS, PHONES, SIL, VOWELS, Phone, to_common
from diface_editor.synth.prosody import Prosody, analyse

log = logging.getLogger(__name__)

_IDX = {n: i for i, n in enumerate(ARKIT_NAMES)}
C = len(ARKIT_NAMES)


@dataclass(frozen=True)
class TeacherConfig:
    """Parameters of the teacher animator.

    Attributes:
        fps: output frame rate.
        articulation: overall scale of mouth targets (1 = default).
        style_jitter: per-clip random variation of articulation, smile and asymmetry (0 = none).
        jaw_omega: natural frequency (rad/s) of the critically damped jaw.
        lip_omega: natural frequency (rad/s) of the lips and tongue.
        anticipation_s: extra visual lead of the mouth over the audio.
        blink_interval_s: range of the random interval between blinks.
        blink_duration_s: duration of one blink.
        brow_amount: peak brow raise weight on a strong accent.
        head_noise_deg: standard deviation of the stochastic head motion (nod, turn, tilt).
        head_nod_deg: head nod amplitude on a strong accent.
        head_limit_deg: soft limit of the head rotation on each axis.
    """

    fps: float = 30.0
    articulation: float = 1.0
    style_jitter: float = 1.0
    jaw_omega: float = 48.0
    lip_omega: float = 45.0
    anticipation_s: float = 0.02
    blink_interval_s: tuple[float, float] = (2.0, 6.0)
    blink_duration_s: float = 0.15
    brow_amount: float = 0.4
    head_noise_deg: tuple[float, float, float] = (1.2, 2.0, 0.8)
    head_nod_deg: float = 2.0
    head_limit_deg: float = 6.0


# ------------------------------------------------------------------ channel groups
GROUP_NAMES = ("jaw", "round", "lips", "spread", "vert", "tongue")
_GROUP_CHANNELS = {
    "jaw": ("jawOpen", "jawForward"),
    "round": ("mouthFunnel", "mouthPucker"),
    "lips": ("mouthClose", "mouthPressLeft", "mouthPressRight", "mouthRollLower", "mouthRollUpper",
             "mouthShrugLower", "mouthShrugUpper"),
    "spread": ("mouthStretchLeft", "mouthStretchRight", "mouthSmileLeft", "mouthSmileRight",
               "mouthDimpleLeft", "mouthDimpleRight"),
    "vert": ("mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight"),
    "tongue": ("tongueOut",),
}
_GROUP_IDX = {g: np.array([_IDX[n] for n in chans]) for g, chans in _GROUP_CHANNELS.items()}
MOUTH_CHANNELS: tuple[str, ...] = tuple(n for g in GROUP_NAMES for n in _GROUP_CHANNELS[g])
#: the coarticulation group of each mouth channel (index into GROUP_NAMES) and the channels' indices
_MOUTH_IDX = np.concatenate([_GROUP_IDX[g] for g in GROUP_NAMES])
_MOUTH_GROUP = np.concatenate([np.full(len(_GROUP_IDX[g]), k) for k, g in enumerate(GROUP_NAMES)])
assert len(set(_MOUTH_IDX.tolist())) == len(_MOUTH_IDX), "a mouth channel in two coarticulation groups"


def _pose(**weights: float) -> np.ndarray:
    """A (52,) pose; a key without Left/Right sets both sides (``mouthStretch=0.3``)."""
    v = np.zeros(C, np.float32)
    for k, w in weights.items():
        if k in _IDX:
            v[_IDX[k]] = w
        elif k + "Left" in _IDX:
            v[_IDX[k + "Left"]] = v[_IDX[k + "Right"]] = w
        else:
            raise KeyError(k)
    return v


#: Viseme target of each common phone (diphthongs are in :data:`DIPHTHONGS`).
#:
#: The values below are the TTS calibration; :data:`VOWEL_JAW_GAIN` (after the diphthongs) scales every
#: vowel's ``jawOpen`` target on top of them for real speech.
#:
#: Calibration of the jaw (2026-12): vowel ``jawOpen`` targets were raised by about 30 % so that,
#: after coarticulation and the jaw's lag, stressed AA/AE/AO in clear read speech peak at a median
#: of about 0.6 (0.58-0.61 on espeak-ng, Flite and Festival voices; before: 0.45-0.48, which left the
#: mouth subdued). Reference point: a hand-tuned ARKit viseme table in an open lip-sync project
#: (derived from the TalkingHead project's) gives the "aa" viseme ``jawOpen`` 0.7 with
#: ``mouthLowerDown`` 0.3; no ARKit capture of real speakers was available here to check against.
#: Targets above 0.6 are reached only on loud, long vowels.
VISEMES: dict[str, np.ndarray] = {
    SIL: _pose(jawOpen=0.03, mouthClose=0.03),
    "AA": _pose(jawOpen=0.80, mouthLowerDown=0.30, mouthUpperUp=0.10, mouthStretch=0.05),
    "AE": _pose(jawOpen=0.66, mouthStretch=0.30, mouthLowerDown=0.30, mouthUpperUp=0.22, mouthSmile=0.10),
    "AH": _pose(jawOpen=0.54, mouthLowerDown=0.18, mouthUpperUp=0.08),
    "AO": _pose(jawOpen=0.64, mouthFunnel=0.45, mouthPucker=0.15, mouthLowerDown=0.15),
    "EH": _pose(jawOpen=0.46, mouthStretch=0.28, mouthLowerDown=0.22, mouthUpperUp=0.12, mouthSmile=0.05),
    "ER": _pose(jawOpen=0.28, mouthFunnel=0.30, mouthPucker=0.25, mouthUpperUp=0.12),
    "IH": _pose(jawOpen=0.28, mouthStretch=0.30, mouthSmile=0.12, mouthLowerDown=0.12, mouthUpperUp=0.08),
    "IY": _pose(jawOpen=0.18, mouthStretch=0.42, mouthSmile=0.25, mouthUpperUp=0.12, mouthLowerDown=0.10,
                mouthDimple=0.10),
    "UH": _pose(jawOpen=0.30, mouthFunnel=0.30, mouthPucker=0.38),
    "UW": _pose(jawOpen=0.18, mouthPucker=0.72, mouthFunnel=0.32),
    # bilabials: the seal itself (mouthClose, press) comes from the closure envelope (step 4);
    # the blended targets only prepare it, so neighbouring vowels stay open
    "P": _pose(jawOpen=0.03, mouthPress=0.12, mouthRollLower=0.10, mouthRollUpper=0.08),
    "B": _pose(jawOpen=0.03, mouthPress=0.10, mouthRollLower=0.10, mouthRollUpper=0.08),
    "M": _pose(jawOpen=0.03, mouthPress=0.08, mouthRollLower=0.06, mouthRollUpper=0.05),
    # labiodentals: the lower lip rolls up under the upper incisors (on the default rig its top edge
    # comes within 0.5 mm of the incisors' edge) while the upper lip lifts off it; a jaw open by more
    # than ~0.05 would pull the lip off the teeth
    "F": _pose(jawOpen=0.03, mouthRollLower=0.55, mouthUpperUp=0.30, mouthShrugUpper=0.15, mouthFunnel=0.05),
    "V": _pose(jawOpen=0.03, mouthRollLower=0.52, mouthUpperUp=0.28, mouthShrugUpper=0.12, mouthFunnel=0.05),
    "TH": _pose(jawOpen=0.16, tongueOut=0.35, mouthLowerDown=0.12, mouthUpperUp=0.08),
    "DH": _pose(jawOpen=0.15, tongueOut=0.30, mouthLowerDown=0.12, mouthUpperUp=0.08),
    "T": _pose(jawOpen=0.14, mouthLowerDown=0.08, mouthUpperUp=0.06, mouthStretch=0.08),
    "D": _pose(jawOpen=0.14, mouthLowerDown=0.08, mouthUpperUp=0.06, mouthStretch=0.08),
    "N": _pose(jawOpen=0.12, mouthLowerDown=0.06, mouthUpperUp=0.05, mouthStretch=0.06),
    "L": _pose(jawOpen=0.20, mouthLowerDown=0.10, mouthUpperUp=0.05),
    "S": _pose(jawOpen=0.06, mouthStretch=0.22, mouthSmile=0.08, mouthUpperUp=0.12, mouthLowerDown=0.12),
    "Z": _pose(jawOpen=0.06, mouthStretch=0.20, mouthSmile=0.06, mouthUpperUp=0.12, mouthLowerDown=0.12),
    "SH": _pose(jawOpen=0.10, mouthFunnel=0.45, mouthPucker=0.30, mouthUpperUp=0.15, mouthLowerDown=0.12),
    "ZH": _pose(jawOpen=0.10, mouthFunnel=0.42, mouthPucker=0.28, mouthUpperUp=0.14, mouthLowerDown=0.12),
    "CH": _pose(jawOpen=0.10, mouthFunnel=0.42, mouthPucker=0.30, mouthUpperUp=0.12, mouthLowerDown=0.10),
    "JH": _pose(jawOpen=0.10, mouthFunnel=0.40, mouthPucker=0.28, mouthUpperUp=0.12, mouthLowerDown=0.10),
    "K": _pose(jawOpen=0.20, mouthStretch=0.06),
    "G": _pose(jawOpen=0.20, mouthStretch=0.06),
    "NG": _pose(jawOpen=0.16, mouthStretch=0.04),
    "HH": _pose(jawOpen=0.30),
    "R": _pose(jawOpen=0.14, mouthPucker=0.30, mouthFunnel=0.25),
    "W": _pose(jawOpen=0.08, mouthPucker=0.80, mouthFunnel=0.30),
    "Y": _pose(jawOpen=0.12, mouthStretch=0.30, mouthSmile=0.12),
}
_OW1 = _pose(jawOpen=0.50, mouthFunnel=0.55, mouthPucker=0.20, mouthLowerDown=0.12)
_GLIDE_U = _pose(jawOpen=0.20, mouthPucker=0.50, mouthFunnel=0.32)
#: Diphthong -> (first target, second target, fraction of the duration spent on the first).
DIPHTHONGS: dict[str, tuple[np.ndarray, np.ndarray, float]] = {
    "AY": (_pose(jawOpen=0.72, mouthLowerDown=0.26, mouthUpperUp=0.08), VISEMES["IY"] * 0.85, 0.55),
    "AW": (_pose(jawOpen=0.72, mouthLowerDown=0.26, mouthUpperUp=0.08), _GLIDE_U, 0.55),
    "EY": (VISEMES["EH"], VISEMES["IY"] * 0.85, 0.55),
    "OW": (_OW1, _GLIDE_U, 0.5),
    "OY": (VISEMES["AO"], VISEMES["IY"] * 0.8, 0.5),
}

#: Real-speech calibration of the jaw (2026-12-04), on top of the TTS calibration above: every vowel's
#: ``jawOpen`` target (diphthongs' both parts included) times this gain, and a faster jaw
#: (``TeacherConfig.jaw_omega`` 48 rad/s instead of 32: 90 % of a step in 81 ms instead of 122 ms).
#: Real read speech is faster than the TTS voices: its vowels are shorter and the jaw of the TTS
#: calibration reached a median peak of only 0.46 on stressed AA/AE/AO of clean real recordings
#: (the openly licensed set of ``diface eval --real``, teacher on a forced alignment, no style jitter).
#: With both: 0.57 (conversational 0.48, telephone 0.55, noisy 0.49), AA's target 0.96 (0.67-1.0 after
#: the loudness gain; reached on long, loud vowels only), AH's 0.65, IY's 0.22. The other lip shapes
#: are unchanged (scaling whole vowel poses cost f/v contacts: the lower lip was pulled off the teeth
#: next to an f/v). Measured by ``tools/teacher_calibration.py``.
VOWEL_JAW_GAIN = 1.2


def _vowel_jaw(pose: np.ndarray) -> np.ndarray:
    out = pose.copy()
    out[_IDX["jawOpen"]] *= VOWEL_JAW_GAIN
    return out


VISEMES = {k: (_vowel_jaw(v) if k in VOWELS else v) for k, v in VISEMES.items()}
DIPHTHONGS = {k: (_vowel_jaw(a), _vowel_jaw(b), f) for k, (a, b, f) in DIPHTHONGS.items()}

# dominance per group: jaw, round, lips, spread, vert, tongue
_DOM_CLASSES: dict[str, tuple[float, ...]] = {
    "vowel": (1.0, 1.0, 1.0, 1.0, 1.0, 0.5),
    "round_vowel": (1.0, 1.6, 1.0, 1.2, 1.0, 0.5),
    "bilabial": (2.0, 0.5, 1.5, 1.0, 2.0, 1.0),
    "labiodental": (1.5, 0.4, 3.0, 0.8, 2.5, 1.0),
    "dental": (1.5, 0.3, 0.5, 0.5, 0.8, 4.0),
    "alveolar": (1.2, 0.2, 0.3, 0.5, 0.5, 1.0),
    "sibilant": (1.4, 0.3, 0.3, 0.8, 1.2, 1.0),
    "postalveolar": (1.2, 2.0, 0.5, 1.0, 1.0, 1.0),
    "velar": (0.8, 0.2, 0.2, 0.3, 0.3, 0.5),
    "glottal": (0.25, 0.15, 0.15, 0.15, 0.15, 0.2),
    "r": (0.8, 1.5, 0.3, 0.8, 0.5, 0.5),
    "w": (1.0, 3.0, 0.5, 2.0, 1.0, 0.5),
    "y": (0.8, 0.5, 0.3, 1.5, 0.5, 0.5),
    "sil": (0.7, 0.7, 0.7, 0.7, 0.7, 0.7),
}
_PHONE_CLASS: dict[str, str] = {p: "vowel" for p in VOWELS}
_PHONE_CLASS.update({p: "round_vowel" for p in ("AO", "OW", "OY", "UH", "UW", "AW", "ER")})
_PHONE_CLASS.update({"P": "bilabial", "B": "bilabial", "M": "bilabial", "F": "labiodental", "V": "labiodental",
                     "TH": "dental", "DH": "dental", "T": "alveolar", "D": "alveolar", "N": "alveolar",
                     "L": "alveolar", "S": "sibilant", "Z": "sibilant", "SH": "postalveolar",
                     "ZH": "postalveolar", "CH": "postalveolar", "JH": "postalveolar", "K": "velar",
                     "G": "velar", "NG": "velar", "HH": "glottal", "R": "r", "W": "w", "Y": "y", SIL: "sil"})
assert set(_PHONE_CLASS) == set(PHONES)
#: width multiplier of the dominance functions per class (lip gestures of consonants are brief;
#: rounding spreads far, e.g. anticipatory rounding over consonant clusters)
_WIDTH: dict[str, float] = {"bilabial": 0.6, "labiodental": 0.7, "dental": 0.7, "round_vowel": 1.2, "w": 1.2}
assert set(VISEMES) | set(DIPHTHONGS) == set(PHONES)

_BROW = _pose(browInnerUp=1.0, browOuterUp=0.65, eyeWide=0.12)
_SMILE = _pose(mouthSmile=1.0, cheekSquint=0.5, mouthDimple=0.2)
_LEFT = np.array([i for i, n in enumerate(ARKIT_NAMES) if n.endswith("Left")])
_RIGHT = np.array([_IDX[ARKIT_NAMES[i][:-4] + "Right"] for i in _LEFT])


# ------------------------------------------------------------------ helpers
def normalise_phones(phones: Sequence[Phone]) -> list[Phone]:
    """Phones in the common set, sorted, with non-negative durations.

    Names already in the common set are kept; others are mapped as ARPAbet (stress digits,
    lower case, pocketsphinx noise words, ``sil``/``pau``); an unknown name becomes silence, except
    ``SPN``, a word a partial alignment could not place (:data:`diface_editor.core.transcript.UNALIGNED`),
    which is spoken as a neutral ``AH`` (its opening then follows the audio's loudness).
    """
    out: list[Phone] = []
    for name, s, e in sorted(((str(n), float(s), float(e)) for n, s, e in phones), key=lambda p: p[1]):
        if e <= s:
            continue
        if name == UNALIGNED:
            name = "AH"
        common = (name,) if name in _PHONE_CLASS else to_common(name, "arpabet")
        if len(common) == 1:
            out.append((common[0], s, e))
        else:
            cut = s + 0.6 * (e - s)
            out += [(common[0], s, cut), (common[1], cut, e)]
    return out


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _crit_damped(x: np.ndarray, omega: float, dt: float) -> np.ndarray:
    """Critically damped 2nd-order lag (two cascaded 1st-order lags) along axis 0, starting at rest
    at ``x[0]``."""
    p = float(np.exp(-omega * dt))
    b, a = np.array([1 - p]), np.array([1.0, -p])
    y = x
    for _ in range(2):
        zi = (p * y[:1])  # steady state at the first value
        y, _ = lfilter(b, a, y, axis=0, zi=zi)
    return y


@dataclass
class _Segment:
    phone: str
    start: float
    end: float
    target: np.ndarray  # (52,)
    alpha: np.ndarray   # (6,) dominance per group
    width: float = 1.0  # multiplier of the dominance width


def _segments(phones: list[Phone], loud: np.ndarray | None, fps: float, rng: np.random.Generator | None,
              articulation: float, gains: np.ndarray | None = None) -> list[_Segment]:
    """Coarticulation segments of ``phones``; each phone's gain is drawn from ``rng`` in order, or
    taken from ``gains`` (the same draws made before, one per phone)."""
    segs: list[_Segment] = []
    for i, (name, s, e) in enumerate(phones):
        alpha = np.asarray(_DOM_CLASSES[_PHONE_CLASS[name]], np.float32)
        width = _WIDTH.get(_PHONE_CLASS[name], 1.0)
        gain = articulation * float(rng.uniform(0.92, 1.08) if gains is None else gains[i])
        if name in VOWELS and loud is not None:
            a, b = int(s * fps), max(int(s * fps) + 1, int(np.ceil(e * fps)))
            level = float(np.max(loud[min(a, loud.size - 1):min(b, loud.size)])) if loud.size else 0.0
            gain *= 0.7 + 0.45 * float(np.clip((level + 24.0) / 24.0, 0.0, 1.0))
        if name in DIPHTHONGS:
            t1, t2, frac = DIPHTHONGS[name]
            cut = s + frac * (e - s)
            segs.append(_Segment(name, s, cut, t1 * gain, alpha, width))
            segs.append(_Segment(name, cut, e, t2 * gain, alpha * 0.8, width))
        else:
            tgt = VISEMES[name] * (gain if name in VOWELS else min(gain, 1.1))
            if name in BILABIALS or name == SIL:
                tgt = VISEMES[name].copy()
            segs.append(_Segment(name, s, e, tgt, alpha, width))
    return segs


def _blend(segs: list[_Segment], t: np.ndarray, grid: tuple[float, float, int] | None = None) -> np.ndarray:
    """(len(t), 52) dominance-weighted targets (mouth channels only; others 0). ``grid = (t0, step,
    offset)``: ``t`` is samples ``offset..`` of a longer grid starting at ``t0`` (each segment's
    reach is cut on that grid's indices, so a window gives what the whole grid gives there).

    Every segment's dominance covers a band of samples around it; the bands of all segments are laid
    end to end and summed per sample in segment order (``np.bincount``), as a loop over the segments
    adding band after band would."""
    n = t.size
    num = np.zeros((n, C), np.float64)
    den = np.full((n, len(GROUP_NAMES)), 1e-4)
    neutral = VISEMES[SIL].astype(np.float64)
    for g in GROUP_NAMES:
        num[:, _GROUP_IDX[g]] += 1e-4 * neutral[_GROUP_IDX[g]]
    t0, step, offset = grid if grid is not None else (t[0] if n else 0.0, t[1] - t[0] if n > 1 else 1.0, 0)
    if segs and n:
        start = np.array([sg.start for sg in segs], np.float64)
        end = np.array([sg.end for sg in segs], np.float64)
        sil = np.array([sg.phone == SIL for sg in segs])
        width = np.array([sg.width for sg in segs], np.float64)
        dur = end - start
        c = 0.5 * (start + end)
        # a pause: the mouth relaxes ~90 ms into it; else the core is the middle half, and before it
        # (anticipation) the influence reaches further
        half = np.where(sil, np.maximum(0.0, 0.5 * dur - 0.09), 0.25 * dur)
        w = (0.045 + 0.25 * dur) * width
        w_before = np.where(sil, 0.06, 1.35 * w)
        w_after = np.where(sil, 0.06, w)
        reach = np.maximum(w_before, w_after) * 3.5
        lo = np.maximum(0, np.floor((start - reach - t0) / step).astype(np.int64) - offset)
        hi = np.minimum(n, np.ceil((end + reach - t0) / step).astype(np.int64) + 1 - offset)
        seg, pos = concat_ranges(lo, hi - lo)  # each band sample's segment and sample index
        if pos.size:
            tt = t[pos]
            d_before = np.clip((c - half)[seg] - tt, 0.0, None)
            d_after = np.clip(tt - (c + half)[seg], 0.0, None)
            shape = np.exp(-((d_before / w_before[seg]) ** 1.5) - ((d_after / w_after[seg]) ** 1.5))
            alpha = np.array([np.asarray(sg.alpha, np.float64) for sg in segs])  # (S, groups)
            target = np.array([sg.target[_MOUTH_IDX] for sg in segs], np.float64)  # (S, mouth channels)
            for k in range(len(GROUP_NAMES)):
                dom = shape * alpha[seg, k]
                den[:, k] += np.bincount(pos, dom, minlength=n)
                for j in np.nonzero(_MOUTH_GROUP == k)[0]:
                    num[:, _MOUTH_IDX[j]] += np.bincount(pos, dom * target[seg, j], minlength=n)
    out = np.zeros((n, C), np.float64)
    for k, g in enumerate(GROUP_NAMES):
        idx = _GROUP_IDX[g]
        out[:, idx] = num[:, idx] / den[:, k:k + 1]
    return out


def _closure_envelope(phones: list[Phone], t: np.ndarray, fps: float, ramp: float = 0.04,
                      which: frozenset[str] | tuple[str, ...] = tuple(BILABIALS)) -> np.ndarray:
    """(len(t),) in [0, 1]: 1 in the core of every phone of ``which`` (P/B/M by default; at least 1.1
    frames wide), raised-cosine ramps."""
    env = np.zeros(t.size)
    for name, s, e in phones:
        if name not in which:
            continue
        c = 0.5 * (s + e)
        half = max(0.3 * (e - s), 0.55 / fps)
        d = np.abs(t - c) - half
        env = np.maximum(env, 1.0 - _smoothstep(d / ramp))
    return env


def _bump(t: np.ndarray, centre: float, rise: float, fall: float) -> np.ndarray:
    """Asymmetric smooth bump peaking at 1 at ``centre``."""
    x = np.where(t < centre, (centre - t) / rise, (t - centre) / fall)
    return np.exp(-0.5 * x * x)


def _accents(phones: list[Phone], pros: Prosody | None, fps: float, rng: np.random.Generator,
             min_gap: float = 0.6) -> list[tuple[float, float]]:
    """Accented vowels: [(time_s, strength 0..1)], local loudness/pitch/duration peaks."""
    vowels = [(s, e) for p, s, e in phones if p in VOWELS]
    if not vowels:
        return []
    scores = []
    for s, e in vowels:
        a = min(int(s * fps), 10 ** 9)
        b = max(a + 1, int(np.ceil(e * fps)))
        dur_term = np.clip((e - s) / 0.15, 0.0, 2.0)
        if pros is not None and pros.loudness.size:
            a2, b2 = min(a, pros.loudness.size - 1), min(b, pros.loudness.size)
            loud = float(np.max(pros.loudness[a2:b2]))
            f0 = pros.f0[a2:b2]
            pitch = float(np.max(f0)) if np.any(f0 > 0) else 0.0
            scores.append((loud / 6.0 + dur_term, pitch))
        else:
            scores.append((dur_term, 0.0))
    sc = np.array([s[0] for s in scores], np.float64)
    pitches = np.array([s[1] for s in scores], np.float64)
    voiced = pitches > 0
    if voiced.sum() >= 3:
        z = (pitches - pitches[voiced].mean()) / (pitches[voiced].std() + 1e-6)
        sc = sc + 0.5 * np.where(voiced, z, 0.0)
    sc = sc + rng.normal(0.0, 0.15, sc.size)
    thresh = np.percentile(sc, 70)
    order = np.argsort(-sc)
    chosen: list[tuple[float, float]] = []
    lo, hi = float(sc.min()), float(sc.max())
    for i in order:
        if sc[i] < thresh:
            break
        tc = vowels[i][0] + 0.3 * (vowels[i][1] - vowels[i][0])
        if all(abs(tc - c) >= min_gap for c, _ in chosen):
            chosen.append((tc, float(0.4 + 0.6 * (sc[i] - lo) / (hi - lo + 1e-9))))
    return sorted(chosen)


def _blinks(t: np.ndarray, phones: list[Phone], cfg: TeacherConfig, rng: np.random.Generator) -> np.ndarray:
    """(T, 2) eyeBlink left/right curves (:mod:`diface_editor.core.blinks`, more likely at pauses)."""
    dur_total = float(t[-1]) + 1.0 / cfg.fps if t.size else 0.0
    pauses = [(s, e) for p, s, e in phones if p == SIL]
    times = blink_times(dur_total, rng, interval_s=cfg.blink_interval_s, blink_s=cfg.blink_duration_s, pauses=pauses)
    return blink_curves(t, times, rng, cfg.blink_duration_s)


def _filtered_noise(n: int, sigma_frames: float, rng: np.random.Generator) -> np.ndarray:
    """(n,) smooth Gaussian noise with unit standard deviation (in expectation)."""
    pad = int(4 * sigma_frames) + 1
    white = rng.standard_normal(n + 2 * pad)
    y = gaussian_filter1d(white, sigma_frames, mode="wrap")[pad:pad + n]
    return y * np.sqrt(2.0 * np.sqrt(np.pi) * sigma_frames)


def _head(t: np.ndarray, phones: list[Phone], pros: Prosody | None, accents: list[tuple[float, float]],
          cfg: TeacherConfig, rng: np.random.Generator) -> np.ndarray:
    """(T, 3) axis-angle radians: x = nod (positive: chin down), y = turn, z = tilt."""
    n, fps = t.size, cfg.fps
    deg = np.pi / 180.0
    speaking = np.zeros(n)
    for p, s, e in phones:
        if p != SIL:
            speaking[(t >= s) & (t < e)] = 1.0
    activity = gaussian_filter1d(speaking, 0.4 * fps) if n > 1 else speaking
    head = np.zeros((n, 3))
    for axis in range(3):
        fast = _filtered_noise(n, 0.35 * fps, rng)
        slow = _filtered_noise(n, 1.5 * fps, rng)
        head[:, axis] = cfg.head_noise_deg[axis] * deg * (fast * (0.55 + 0.45 * activity) + 0.8 * slow)
    head += rng.uniform(-1.0, 1.0, 3) * deg  # resting pose of this clip
    for tc, strength in accents:
        amp = cfg.head_nod_deg * deg * strength * float(rng.uniform(0.6, 1.2))
        head[:, 0] += amp * (_bump(t, tc + 0.06, 0.10, 0.22) - 0.35 * _bump(t, tc - 0.12, 0.12, 0.12))
        head[:, 1] += 0.3 * amp * float(rng.normal()) * _bump(t, tc, 0.15, 0.3)
    if pros is not None and np.count_nonzero(pros.voiced) >= 5:
        f0 = pros.f0.astype(np.float64)
        v = pros.voiced
        semis = np.zeros(n)
        semis[v] = 12.0 * np.log2(f0[v] / np.median(f0[v]))
        idx = np.arange(n)
        semis = np.interp(idx, idx[v], semis[v])  # bridge unvoiced stretches
        semis = gaussian_filter1d(semis, 0.12 * fps)
        head[:, 0] -= np.clip(semis / 4.0, -1.5, 1.5) * 1.0 * deg * activity  # higher pitch -> chin up
        loud = gaussian_filter1d(pros.loudness.astype(np.float64), 0.2 * fps)
        head[:, 2] += float(rng.choice([-1.0, 1.0])) * 0.4 * deg * np.clip((loud + 20.0) / 20.0, 0.0, 1.0)
    lim = cfg.head_limit_deg * deg
    head = lim * np.tanh(head / lim)
    if n > 3:
        head = gaussian_filter1d(head, 1.0, axis=0)
    return head


# ------------------------------------------------------------------ the animator
def _mouth(ph: list[Phone], segs: list[_Segment], n: int, fps: float, cfg: TeacherConfig,
           start: int = 0, stop: int | None = None) -> np.ndarray:
    """(stop - start, 52) frames ``start..stop`` of the mouth (other channels 0): coarticulated targets,
    critically damped dynamics (at rest at frame ``start``), closures and labiodental contact."""
    stop = n if stop is None else stop
    sub = 4
    dt = 1.0 / (fps * sub)
    ts = np.arange(start * sub, stop * sub) * dt
    t = np.arange(start, stop) / fps
    face = np.zeros((ts.size, C))
    for omega, groups in ((cfg.jaw_omega, ("jaw",)), (cfg.lip_omega, ("round", "lips", "spread", "vert", "tongue"))):
        lead = 2.0 / omega + cfg.anticipation_s
        # the whole clip's sample grid (as a whole-clip pass computes it): a window cuts the same reach
        grid = (0.0 + lead, (dt + lead) - (0.0 + lead) if n * sub > 1 else 1.0, start * sub)
        targets = _blend(segs, ts + lead, grid)
        idx = np.concatenate([_GROUP_IDX[g] for g in groups])
        face[:, idx] = _crit_damped(targets[:, idx], omega, dt)
    face = face[::sub]
    env = _closure_envelope(ph, t + cfg.anticipation_s * 0.5, fps)
    e = env[:, None]
    jaw = _IDX["jawOpen"]
    face[:, jaw] = face[:, jaw] * (1 - env) + 0.015 * env
    for name, level in (("mouthClose", 0.5), ("mouthPressLeft", 0.42), ("mouthPressRight", 0.42),
                        ("mouthRollLower", 0.12), ("mouthRollUpper", 0.10)):
        i = _IDX[name]
        face[:, i] = np.maximum(face[:, i], level * env)
    for name, keep in (("mouthFunnel", 0.4), ("mouthPucker", 0.6), ("mouthLowerDownLeft", 0.0),
                       ("mouthLowerDownRight", 0.0), ("mouthUpperUpLeft", 0.0), ("mouthUpperUpRight", 0.0),
                       ("tongueOut", 0.0), ("mouthStretchLeft", 0.5), ("mouthStretchRight", 0.5)):
        i = _IDX[name]
        face[:, i] = face[:, i] * (1 - e[:, 0] * (1 - keep))
    # labiodental contact: in the core of every F/V the lower lip rolls up to the upper incisors
    # whatever the neighbours (a jaw left open by a vowel would hold the lip off the teeth)
    fv = _closure_envelope(ph, t + cfg.anticipation_s * 0.5, fps, ramp=0.035, which=("F", "V"))
    face[:, jaw] = face[:, jaw] * (1 - fv) + 0.03 * fv
    for name, level in (("mouthRollLower", 0.5), ("mouthUpperUpLeft", 0.26), ("mouthUpperUpRight", 0.26)):
        i = _IDX[name]
        face[:, i] = np.maximum(face[:, i], level * fv)
    for name in ("mouthLowerDownLeft", "mouthLowerDownRight", "mouthClose", "mouthFunnel", "mouthPucker"):
        i = _IDX[name]
        face[:, i] = face[:, i] * (1 - 0.85 * fv)
    return face


#: a windowed :func:`mouth_track` starts its dynamics this long before the frames it returns (they
#: settle to 1e-12 of a whole-clip pass: the slowest lag decays as exp(-min(jaw_omega, lip_omega) * t))
MOUTH_SETTLE_S = 1.0


def mouth_track(phones: Sequence[Phone], n_frames: int, config: TeacherConfig | None = None, *,
                prosody: Prosody | None = None, seed: int = 0,
                frames: tuple[int, int] | None = None) -> np.ndarray:
    """Frames ``frames = (start, stop)`` (default all ``n_frames``) of the mouth channels of
    :func:`animate` (ARKit order, the other channels 0), without the rest of the face and the head.

    Equal to ``animate(phones, n_frames / fps, seed=seed, config=config, prosody=prosody).face`` on
    the mouth channels; a window starts its dynamics :data:`MOUTH_SETTLE_S` earlier, so it matches a
    whole-clip pass to about 1e-12. Only for a jitter-free teacher (``config.style_jitter == 0``),
    whose mouth does not depend on the style draws.
    """
    cfg = config or TeacherConfig()
    if cfg.style_jitter != 0.0:
        raise ValueError("mouth_track needs a jitter-free teacher (style_jitter = 0)")
    fps = float(cfg.fps)
    n = max(1, int(n_frames))
    start, stop = (0, n) if frames is None else (max(0, int(frames[0])), min(n, int(frames[1])))
    ph = normalise_phones(phones) or [(SIL, 0.0, n / fps)]
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0x7EAC4E2])
    # the segment gains' stream, as in animate: one draw per phone, in order (drawn at once here)
    gains = np.random.default_rng(ss.spawn(5)[1]).uniform(0.92, 1.08, size=len(ph))
    first = max(0, start - int(np.ceil(MOUTH_SETTLE_S * fps)))
    end = max(stop, first + 1)
    if frames is not None:  # only the phones that reach these frames: every other one adds exactly 0 there
        lead = 2.0 / min(cfg.jaw_omega, cfg.lip_omega) + cfg.anticipation_s
        lo, hi = first / fps - 2.0 / fps, end / fps + lead + 2.0 / fps
        keep = [i for i, (name, s, e) in enumerate(ph) if e + _phone_reach(name, s, e) >= lo
                and s - _phone_reach(name, s, e) <= hi]
        ph, gains = [ph[i] for i in keep], gains[keep]
    segs = _segments(ph, prosody.loudness if prosody is not None else None, fps, None, cfg.articulation, gains)
    face = _mouth(ph, segs, n, fps, cfg, first, end)[start - first:stop - first]
    return np.clip(face, 0.0, 1.0).astype(np.float32)


def _phone_reach(name: str, s: float, e: float) -> float:
    """Seconds beyond its start and end within which a phone's segment (its dominance, or its closure /
    contact envelope) can move the mouth's targets."""
    w = (0.045 + 0.25 * (e - s)) * _WIDTH.get(_PHONE_CLASS[name], 1.0)
    return max(0.25, 3.5 * 1.35 * w, 0.3 * (e - s) + 0.1)


def mouth_reach(phones: Sequence[Phone], config: TeacherConfig | None = None) -> tuple[float, float]:
    """``(before_s, after_s)``: how far before the first start and after the last end of ``phones``
    a change of these phones can change :func:`mouth_track` (dominance reach and anticipation
    before; reach and the dynamics' settling, :data:`MOUTH_SETTLE_S`, after)."""
    cfg = config or TeacherConfig()
    reach = max([_phone_reach(name, s, e) for name, s, e in normalise_phones(phones)], default=0.25)
    lead = 2.0 / min(cfg.jaw_omega, cfg.lip_omega) + cfg.anticipation_s
    return reach + lead + 2.0 / cfg.fps, reach + MOUTH_SETTLE_S + 2.0 / cfg.fps


def animate(phones: Sequence[Phone], duration: float | None = None, samples: np.ndarray | None = None,
            sample_rate: int | None = None, seed: int = 0, config: TeacherConfig | None = None,
            prosody: Prosody | None = None) -> Animation:
    """Animate a timed phone sequence.

    Args:
        phones: ``(phone, start_s, end_s)`` tuples in the common phone set (ARPAbet names with
            stress digits, ``sil``/``pau`` and pocketsphinx noise words are accepted too).
        duration: clip length in seconds; default: the audio's length, else the last phone's end.
        samples: optional (N,) mono audio of the speech (prosody: loudness and pitch drive jaw
            amplitude, accents, brows and head motion). Without it, accents come from vowel
            durations.
        sample_rate: Hz of ``samples``.
        seed: random seed (blinks, style, head noise); same inputs + seed -> identical output.
        config: :class:`TeacherConfig` (default parameters if None).
        prosody: ``analyse(samples, sample_rate, n, fps)`` computed before, for callers that animate
            the same audio again (the result is the same as without it).

    Returns:
        :class:`~diface_editor.core.animation.Animation` in the ``"arkit"`` space at ``config.fps``
        with ``round(duration * fps)`` frames (at least 1); face (T, 52) in [0, 1], head (T, 3)
        axis-angle radians.
    """
    cfg = config or TeacherConfig()
    fps = float(cfg.fps)
    ph = normalise_phones(phones)
    if samples is not None:
        if not sample_rate:
            raise ValueError("sample_rate is required with samples")
        samples = np.asarray(samples, np.float32).reshape(-1)
    if duration is None:
        if samples is not None:
            duration = samples.size / float(sample_rate)
        else:
            duration = ph[-1][2] if ph else 0.0
    n = max(1, int(round(float(duration) * fps)))
    t = np.arange(n) / fps
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0x7EAC4E2])
    r_style, r_seg, r_blink, r_brow, r_head = (np.random.default_rng(s) for s in ss.spawn(5))

    pros = prosody
    if pros is None and samples is not None and samples.size:
        pros = analyse(samples, int(sample_rate), n, fps)
    j = cfg.style_jitter
    articulation = cfg.articulation * float(1.0 + j * r_style.uniform(-0.12, 0.12))
    smile_bias = max(0.0, float(j * r_style.uniform(-0.05, 0.15)))
    asym = 1.0 + j * r_style.uniform(-0.06, 0.06, 2)
    if not ph:
        ph = [(SIL, 0.0, float(duration))]

    # mouth: coarticulated targets -> critically damped dynamics -> closures
    segs = _segments(ph, pros.loudness if pros is not None else None, fps, r_seg, articulation)
    face = _mouth(ph, segs, n, fps, cfg)

    # expression layers
    face += smile_bias * _SMILE[None, :]
    accents = _accents(ph, pros, fps, r_brow)
    brow = np.zeros(n)
    for tc, strength in accents:
        amp = cfg.brow_amount * strength * float(r_brow.uniform(0.5, 1.0))
        brow = np.maximum(brow, amp * _bump(t, tc, 0.12, 0.35))
    face += brow[:, None] * _BROW[None, :]
    blinks = _blinks(t, ph, cfg, r_blink)
    face[:, _IDX["eyeBlinkLeft"]] = np.maximum(face[:, _IDX["eyeBlinkLeft"]], blinks[:, 0])
    face[:, _IDX["eyeBlinkRight"]] = np.maximum(face[:, _IDX["eyeBlinkRight"]], blinks[:, 1])
    face[:, _IDX["eyeWideLeft"]] *= 1 - blinks[:, 0]
    face[:, _IDX["eyeWideRight"]] *= 1 - blinks[:, 1]
    # left/right asymmetry (not on blinks)
    lr = np.array([i for i in _LEFT if not ARKIT_NAMES[i].startswith("eyeBlink")])
    rr = np.array([_IDX[ARKIT_NAMES[i][:-4] + "Right"] for i in lr])
    face[:, lr] *= asym[0]
    face[:, rr] *= asym[1]
    face = np.clip(face, 0.0, 1.0)

    head = _head(t, ph, pros, accents, cfg, r_head)
    meta = {"source": "teacher", "seed": str(int(seed))}
    return Animation(fps=fps, face=face.astype(np.float32), head=head.astype(np.float32),
                     channel_names=ARKIT_NAMES, space="arkit", metadata=meta)
