"""The one place a model bundle is found and loaded: the CLI, the benchmarks, the editor's engine
(in its child process or on its loader thread) all call :func:`load_model`.

A model id is a bundle folder path or the name of a shipped bundle under ``models/``
(:func:`resolve_model_path`); :func:`model_status` says cheaply (no torch) whether one is there.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from diface_editor.core.errors import DifaceError

log = logging.getLogger(__name__)


class NoModelError(DifaceError, FileNotFoundError):
    """There is no model bundle where one was expected."""


def recommended_sampler(path: str | os.PathLike | None = None):
    """The bundle's recommended sampler settings (``config.json`` ``sampling``: sampler, steps,
    guidance, reference_mode) as a :class:`~diface_editor.core.document.SamplerSettings` for a new document, read
    without loading the model; the defaults when the bundle is missing or says nothing usable."""
    from diface_editor.core.document import DocumentError, SamplerSettings
    from diface_editor.core.samplers import SAMPLERS

    rec = _config_entry(path, "sampling")
    kw = {}
    if rec.get("sampler") in SAMPLERS:
        kw["sampler"] = rec["sampler"]
    if isinstance(rec.get("guidance"), (int, float)):
        kw["guidance"] = float(rec["guidance"])
    if rec.get("reference_mode"):  # an imported 3DiFACE model: the original's pipeline (DDPM-1000) by default
        kw["reference_mode"] = True
        kw["sampler"] = "ddpm"
    try:
        return SamplerSettings(**kw)
    except DocumentError:
        return SamplerSettings()


def supports_reference_mode_at(path: str | os.PathLike | None = None) -> bool:
    """Whether the bundle at ``path`` (default: the shipped model) is an imported 3DiFACE model that
    can run in reference mode (its ``config.json`` ``sampling`` has ``reference_mode``); cheap, no torch."""
    return "reference_mode" in _config_entry(path, "sampling")


def has_student_at(path: str | os.PathLike | None = None) -> bool:
    """Whether the bundle at ``path`` (default: the shipped model) ships a distilled one-step student
    (``parts.<part>.student`` in its ``config.json``); cheap, no torch."""
    return any(isinstance(p, dict) and p.get("student") for p in _config_entry(path, "parts").values())


def _config_entry(path: str | os.PathLike | None, key: str) -> dict:
    """The object ``key`` of the bundle's ``config.json`` read as plain JSON (no torch); ``{}`` when the
    bundle, the file or the entry is missing or unreadable."""
    import json

    try:
        entry = json.loads((model_path(path) / "config.json").read_text(encoding="utf-8")).get(key)
    except (OSError, ValueError, AttributeError):
        return {}
    return entry if isinstance(entry, dict) else {}


def model_path(path: str | os.PathLike | None = None) -> Path:
    """``path`` (user-expanded) or the shipped default bundle folder (``models/default``)."""
    from diface_editor.core.paths import model_dir

    return Path(path).expanduser() if path else model_dir("default")


def resolve_model_path(model_id: str) -> Path:
    """A model id is a bundle folder path or the name of a shipped bundle under ``models/``."""
    from diface_editor.core.paths import model_dir

    p = Path(model_id).expanduser()
    if p.is_absolute() or p.is_dir():
        return p
    return model_dir(model_id)


def model_status(model_id: str) -> tuple[bool, str]:
    """``(available, sentence)``: whether a bundle exists for ``model_id`` (cheap, no torch)."""
    p = resolve_model_path(model_id)
    if (p / "config.json").is_file():
        return True, f"model {p.name} ({p})"
    return False, (f"No motion model is installed at {p}: train one with 'diface train' or copy a model "
                   f"bundle folder there, then try again.")


def load_model(path: str | os.PathLike | None = None, device: str = "auto"):
    """Load the ``ml.bundle.MotionModel`` at ``path`` (default: the shipped default model) on ``device``.

    Module-level and picklable by name, so it is also the engine process's default loader.

    Raises:
        NoModelError: the folder has no ``config.json``.
        diface_editor.ml.bundle.BundleError: the bundle is broken.
    """
    p = model_path(path)
    if not (p / "config.json").is_file():
        raise NoModelError(f"no model at {p}; train one with diface train or pass --model")
    from diface_editor.ml.bundle import MotionModel  # torch

    log.debug("loading model bundle %s on %s", p, device)
    return MotionModel.load(p, device=device)
