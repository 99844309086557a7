"""Helpers for the GUI tests (not collected as tests): a tiny real model bundle, speech audio, a rig."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diface_editor.core.arkit import ARKIT_NAMES


def write_speech(path: Path, seconds: float = 3.0, rate: int = 16000) -> Path:
    """A speech-like signal (a buzzy tone with a 3 Hz syllable envelope) as a wav file."""
    import soundfile as sf

    t = np.arange(int(rate * seconds)) / rate
    sig = 0.3 * np.sign(np.sin(2 * np.pi * 140 * t)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) ** 2
    sf.write(str(path), sig.astype(np.float32), rate)
    return path


def tiny_bundle(folder: Path) -> Path:
    """Save a very small untrained model bundle (face + head, learned log-mel encoder) through the
    ml API; its zero-initialised output layers are randomised so that samples are not all zero."""
    import torch

    from diface_editor.ml.bundle import MotionModel

    torch.manual_seed(0)
    cfg = {"name": "tiny gui test model", "fps": 30.0, "motion_space": "arkit", "face_channels": list(ARKIT_NAMES),
           "audio_encoder": {"type": "logmel", "n_mels": 16, "channels": 8, "dim": 8, "dilations": [1]},
           "parts": {"face": {"denoiser": {"in_channels": 52, "ch": 8, "ch_mult": [1, 2], "audio_dim": 8,
                                           "flag_mode": "channel"}, "diffusion": {"num_train_steps": 20}},
                     "head": {"denoiser": {"in_channels": 3, "ch": 8, "ch_mult": [1, 2], "audio_dim": 8},
                              "diffusion": {"num_train_steps": 20}}},
           "sampling": {"sampler": "dpmpp", "steps": 3, "guidance": 1.0, "window_s": 2.0, "overlap_s": 0.5,
                        "context_s": 0.3}}
    model = MotionModel.from_config(cfg)
    with torch.no_grad():
        for part in model.parts.values():
            for prm in part.denoiser.parameters():
                if prm.ndim > 1 and float(prm.abs().sum()) == 0.0:
                    prm.normal_(0.0, 0.3)
    return model.save(folder)


def make_rig():
    """The shipped head if it is there, else a small flat placeholder grid with 52 random shapes."""
    from diface_editor.core.rig import BlendshapeRig, load_default_rig

    try:
        return load_default_rig()
    except Exception:
        n = 12
        xs, ys = np.meshgrid(np.linspace(-0.08, 0.08, n), np.linspace(-0.1, 0.1, n))
        template = np.stack([xs.ravel(), ys.ravel(), np.zeros(n * n)], 1).astype(np.float32)
        faces = []
        for i in range(n - 1):
            for j in range(n - 1):
                a = i * n + j
                faces += [(a, a + 1, a + n), (a + 1, a + n + 1, a + n)]
        rng = np.random.default_rng(0)
        deltas = (rng.standard_normal((52, n * n, 3)) * 0.002).astype(np.float32)
        return BlendshapeRig(template=template, faces=np.array(faces), pivot=np.zeros(3), deltas=deltas,
                             blendshape_names=ARKIT_NAMES, name="placeholder")




def editor_env(mp, tmp: Path) -> None:
    """Point the editor's config and data folders into ``tmp`` and turn audio output off (``mp``: a
    ``pytest.MonkeyPatch``)."""
    mp.setenv("DIFACE_CONFIG_DIR", str(tmp / "config"))
    mp.setenv("DIFACE_DATA_DIR", str(tmp / "data"))
    mp.setenv("DIFACE_NO_AUDIO", "1")


def new_window(rig, **kwargs):
    """A hidden main window with default settings, no auto-generation and no save prompt."""
    from diface_editor.gui.main_window import MainWindow
    from diface_editor.gui.settings import EditorSettings

    w = MainWindow(rig=rig, settings=EditorSettings(), auto_generate=False, **kwargs)
    w.ask_to_save = False
    return w


def open_demo_take(qtbot, rig, mp, tmp: Path, transcript: str | None = None):
    """A window (as :func:`new_window`, previews off) that opened a copy of the demo audio for a first take,
    with ``transcript`` as its ``voice.txt`` (``None``: none beside it): ``(window, applied)``, where
    ``applied`` collects the results applied. Close it with :func:`close_window`."""
    import shutil

    from diface_editor.core.paths import resource

    editor_env(mp, tmp)
    wav = tmp / "line.wav"
    shutil.copy(resource("demo", "demo.wav"), wav)
    if transcript is not None:
        wav.with_suffix(".txt").write_text(transcript, encoding="utf-8")
    w = new_window(rig, engine_kwargs={"preview_interval": 0.0})
    qtbot.addWidget(w)
    applied = []
    w.bridge.result_applied.connect(applied.append)
    assert w.open_path(wav, generate=True)
    return w, applied


def close_window(w, *, close: bool = True, no_visible_windows: bool = False) -> None:
    """Close message boxes and ``w`` (unless ``close`` is False), then assert that no ``diface-`` thread
    is left running (and, with ``no_visible_windows``, that no top-level window is left visible)."""
    import threading

    from PySide6 import QtWidgets

    for tl in QtWidgets.QApplication.topLevelWidgets():
        if isinstance(tl, QtWidgets.QMessageBox):
            tl.close()
    if close:
        w.close()
    QtWidgets.QApplication.processEvents()
    if no_visible_windows:
        leaked = [tl for tl in QtWidgets.QApplication.topLevelWidgets() if tl.isVisible()]
        assert not leaked, f"windows left open: {leaked}"
    alive = [t.name for t in threading.enumerate() if t.name.startswith("diface-") and t.is_alive()]
    assert not alive, f"threads left running: {alive}"
    w.deleteLater()
