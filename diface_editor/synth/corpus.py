"""The synthetic talking corpus: TTS speech + teacher animation pairs, split into train/val/test.

Layout written by :func:`build_corpus`::

    DIR/manifest.json                 corpus settings and one record per item
    DIR/{train,val,test}/<id>.wav     16 kHz mono 16-bit PCM (augmented speech)
    DIR/{train,val,test}/<id>.npz     native animation (core.formats "native": fps, channel_names,
                                      face (T, 52), head (T, 3), space, format_version, ...) plus
                                      ``phones``: a structured array (phone <U4, start f8, end f8)
                                      of the common phone set, in seconds

Splits: *val* has sentences unseen in train but voices seen in train; *test* has unseen
sentences **and** unseen voices (:data:`TEST_VOICES`: at least one voice of every engine is held
out). Sentences are assigned to splits by a hash of their text
(:func:`~diface_editor.synth.text.sentence_split`), so no sentence is in two splits.

Everything is planned up front from the seed (texts, voices, rates, pitches, augmentation and
teacher seeds per item), so a build is reproducible for a seed whatever the number of workers.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from diface_editor.core.errors import DifaceError
from diface_editor.synth.augment import AugmentConfig, augment, resample
from diface_editor.synth.phonemes import Phone
from diface_editor.synth.teacher import TeacherConfig, animate
from diface_editor.synth.text import SentenceSource
from diface_editor.synth.tts import ENGINES, VoiceSpec, available_engines, supports_pitch, synthesize

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
CORPUS_FORMAT_VERSION = 1

#: Voices used for train and val, per engine (espeak-ng voice+variant, festival, flite and piper voices).
TRAIN_VOICES: dict[str, tuple[str, ...]] = {
    "espeak": ("en-us", "en-us+f3", "en-us+m3", "en-gb", "en-gb+f2", "en-gb-x-rp+m1", "en-029+f4", "en-us+klatt2"),
    "festival": ("slt",),
    "flite": ("slt", "rms"),
    "piper": ("joe",),     # neural, one male voice: none held out (corpus augment varies its pitch)
    "hibari": ("heart",),  # neural, one female voice: likewise
}
#: Voices held out for the test split only (unseen speakers / variants).
TEST_VOICES: dict[str, tuple[str, ...]] = {
    "espeak": ("en-gb-scotland+f5", "en-us-nyc+m7"),
    "festival": ("kal",),
    "flite": ("awb", "kal16"),
}


@dataclass(frozen=True)
class CorpusConfig:
    """Settings of a corpus build.

    Attributes:
        minutes: target total audio length (all splits), minutes.
        seed: master seed; the same seed gives the same corpus.
        val_fraction, test_fraction: shares of the audio length (and of the sentence space).
        sample_rate: output audio rate (Hz).
        rate_range: speaking-rate factors drawn uniformly.
        pitch_range: pitch shifts in semitones drawn uniformly (ignored by voices without pitch control).
        sentences: min and max sentences per item.
        p_clean: probability that an item is not augmented.
        engines: engines to use (default: every installed one).
        augment: augmentation settings.
        teacher: teacher animator settings.
    """

    minutes: float = 10.0
    seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    sample_rate: int = 16000
    rate_range: tuple[float, float] = (0.8, 1.25)
    pitch_range: tuple[float, float] = (-3.0, 3.0)
    sentences: tuple[int, int] = (1, 3)
    p_clean: float = 0.2
    engines: tuple[str, ...] | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)


@dataclass(frozen=True)
class ItemPlan:
    """One planned corpus item (everything needed to produce it deterministically)."""

    id: str
    split: str
    text: str
    sentences: tuple[str, ...]
    voice: VoiceSpec
    augment: bool
    augment_seed: int
    teacher_seed: int


def _estimate_seconds(text: str, rate: float, n_sentences: int) -> float:
    """Rough spoken length of ``text`` (about 15.5 characters per second at rate 1, measured)."""
    return 0.9 * (len(text) / 14.0 / rate + 0.55 + 0.3 * (n_sentences - 1))


def plan_corpus(config: CorpusConfig) -> list[ItemPlan]:
    """The item list of a corpus (deterministic for ``config``; no synthesis)."""
    engines = list(config.engines) if config.engines else available_engines()
    engines = [e for e in engines if e in ENGINES]
    if not engines:
        raise DifaceError("no TTS engine is installed; install the Debian packages espeak-ng, festival "
                          "festvox-kallpc16k festvox-us-slt-hts and flite")
    pools: dict[str, list[tuple[str, str]]] = {
        "train": [(e, v) for e in engines for v in TRAIN_VOICES.get(e, ())],
        "test": [(e, v) for e in engines for v in TEST_VOICES.get(e, ())],
    }
    pools["val"] = pools["train"]
    for split in SPLITS:
        if not pools[split]:
            raise DifaceError(f"no voices for the {split} split with engines {', '.join(engines)}")
    fr = {"val": config.val_fraction, "test": config.test_fraction}
    fr["train"] = 1.0 - fr["val"] - fr["test"]
    if min(fr.values()) <= 0:
        raise DifaceError("val_fraction + test_fraction must be below 1 and both above 0")
    total = config.minutes * 60.0
    target = {s: total * fr[s] for s in SPLITS}
    got = {s: 0.0 for s in SPLITS}
    count = {s: 0 for s in SPLITS}
    src = SentenceSource(config.seed, (config.val_fraction, config.test_fraction))
    rng = np.random.default_rng(np.random.SeedSequence([int(config.seed), 0xC0F905]))
    items: list[ItemPlan] = []
    while True:
        need = [s for s in SPLITS if got[s] < target[s] or count[s] == 0]
        if not need:
            break
        split = max(need, key=lambda s: (count[s] == 0, (target[s] - got[s]) / max(target[s], 1e-9)))
        n_sent = int(rng.integers(config.sentences[0], config.sentences[1] + 1))
        sentences = tuple(src.utterance(split, n_sent))
        text = " ".join(sentences)
        # engine first (so engines with many voices do not dominate), then a voice of it
        pool = pools[split]
        eng_list = sorted({e for e, _ in pool}, key=engines.index)
        engine = eng_list[int(rng.integers(len(eng_list)))]
        voices = [v for e, v in pool if e == engine]
        voice = voices[int(rng.integers(len(voices)))]
        spec = VoiceSpec(engine=engine, voice=voice,
                         rate=round(float(rng.uniform(*config.rate_range)), 3),
                         pitch=round(float(rng.uniform(*config.pitch_range)), 2),
                         lead=round(float(rng.uniform(0.15, 0.6)), 3),
                         trail=round(float(rng.uniform(0.2, 0.7)), 3))
        items.append(ItemPlan(id=f"{len(items):06d}", split=split, text=text, sentences=sentences, voice=spec,
                              augment=bool(rng.random() >= config.p_clean),
                              augment_seed=int(rng.integers(2 ** 31)), teacher_seed=int(rng.integers(2 ** 31))))
        got[split] += _estimate_seconds(text, spec.rate, n_sent)
        count[split] += 1
    return items


PHONE_DTYPE = np.dtype([("phone", "<U4"), ("start", "<f8"), ("end", "<f8")])


def phones_array(phones: list[Phone]) -> np.ndarray:
    """(P,) structured array (phone, start, end) of a timed phone list (no pickles needed)."""
    return np.array([(p, s, e) for p, s, e in phones], dtype=PHONE_DTYPE)


def phones_from_array(arr: np.ndarray) -> list[Phone]:
    return [(str(r["phone"]), float(r["start"]), float(r["end"])) for r in arr]


def load_item(npz_path: str | os.PathLike):
    """(Animation, phones) of a corpus item's ``.npz``."""
    from diface_editor.core.formats import load_animation

    anim = load_animation(npz_path)
    with np.load(npz_path, allow_pickle=False) as z:
        phones = phones_from_array(z["phones"])
    return anim, phones


def _append_arrays(npz: Path, arrays: dict[str, np.ndarray]) -> None:
    """Add arrays to an existing ``.npz`` (as numpy's savez writes them, no pickles)."""
    with zipfile.ZipFile(npz, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(arr), allow_pickle=False)


def make_item(plan: ItemPlan, config: CorpusConfig, out_dir: Path) -> dict:
    """Synthesise, augment, animate and write one item; returns its manifest record."""
    from diface_editor.core.atomic import atomic_path
    from diface_editor.core.audio import AudioClip, save_wav
    from diface_editor.core.formats import save_animation

    t0 = time.perf_counter()
    speech = synthesize(plan.text, plan.voice)
    if plan.augment:
        audio, aug = augment(speech.samples, speech.sample_rate, np.random.default_rng(plan.augment_seed),
                             config.augment, out_rate=config.sample_rate)
    else:
        audio = resample(speech.samples, speech.sample_rate, config.sample_rate)
        peak = float(np.max(np.abs(audio))) or 1.0
        audio = (audio * (10 ** (-3 / 20) / peak)).astype(np.float32)
        aug = {}
    duration = audio.size / config.sample_rate
    # the teacher sees the clean speech (prosody without noise), timed like the augmented audio
    anim = animate(speech.phones, duration=duration, samples=speech.samples, sample_rate=speech.sample_rate,
                   seed=plan.teacher_seed, config=config.teacher)
    anim.metadata.update({"corpus_id": plan.id, "voice": plan.voice.voice_id, "text": plan.text})
    split_dir = out_dir / plan.split
    split_dir.mkdir(parents=True, exist_ok=True)
    wav = split_dir / f"{plan.id}.wav"
    npz = split_dir / f"{plan.id}.npz"
    save_wav(wav, audio, config.sample_rate)
    clip = AudioClip.load(wav)
    with atomic_path(npz) as tmp:
        save_animation(anim, tmp, format="native", audio=clip)
        _append_arrays(Path(tmp), {"phones": phones_array(speech.phones)})
    return {
        "id": plan.id,
        "split": plan.split,
        "wav": f"{plan.split}/{plan.id}.wav",
        "npz": f"{plan.split}/{plan.id}.npz",
        "engine": plan.voice.engine,
        "voice": plan.voice.voice,
        "voice_id": plan.voice.voice_id,
        "rate": plan.voice.rate,
        "pitch": plan.voice.pitch if supports_pitch(plan.voice) else 0.0,
        "pitch_requested": plan.voice.pitch,
        "text": plan.text,
        "sentences": list(plan.sentences),
        "augmentation": aug,
        "duration": round(duration, 4),
        "frames": anim.n_frames,
        "n_phones": len(speech.phones),
        "teacher_seed": plan.teacher_seed,
        "seconds_to_make": round(time.perf_counter() - t0, 3),
    }


def _worker(args: tuple[ItemPlan, CorpusConfig, str]) -> dict:
    plan, config, out = args
    try:
        return make_item(plan, config, Path(out))
    except DifaceError as e:
        return {"id": plan.id, "error": str(e)}


@dataclass
class BuildReport:
    """What :func:`build_corpus` did."""

    out_dir: Path
    items: int
    failed: int
    audio_minutes: float
    wall_minutes: float
    per_split: dict[str, dict[str, float]]

    @property
    def throughput(self) -> float:
        """Minutes of corpus audio per minute of wall time."""
        return self.audio_minutes / max(self.wall_minutes, 1e-9)


def _config_json(config: CorpusConfig) -> dict:
    d = asdict(config)
    d["engines"] = list(config.engines) if config.engines else None
    return d


def build_corpus(out_dir: str | os.PathLike, config: CorpusConfig, workers: int = 2,
                 progress: bool = False) -> BuildReport:
    """Build the corpus into ``out_dir`` (created; existing item files are overwritten).

    Uses ``workers`` processes (spawned; 1 = in this process). Writes ``manifest.json`` last.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    plans = plan_corpus(config)
    jobs = [(p, config, str(out)) for p in plans]
    records: list[dict] = []
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), unit="item", desc="corpus")
    if workers <= 1:
        for j in jobs:
            records.append(_worker(j))
            if bar:
                bar.update(1)
    else:
        ctx = mp.get_context("spawn")
        with ctx.Pool(processes=workers) as pool:
            for rec in pool.imap_unordered(_worker, jobs, chunksize=1):
                records.append(rec)
                if bar:
                    bar.update(1)
    if bar:
        bar.close()
    records.sort(key=lambda r: r["id"])
    failed = [r for r in records if "error" in r]
    for r in failed:
        log.error("item %s failed: %s", r["id"], r["error"])
    ok = [r for r in records if "error" not in r]
    per_split = {s: {"items": sum(1 for r in ok if r["split"] == s),
                     "minutes": round(sum(r["duration"] for r in ok if r["split"] == s) / 60.0, 4)} for s in SPLITS}
    manifest = {
        "format_version": CORPUS_FORMAT_VERSION,
        "generator": "diface_editor.synth.corpus",
        "config": _config_json(config),
        "train_voices": {e: list(v) for e, v in TRAIN_VOICES.items()},
        "test_voices": {e: list(v) for e, v in TEST_VOICES.items()},
        "splits": per_split,
        "items": ok,
        "failed": failed,
    }
    from diface_editor.core.atomic import atomic_write_text
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False))
    wall = (time.perf_counter() - t0) / 60.0
    audio_min = sum(r["duration"] for r in ok) / 60.0
    if failed and not ok:
        raise DifaceError(f"every corpus item failed; the first error: {failed[0]['error']}")
    return BuildReport(out_dir=out, items=len(ok), failed=len(failed), audio_minutes=audio_min, wall_minutes=wall,
                       per_split=per_split)
