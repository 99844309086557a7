"""Per-user editor settings (JSON in the platform's config folder) and the autosave folder.

Locations (``platformdirs``): settings in ``user_config_dir("diface")/editor.json``; autosaves in
``user_data_dir("diface")/autosave/``. ``DIFACE_CONFIG_DIR`` and ``DIFACE_DATA_DIR`` override them
(tests, portable installs). A damaged settings file is ignored (defaults are used) and rewritten
on the next save.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from diface_editor.core.atomic import atomic_write_text

log = logging.getLogger(__name__)

MAX_RECENT = 10
#: plausible head angles in degrees (yaw, pitch, roll), the default limits of head keyframe values
DEFAULT_HEAD_LIMITS_DEG = ((-70.0, 70.0), (-45.0, 45.0), (-40.0, 40.0))


def config_dir() -> Path:
    env = os.environ.get("DIFACE_CONFIG_DIR")
    if env:
        return Path(env)
    import platformdirs
    return Path(platformdirs.user_config_dir("diface", appauthor=False))


def data_dir() -> Path:
    env = os.environ.get("DIFACE_DATA_DIR")
    if env:
        return Path(env)
    import platformdirs
    return Path(platformdirs.user_data_dir("diface", appauthor=False))


def autosave_dir() -> Path:
    return data_dir() / "autosave"


@dataclass
class EditorSettings:
    """What the editor remembers between sessions.

    Attributes:
        recent_files: most recent first (audio files and projects), at most :data:`MAX_RECENT`.
        last_dir: folder of the last open/save dialog.
        window_geometry, window_state: ``QMainWindow.saveGeometry/saveState`` as hex strings.
        autosave_minutes: autosave period (0 = off).
        loop_playback: loop the selection (or the whole clip) while playing.
        visible_curves: blendshape names drawn in the timeline.
        embed_audio: store the audio inside saved projects.
        head_limits_deg: ``[[low, high]] * 3``: the range of yaw, pitch and roll a head keyframe can
            be set to (pin drags and the inspector), degrees.
        last_save_dir: folder of the last saved project (the Save dialog starts there).
        export_format, export_dir: the Export dialog's last format (its name) and folder.
    """

    recent_files: list[str] = field(default_factory=list)
    last_dir: str = ""
    window_geometry: str = ""
    window_state: str = ""
    autosave_minutes: float = 2.0
    loop_playback: bool = True
    visible_curves: list[str] = field(default_factory=lambda: ["jawOpen", "mouthFunnel", "eyeBlinkLeft",
                                                               "browInnerUp"])
    embed_audio: bool = False
    head_limits_deg: list = field(default_factory=lambda: [list(r) for r in DEFAULT_HEAD_LIMITS_DEG])
    last_save_dir: str = ""
    export_format: str = ""
    export_dir: str = ""

    @classmethod
    def path(cls) -> Path:
        return config_dir() / "editor.json"

    @classmethod
    def load(cls) -> EditorSettings:
        p = cls.path()
        try:
            raw = json.loads(p.read_text("utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as e:
            log.warning("ignoring unreadable settings %s: %s", p, e)
            return cls()
        if not isinstance(raw, dict):
            return cls()
        known = {f.name for f in fields(cls)}
        s = cls()
        for k, v in raw.items():
            if k in known and isinstance(v, type(getattr(s, k))) or (k == "autosave_minutes" and isinstance(v, (int, float))):
                setattr(s, k, v)
        s.recent_files = [str(x) for x in s.recent_files][:MAX_RECENT]
        s.head_limits_deg = head_limits(s.head_limits_deg)
        return s

    def head_limits(self) -> tuple[tuple[float, float], ...]:
        """The checked head angle limits (``(low, high)`` for yaw, pitch, roll in degrees)."""
        return tuple(tuple(r) for r in head_limits(self.head_limits_deg))

    def save(self) -> None:
        p = self.path()
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(p, json.dumps(asdict(self), indent=1))
        except OSError as e:  # settings are a convenience: never fail the editor for them
            log.warning("could not save settings to %s: %s", p, e)

    def add_recent(self, path: str | Path) -> None:
        s = str(Path(path).resolve())
        self.recent_files = [s] + [r for r in self.recent_files if r != s]
        del self.recent_files[MAX_RECENT:]


def head_limits(value) -> list[list[float]]:
    """``value`` as three ``[low, high]`` degree ranges (low < high, within -180..180); the defaults
    for a malformed value."""
    try:
        out = [[float(lo), float(hi)] for lo, hi in value]
        if len(out) == 3 and all(-180.0 <= lo < hi <= 180.0 for lo, hi in out):
            return out
    except (TypeError, ValueError):
        pass
    log.warning("ignoring malformed head_limits_deg %r", value)
    return [list(r) for r in DEFAULT_HEAD_LIMITS_DEG]
