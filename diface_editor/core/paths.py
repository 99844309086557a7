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
