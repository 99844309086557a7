"""Reading part of the bound OpenGL framebuffer straight into a ``QImage``, and the picture it makes.

vispy's ``FrameBuffer.read`` returns RGBA bytes that are copied three times on the way to a picture
Qt can show (a bytes object, a flipped array, an owned ``QImage``) and that Qt converts again at every
paint (RGBA8888 is not the screen's format). Here ``glReadPixels`` writes packed ``0xAARRGGBB``
words (``GL_BGRA`` with ``GL_UNSIGNED_INT_8_8_8_8_REV``: the layout of ``QImage.Format_RGB32`` on any
byte order) into the memory of a new image, which is flipped in place (GL's rows start at the
bottom): one copy, and the painter blits it as it is. Only the rectangle the head covers is read.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np
from PySide6 import QtCore, QtGui

GL_BGRA = 0x80E1
GL_UNSIGNED_INT_8_8_8_8_REV = 0x8367
GL_PACK_ALIGNMENT = 0x0D05

_native_read = None


def _read_pixels_into(x: int, y: int, w: int, h: int, address: int) -> None:
    """``glReadPixels`` of (x, y, w, h) as packed BGRA words into ``address`` (w * h * 4 bytes)."""
    global _native_read
    from vispy.gloo.gl import _gl2, glPixelStorei  # private, pinned with vispy 0.17.x

    if _native_read is None:
        _native_read = _gl2._get_gl_func("glReadPixels", None, (ctypes.c_int,) * 4 + (
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p))
    glPixelStorei(GL_PACK_ALIGNMENT, 4)  # rows of 4-byte words: never padded
    _native_read(int(x), int(y), int(w), int(h), GL_BGRA, GL_UNSIGNED_INT_8_8_8_8_REV, address)


def read_rgb32(x: int, y: int, w: int, h: int) -> QtGui.QImage:
    """Pixels (x, y, w, h) of the bound framebuffer (GL's origin: bottom left) as an owned
    ``Format_RGB32`` image, top row first. vispy's command queue must be flushed before."""
    if w <= 0 or h <= 0:
        return QtGui.QImage()
    img = QtGui.QImage(w, h, QtGui.QImage.Format_RGB32)
    bits = np.frombuffer(img.bits(), np.uint8)  # the image's own memory (bytesPerLine == 4 * w)
    _read_pixels_into(x, y, w, h, bits.ctypes.data)
    img.flip(QtCore.Qt.Vertical)
    return img


@dataclass(frozen=True)
class Picture:
    """One rendered frame: the head's part of the framebuffer and where it sits in the whole.

    ``image`` is that part (``Format_RGB32``, device pixel ratio ``dpr`` set; null when the head is out
    of view); ``x``, ``y`` its top-left corner and ``width``, ``height`` the whole picture, all in
    device pixels; outside ``image`` the picture is ``background``.
    """

    image: QtGui.QImage
    x: int
    y: int
    width: int
    height: int
    dpr: float
    background: QtGui.QColor

    def head_rect(self) -> QtCore.QRect:
        """Where ``image`` goes, in logical pixels (rounded outwards); empty when the head is out of view."""
        if self.image.isNull():
            return QtCore.QRect()
        r = QtCore.QRectF(self.x / self.dpr, self.y / self.dpr, self.image.width() / self.dpr,
                          self.image.height() / self.dpr)
        return r.toAlignedRect()

    def paint(self, painter: QtGui.QPainter, background: bool = True) -> None:
        """Draw onto a painter whose rectangle is the whole picture (logical pixels): the background
        (unless the painter's target is filled already), then the head's part."""
        if background:
            painter.fillRect(QtCore.QRectF(0, 0, self.width / self.dpr, self.height / self.dpr), self.background)
        if not self.image.isNull():
            painter.drawImage(QtCore.QPointF(self.x / self.dpr, self.y / self.dpr), self.image)

    def full(self) -> QtGui.QImage:
        """The whole picture as one ``Format_RGB32`` image (device pixels, ``dpr`` set)."""
        img = QtGui.QImage(max(1, self.width), max(1, self.height), QtGui.QImage.Format_RGB32)
        img.setDevicePixelRatio(self.dpr)
        p = QtGui.QPainter(img)
        self.paint(p)
        p.end()
        return img
