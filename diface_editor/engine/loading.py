"""Loading the model bundle the engine runs (the CLI, benchmarks and the editor share this)."""

from __future__ import annotations

import os
from pathlib import Path

from diface_editor.core.errors import DifaceError


class NoModelError(DifaceError, FileNotFoundError):
    """There is no model bundle where one was expected."""


def model_path(path: str | os.PathLike | None = None) -> Path:
    """``path`` (user-expanded) or the shipped default bundle folder (``models/default``)."""
    from diface_editor.core.paths import model_dir

    return Path(path).expanduser() if path else model_dir("default")


def load_model(path: str | os.PathLike | None = None, device: str = "auto"):
    """Load the ``ml.bundle.MotionModel`` at ``path`` (default: the shipped default model) on ``device``.

    Raises:
        NoModelError: the folder has no ``config.json``.
        diface_editor.ml.bundle.BundleError: the bundle is broken.
    """
    p = model_path(path)
    if not (p / "config.json").is_file():
        raise NoModelError(f"no model at {p}; train one with diface train or pass --model")
    from diface_editor.ml.bundle import MotionModel  # torch

    return MotionModel.load(p, device=device)
