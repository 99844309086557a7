"""Running the editor without a screen (GUI benchmarks, screenshot tools): an Xvfb display when there
is none, and a throw-away settings folder so a run never touches the user's editor settings."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Xvfb:
    """Start Xvfb on a free display when there is none (``DISPLAY`` unset); stop it on exit."""

    def __init__(self) -> None:
        self.proc = None

    def __enter__(self):
        if os.environ.get("DISPLAY"):
            return self
        exe = shutil.which("Xvfb")
        if exe is None:
            raise RuntimeError("no display and no Xvfb: install xvfb or run under xvfb-run")
        r, w = os.pipe()
        self.proc = subprocess.Popen([exe, "-displayfd", str(w), "-screen", "0", "1700x1100x24", "-nolisten", "tcp"],
                                     pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(w)
        with os.fdopen(r) as fh:
            num = fh.readline().strip()
        if not num:
            raise RuntimeError("Xvfb did not start")
        os.environ["DISPLAY"] = f":{num}"
        return self

    def __exit__(self, *exc):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            os.environ.pop("DISPLAY", None)


@contextmanager
def headless_editor(prefix: str, *, no_audio: bool = True) -> Iterator[Path]:
    """A display (:class:`Xvfb` when needed), the xcb Qt platform (the vispy canvas needs it),
    editor settings and data in a temporary folder (yielded, removed afterwards) and, with
    ``no_audio``, the silent playback clock. Variables already set by the caller are kept."""
    with Xvfb():
        os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
        tmp = Path(tempfile.mkdtemp(prefix=prefix))
        os.environ.setdefault("DIFACE_CONFIG_DIR", str(tmp / "config"))
        os.environ.setdefault("DIFACE_DATA_DIR", str(tmp / "data"))
        if no_audio:
            os.environ.setdefault("DIFACE_NO_AUDIO", "1")
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
