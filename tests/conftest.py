"""Shared test set-up. Keep it minimal: every part's tests run with it."""

import os

# vispy canvases inside Qt need a real GL surface: the xcb platform on pytest-xvfb's display
# (the offscreen platform has no QOpenGLWidget). Set before any test imports Qt.
os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
