"""Playback against a real, paced audio device: a private PulseAudio server with a null sink
(``diface_editor.bench.sound``), played through sounddevice. Skips where pulseaudio is not installed."""

from __future__ import annotations

import time

import numpy as np
import pytest

from diface_editor.bench.sound import NullSinkServer, pulseaudio_available

pytestmark = pytest.mark.skipif(pulseaudio_available() is not None, reason=str(pulseaudio_available()))


def test_audio_clock_follows_the_device_and_scrubbing_plays_grains():
    pytest.importorskip("sounddevice")
    from diface_editor.core.audio import AudioClip
    from diface_editor.gui.playback import AudioClock

    rate = 16000
    t = np.arange(rate * 9) / rate
    clip = AudioClip.from_array((0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate)
    with NullSinkServer():
        clock = AudioClock(clip)
        try:
            clock.start(1.0)
            time.sleep(3.0)  # the PulseAudio ALSA plugin first fills a ~2 s buffer (heard that late)
            p0, d0 = clock.position(), clock.device_time()
            time.sleep(2.0)
            p1, d1 = clock.position(), clock.device_time()
            drift_ms = abs((p1 - p0) - (d1 - d0)) * 1e3
            assert p1 > p0 and drift_ms < 50.0, drift_ms  # the playhead moves with the device's clock
            clock.stop()
            before = clock.samples_out
            clock.scrub(6.0)  # paused: a short grain under the playhead
            time.sleep(0.3)
            assert clock.samples_out > before and clock.position() > 6.0
        finally:
            clock.close()
