"""Playback against a real, paced audio device: a private PulseAudio server with a null sink
(``diface_editor.bench.sound``), played through sounddevice. Skips where pulseaudio is not installed."""

from __future__ import annotations

import shutil
import subprocess
import time

import numpy as np
import pytest

from diface_editor.bench.sound import NullSinkServer, pulseaudio_available

pytestmark = pytest.mark.skipif(pulseaudio_available() is not None, reason=str(pulseaudio_available()))


def _tone_clip(seconds=9.0, rate=16000, tone=None):
    from diface_editor.core.audio import AudioClip

    t = np.arange(int(rate * seconds)) / rate
    x = 0.2 * np.sin(2 * np.pi * 220 * t)
    if tone is not None:  # silence except a tone between these times
        x = np.where((t >= tone[0]) & (t < tone[1]), x, 0.0)
    return AudioClip.from_array(x.astype(np.float32), rate)


def test_audio_clock_follows_the_device_smoothly_from_the_start():
    """The playhead starts with the sound (no 2 s stall of an idle null sink), advances with the
    device's clock (drift over 4 s within 5 ms), never steps back and never jumps."""
    pytest.importorskip("sounddevice")
    from diface_editor.gui.playback import AudioClock

    with NullSinkServer() as srv:
        assert srv.sink_latency_ms() is not None and srv.sink_latency_ms() < 50.0
        clock = AudioClock(_tone_clip())
        try:
            clock.start(1.0)
            d_start = clock.device_time()
            samples = []
            while clock.device_time() - d_start < 5.0:
                pos = clock.position()
                samples.append((clock.last_device_time or d_start, pos))  # the device time it is for
                time.sleep(0.01)
            d, p = np.array(samples).T
            moving = d[np.argmax(p > 1.0 + 1e-6)] - d_start
            assert moving < 0.3, moving  # the sound (and the playhead) start within the output latency
            steps = np.diff(p)
            after = p[:-1] > 1.0 + 1e-6  # once moving, each step matches the device time between the reads
            jumps = np.abs(steps - np.diff(d))[after]
            assert steps.min() >= 0.0 and jumps.max() < 0.01, (steps.min(), jumps.max())
            # drift: the playhead's offset from the device clock, 1 s in against the last 0.3 s (medians
            # over 0.3 s, so a read that lands in a momentary hold of a loaded machine is not called drift;
            # the jump check above bounds each read)
            off = p - d
            i0, i1 = np.searchsorted(d, d_start + 1.0), np.searchsorted(d, d[-1] - 0.3)
            drift_ms = abs(np.median(off[i1:]) - np.median(off[i0:np.searchsorted(d, d[i0] + 0.3)])) * 1e3
            assert drift_ms < 5.0, drift_ms
            assert clock.underflows == 0
        finally:
            clock.close()


@pytest.mark.skipif(shutil.which("parec") is None, reason="parec (pulseaudio-utils) is not installed")
def test_scrubbing_plays_the_sound_under_the_playhead(qapp, tmp_path):
    """Dragging the playhead while paused plays a short grain of the clip at the playhead: recorded
    from the null sink's monitor, a scrub over silence is silent, one over the tone sounds ~70 ms."""
    pytest.importorskip("sounddevice")
    from diface_editor.gui.playback import SCRUB_GRAIN_S, AudioClock, Playback

    rate = 16000
    clip = _tone_clip(rate=rate, tone=(6.0, 7.0))
    with NullSinkServer():
        pb = Playback()
        try:
            pb.set_clip(clip, clip.duration)
            assert isinstance(pb.clock, AudioClock)
            out = tmp_path / "monitor.raw"
            with open(out, "wb") as f:
                rec = subprocess.Popen(["parec", "-d", "null.monitor", "--raw", "--format=s16le", f"--rate={rate}",
                                        "--channels=1", "--latency-msec=10"], stdout=f, stderr=subprocess.DEVNULL)
                try:
                    time.sleep(0.5)
                    pb.scrub(2.0)  # silence there
                    time.sleep(0.5)
                    assert pb.time == 2.0 and pb.clock.position() == 2.0  # the grain does not move the playhead
                    pb.scrub(6.5)  # the tone
                    time.sleep(0.6)
                finally:
                    rec.terminate()
                    rec.wait(timeout=10)
            assert pb.clock.grain_samples == 2 * int(SCRUB_GRAIN_S * rate)
        finally:
            pb.close()
    x = np.frombuffer(out.read_bytes(), np.int16).astype(np.float32) / 32768.0
    assert len(x) > 0.8 * rate
    loud = np.abs(x) > 0.05
    sounding = np.flatnonzero(loud)
    assert len(sounding), "nothing was heard"
    span = (sounding[-1] - sounding[0]) / rate
    assert 0.5 * SCRUB_GRAIN_S < span < 2 * SCRUB_GRAIN_S, span  # one grain, of the tone at 6.5 s
    assert sounding[0] / rate > 0.7  # after the second scrub, not at the first (over silence)
