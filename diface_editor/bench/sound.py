"""A private PulseAudio server with a null sink, for measuring playback against a real, paced audio
device on machines without sound hardware (benchmarks and tests start and stop their own).

PortAudio's ALSA "default" device goes to PulseAudio through the ALSA pulse plugin (Debian:
``pulseaudio``, ``libasound2-plugins``); the null sink consumes samples at the real sample rate,
so the stream's clock is a device clock, not a simulation.

The null sink renders in blocks of its clients' smallest requested latency, and of 2 s while none
asks for less; a stream that connects to an idle sink is therefore not played until that 2 s block
ends (PortAudio's stream stalls for up to 2 s after it starts). A real sound card's sink reacts at
once, so the server keeps a silent low-latency client (``pacat`` writing zeros, 10 ms) connected
and :meth:`NullSinkServer.__enter__` returns once the sink runs in short blocks.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def pulseaudio_available() -> str | None:
    """Why a null-sink server cannot be started here (None: it can)."""
    if shutil.which("pulseaudio") is None:
        return "pulseaudio is not installed (Debian package pulseaudio)"
    return None


#: 8 kHz mono: one frame is 125 us, so the null sink's clock (it advances by the microseconds of each
#: rendered chunk, rounded down) keeps time; at its default 48 kHz stereo a frame is 20.83 us and the
#: rounding made the "device" play ~125 ppm fast (7.5 ms a minute against the system clock)
SINK_OPTIONS = "rate=8000 channels=1"


class NullSinkServer:
    """``with NullSinkServer() as srv:`` a PulseAudio daemon with a null sink in a private
    ``XDG_RUNTIME_DIR`` (0700); PortAudio is re-initialised so that sounddevice sees it. On exit the
    daemon is stopped (``pulseaudio -k``) and the environment restored."""

    KEEPER_LATENCY_MSEC = 10

    def __init__(self, sink_options: str = SINK_OPTIONS) -> None:
        self.sink_options = sink_options
        self.runtime: Path | None = None
        self._old_env: dict[str, str | None] = {}
        self._keeper: subprocess.Popen | None = None

    def __enter__(self) -> NullSinkServer:
        why = pulseaudio_available()
        if why is not None:
            raise RuntimeError(why)
        self.runtime = Path(tempfile.mkdtemp(prefix="diface-pulse-"))
        self.runtime.chmod(0o700)
        for k in ("XDG_RUNTIME_DIR", "PULSE_SERVER", "DIFACE_NO_AUDIO", "PULSE_LATENCY_MSEC"):
            self._old_env[k] = os.environ.get(k)
        os.environ["XDG_RUNTIME_DIR"] = str(self.runtime)
        os.environ.pop("PULSE_SERVER", None)
        os.environ.pop("DIFACE_NO_AUDIO", None)
        # the ALSA plugin sizes the PulseAudio stream's buffer from PortAudio's; PULSE_LATENCY_MSEC would
        # override it (30 ms with 25 ms periods underran)
        os.environ.pop("PULSE_LATENCY_MSEC", None)
        cmd = ["pulseaudio", "--daemonize=yes", "--exit-idle-time=-1", "-n",
               f"--load=module-null-sink sink_name=null {self.sink_options}".strip(), "--load=module-native-protocol-unix"]
        if os.geteuid() == 0:
            cmd.insert(1, "--system=no")
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            self._restore()
            raise RuntimeError(f"pulseaudio did not start: {(r.stderr or r.stdout).strip()[-300:]}")
        for _ in range(100):  # the socket appears once it listens
            if (self.runtime / "pulse" / "native").exists():
                break
            time.sleep(0.05)
        self._keep_sink_running()
        reinit_portaudio()
        return self

    def _keep_sink_running(self) -> None:
        """Connect the silent low-latency client and wait (at most 5 s) until the sink's 2 s idle block
        has played out: from then on a new stream is played within milliseconds."""
        if shutil.which("pacat") is None:  # pulseaudio-utils: without it streams may start ~2 s late
            return
        self._keeper = subprocess.Popen(
            ["pacat", "--playback", "--raw", "--format=s16le", "--rate=8000", "--channels=1",
             f"--latency-msec={self.KEEPER_LATENCY_MSEC}", "--client-name=diface-null-sink-keeper", "/dev/zero"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 5.0
        while time.monotonic() < end:
            latency = self.sink_latency_ms()
            if latency is not None and latency < 50.0:
                return
            time.sleep(0.05)

    def sink_latency_ms(self) -> float | None:
        """The null sink's current latency (how far ahead it has rendered), from ``pacmd``."""
        try:
            r = subprocess.run(["pacmd", "list-sinks"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        m = re.search(r"current latency: ([\d.]+) ms", r.stdout)
        return float(m.group(1)) if m else None

    def __exit__(self, *exc) -> None:
        if self._keeper is not None:
            self._keeper.kill()
            self._keeper.wait(timeout=10)
            self._keeper = None
        subprocess.run(["pulseaudio", "-k"], capture_output=True, timeout=30)
        self._restore()
        reinit_portaudio()

    def _restore(self) -> None:
        for k, v in self._old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if self.runtime is not None:
            shutil.rmtree(self.runtime, ignore_errors=True)


def reinit_portaudio() -> None:
    """Re-scan the audio devices (PortAudio enumerates them once, when sounddevice is imported)."""
    try:
        import sounddevice as sd

        sd._terminate()
        sd._initialize()
    except Exception:  # no libportaudio: the editor plays silently anyway
        pass
