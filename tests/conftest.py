"""Shared test set-up. Keep it minimal: every part's tests run with it."""

import os

# vispy canvases inside Qt need a real GL surface: the xcb platform on pytest-xvfb's display
# (the offscreen platform has no QOpenGLWidget). Set before any test imports Qt.
os.environ.setdefault("QT_QPA_PLATFORM", "xcb")


import pytest  # noqa: E402


@pytest.fixture()
def one_torch_thread():
    """Run a test with one torch CPU thread (tiny networks: fastest, and kind to a shared CPU)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ---------------------------------------------------------------- the editor's tests (tests/test_*gui*.py)
# A module that uses them imports Qt itself (and skips without it); these only build data.
@pytest.fixture(scope="module")
def rig():
    """The shipped head, or a small placeholder rig with 52 shapes (``_gui_support.make_rig``)."""
    from _gui_support import make_rig

    return make_rig()


@pytest.fixture(scope="module")
def speech(request, tmp_path_factory):
    """A speech-like wav file of the module's ``SPEECH_SECONDS`` (default 3 s)."""
    from _gui_support import write_speech

    seconds = getattr(request.module, "SPEECH_SECONDS", 3.0)
    return write_speech(tmp_path_factory.mktemp("audio") / "speech.wav", seconds)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A tiny untrained model bundle folder (``_gui_support.tiny_bundle``)."""
    pytest.importorskip("torch")
    from _gui_support import tiny_bundle

    return tiny_bundle(tmp_path_factory.mktemp("models") / "tiny")
