"""espeak-ng through its C API (``libespeak-ng.so.1``, ctypes): audio and phoneme events.

The library is initialised once per process in synchronous mode with phoneme events on; each
``espeakEVENT_PHONEME`` event carries the phoneme's espeak-ng mnemonic (e.g. ``aI``, ``3:``,
``tS``; up to 8 bytes) and the sample position where it starts. A phoneme ends where the next
one starts. The library keeps global state, so calls are serialised with a lock.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import os
import struct
import threading

import numpy as np

from diface_editor.synth.tts.base import Speech, TTSError, VoiceSpec, finish

log = logging.getLogger(__name__)

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE, _PARAM_PITCH, _PARAM_RANGE = 1, 3, 4
DEFAULT_WPM = 175


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))

_lock = threading.Lock()
_state: dict = {}


def _library() -> ctypes.CDLL:
    if "lib" in _state:
        return _state["lib"]
    name = "libespeak-ng.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        found = ctypes.util.find_library("espeak-ng")
        if not found:
            raise TTSError("espeak-ng is not installed (libespeak-ng.so.1 not found); "
                           "install the Debian package espeak-ng") from None
        lib = ctypes.CDLL(found)
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                 ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INIT_PHONEME_EVENTS)
    if rate <= 0:
        raise TTSError("espeak-ng failed to initialise (is espeak-ng-data installed?)")
    _state["buf"] = {"chunks": [], "events": []}

    def on_synth(wav, n, events):
        buf = _state["buf"]
        if wav and n > 0:
            buf["chunks"].append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_PHONEME:
                buf["events"].append((bytes(ev.id.string).split(b"\0")[0].decode("utf-8", "replace"), int(ev.sample)))
            i += 1
        return 0

    _state["callback"] = _CALLBACK(on_synth)  # keep a reference: the C side stores the pointer
    lib.espeak_SetSynthCallback(_state["callback"])
    _state["rate"] = rate
    _state["lib"] = lib
    return lib


def available() -> bool:
    try:
        _library()
        return True
    except TTSError:
        return False


#: language tags whose voice file has another name (espeak-ng's British English file is "en")
ALIASES = {"en-gb": "en", "en-uk": "en"}


def _set_voice(lib: ctypes.CDLL, voice: str) -> None:
    base, plus, variant = voice.partition("+")
    name = ALIASES.get(base.lower(), base) + plus + variant
    if lib.espeak_SetVoiceByName(name.encode()) != 0:
        raise TTSError(f"espeak-ng has no voice {voice!r} (try e.g. en-us, en-gb, en-us+f3)")


def _synth_here(text: str, spec: VoiceSpec) -> tuple[np.ndarray, int, list[tuple[str, int]]]:
    """Synthesise in this process: (int16 samples, rate, [(mnemonic, start sample)]). Caller holds _lock."""
    lib = _library()
    _set_voice(lib, spec.voice)
    lib.espeak_SetParameter(_PARAM_RATE, int(np.clip(round(DEFAULT_WPM * spec.rate), 80, 450)), 0)
    lib.espeak_SetParameter(_PARAM_PITCH, int(np.clip(round(50 + 5.5 * spec.pitch), 0, 100)), 0)
    lib.espeak_SetParameter(_PARAM_RANGE, 50, 0)
    buf = _state["buf"]
    buf["chunks"], buf["events"] = [], []
    data = text.encode("utf-8") + b"\0"
    err = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
    if err != 0:
        raise TTSError(f"espeak-ng failed to synthesise (error {err})")
    lib.espeak_Synchronize()
    chunks, events = buf["chunks"], buf["events"]
    buf["chunks"], buf["events"] = [], []
    if not chunks:
        raise TTSError("espeak-ng produced no audio")
    return np.concatenate(chunks).astype(np.int16), int(_state["rate"]), events


def _synth_forked(text: str, spec: VoiceSpec) -> tuple[np.ndarray, int, list[tuple[str, int]]]:
    """:func:`_synth_here` in a forked child, so every utterance starts from the library's pristine
    state. espeak-ng keeps synthesis state between utterances (e.g. the pitch-flutter phase, a
    function-level static in wavegen.c), which makes the same text come out a few samples
    different each time; the child inherits the loaded but unused library and exits afterwards."""
    _library()  # load voices and phoneme data once, in the parent (no synthesis here)
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: synthesise, send, exit without running any Python clean-up
        code = 0
        try:
            os.close(rfd)
            try:
                samples, sr, events = _synth_here(text, spec)
                head = json.dumps({"sr": sr, "events": events}).encode()
                body = samples.astype("<i2").tobytes()
            except BaseException as e:  # noqa: BLE001 - report any failure to the parent
                head, body, code = json.dumps({"error": str(e) or e.__class__.__name__}).encode(), b"", 1
            with os.fdopen(wfd, "wb") as f:
                f.write(struct.pack("<QQ", len(head), len(body)) + head + body)
        finally:
            os._exit(code)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    if len(data) < 16:
        raise TTSError("espeak-ng synthesis process died without a result")
    n_head, n_body = struct.unpack("<QQ", data[:16])
    head = json.loads(data[16:16 + n_head])
    if "error" in head:
        raise TTSError(head["error"])
    samples = np.frombuffer(data[16 + n_head:16 + n_head + n_body], dtype="<i2").copy()
    return samples, int(head["sr"]), [(str(n), int(p)) for n, p in head["events"]]


#: Synthesise each utterance in a forked child for bit-reproducible output (POSIX only).
ISOLATE = hasattr(os, "fork")


def synthesize_raw(text: str, spec: VoiceSpec) -> tuple[np.ndarray, int, list[tuple[str, float, float]]]:
    """(samples float32, sample_rate, [(espeak-ng mnemonic, start_s, end_s)]) without padding.

    Reproducible (bit-identical for the same text and voice) where ``os.fork`` exists; elsewhere
    the output varies by a few samples between calls (see :func:`_synth_forked`).
    """
    with _lock:
        raw, sr, events = _synth_forked(text, spec) if ISOLATE else _synth_here(text, spec)
    samples = raw.astype(np.float32) / 32768.0
    n = samples.size
    phones = []
    for k, (name, pos) in enumerate(events):
        end = events[k + 1][1] if k + 1 < len(events) else n
        start, end = min(max(pos, 0), n), min(max(end, 0), n)
        if end > start:
            phones.append((name, start / sr, end / sr))
    return samples, sr, phones


def synthesize(text: str, spec: VoiceSpec) -> Speech:
    """Speak ``text`` with espeak-ng; phones in the common set (see :class:`Speech`)."""
    samples, sr, phones = synthesize_raw(text, spec)
    return finish(samples, sr, phones, "espeak", spec)


def text_to_phonemes(text: str, voice: str = "en-us") -> list[str]:
    """espeak-ng's phoneme mnemonics for ``text`` (no audio), one list entry per phoneme.

    Stress marks are dropped. Used as a grapheme-to-phoneme fallback for words missing from
    the aligner's dictionary.
    """
    with _lock:
        lib = _library()
        _set_voice(lib, voice)
        data = ctypes.create_string_buffer(text.encode("utf-8") + b"\0")
        ptr = ctypes.c_void_p(ctypes.addressof(data))
        out: list[str] = []
        sep = ord("|")
        while ptr.value:
            res = lib.espeak_TextToPhonemes(ctypes.byref(ptr), _CHARS_UTF8, sep << 8)
            if res is None:
                break
            for chunk in res.decode("utf-8", "replace").replace("_", " ").split():
                out += [p.replace("'", "").replace(",", "") for p in chunk.split("|")]
    return [p for p in out if p]
