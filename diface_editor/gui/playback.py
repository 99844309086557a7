"""Playback: an audio clock (sounddevice) or, without a sound device, a silent monotonic clock.

The audio clock is the master: the PortAudio callback copies samples and advances a sample
counter; the GUI polls :meth:`Clock.position` with a ~60 Hz ``QTimer`` and moves the playhead and the
mesh to it, so picture follows sound (never the reverse). Without a usable device (no
``libportaudio2``, no sound card: ``PortAudioError``) :class:`SilentClock` offers the same interface
based on ``time.monotonic``. ``DIFACE_NO_AUDIO=1`` forces the silent clock.

Times are seconds on the clip's timeline.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Protocol

import numpy as np
from PySide6 import QtCore

log = logging.getLogger(__name__)

SCRUB_GRAIN_S = 0.07


class Clock(Protocol):
    """What :class:`Playback` needs from a clock."""

    is_audio: bool

    def start(self, t0: float) -> None: ...
    def stop(self) -> None: ...
    def position(self) -> float: ...
    def set_loop(self, loop: tuple[float, float] | None) -> None: ...
    def scrub(self, t: float) -> None: ...
    def close(self) -> None: ...


def _wrap(t: float, loop: tuple[float, float] | None) -> float:
    if loop is None:
        return t
    a, b = loop
    if t < b or b - a <= 0:
        return t
    return a + (t - a) % (b - a)


class SilentClock:
    """A clock without sound: ``position = t0 + (monotonic() - started) * rate``, wrapped into the loop.

    Args:
        now: the time source (seconds); tests and the benchmark may pass a fake one.
    """

    is_audio = False

    def __init__(self, now=time.monotonic) -> None:
        self._now = now
        self._t0 = 0.0
        self._started: float | None = None
        self._loop: tuple[float, float] | None = None

    def start(self, t0: float) -> None:
        self._t0 = float(t0)
        self._started = self._now()

    def stop(self) -> None:
        self._t0 = self.position()
        self._started = None

    def position(self) -> float:
        if self._started is None:
            return self._t0
        return _wrap(self._t0 + (self._now() - self._started), self._loop)

    def set_loop(self, loop: tuple[float, float] | None) -> None:
        if self._started is not None:  # re-anchor so the change does not jump
            self._t0, self._started = self.position(), self._now()
        self._loop = loop

    def scrub(self, t: float) -> None:
        self._t0 = float(t)

    def close(self) -> None:
        self._started = None


class AudioClock:
    """Plays an :class:`~diface_editor.core.audio.AudioClip` through ``sounddevice.OutputStream``.

    The stream is opened on construction (so a missing device fails early, see :func:`make_clock`)
    and runs until :meth:`close`, writing silence while paused. The callback copies samples and
    notes, for its buffer, when the buffer's first sample reaches the listener on the stream's clock
    (PortAudio's ``outputBufferDacTime``) and which stream sample that is. :meth:`position` follows
    that device timing: the playhead shows what is heard, whatever the output latency (PulseAudio
    buffers tens of milliseconds, a Bluetooth sink hundreds), and stands still while the device
    does (a stalled or underrun stream). Between buffers it runs on the stream's clock; the small
    jitter of the device's timing reports is taken out by slewing (the picture runs at most
    ``SLEW`` faster or slower until it meets the device again), never by steps; a device ahead by
    more than ``SNAP_S`` (it skipped) is followed at once, one behind by more than ``HOLD_S`` (it
    stalled) is waited for; the picture never steps backwards (a loop wraps, a seek restarts).
    """

    is_audio = True
    LATENCY_S = 0.1    # requested output latency: short enough for scrubbing, enough against underruns on a
    #                    busy CPU (0.05 s underran a few times a minute at load 4 on 2 cores)
    SLEW = 0.05        # the picture may run up to 5 % fast or slow while it meets the device's clock
    SNAP_S = 0.1       # the device ahead of the picture by more (a skip): followed at once
    HOLD_S = 0.03      # the device behind by more (it stalled): the picture waits for the sound
    # device-timing state, also as class defaults: a clock made without a device (the unit tests) works
    _anchor: tuple[float, int, int] | None = None  # (device time the buffer is heard, its stream sample, clip sample)
    _written = 0       # stream samples written since start() (loops and silence past the end included)
    _start_pos = 0     # clip sample of start()
    _smooth: tuple[float, float] | None = None  # (device time, stream seconds shown) of the last position()
    _timed = False     # the backend reports DAC times
    _gen = 0           # start() count: a position() computed across a start() is not kept
    _grain: tuple[int, int] = (0, 0)  # scrub: clip samples [a, b) still to play while paused
    samples_out = 0    # samples handed to the device (diagnostics: the stream clock's rate)
    underflows = 0     # buffers the device reported as underrun (diagnostics)
    grain_samples = 0  # scrub: samples of clip sound played while paused (diagnostics, tests)
    last_device_time: float | None = None  # the stream's clock at the last position() while playing

    def __init__(self, clip: Any, device: Any = None, latency: float | str | None = None) -> None:
        import sounddevice as sd

        self._sd = sd
        rate = int(clip.sample_rate)
        samples = np.asarray(clip.samples, np.float32)
        try:
            sd.check_output_settings(device=device, channels=1, samplerate=rate, dtype="float32")
        except Exception:
            rate = 48000
            samples = np.asarray(clip.resampled(rate), np.float32)
        self.rate = rate
        self._samples = samples
        self._lock = threading.Lock()
        self._pos = 0           # next clip sample to write
        self._playing = False
        self._loop: tuple[int, int] | None = None
        self._grain = (0, 0)
        self._stream = sd.OutputStream(samplerate=rate, channels=1, dtype="float32", device=device,
                                       callback=self._callback,
                                       latency=self.LATENCY_S if latency is None else latency)
        self._stream.start()

    def _callback(self, out, frames, time_info, status) -> None:  # PortAudio thread
        out.fill(0)
        try:
            dac = float(time_info.outputBufferDacTime)
        except Exception:  # a backend without timing (and the unit tests' None)
            dac = 0.0
        with self._lock:
            pos, n = self._pos, len(self._samples)
            self.samples_out += frames
            if status is not None and getattr(status, "output_underflow", False):
                self.underflows += 1
            if self._playing:
                if dac > 0:  # this buffer's first sample is heard at `dac` on the stream's clock
                    self._anchor = (dac, self._written, pos)
                    self._timed = True
                loop = self._loop
                if loop is not None and not (0 <= loop[0] < min(loop[1], n)):
                    loop = None
                written = 0
                while written < frames:
                    end = min(loop[1], n) if loop else n
                    if pos >= end:
                        if loop is None:
                            break
                        pos = loop[0]
                        continue
                    take = min(frames - written, end - pos)
                    out[written:written + take, 0] = self._samples[pos:pos + take]
                    written += take
                    pos += take
                # past the end the clock keeps running so that the GUI sees the end and stops
                self._pos = pos + (frames - written)
                self._written += frames
            else:
                a, b = self._grain
                b = min(b, n)
                if a < b:
                    take = min(frames, b - a)
                    out[:take, 0] = self._samples[a:a + take]
                    self._grain = (a + take, b)
                    self.grain_samples += take

    def start(self, t0: float) -> None:
        with self._lock:
            self._pos = self._start_pos = int(round(t0 * self.rate))
            self._playing = True
            self._written = 0
            self._anchor = None
            self._smooth = None
            self._gen += 1

    def stop(self) -> None:
        t = self.position()
        with self._lock:
            self._playing = False
            self._pos = int(round(t * self.rate))
            self._grain = (0, 0)

    def device_time(self) -> float:
        """The stream's clock (PortAudio's ``Pa_GetStreamTime``), seconds."""
        return float(self._stream.time)

    def _clip_time(self, stream_s: float, anchor_clip: int, anchor_stream: int) -> float:
        """Clip seconds heard ``stream_s`` seconds of stream after start(), wrapped into the loop."""
        if stream_s <= 0:  # the first sample is not heard yet: the playhead waits at the start
            return self._start_pos / self.rate
        loop = self._loop
        s = anchor_clip + (stream_s * self.rate - anchor_stream)
        if loop is not None and loop[0] <= anchor_clip < loop[1]:
            if s >= loop[1]:  # the buffer wrapped (or the picture ran past it)
                s = loop[0] + (s - loop[0]) % (loop[1] - loop[0])
            elif s < loop[0] and anchor_stream > 0:
                s = loop[1] - (loop[0] - s)  # before the buffer that began at the loop start
        return max(0.0, s / self.rate)

    def position(self) -> float:
        """The clip time being heard now (seconds).

        Playing with device timing: the stream sample heard now is the last buffer's first sample
        plus the device time since that buffer reached the listener, capped at the samples written
        (a stalled device holds the playhead); the shown time slews towards it (see the class).
        Without device timing: samples written minus the stream's latency. Paused: where it stopped.
        """
        with self._lock:
            playing, anchor, written, pos = self._playing, self._anchor, self._written, self._pos
            smooth, timed, gen = self._smooth, self._timed, self._gen
        if not playing:
            return pos / self.rate
        if anchor is None:
            if timed or written == 0:  # started, nothing heard yet: the playhead waits for the sound
                return self._start_pos / self.rate
            return self._untimed(pos)
        try:
            now = self.device_time()
        except Exception:  # pragma: no cover - the stream vanished
            return self._untimed(pos)
        dac, a_stream, a_clip = anchor
        heard = min(a_stream / self.rate + (now - dac), written / self.rate)  # < 0: not yet heard
        if smooth is None:
            shown = heard
        else:
            t_prev, s_prev = smooth
            dt = max(0.0, now - t_prev)
            predicted = min(s_prev + dt, written / self.rate)
            err = heard - predicted
            if err > self.SNAP_S:  # the device skipped ahead: follow at once
                shown = heard
            elif err < -self.HOLD_S:  # the sound is behind the picture: the picture waits for it
                shown = s_prev
            else:
                shown = predicted + float(np.clip(err, -self.SLEW * dt, self.SLEW * dt))
            shown = max(shown, s_prev)  # never backwards
        with self._lock:
            if self._gen == gen:  # no start() meanwhile
                self._smooth = (now, shown)
        self.last_device_time = now
        # the anchor's clip sample is where the stream sample a_stream came from
        return self._clip_time(shown, a_clip, a_stream)

    def _untimed(self, pos: int) -> float:
        t = pos / self.rate - float(self._stream.latency or 0.0)
        if self._loop:
            a = self._loop[0] / self.rate
            if t < a:  # just wrapped: the latency reaches back before the loop start
                t = self._loop[1] / self.rate - (a - t)
        return max(0.0, t)

    def set_loop(self, loop: tuple[float, float] | None) -> None:
        with self._lock:
            self._loop = None if loop is None else (int(loop[0] * self.rate), int(loop[1] * self.rate))

    def scrub(self, t: float) -> None:
        """While paused: play a short grain of sound at ``t`` (dragging the playhead); the paused
        position becomes ``t``."""
        with self._lock:
            if self._playing:
                return
            self._pos = int(round(t * self.rate))
            self._grain = (self._pos, self._pos + int(SCRUB_GRAIN_S * self.rate))

    def close(self) -> None:
        try:
            self._stream.abort()
            self._stream.close()
        except Exception as e:  # pragma: no cover - device vanished
            log.debug("closing the audio stream: %s", e)


def make_clock(clip: Any | None) -> Clock:
    """An :class:`AudioClock` for ``clip`` if a sound device works, else a :class:`SilentClock`."""
    if clip is None or os.environ.get("DIFACE_NO_AUDIO"):
        return SilentClock()
    try:
        return AudioClock(clip)
    except Exception as e:  # OSError (no libportaudio), sounddevice.PortAudioError (no device), ...
        log.info("no audio output (%s); playing silently", e)
        return SilentClock()


class Playback(QtCore.QObject):
    """The transport: current time, play/pause, seek, scrub and loop.

    Signals:
        time_changed(float): the current time in seconds (on seek and ~60 times a second while playing).
        playing_changed(bool)
    """

    time_changed = QtCore.Signal(float)
    playing_changed = QtCore.Signal(bool)

    def __init__(self, parent: QtCore.QObject | None = None, interval_ms: int = 16) -> None:
        super().__init__(parent)
        self._clock: Clock = SilentClock()
        self._time = 0.0
        self._duration = 0.0
        self._loop_range: tuple[float, float] | None = None
        self._loop_enabled = True
        self._timer = QtCore.QTimer(self)
        self._timer.setTimerType(QtCore.Qt.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    # ------------------------------------------------------------------ setup
    def set_clip(self, clip: Any | None, duration: float) -> None:
        """Use ``clip`` for sound (``None``: silent) over ``duration`` seconds; stops and rewinds."""
        self.pause()
        self._clock.close()
        self._clock = make_clock(clip)
        self._duration = max(0.0, float(duration))
        self._apply_loop()
        self.seek(0.0)

    def set_clock(self, clock: Clock) -> None:
        """Replace the clock (tests, benchmark)."""
        self.pause()
        self._clock.close()
        self._clock = clock
        self._apply_loop()

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def has_sound(self) -> bool:
        return self._clock.is_audio

    @property
    def duration(self) -> float:
        return self._duration

    def set_duration(self, seconds: float) -> None:
        self._duration = max(0.0, float(seconds))
        self._apply_loop()

    # ------------------------------------------------------------------ state
    @property
    def time(self) -> float:
        return self._time

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def set_loop_range(self, rng: tuple[float, float] | None) -> None:
        """Loop between these times (the selection) when looping is enabled; ``None`` = the whole clip."""
        self._loop_range = rng
        self._apply_loop()

    def set_loop_enabled(self, on: bool) -> None:
        self._loop_enabled = bool(on)
        self._apply_loop()

    @property
    def loop_enabled(self) -> bool:
        return self._loop_enabled

    def _effective_loop(self) -> tuple[float, float] | None:
        if not self._loop_enabled:
            return None
        if self._loop_range is not None:
            return self._loop_range
        return (0.0, self._duration) if self._duration > 0 else None

    def _apply_loop(self) -> None:
        self._clock.set_loop(self._effective_loop())

    # ------------------------------------------------------------------ transport
    def play(self) -> None:
        if self.playing or self._duration <= 0:
            return
        t = self._time
        loop = self._effective_loop()
        if loop is not None and not (loop[0] <= t < loop[1]):
            t = loop[0]
        elif t >= self._duration - 1e-6:
            t = 0.0
        self._clock.start(t)
        self._timer.start()
        self.playing_changed.emit(True)
        self._set_time(t)

    def pause(self) -> None:
        if not self.playing:
            return
        self._clock.stop()
        self._timer.stop()
        self.playing_changed.emit(False)
        self._set_time(self._clock.position())

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def seek(self, t: float) -> None:
        """Jump to ``t`` seconds (clipped to the clip); keeps playing if it was."""
        t = float(np.clip(t, 0.0, self._duration))
        if self.playing:
            self._clock.start(t)
        elif not self._clock.is_audio:  # the silent clock keeps its own time; audio starts at play()
            self._clock.scrub(t)
        self._set_time(t)

    def scrub(self, t: float) -> None:
        """Seek while dragging the playhead: also plays a short grain of sound when paused."""
        t = float(np.clip(t, 0.0, self._duration))
        if self.playing:
            self._clock.start(t)
        else:
            self._clock.scrub(t)
        self._set_time(t)

    def _set_time(self, t: float) -> None:
        self._time = t
        self.time_changed.emit(t)

    def _tick(self) -> None:
        t = self._clock.position()
        if self._effective_loop() is None and t >= self._duration:
            self._set_time(self._duration)
            self._clock.stop()
            self._timer.stop()
            self.playing_changed.emit(False)
            return
        self._set_time(t)

    def close(self) -> None:
        self._timer.stop()
        self._clock.close()
