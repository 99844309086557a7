"""Lip sync on real recorded speech, per recording condition (``diface eval --real DIR``).

Real recordings have no motion ground truth. What can be checked is whether the mouth does what
the phones demand, from a pocketsphinx forced alignment of the transcript
(:func:`diface_editor.synth.align.align`):

* ``openness_corr``: Pearson correlation, pooled over all frames of a condition, of the mouth
  openness ``jawOpen - mouthClose`` with a phone-timed reference (:data:`REF_LEVELS`: -0.4 at p/b/m
  (sealed lips), 0.05 in pauses, 1 on open vowels, 0.6 on mid vowels, 0.35 on close vowels, 0.1 on
  f/v, 0.25 on other consonants; Gaussian-smoothed with sigma 2 frames = 67 ms);
* ``closure``: share of p/b/m phones during which the default rig's mid-lip gap drops to
  :data:`CLOSED_GAP_MM` (1.5 mm) or less at some frame from one frame before the phone to one after;
* ``fv_contact``: share of f/v phones during which the lower lip's top edge comes within
  :data:`FV_CONTACT_MM` (1 mm) of the upper incisors' edge (or above it) in the same frame range;
* ``open_vowel_jaw``: median over stressed-or-not AA/AE/AO vowels of the largest ``jawOpen`` during
  the vowel, and ``open_vowel_open``: the share of those whose mid-lip gap reaches 3 mm.

With ``with_transcript`` (``diface eval --real DIR --with-transcript``) the model is also run with the
viseme constraints of the same alignment (:mod:`diface_editor.engine.visemes`, strength 1), reported
as ``model_transcript`` beside the existing keys, and ``transcript_minus_teacher`` gives its pooled
openness correlation minus the jitter-free teacher's with a 95 % interval from a paired bootstrap over
the condition's clips (:func:`paired_corr_difference`): whether a difference of a few thousandths is
more than the choice of clips.

``model`` is what ``diface generate AUDIO`` gives with default settings: the words recognised in the
audio (Whisper tiny.en, :func:`diface_editor.engine.edit_policy.transcribe_speech`), aligned, pin the
visemes; where nothing is recognised or the recognised words cannot be aligned, the model's audio-only
result. ``model_audio_only`` is the diffusion model alone (``--no-transcribe``); ``recognition`` gives
the recogniser's word error rate per condition (against the folder's transcripts) and how many clips
fell back to audio only. ``transcribe=False`` (``diface eval --real DIR --no-transcribe``) reports the
audio-only model as ``model``, as before 2026-12-04.

Each is reported for the model (its recommended sampler, no blinks), for the teacher
animator driven by the same alignment (the reference a transcript-driven tool gets: ``teacher`` with the
style of ``seed``, whose per-clip jitter scales the articulation by up to 12 % either way, +11.6 % for
seed 0, and ``teacher_no_jitter``, the values the viseme constraints pin) and, for the correlation, for
a plain audio-energy follower (the floor any audio-driven model should beat). One style draw is one
sample of the teacher: ``teacher_styles`` gives the teacher's openness correlation over
``style_seeds`` draws (seeds 0, 1, ...: mean, min, max and each; on the shipped set seed 0 is the
highest of the first 8 in every condition).

The evaluation folder holds one sub-folder per condition (``clean``, ``conversational``,
``telephone``, ``noisy``, or any other name), each with ``<name>.wav`` + ``<name>.txt`` pairs; a folder
of pairs without sub-folders is one condition named after it. ``tools/build_real_sets.py``
builds the set the model card reports from openly licensed recordings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d

from diface_editor.bench.evaluate import RigGeometry, phone_frames, share_below
from diface_editor.core.errors import DifaceError

log = logging.getLogger(__name__)

CLOSED_GAP_MM = 1.5
FV_CONTACT_MM = 1.0
OPEN_GAP_MM = 3.0
BILABIALS = ("P", "B", "M")
LABIODENTALS = ("F", "V")
OPEN_VOWELS = ("AA", "AE", "AO")
#: phone-timed openness reference: (phones, level) in the units of the measured openness
#: ``jawOpen - mouthClose``: sealed lips at p/b/m are below the rest pose (ARKit's ``mouthClose`` is
#: about 0.4-0.5 while the jaw is nearly shut; the teacher seals with 0.5), the rest pose in pauses is
#: slightly open, and vowels open by height, the textbook determinant of jaw opening; every other
#: phone (consonants) is :data:`REF_CONSONANT`
REF_LEVELS: tuple[tuple[tuple[str, ...], float], ...] = (
    (("SIL", "SP", ""), 0.05),
    (BILABIALS, -0.4),
    (("AA", "AE", "AO", "AW", "AY"), 1.0),          # open
    (("AH", "EH", "ER", "EY", "OW", "OY"), 0.6),    # mid
    (("IH", "IY", "UH", "UW"), 0.35),               # close
    (LABIODENTALS, 0.1),
)
REF_CONSONANT = 0.25
REF_SIGMA_FRAMES = 2.0
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


class RealEvalError(DifaceError):
    """The real-speech evaluation folder is unusable."""


# ---------------------------------------------------------------------- geometry
@dataclass
class MouthGeometry(RigGeometry):
    """The default rig's mid-lip geometry (:class:`~diface_editor.bench.evaluate.RigGeometry`) plus the
    upper incisors' biting edge.

    Attributes:
        incisor_edge_y: height (m) of the upper incisors' biting edge (teeth vertices that
            ``jawOpen`` does not move, within 3 mm of the front).
    """

    incisor_edge_y: float = 0.0

    @classmethod
    def default(cls) -> MouthGeometry:
        geo = super().default()
        rig = geo.rig
        extra = rig.extra or {}
        labels, names = extra.get("part_labels"), [str(n) for n in extra.get("part_names", [])]
        if labels is None or "teeth" not in names:
            raise RealEvalError("the default head rig has no teeth part; the f/v check needs it")
        T, jaw = rig.template, rig.deltas[rig.shape_index("jawOpen")]
        teeth = np.flatnonzero(np.asarray(labels) == names.index("teeth"))
        upper = teeth[np.abs(jaw[teeth, 1]) < 1e-4]
        front = upper[T[upper, 2] > T[upper, 2].max() - 0.003]
        geo.incisor_edge_y = float(T[front, 1].min())
        return geo

    def lip_to_teeth_mm(self, w: np.ndarray) -> np.ndarray:
        """(T,) height of the upper incisors' edge above the lower lip's top (mm; <= 0: the lip
        reaches or passes the edge)."""
        low = self.verts(w, self.lip_lower_mid)[..., 1].max(axis=1)
        return (self.incisor_edge_y - low) * 1000.0


# ---------------------------------------------------------------------- per-phone checks
def reference_level(phone: str) -> float:
    """Openness reference level of one phone (see :data:`REF_LEVELS`)."""
    name = str(phone).upper().rstrip("012")
    for names, v in REF_LEVELS:
        if name in names:
            return v
    return REF_CONSONANT


def reference_openness(phones, n: int, fps: float) -> np.ndarray:
    """(n,) phone-timed openness reference (see the module doc)."""
    ref = np.zeros(n, np.float64)
    t = (np.arange(n) + 0.5) / fps
    for ph, a, b in phones:
        ref[(t >= a) & (t < b)] = reference_level(ph)
    return gaussian_filter1d(ref, REF_SIGMA_FRAMES, mode="nearest")


def energy_openness(samples: np.ndarray, sample_rate: int, n: int, fps: float) -> np.ndarray:
    """(n,) an audio-energy follower: log RMS per frame, floored 50 dB below the loudest frame."""
    hop = sample_rate / fps
    x = np.asarray(samples, np.float64)
    out = np.empty(n)
    for i in range(n):
        seg = x[int(i * hop):int((i + 1) * hop)]
        out[i] = np.sqrt(np.mean(seg ** 2)) if seg.size else 0.0
    db = 20 * np.log10(out + 1e-9)
    return np.clip(db - db.max() + 50.0, 0.0, None)


def mouth_openness(geo: MouthGeometry, w: np.ndarray) -> np.ndarray:
    """(T,) the measured openness ``jawOpen - mouthClose`` of (T, C) rig weights ``w``."""
    return w[:, geo.rig.shape_index("jawOpen")] - w[:, geo.rig.shape_index("mouthClose")]


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    return float(np.corrcoef(a, b)[0, 1]) if a.std() > 1e-9 and b.std() > 1e-9 else None


def paired_corr_difference(a: list[np.ndarray], b: list[np.ndarray], ref: list[np.ndarray], *,
                           resamples: int = 2000, seed: int = 0) -> dict[str, Any] | None:
    """Pooled correlation of ``a`` with ``ref`` minus that of ``b``, with a 95 % interval from a paired
    bootstrap over clips.

    Args:
        a, b: per clip, the (T_i,) openness of the two methods (the same clips, the same frames).
        ref: per clip, the (T_i,) reference.
        resamples: bootstrap draws; each draws as many clips as there are, with replacement, and takes
            the same clips for both methods (the clips' difficulty cancels; what remains is how much
            the difference depends on which clips happen to be in the set).
        seed: random seed of the draws.
    Returns:
        ``{"difference", "ci95": [lo, hi], "clips", "resamples", "share_above_zero"}``, or ``None``
        when a correlation is undefined (a flat signal).
    """
    def sums(x: list[np.ndarray]) -> np.ndarray:  # per clip: n, sum x, sum y, sum x^2, sum y^2, sum xy
        return np.array([[len(u), u.sum(), r.sum(), (u * u).sum(), (r * r).sum(), (u * r).sum()]
                         for u, r in zip(x, ref)], np.float64)

    def corr(st: np.ndarray) -> np.ndarray:  # pooled Pearson r of summed statistics (..., 6)
        n, sx, sy, sxx, syy, sxy = np.moveaxis(st, -1, 0)
        vx, vy = n * sxx - sx * sx, n * syy - sy * sy
        with np.errstate(invalid="ignore", divide="ignore"):
            return (n * sxy - sx * sy) / np.sqrt(vx * vy)

    if not a or len(a) != len(b) or len(a) != len(ref):
        return None
    sa, sb = sums(list(a)), sums(list(b))
    d = float(corr(sa.sum(0)) - corr(sb.sum(0)))
    if not np.isfinite(d):
        return None
    rng = np.random.default_rng(seed)
    w = rng.multinomial(len(a), np.full(len(a), 1.0 / len(a)), size=int(resamples)).astype(np.float64)
    boot = corr(w @ sa) - corr(w @ sb)
    boot = boot[np.isfinite(boot)]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"difference": d, "ci95": [float(lo), float(hi)], "clips": len(a), "resamples": int(boot.size),
            "share_above_zero": float(np.mean(boot > 0))}


# ---------------------------------------------------------------------- data
@dataclass
class RealClip:
    """One recording: condition, name, audio and transcript."""

    condition: str
    name: str
    clip: Any
    text: str


def load_real_set(folder: str | Path, max_clips: int | None = None) -> list[RealClip]:
    """Recordings of an evaluation folder, grouped by condition sub-folder (see the module doc)."""
    from diface_editor.core.audio import AudioClip

    root = Path(folder)
    if not root.is_dir():
        raise RealEvalError(f"{root} is not a folder (expected condition sub-folders of <name>.wav + <name>.txt)")
    subdirs = sorted(d for d in root.iterdir() if d.is_dir())
    groups = [(d.name, d) for d in subdirs] or [(root.name, root)]
    clips: list[RealClip] = []
    for cond, d in groups:
        pairs = [p for p in sorted(d.iterdir()) if p.suffix.lower() in AUDIO_SUFFIXES and p.with_suffix(".txt").is_file()]
        for p in pairs[:max_clips] if max_clips else pairs:
            text = p.with_suffix(".txt").read_text(encoding="utf-8", errors="replace").strip()
            if text:
                clips.append(RealClip(cond, p.stem, AudioClip.load(p), text))
    if not clips:
        raise RealEvalError(f"no <name>.wav + <name>.txt pairs in {root} or its sub-folders")
    return clips


# ---------------------------------------------------------------------- the report
class _Tally:
    """Pooled counts and frames of one (condition, method)."""

    def __init__(self) -> None:
        self.n = {"closure": [0, 0], "fv_contact": [0, 0], "open_vowel_open": [0, 0]}
        self.open_jaw: list[float] = []
        self.pred: list[np.ndarray] = []
        self.ref: list[np.ndarray] = []

    def add(self, geo: MouthGeometry, w: np.ndarray, phones, fps: float, ref: np.ndarray) -> dict[str, Any]:
        jaw = w[:, geo.rig.shape_index("jawOpen")]
        openness = mouth_openness(geo, w)
        gap, teeth = geo.lip_gap_mm(w), geo.lip_to_teeth_mm(w)
        row: dict[str, Any] = {}
        for key, sig, names, thr in (("closure", gap, BILABIALS, CLOSED_GAP_MM),
                                     ("fv_contact", teeth, LABIODENTALS, FV_CONTACT_MM),
                                     ("open_vowel_open", -gap, OPEN_VOWELS, -OPEN_GAP_MM)):
            h, t = share_below(sig, phones, names, fps, thr, slack_frames=0 if key == "open_vowel_open" else 1)
            self.n[key][0] += h
            self.n[key][1] += t
            row[key] = h / t if t else None
        peaks = [float(jaw[f0:f1].max()) for f0, f1 in phone_frames(phones, OPEN_VOWELS, fps, len(jaw), 0, 0.05)]
        self.open_jaw += peaks
        row["open_vowel_jaw"] = float(np.median(peaks)) if peaks else None
        self.pred.append(openness)
        self.ref.append(ref)
        row["openness_corr"] = _corr(openness, ref)
        return row

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"openness_corr": _corr(np.concatenate(self.pred), np.concatenate(self.ref))}
        for key, (h, t) in self.n.items():
            out[key] = h / t if t else None
            out[f"{key}_count"] = t
        out["open_vowel_jaw"] = float(np.median(self.open_jaw)) if self.open_jaw else None
        return out


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word edits, reference words) between two texts (:func:`~diface_editor.synth.align.transcript_words` tokens)."""
    from diface_editor.synth.align import transcript_words

    r, h = transcript_words(reference), transcript_words(hypothesis)
    d = np.arange(len(h) + 1)
    for i, a in enumerate(r, 1):
        prev, d = d, np.empty_like(d)
        d[0] = i
        for j, b in enumerate(h, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (a != b))
    return int(d[-1]), len(r)


def real_speech_eval(model, clips: list[RealClip], *, seed: int = 0, guidance: float | None = None,
                     temperature: float | None = None, with_transcript: bool = False, transcribe: bool = True,
                     style_seeds: int = 8, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Evaluate ``model`` on ``clips`` (see the module doc). Returns a JSON-able dict:
    ``conditions[cond][method]`` with method in ``model``, ``teacher`` (and ``energy`` for the
    correlation), ``rows`` per clip, and the thresholds. ``guidance`` / ``temperature``: None = the
    model's recommendation. ``with_transcript``: also ``model_transcript``, the model with the
    alignment's viseme constraints. ``transcribe``: ``model`` uses the words recognised in the audio
    (the default settings), ``model_audio_only`` the audio alone. ``style_seeds``: how many of the
    teacher's style draws ``teacher_styles`` pools (0: none)."""
    from diface_editor.engine.requests import GenerateRequest
    from diface_editor.engine.worker import Engine
    from diface_editor.synth.align import AlignmentError, align
    from diface_editor.synth.teacher import TeacherConfig, animate

    geo = MouthGeometry.default()
    fps = float(model.fps)
    engine = Engine(model, previews=False)
    rec = dict(model.sampling or {})
    parts = tuple(p for p in ("face", "head") if model.has_part(p))
    tallies: dict[str, dict[str, _Tally]] = {}
    energy: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    styles: dict[str, list[list[np.ndarray]]] = {}  # condition -> per style seed, the clips' openness
    rows, skipped = [], []
    recognition: dict[str, dict[str, int]] = {}
    for i, rc in enumerate(clips):
        if progress:
            progress(f"[{i + 1}/{len(clips)}] {rc.condition}/{rc.name}")
        try:
            al = align(rc.clip.samples, rc.clip.sample_rate, rc.text)
        except AlignmentError as e:
            skipped.append({"clip": f"{rc.condition}/{rc.name}", "error": str(e)})
            continue
        on_clip = dict(duration=rc.clip.duration, samples=rc.clip.samples, sample_rate=rc.clip.sample_rate, seed=seed)
        teach = animate(al.phones, config=TeacherConfig(fps=fps), **on_clip)  # the seeded style
        teach0 = animate(al.phones, config=TeacherConfig(fps=fps, style_jitter=0.0), **on_clip)  # the pins' values
        kw = dict(seed=seed, sampler=str(rec.get("sampler", "dpmpp")),
                  steps=rec.get("steps") if rec.get("sampler") != "ddpm" else None,
                  guidance=float(rec.get("guidance", 1.0) if guidance is None else guidance),
                  temperature=temperature, parts=parts)
        res = engine.run_sync(GenerateRequest(rc.clip, **kw))
        wm, wt = geo.weights(res.animations[0]), geo.weights(teach)
        n = min(len(wm), len(wt))
        methods = [("model_audio_only" if transcribe else "model", wm), ("teacher", wt),
                   ("teacher_no_jitter", geo.weights(teach0))]
        if transcribe:
            res_r = engine.run_sync(GenerateRequest(rc.clip, recognise_words=True, **kw))  # as the editor's first take
            heard = res_r.info["transcript"]
            counts = recognition.setdefault(rc.condition, {"word_errors": 0, "words": 0, "audio_only_clips": 0})
            errors, words = word_errors(rc.text, heard.text)
            counts["word_errors"] += errors
            counts["words"] += words
            counts["audio_only_clips"] += not heard.aligned
            wr = geo.weights(res_r.animations[0])
            n = min(n, len(wr))
            methods.insert(0, ("model", wr))
        if with_transcript:
            res_t = engine.run_sync(GenerateRequest(rc.clip, phones=tuple(al.phones), viseme_strength=1.0, **kw))
            wx = geo.weights(res_t.animations[0])
            n = min(n, len(wx))
            methods.append(("model_transcript", wx))
        methods = [(who, w[:n]) for who, w in methods]
        ref = reference_openness(al.phones, n, fps)
        by = tallies.setdefault(rc.condition, {who: _Tally() for who, _ in methods})
        row = {"condition": rc.condition, "clip": rc.name, "seconds": round(rc.clip.duration, 2)}
        for who, w in methods:
            row[who] = by[who].add(geo, w, al.phones, fps, ref)
        e = energy_openness(rc.clip.samples, rc.clip.sample_rate, n, fps)
        energy.setdefault(rc.condition, []).append((e, ref))
        per_seed = styles.setdefault(rc.condition, [[] for _ in range(int(style_seeds))])
        for k in range(int(style_seeds)):
            wk = wt if k == seed else geo.weights(animate(al.phones, config=TeacherConfig(fps=fps),
                                                          **{**on_clip, "seed": k}))
            per_seed[k].append(mouth_openness(geo, wk[:n]))
        row["energy_openness_corr"] = _corr(e, ref)
        rows.append(row)
    if not rows:
        raise RealEvalError("no recording could be aligned with its transcript: " + "; ".join(s["error"] for s in skipped[:3]))
    conds: dict[str, Any] = {}
    for cond, by in tallies.items():
        cr = [r for r in rows if r["condition"] == cond]
        e = energy[cond]
        conds[cond] = {"clips": len(cr), "seconds": round(sum(r["seconds"] for r in cr), 2),
                       **{who: t.summary() for who, t in by.items()},
                       "energy": {"openness_corr": _corr(np.concatenate([a for a, _ in e]),
                                                         np.concatenate([b for _, b in e]))}}
        if styles.get(cond):
            refs = np.concatenate([b for _, b in e])
            each = [_corr(np.concatenate(o), refs) for o in styles[cond]]
            each = [c for c in each if c is not None]
            if each:
                conds[cond]["teacher_styles"] = {"seeds": len(each), "openness_corr_mean": float(np.mean(each)),
                                                 "openness_corr_min": float(min(each)),
                                                 "openness_corr_max": float(max(each)), "openness_corr": each}
        if "model_transcript" in by and "teacher_no_jitter" in by:
            # how sure the transcript's gain over the pins' own teacher is, given these clips
            cmp = paired_corr_difference(by["model_transcript"].pred, by["teacher_no_jitter"].pred,
                                         by["model_transcript"].ref, seed=seed)
            if cmp is not None:
                conds[cond]["transcript_minus_teacher"] = cmp
        if cond in recognition:
            r = recognition[cond]
            conds[cond]["recognition"] = {**r, "wer": r["word_errors"] / r["words"] if r["words"] else None}
    return {"model": getattr(model, "name", None), "seed": seed, "sampler": rec.get("sampler"),
            "guidance": guidance, "temperature": temperature, "with_transcript": bool(with_transcript),
            "transcribe": bool(transcribe),
            "steps": rec.get("steps"), "closed_gap_mm": CLOSED_GAP_MM, "fv_contact_mm": FV_CONTACT_MM,
            "open_gap_mm": OPEN_GAP_MM, "conditions": conds, "rows": rows, "skipped": skipped}


def format_table(rep: dict[str, Any]) -> str:
    """A plain-text table of :func:`real_speech_eval`'s conditions."""
    def f(v, pct=False):
        return "-" if v is None else (f"{100 * v:.0f}%" if pct else f"{v:.2f}")

    lines = [f"{'condition':15s} {'clips':>5s} {'sec':>6s} | {'corr':>5s} {'p/b/m':>6s} {'f/v':>5s} {'jaw':>5s} "
             f"| teacher {'corr':>5s} {'p/b/m':>6s} {'f/v':>5s} {'jaw':>5s} | energy corr"]
    for cond, c in rep["conditions"].items():
        m, t = c["model"], c["teacher"]
        lines.append(f"{cond:15s} {c['clips']:5d} {c['seconds']:6.1f} | {f(m['openness_corr']):>5s} "
                     f"{f(m['closure'], True):>6s} {f(m['fv_contact'], True):>5s} {f(m['open_vowel_jaw']):>5s} "
                     f"|         {f(t['openness_corr']):>5s} {f(t['closure'], True):>6s} {f(t['fv_contact'], True):>5s} "
                     f"{f(t['open_vowel_jaw']):>5s} | {f(c['energy']['openness_corr'])}")
    if any("model_audio_only" in c for c in rep["conditions"].values()):
        lines.append("")
        lines.append(f"{'audio only':15s} {'':5s} {'':6s} | {'corr':>5s} {'p/b/m':>6s} {'f/v':>5s} {'jaw':>5s} "
                     f"| recognised words: WER, clips left to the audio")
        for cond, c in rep["conditions"].items():
            x, r = c.get("model_audio_only"), c.get("recognition") or {}
            if x is None:
                continue
            lines.append(f"{cond:15s} {c['clips']:5d} {c['seconds']:6.1f} | {f(x['openness_corr']):>5s} "
                         f"{f(x['closure'], True):>6s} {f(x['fv_contact'], True):>5s} {f(x['open_vowel_jaw']):>5s} "
                         f"| {f(r.get('wer'), True)}, {r.get('audio_only_clips', '-')}")
    if any("model_transcript" in c for c in rep["conditions"].values()):
        lines.append("")
        lines.append(f"{'with transcript':15s} {'':5s} {'':6s} | {'corr':>5s} {'p/b/m':>6s} {'f/v':>5s} {'jaw':>5s} "
                     f"| default-settings corr, teacher corr (no jitter; mean of style draws)")
        for cond, c in rep["conditions"].items():
            x = c.get("model_transcript")
            if x is None:
                continue
            lines.append(f"{cond:15s} {c['clips']:5d} {c['seconds']:6.1f} | {f(x['openness_corr']):>5s} "
                         f"{f(x['closure'], True):>6s} {f(x['fv_contact'], True):>5s} {f(x['open_vowel_jaw']):>5s} "
                         f"| {f(c['model']['openness_corr'])}, {f(c['teacher']['openness_corr'])} "
                         f"({f(c['teacher_no_jitter']['openness_corr'])}; "
                         f"{f((c.get('teacher_styles') or {}).get('openness_corr_mean'))})")
        rows_d = [(cond, c["transcript_minus_teacher"]) for cond, c in rep["conditions"].items()
                  if c.get("transcript_minus_teacher")]
        if rows_d:
            lines.append("")
            lines.append("with transcript minus teacher (no jitter), openness corr: difference "
                         "[95 % interval, paired bootstrap over clips]")
            for cond, d in rows_d:
                lo, hi = d["ci95"]
                lines.append(f"{cond:15s} {d['clips']:5d} {'':6s} | {d['difference']:+.4f} [{lo:+.4f}, {hi:+.4f}]")
    return "\n".join(lines)
