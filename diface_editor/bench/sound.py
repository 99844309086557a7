"""A private PulseAudio server with a null sink, for measuring playback against a real, paced audio
device on machines without sound hardware (benchmarks and tests start and stop their own).

PortAudio's ALSA "default" device goes to PulseAudio through the ALSA pulse plugin (Debian:
``pulseaudio``, ``libasound2-plugins``); the null sink consumes samples at the real sample rate,
so the stream's clock is a device clock, not a simulation.
"""

from __future__ import annotations

import os
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


class NullSinkServer:
    """``with NullSinkServer() as srv:`` a PulseAudio daemon with a null sink in a private
    ``XDG_RUNTIME_DIR`` (0700); PortAudio is re-initialised so that sounddevice sees it. On exit the
    daemon is stopped (``pulseaudio -k``) and the environment restored."""

    def __init__(self) -> None:
        self.runtime: Path | None = None
        self._old_env: dict[str, str | None] = {}

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
        # libpulse otherwise buffers ~2 s for the ALSA plugin: heard sound would start that late
        os.environ["PULSE_LATENCY_MSEC"] = "30"
        cmd = ["pulseaudio", "--daemonize=yes", "--exit-idle-time=-1", "-n",
               "--load=module-null-sink sink_name=null", "--load=module-native-protocol-unix"]
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
        reinit_portaudio()
        return self

    def __exit__(self, *exc) -> None:
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
