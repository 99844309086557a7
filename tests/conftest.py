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
