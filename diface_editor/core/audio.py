"""Audio clips: decoding, mono mix-down, resampling, content hash and waveform peaks.

:class:`AudioClip` holds one mono signal at the file's own sample rate:

* ``samples``: (N,) float32, nominally in [-1, 1] (integer files are scaled by libsndfile);
* ``sample_rate``: Hz (int); ``duration``: seconds; ``channels``: channel count of the source
  (the samples are always the mean over channels);
* ``resampled(rate)``: (M,) float32 at ``rate`` Hz, anti-aliased polyphase resampling
  (:func:`scipy.signal.resample_poly` with the ratio ``rate / sample_rate`` approximated by a
  fraction with denominator <= 1000; exact for every common pair such as 44100 -> 16000 =
  160/441 or 96000 -> 16000 = 1/6). One array per rate is cached.
* ``peaks(start_s, end_s, n_bins)``: per-bin min/max for drawing a waveform at any zoom, from a
  min/max pyramid (blocks of 64, 256, 1024, ... samples) built once on first use;
* ``sha256``: hex SHA-256 of ``b"<sample_rate>:"`` followed by the mono float32 little-endian
  samples: stable across runs and machines, different when the audio or its rate differs. Use it
  to key feature caches and to check that a project's audio file is still the same.

Files are decoded with ``soundfile`` (libsndfile): WAV, FLAC, OGG/Vorbis/Opus, MP3, AIFF, ... in
blocks, so an 8-channel 96 kHz file is mixed down without holding all channels in memory.
Problems a user can fix raise :class:`AudioError` with one sentence: missing file, empty file,
not an audio file, truncated WAV (its header promises more data than the file holds; pass
``allow_truncated=True`` to load what is there), a file with 0 samples ("contains no audio"),
NaN or infinite samples.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
from fractions import Fraction
from pathlib import Path

import numpy as np

from diface_editor.core.atomic import atomic_path
from diface_editor.core.errors import DifaceError

log = logging.getLogger(__name__)

#: File extensions (lower case, with the dot) that :meth:`AudioClip.load` is expected to read.
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3",
                                     ".aif", ".aiff", ".aifc", ".caf", ".w64", ".rf64", ".au")

#: Block size of the finest peak level; each coarser level is ``PEAK_FACTOR`` times coarser.
PEAK_BASE = 64
PEAK_FACTOR = 4
#: A bin spans at least this many blocks of the level used, so bin edges move by at most 1/8 bin.
PEAK_SNAP = 8
_READ_BLOCK = 1 << 20  # frames per decoded block
#: A file whose samples peak above this is reported as wrongly scaled (a warning, not an error).
LOUD_PEAK = 4.0


class AudioError(DifaceError, ValueError):
    """An audio file cannot be used (missing, empty, corrupt, truncated, no samples, NaN)."""


def _sf():
    import soundfile  # local: keeps ``import diface_editor.core`` light

    return soundfile


def _check_file(path: Path) -> None:
    from diface_editor.core.limits import check_regular_file

    if not path.exists():
        raise AudioError(f"audio file not found: {path}")
    if path.is_dir():
        raise AudioError(f"{path} is a folder, not an audio file")
    try:
        check_regular_file(path, "audio file")
    except DifaceError as e:
        raise AudioError(str(e)) from None
    if path.stat().st_size == 0:
        raise AudioError(f"audio file {path} is empty (0 bytes)")


def _open_error(path: Path, e: Exception) -> AudioError:
    detail = str(e).split(": ", 1)[-1] if str(e) else e.__class__.__name__
    return AudioError(f"cannot read {path} as audio ({detail.rstrip('.')}); "
                      "it is not a supported audio file (WAV, FLAC, OGG, MP3, AIFF) or it is damaged")


def wav_truncation(path: str | os.PathLike) -> tuple[int, int] | None:
    """For a RIFF/WAVE file whose ``data`` chunk is cut short: ``(declared_bytes, present_bytes)``.

    ``None`` when the file is not RIFF/WAVE, is complete, or declares an unknown size (0 or
    0xFFFFFFFF, written by recorders that never finished the header).
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        size = os.fstat(f.fileno()).st_size
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            cid, clen = struct.unpack("<4sI", f.read(8))
            if cid == b"data":
                if clen in (0, 0xFFFFFFFF):
                    return None
                present = size - (pos + 8)
                return (clen, present) if present < clen else None
            pos += 8 + clen + (clen & 1)
    return None


class AudioClip:
    """A mono audio signal (see the module docstring for the contract).

    Attributes:
        samples: (N,) float32 mono samples, nominally in [-1, 1].
        sample_rate: samples per second (Hz) of ``samples``.
        channels: number of channels in the source (1 for :meth:`from_array` of a 1-D array).
        path: the file it was read from, or ``None``.
    """

    def __init__(self, samples: np.ndarray, sample_rate: int, *, path: str | os.PathLike | None = None,
                 channels: int = 1) -> None:
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if samples.ndim != 1:
            raise AudioError(f"audio samples must be a 1-D mono array, got shape {samples.shape}")
        if not np.isfinite(sample_rate) or int(round(sample_rate)) <= 0:
            raise AudioError(f"sample rate must be a positive number of Hz, got {sample_rate!r}")
        where = f"audio file {path}" if path is not None else "the audio"
        if samples.size == 0:
            raise AudioError(f"{where} contains no audio (0 samples)")
        if not np.all(np.isfinite(samples)):
            raise AudioError(f"{where} contains NaN or infinite samples")
        samples.setflags(write=False)
        self.samples = samples
        self.sample_rate = int(round(sample_rate))
        self.channels = int(channels)
        self.path = Path(path) if path is not None else None
        self._resampled: dict[int, np.ndarray] = {self.sample_rate: samples}
        self._sha256: str | None = None
        self._pyramid: list[tuple[int, np.ndarray, np.ndarray]] | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_array(cls, samples: np.ndarray, sample_rate: int, *, path: str | os.PathLike | None = None) -> AudioClip:
        """A clip from samples: (N,) mono or (N, C) channels-last (mixed down by the mean).

        Float samples are taken as they are (nominally -1..1); integer PCM is scaled to -1..1
        (int16 / 32768, int32 / 2**31, uint8 as (x - 128) / 128).
        """
        a = np.asarray(samples)
        if a.dtype.kind == "i":
            a = a.astype(np.float64) / float(2 ** (8 * a.dtype.itemsize - 1))
        elif a.dtype.kind == "u":
            half = float(2 ** (8 * a.dtype.itemsize - 1))
            a = (a.astype(np.float64) - half) / half
        elif a.dtype.kind not in "f":
            raise AudioError(f"audio samples must be numbers, got {a.dtype}")
        if a.ndim == 2:
            channels = a.shape[1]
            a = a.astype(np.float64).mean(axis=1) if channels > 1 else a[:, 0]
        elif a.ndim == 1:
            channels = 1
        else:
            raise AudioError(f"audio samples must be (N,) or (N, channels), got shape {a.shape}")
        return cls(a, sample_rate, path=path, channels=channels)

    @classmethod
    def load(cls, path: str | os.PathLike, *, allow_truncated: bool = False) -> AudioClip:
        """Decode an audio file and mix it down to mono.

        Raises:
            AudioError: missing/empty/unreadable/truncated file, no samples, NaN samples.
        """
        path = Path(path)
        _check_file(path)
        sf = _sf()
        trunc = wav_truncation(path)
        if trunc is not None and not allow_truncated:
            declared, present = trunc
            raise AudioError(f"audio file {path} is truncated: its header promises {declared} bytes of "
                             f"audio but only {present} are present (re-export or re-copy the file)")
        try:
            f = sf.SoundFile(str(path))
        except Exception as e:  # LibsndfileError and friends
            raise _open_error(path, e) from None
        from diface_editor.core.limits import MAX_ARRAY_BYTES, format_bytes

        max_samples = MAX_ARRAY_BYTES // 4
        too_long = AudioError(f"audio file {path} is longer than diface reads ({max_samples:,} samples, "
                              f"{format_bytes(MAX_ARRAY_BYTES)} of mono float32); cut it into parts")
        with f:
            rate, channels, frames = f.samplerate, f.channels, f.frames
            if 0 < frames < 2**62 and frames > max_samples:
                raise too_long
            parts = []
            got = 0
            try:
                for block in f.blocks(blocksize=_READ_BLOCK, dtype="float32", always_2d=True):
                    got += len(block)
                    if got > max_samples:
                        raise too_long
                    parts.append(block[:, 0].copy() if channels == 1 else block.mean(axis=1, dtype=np.float64)
                                 .astype(np.float32))
            except AudioError:
                raise
            except Exception as e:
                raise AudioError(f"audio file {path} is damaged: decoding failed after "
                                 f"{sum(len(p) for p in parts)} of {frames} samples ({e})") from None
        mono = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        if mono.size == 0:
            raise AudioError(f"audio file {path} contains no audio (0 samples)")
        log.debug("loaded %s: %d ch, %d Hz, %d samples", path, channels, rate, mono.size)
        clip = cls(mono, rate, path=path, channels=channels)
        peak = float(np.max(np.abs(mono)))
        if peak > LOUD_PEAK:
            log.warning("audio file %s peaks at %.3g, far outside the nominal -1..1 of audio samples: it is probably "
                        "scaled wrongly (a float file holding integer values?); the motion made from it will be "
                        "unreliable", path, peak)
        return clip

    # ------------------------------------------------------------------ properties
    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.n_samples / self.sample_rate

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of ``f"{sample_rate}:"`` + the float32 little-endian mono samples."""
        if self._sha256 is None:
            h = hashlib.sha256(f"{self.sample_rate}:".encode())
            h.update(self.samples.astype("<f4", copy=False).tobytes())
            self._sha256 = h.hexdigest()
        return self._sha256

    def __repr__(self) -> str:
        src = f", path={str(self.path)!r}" if self.path else ""
        return f"AudioClip({self.duration:.3f} s, {self.sample_rate} Hz, {self.channels} ch{src})"

    # ------------------------------------------------------------------ resampling
    def resampled(self, rate: int) -> np.ndarray:
        """(M,) float32 samples at ``rate`` Hz, ``M = ceil(N * rate / sample_rate)`` (cached per rate).

        Anti-aliased: content above the new Nyquist frequency is removed by the polyphase FIR of
        :func:`scipy.signal.resample_poly`. The returned array is read-only.
        """
        rate = int(round(rate))
        if rate <= 0:
            raise AudioError(f"cannot resample to {rate} Hz")
        cached = self._resampled.get(rate)
        if cached is not None:
            return cached
        from scipy.signal import resample_poly

        ratio = Fraction(rate, self.sample_rate).limit_denominator(1000)
        up, down = ratio.numerator, ratio.denominator
        y = resample_poly(self.samples, up, down).astype(np.float32, copy=False)
        want = -(-self.n_samples * rate // self.sample_rate)
        if len(y) != want:  # only when the ratio had to be approximated
            y = y[:want] if len(y) > want else np.pad(y, (0, want - len(y)))
        y.setflags(write=False)
        self._resampled[rate] = y
        return y

    # ------------------------------------------------------------------ peaks
    def _build_pyramid(self) -> list[tuple[int, np.ndarray, np.ndarray]]:
        x = self.samples
        n_full = len(x) // PEAK_BASE
        mins = [x[: n_full * PEAK_BASE].reshape(n_full, PEAK_BASE).min(axis=1)]
        maxs = [x[: n_full * PEAK_BASE].reshape(n_full, PEAK_BASE).max(axis=1)]
        if len(x) % PEAK_BASE:
            mins.append(x[n_full * PEAK_BASE:].min(keepdims=True))
            maxs.append(x[n_full * PEAK_BASE:].max(keepdims=True))
        lo, hi = np.concatenate(mins), np.concatenate(maxs)
        levels = [(PEAK_BASE, lo, hi)]
        block = PEAK_BASE
        while len(lo) > 1:
            pad = (-len(lo)) % PEAK_FACTOR
            if pad:  # repeat the last block: real values, so min/max are unchanged
                lo, hi = np.pad(lo, (0, pad), mode="edge"), np.pad(hi, (0, pad), mode="edge")
            lo = lo.reshape(-1, PEAK_FACTOR).min(axis=1)
            hi = hi.reshape(-1, PEAK_FACTOR).max(axis=1)
            block *= PEAK_FACTOR
            levels.append((block, lo, hi))
        return levels

    def peaks(self, start_s: float, end_s: float, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
        """Waveform envelope of ``[start_s, end_s)`` in ``n_bins`` equal bins.

        Returns ``(mins, maxs)``, each (n_bins,) float32; bins outside the clip are 0. Uses the
        coarsest pyramid level whose blocks are at most 1/8 of a bin (bin edges snap to that
        level's block boundaries, i.e. move by at most 1/8 bin; every sample falls in exactly one
        bin), or the raw samples when a bin spans fewer than 512 samples. Cost is O(n_bins)
        (at most ~32 blocks per bin) plus a one-off O(N) pyramid build.
        """
        n_bins = int(n_bins)
        if n_bins <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        mins = np.zeros(n_bins, np.float32)
        maxs = np.zeros(n_bins, np.float32)
        if not end_s > start_s:
            return mins, maxs
        n = self.n_samples
        spb = (end_s - start_s) * self.sample_rate / n_bins  # samples per bin
        edges = start_s * self.sample_rate + spb * np.arange(n_bins + 1)
        valid = np.nonzero((edges[1:] > 0) & (edges[:-1] < n))[0]
        if valid.size == 0:
            return mins, maxs
        b0, b1 = int(valid[0]), int(valid[-1]) + 1
        starts = np.clip(edges[b0:b1], 0, n)
        stop = min(edges[b1], n)
        if spb < PEAK_BASE * PEAK_SNAP:
            src_lo = src_hi = self.samples
            block = 1
        else:
            if self._pyramid is None:
                self._pyramid = self._build_pyramid()
            block, src_lo, src_hi = self._pyramid[0]
            for lvl in self._pyramid:
                if lvl[0] * PEAK_SNAP <= spb:
                    block, src_lo, src_hi = lvl
        idx = np.floor(starts / block).astype(np.int64)
        end_idx = max(int(np.ceil(stop / block)), int(idx[-1]) + 1)
        end_idx = min(end_idx, len(src_lo))
        idx = np.minimum(idx, end_idx - 1)
        idx = np.maximum.accumulate(idx)  # monotone for reduceat (already is; guards rounding)
        seg_lo, seg_hi = src_lo[:end_idx], src_hi[:end_idx]
        mins[b0:b1] = np.minimum.reduceat(seg_lo, idx)
        maxs[b0:b1] = np.maximum.reduceat(seg_hi, idx)
        return mins, maxs

    # ------------------------------------------------------------------ saving
    def save(self, path: str | os.PathLike, subtype: str | None = None) -> None:
        """Write the mono samples to ``path`` atomically (format from the suffix, see :func:`save_wav`)."""
        save_wav(path, self.samples, self.sample_rate, subtype=subtype)


def save_wav(path: str | os.PathLike, samples: np.ndarray, rate: int, subtype: str | None = None) -> None:
    """Write (N,) or (N, C) float samples to an audio file atomically.

    The container comes from the suffix (``.wav`` by default, ``.flac``, ``.ogg``); ``subtype``
    defaults to 16-bit PCM for WAV/FLAC (values are clipped to [-1, 1]) and Vorbis for OGG.

    Raises:
        AudioError: bad samples or rate; :class:`~diface_editor.core.atomic.WriteError` when the
        file cannot be written (the old file is unchanged).
    """
    sf = _sf()
    a = np.asarray(samples, dtype=np.float32)
    if a.ndim not in (1, 2) or a.shape[0] == 0:
        raise AudioError(f"cannot save audio of shape {a.shape}: need (samples,) or (samples, channels)")
    if not np.all(np.isfinite(a)):
        raise AudioError("cannot save audio that contains NaN or infinite samples")
    if int(rate) <= 0:
        raise AudioError(f"cannot save audio at {rate} Hz")
    path = Path(path)
    ext = path.suffix.lower()
    fmt = {".wav": "WAV", ".wave": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".oga": "OGG"}.get(ext)
    if fmt is None:
        raise AudioError(f"cannot save audio as {ext or 'a file without a suffix'}: use .wav, .flac or .ogg")
    if subtype is None:
        subtype = "VORBIS" if fmt == "OGG" else "PCM_16"
    if subtype.startswith("PCM"):
        a = np.clip(a, -1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), a, int(rate), subtype=subtype, format=fmt)


def describe_audio(path: str | os.PathLike) -> str:
    """One line about an audio file without decoding it: format, channels, rate, duration.

    Raises:
        AudioError: missing, empty or unreadable file.
    """
    path = Path(path)
    _check_file(path)
    sf = _sf()
    try:
        info = sf.info(str(path))
    except Exception as e:
        raise _open_error(path, e) from None
    text = (f"{path.name}: audio, {info.format} ({info.subtype}), {info.channels} channel"
            f"{'s' if info.channels != 1 else ''}, {info.samplerate} Hz, {info.frames / info.samplerate:.3f} s "
            f"({info.frames} samples)")
    trunc = wav_truncation(path)
    if trunc is not None:
        text += f"; TRUNCATED (header promises {trunc[0]} data bytes, {trunc[1]} present)"
    elif info.frames == 0:
        text += "; contains no audio"
    return text
