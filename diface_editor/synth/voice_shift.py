"""Voice shifting for corpus augmentation: scale pitch AND formants without changing the timing.

A synthetic corpus has few voices (a dozen TTS voices and variants), and a model trained on it
generalises worse to voices it has not heard (the test split holds unseen voices; so does every
user's own recording). Shifting a voice by ``s`` semitones with SoX's ``pitch`` effect
(WSOLA time-stretch plus resampling) scales both the fundamental and the formants by
``2 ** (s / 12)``, which is what a longer or shorter vocal tract does (vocal-tract-length
perturbation). The duration is kept, so the phone timings and the teacher animation stay valid.

:func:`augment_split` writes shifted copies of a corpus split next to the originals (a plain
folder of ``<name>.wav`` + ``<name>.npz`` pairs, the layout ``diface train`` reads).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from diface_editor.core.atomic import atomic_write_text
from diface_editor.core.errors import DifaceError

log = logging.getLogger(__name__)


class VoiceShiftError(DifaceError):
    """SoX is missing or failed."""


def shift_voice(samples: np.ndarray, sample_rate: int, semitones: float) -> np.ndarray:
    """``samples`` (N,) float mono at ``sample_rate`` Hz shifted by ``semitones`` (pitch and formants).

    Returns:
        (N,) float32, exactly the input's length (SoX's output is trimmed or zero-padded by a few
        samples), peak-limited to 0.999.
    """
    x = np.ascontiguousarray(np.asarray(samples, np.float32).reshape(-1))
    if abs(semitones) < 1e-6 or x.size == 0:
        return x.copy()
    sox = shutil.which("sox")
    if sox is None:
        raise VoiceShiftError("SoX is not installed (apt-get install sox); it is needed to shift voices")
    sr = int(sample_rate)
    cmd = [sox, "-q", "-t", "f32", "-r", str(sr), "-c", "1", "-", "-t", "f32", "-r", str(sr), "-c", "1", "-",
           "pitch", f"{100.0 * semitones:.1f}"]
    try:
        out = subprocess.run(cmd, input=x.tobytes(), capture_output=True, check=True, timeout=120).stdout
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        raise VoiceShiftError(f"SoX failed to shift the voice: {getattr(e, 'stderr', b'')!r}") from None
    y = np.frombuffer(out, np.float32)
    if y.size >= x.size:
        y = y[: x.size]
    else:
        y = np.concatenate([y, np.zeros(x.size - y.size, np.float32)])
    peak = float(np.abs(y).max()) if y.size else 0.0
    if peak > 0.999:
        y = y * (0.999 / peak)
    return np.ascontiguousarray(y, np.float32)


@dataclass(frozen=True)
class VoiceShiftConfig:
    """Shifted copies per clip and their range.

    Attributes:
        copies: shifted copies written per original clip (the first one is shifted down, the
            second up, alternating).
        min_semitones, max_semitones: the magnitude of a shift is uniform in this range.
        seed: seed of the shift draws (with the clip's name, so the result does not depend on
            the order or number of clips).
    """

    copies: int = 2
    min_semitones: float = 1.5
    max_semitones: float = 4.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.copies < 1:
            raise VoiceShiftError(f"copies must be at least 1, got {self.copies}")
        if not 0 < self.min_semitones <= self.max_semitones <= 12:
            raise VoiceShiftError("need 0 < min_semitones <= max_semitones <= 12")


def _shift_for(name: str, copy: int, cfg: VoiceShiftConfig) -> float:
    key = [cfg.seed, copy, *name.encode("utf-8")]
    rng = np.random.default_rng(key)
    mag = float(rng.uniform(cfg.min_semitones, cfg.max_semitones))
    return round(-mag if copy % 2 == 0 else mag, 2)


def augment_split(src: str | os.PathLike, out: str | os.PathLike, cfg: VoiceShiftConfig | None = None,
                  progress: bool = True) -> dict:
    """Copy every ``<name>.wav`` + ``<name>.npz`` pair of ``src`` into ``out`` and add ``cfg.copies``
    voice-shifted versions ``<name>_vs<k>.wav`` (with a copy of the same ``.npz``: the animation
    does not change). Writes ``out/voice_shift.json`` (the recipe and every clip's shift).

    Returns:
        the recipe dict written to ``voice_shift.json``.
    """
    cfg = cfg or VoiceShiftConfig()
    src, out = Path(src), Path(out)
    wavs = sorted(p for p in src.glob("*.wav") if p.with_suffix(".npz").is_file())
    if not wavs:
        raise VoiceShiftError(f"no <name>.wav + <name>.npz pairs in {src}")
    if out.resolve() == src.resolve():
        raise VoiceShiftError("the output folder must differ from the source folder")
    out.mkdir(parents=True, exist_ok=True)
    shifts: dict[str, float] = {}
    it = wavs
    if progress:
        from tqdm import tqdm

        it = tqdm(wavs, desc="voice shift", unit="clip")
    for wav in it:
        name = wav.stem
        npz = wav.with_suffix(".npz")
        for s, d in ((wav, out / wav.name), (npz, out / npz.name)):
            if not d.exists():
                shutil.copyfile(s, d)
        data, sr = sf.read(str(wav), dtype="float32", always_2d=True)
        mono = data.mean(axis=1)
        for k in range(cfg.copies):
            semis = _shift_for(name, k, cfg)
            stem = f"{name}_vs{k}"
            y = shift_voice(mono, sr, semis)
            tmp = out / f".{stem}.wav.tmp"
            sf.write(str(tmp), y, sr, subtype="PCM_16", format="WAV")
            os.replace(tmp, out / f"{stem}.wav")
            shutil.copyfile(npz, out / f"{stem}.npz")
            shifts[stem] = semis
    recipe = {"source": str(src), "config": asdict(cfg), "clips": len(wavs), "shifts": shifts}
    atomic_write_text(out / "voice_shift.json", json.dumps(recipe, indent=1) + "\n")
    return recipe
