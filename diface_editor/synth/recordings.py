"""Real recordings as training pairs: the teacher animates a forced alignment of the transcript.

Real speech has what text-to-speech lacks (breath, reduced syllables, real voices and rooms), but no
motion capture. Its pseudo-labels come from the teacher (:mod:`diface_editor.synth.teacher`) on a
pocketsphinx forced alignment of the known transcript (:func:`diface_editor.synth.align.align`), as
for the transcript-driven baseline. Each recording gives ``copies`` training items:

* copy 0: the recording as it is (resampled to 16 kHz, peak at -3 dBFS);
* copies 1..: a speaking-rate change (``tempo_range``, pitch kept, phone times scaled to match, so
  the animation is time-warped with the audio) and the corpus's acoustic augmentation (room, noise
  at 5-35 dB SNR, telephone band, lossy codecs, clipping; :func:`diface_editor.synth.augment.augment`).

Input: a folder of ``<name>.wav`` (or .flac/.ogg/.mp3) + ``<name>.txt`` pairs. Output: ``<prefix><name>_<k>.wav``
+ ``.npz`` pairs (the corpus item layout, with ``phones``) and ``recordings.json`` listing them.
Recordings used for evaluation must not be given here (keep the two folders apart).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from diface_editor.core.atomic import atomic_path, atomic_write_text
from diface_editor.core.errors import DifaceError
from diface_editor.synth.augment import AugmentConfig, augment, resample
from diface_editor.synth.teacher import TeacherConfig, animate

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


@dataclass(frozen=True)
class RecordingsConfig:
    """Settings of :func:`add_recordings`.

    Attributes:
        copies: items per recording (the first is the recording itself).
        tempo_range: speaking-rate factors for the augmented copies (1.2 = 20 % faster).
        seed: seed of the augmentation and the teacher.
        prefix: item-name prefix (keeps real items apart from synthetic ones in one folder).
        sample_rate: output rate, Hz.
        max_seconds: recordings longer than this are cut at pauses into pieces of at most this length.
        augment: acoustic augmentation of the copies.
        teacher: teacher settings.
    """

    copies: int = 4
    tempo_range: tuple[float, float] = (0.85, 1.2)
    seed: int = 0
    prefix: str = "real_"
    sample_rate: int = 16000
    max_seconds: float = 20.0
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(p_eq=0.5, p_reverb=0.35, p_noise=0.6))
    teacher: TeacherConfig = field(default_factory=TeacherConfig)


def find_pairs(folder: str | os.PathLike) -> list[tuple[Path, str]]:
    """(audio path, transcript) of every ``<name>.<audio>`` with a non-empty ``<name>.txt``, sorted."""
    root = Path(folder)
    if not root.is_dir():
        raise DifaceError(f"{root} is not a folder of <name>.wav + <name>.txt pairs")
    out = []
    for p in sorted(root.iterdir()):
        if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file():
            txt = p.with_suffix(".txt")
            if txt.is_file() and txt.read_text(encoding="utf-8", errors="replace").strip():
                out.append((p, txt.read_text(encoding="utf-8", errors="replace").strip()))
    if not out:
        raise DifaceError(f"no <name>.wav + <name>.txt pairs in {root}")
    return out


def _pieces(phones: list, duration: float, max_s: float) -> list[tuple[float, float]]:
    """Cut points at the middle of pauses so that each piece lasts at most about ``max_s`` seconds."""
    if duration <= max_s:
        return [(0.0, duration)]
    pauses = [0.5 * (s + e) for p, s, e in phones if p == "SIL" and e - s >= 0.12 and 0 < s and e < duration]
    cuts, start = [], 0.0
    while duration - start > max_s:
        cands = [c for c in pauses if start + 2.0 < c <= start + max_s]
        cut = max(cands) if cands else start + max_s
        cuts.append((start, cut))
        start = cut
    cuts.append((start, duration))
    return cuts


def _slice_phones(phones: list, a: float, b: float) -> list:
    out = []
    for p, s, e in phones:
        s2, e2 = max(s, a), min(e, b)
        if e2 > s2:
            out.append((p, s2 - a, e2 - a))
    return out


def add_recordings(src: str | os.PathLike, out_dir: str | os.PathLike, config: RecordingsConfig = RecordingsConfig(),
                   progress: bool = False) -> dict:
    """Align, animate and write training items for every recording in ``src`` (see the module doc).

    Returns the record written to ``out_dir/recordings.json``. Recordings that cannot be aligned
    are skipped with a warning and listed under ``failed``.
    """
    from diface_editor.core.audio import AudioClip, save_wav
    from diface_editor.core.formats import save_animation
    from diface_editor.synth.align import AlignmentError, align
    from diface_editor.synth.channel import change_tempo
    from diface_editor.synth.corpus import _append_arrays, phones_array

    if config.copies < 1:
        raise DifaceError(f"copies must be at least 1, got {config.copies}")
    pairs = find_pairs(src)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sr = config.sample_rate
    items, failed = [], []
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(pairs), unit="rec", desc="recordings")
    for i, (path, text) in enumerate(pairs):
        try:
            clip = AudioClip.load(path)
            x = resample(clip.samples, clip.sample_rate, sr)
            al = align(x, sr, text)
        except (AlignmentError, DifaceError) as e:
            log.warning("skipping %s: %s", path.name, e)
            failed.append({"file": path.name, "error": str(e)})
            if bar:
                bar.update(1)
            continue
        for j, (a, b) in enumerate(_pieces(al.phones, x.size / sr, config.max_seconds)):
            seg = x[int(a * sr):int(b * sr)]
            ph = _slice_phones(al.phones, a, b)
            for k in range(config.copies):
                rng = np.random.default_rng(np.random.SeedSequence([config.seed, i, j, k, 0x5EA1]))
                tempo, aug = 1.0, {}
                speech, phones = seg, ph
                if k > 0:
                    tempo = float(rng.uniform(*config.tempo_range))
                    speech = change_tempo(seg, sr, tempo)
                    phones = [(p, s / tempo, e / tempo) for p, s, e in ph]
                    audio, aug = augment(speech, sr, rng, config.augment, out_rate=sr)
                else:
                    peak = float(np.max(np.abs(speech))) or 1.0
                    audio = (speech * (10 ** (-3 / 20) / peak)).astype(np.float32)
                name = f"{config.prefix}{path.stem}" + (f"_p{j}" if j else "") + f"_{k}"
                anim = animate(phones, duration=audio.size / sr, samples=speech, sample_rate=sr,
                               seed=int(rng.integers(2 ** 31)), config=config.teacher)
                anim.metadata.update({"source": path.name, "text": text, "pseudo_label": "teacher on forced alignment"})
                wav, npz = out / f"{name}.wav", out / f"{name}.npz"
                save_wav(wav, audio, sr)
                with atomic_path(npz) as tmp:
                    save_animation(anim, tmp, format="native", audio=AudioClip.load(wav))
                    _append_arrays(Path(tmp), {"phones": phones_array(phones)})
                items.append({"name": name, "source": path.name, "piece_s": [round(a, 3), round(b, 3)],
                              "tempo": round(tempo, 4), "augmentation": aug, "duration": round(audio.size / sr, 3)})
        if bar:
            bar.update(1)
    if bar:
        bar.close()
    record = {"source_folder": str(Path(src).resolve()), "config": asdict(config), "items": items, "failed": failed,
              "minutes": round(sum(it["duration"] for it in items) / 60.0, 3)}
    atomic_write_text(out / "recordings.json", json.dumps(record, indent=1, default=list))
    return record
