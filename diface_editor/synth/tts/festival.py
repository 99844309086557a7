"""Festival through ``festival -b`` with a small Scheme script.

The script selects the voice, sets rate and pitch, synthesises the text as one utterance and
saves the waveform and ``utt.save.segs`` (each segment's end time and name, Festival's CMU
"radio" phone set with ``pau`` for pauses). Segments start where the previous one ends.

Voices: ``kal`` (kal_diphone, 16 kHz; rate and pitch) and ``slt`` (cmu_us_slt_arctic_hts,
32 kHz; rate through the HTS engine's speed, no pitch control).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from diface_editor.synth.tts.base import Speech, TTSError, VoiceSpec, finish, fit_phones, semitones

#: voice name -> (Scheme voice function, voice folder name, supports pitch)
VOICES: dict[str, tuple[str, str, bool]] = {
    "kal": ("voice_kal_diphone", "kal_diphone", True),
    "slt": ("voice_cmu_us_slt_arctic_hts", "cmu_us_slt_arctic_hts", False),
}
_VOICE_ROOTS = (Path("/usr/share/festival/voices"), Path("/usr/lib/festival/voices"),
                Path("/usr/local/share/festival/voices"))
TIMEOUT_S = 120


def _binary() -> str:
    exe = shutil.which("festival")
    if not exe:
        raise TTSError("Festival is not installed (no 'festival' command); install the Debian packages "
                       "festival festvox-kallpc16k festvox-us-slt-hts")
    return exe


def available_voices() -> list[str]:
    """Festival voices of :data:`VOICES` whose data folder is installed."""
    if not shutil.which("festival"):
        return []
    out = []
    for name, (_, folder, _) in VOICES.items():
        if any(root.is_dir() and any(root.glob(f"*/{folder}")) for root in _VOICE_ROOTS):
            out.append(name)
    return out


def available() -> bool:
    return bool(available_voices())


def supports_pitch(voice: str) -> bool:
    return VOICES.get(voice, ("", "", False))[2]


def _scheme_string(text: str) -> str:
    clean = " ".join(text.replace("\\", " ").replace('"', " ").split())
    return f'"{clean}"'


def _script(text: str, spec: VoiceSpec, segs: Path, wav: Path) -> str:
    func, _, pitch_ok = VOICES[spec.voice]
    lines = [f"({func})"]
    if spec.voice == "kal":
        lines.append(f"(Parameter.set 'Duration_Stretch {1.0 / max(spec.rate, 0.2):.4f})")
        f0 = 105.0 * semitones(spec.pitch)
        lines.append(f"(set! int_lr_params '((target_f0_mean {f0:.2f}) (target_f0_std {14.0 * semitones(spec.pitch):.2f}) "
                     "(model_f0_mean 170) (model_f0_std 34)))")
    else:
        lines.append(f"(set! hts_engine_params (append hts_engine_params (list '(\"-r\" {max(spec.rate, 0.2):.4f}))))")
    lines += [
        f"(set! utt1 (Utterance Text {_scheme_string(text)}))",
        "(utt.synth utt1)",
        f'(utt.save.segs utt1 "{segs}")',
        f"(utt.save.wave utt1 \"{wav}\" 'riff)",
    ]
    return "\n".join(lines) + "\n"


def parse_segs(text: str) -> list[tuple[str, float]]:
    """``utt.save.segs`` output -> [(phone, end_s)] (the lines after the ``#`` header)."""
    lines = text.splitlines()
    start = next((i + 1 for i, line in enumerate(lines) if line.strip() == "#"), 0)
    out = []
    for line in lines[start:]:
        parts = line.split()
        if len(parts) >= 3:
            try:
                out.append((parts[2], float(parts[0])))
            except ValueError:
                continue
    return out


def synthesize_raw(text: str, spec: VoiceSpec) -> tuple[np.ndarray, int, list[tuple[str, float, float]]]:
    """(samples float32, sample_rate, [(Festival phone, start_s, end_s)]) without padding."""
    if spec.voice not in VOICES:
        raise TTSError(f"Festival voice {spec.voice!r} is not supported; choose one of {', '.join(VOICES)}")
    exe = _binary()
    with tempfile.TemporaryDirectory(prefix="diface_festival_") as tmp:
        tmpd = Path(tmp)
        segs, wav, scm = tmpd / "out.segs", tmpd / "out.wav", tmpd / "run.scm"
        scm.write_text(_script(text, spec, segs, wav))
        try:
            r = subprocess.run([exe, "-b", str(scm)], capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise TTSError(f"Festival took longer than {TIMEOUT_S} s for one utterance") from None
        if r.returncode != 0 or not wav.exists() or not segs.exists():
            msg = (r.stderr or r.stdout).strip().splitlines()
            raise TTSError(f"Festival failed with voice {spec.voice!r}: {msg[-1] if msg else 'no output'}")
        samples, sr = sf.read(str(wav), dtype="float32", always_2d=True)
        ends = parse_segs(segs.read_text())
    x = samples.mean(axis=1)
    phones, t = [], 0.0
    for name, end in ends:
        if end > t:
            phones.append((name, t, end))
            t = end
    # Festival's last segment ends at the wave's end; rescale tiny drifts
    phones = fit_phones(phones, x.size / sr, 0.05)
    return np.asarray(x, np.float32), int(sr), phones


def synthesize(text: str, spec: VoiceSpec) -> Speech:
    """Speak ``text`` with Festival; phones in the common set (see :class:`Speech`)."""
    samples, sr, phones = synthesize_raw(text, spec)
    return finish(samples, sr, phones, "festival", spec)
