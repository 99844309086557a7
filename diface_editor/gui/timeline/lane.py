"""The word/phoneme lane of the timeline: the transcript's words (top half) and phones (bottom half;
the words fill the lane when the phones are hidden) as labelled blocks at their times, under the
waveform.

Readable at any zoom: a word's label is elided to its block and left out when the block is too
narrow for a letter; phones are drawn only from :data:`PHONES_MIN_PX_PER_S` pixels per second on
(below, an average phone is too small to read) and labelled where they fit. Drawing is cheap on a
10-minute clip: the items in view are found by binary search and only they are drawn, in device
pixels (blocks narrower than :data:`MIN_BLOCK_PX` are merged into one run).

Editing (the item only shows the gesture; the callbacks make the undoable edit): drag a word or
phone boundary (the pointer's offset to the boundary is kept, the moved time is clamped between the
neighbours and to the clip, so a drag that leaves the widget stops at the neighbour: no runaway);
click a word to select it (Del deletes it), double-click it to edit its text, right-click for the
lane's menu (edit, delete, insert a word in a pause).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from diface_editor.core.transcript import SIL, UNALIGNED, Transcript, TranscriptError
from diface_editor.gui.timeline.items import claim_under_pointer

log = logging.getLogger(__name__)

#: below this many pixels per second of view the phones are not drawn (an average phone, ~80 ms,
#: would be under ~10 px: too small to read)
PHONES_MIN_PX_PER_S = 120.0
#: blocks narrower than this (pixels) are drawn merged into one run
MIN_BLOCK_PX = 3.0
#: how near (pixels) the pointer must be to a boundary to grab it
GRAB_PX = 5.0
#: the lane's height in pixels
LANE_HEIGHT_PX = 44

_WORD_FILL = (QtGui.QColor(62, 92, 128), QtGui.QColor(52, 78, 110))
_PHONE_FILL = (QtGui.QColor(70, 74, 84), QtGui.QColor(60, 63, 72))
_SIL_FILL = QtGui.QColor(40, 42, 46)
_UNALIGNED_FILL = (QtGui.QColor(112, 84, 50), QtGui.QColor(98, 73, 44))  # words and phones not placed
_SELECTED = QtGui.QColor(214, 160, 60)
_TEXT = QtGui.QColor(236, 238, 242)
_EDGE = QtGui.QColor(22, 23, 26)
_HINT = QtGui.QColor(150, 154, 162)


def _same_word(old: Transcript | None, new: Transcript | None, index: int | None) -> int | None:
    """The index in ``new`` of word ``index`` of ``old``: the word whose span overlaps it most, one with
    the same text first (an insert or delete before it shifts the indices; a retime or a retyped word
    keeps its place); ``None`` when no word of ``new`` overlaps it (it was deleted)."""
    if index is None or old is None or new is None or not 0 <= index < len(old.words):
        return None
    text, s, e = old.words[index]
    best = None
    for j, (t, s2, e2) in enumerate(new.words):
        overlap = min(e, e2) - max(s, s2)
        if overlap > 0:
            key = (t == text, overlap)
            if best is None or key > best[0]:
                best = (key, j)
    return None if best is None else best[1]


class _Band:
    """One row of the lane: labels and (start, end) seconds as arrays for binary search."""

    def __init__(self, items) -> None:
        self.labels = [str(it[0]) for it in items]
        self.starts = np.array([float(it[1]) for it in items], float)
        self.ends = np.array([float(it[2]) for it in items], float)
        # ends are not sorted when items overlap; the running maximum is, for the search
        self.max_ends = np.maximum.accumulate(self.ends) if len(self.ends) else self.ends

    def visible(self, x0: float, x1: float) -> range:
        """Indices of the items that reach into ``x0..x1`` seconds."""
        a = int(np.searchsorted(self.max_ends, x0, side="left"))
        b = int(np.searchsorted(self.starts, x1, side="right"))
        return range(a, max(a, b))


class TranscriptLaneItem(pg.GraphicsObject):
    """Words and phones of a :class:`Transcript` (see the module docstring).

    Callbacks (set by the timeline; ``None``: ignored):
        on_retime(kind, index, edge, seconds): a boundary drag finished (``kind`` ``"words"`` or
            ``"phones"``, ``edge`` ``"start"``/``"end"``).
        on_word_clicked(index, seconds), on_word_double_clicked(index): on a word block.
        on_context_menu(seconds, index or None, screen_pos): a right click.
    """

    def __init__(self) -> None:
        super().__init__()
        self.transcript: Transcript | None = None
        self.duration = 1.0
        self.selected_word: int | None = None
        self._words = _Band(())
        self._phones = _Band(())
        self._lost: set[int] = set()  # indices of the words a partial alignment could not place
        self._preview: Transcript | None = None
        self._drag: tuple | None = None  # (kind, index, edge, offset seconds)
        self._hint: str | None = None  # shown instead of the usual hint while there is no transcript
        self._refused: str | None = None  # why the document's transcript was not used (no alignment)
        self._mismatched = False  # ... because the recogniser hears other words (it can be used anyway)
        self.on_retime: Callable | None = None
        self.on_word_clicked: Callable | None = None
        self.on_word_double_clicked: Callable | None = None
        self.on_context_menu: Callable | None = None
        #: what the last paint drew: blocks and labels per band (tests, benchmarks)
        self.drawn: dict[str, int] = {}
        self.setAcceptHoverEvents(True)
        self.setZValue(35)  # above the playhead (z 30): a boundary under it can still be grabbed

    # ------------------------------------------------------------------ data
    def set_hint(self, text: str | None) -> None:
        """What the lane says while it has no transcript (``None``: how to add one)."""
        if text != self._hint:
            self._hint = text
            self.update()

    def hint_text(self) -> str:
        """The line the lane shows without an aligned transcript: the hint set, else why the document's
        transcript was not used, else how to add one."""
        if self._hint:
            return self._hint
        if self._refused:
            anyway = " (right-click to use it anyway)" if self._mismatched else ""
            return f"Transcript not used{anyway}: {self._refused}"
        return "No aligned transcript: type what is said in the Generate panel and press Align."

    def set_transcript(self, tr: Transcript | None, duration: float) -> None:
        """Show ``tr`` over a clip of ``duration`` seconds (a drag in progress is dropped)."""
        self.prepareGeometryChange()
        old = self.transcript
        self.transcript = tr if tr is not None and tr.aligned else None
        self._refused = tr.error if tr is not None and not tr.aligned else None
        self._mismatched = bool(self._refused) and tr.mismatched
        self.duration = max(float(duration), 1e-3)
        self._drag = self._preview = None
        self.selected_word = _same_word(old, self.transcript, self.selected_word)
        self._bands(self.transcript)
        self.update()

    def _bands(self, tr: Transcript | None) -> None:
        self._words = _Band(tr.words if tr is not None else ())
        self._phones = _Band(tr.phones if tr is not None else ())
        self._lost = set(tr.unaligned_words) if tr is not None else set()

    def select_word(self, index: int | None) -> None:
        self.selected_word = index
        self.update()

    def px_per_second(self) -> float:
        vb = self.getViewBox()
        if vb is None:
            return 0.0
        sx = vb.viewPixelSize()[0]
        return 1.0 / sx if sx > 0 else 0.0

    def phones_visible(self) -> bool:
        """Whether the phones are drawn at the view's current zoom."""
        return self.px_per_second() >= PHONES_MIN_PX_PER_S

    def boundary_time(self, kind: str, index: int, edge: str) -> float:
        """Seconds of a boundary as shown (tests, benchmarks)."""
        band = self._words if kind == "words" else self._phones
        return float((band.starts if edge == "start" else band.ends)[index])

    # ------------------------------------------------------------------ drawing
    def boundingRect(self) -> QtCore.QRectF:
        return QtCore.QRectF(0.0, 0.0, self.duration, 1.0)

    def paint(self, p: QtGui.QPainter, *_args) -> None:
        vb = self.getViewBox()
        drawn = {"words": 0, "word_labels": 0, "phones": 0, "phone_labels": 0}
        self.drawn = drawn
        if vb is None:
            return
        (x0, x1), _ = vb.viewRange()
        tr = p.transform()
        sx, dx = tr.m11(), tr.dx()
        y_top, y_mid, y_bot = tr.map(QtCore.QPointF(0, 1)).y(), tr.map(QtCore.QPointF(0, 0.5)).y(), \
            tr.map(QtCore.QPointF(0, 0)).y()
        p.save()
        p.resetTransform()
        font = QtGui.QFont(p.font())
        font.setPointSizeF(8.0)
        p.setFont(font)
        fm = QtGui.QFontMetricsF(font)
        if self.transcript is None:
            p.setPen(_HINT)
            left = max(dx, tr.map(QtCore.QPointF(x0, 0)).x()) + 6
            p.drawText(QtCore.QRectF(left, y_top, 1600, y_bot - y_top), QtCore.Qt.AlignVCenter | QtCore.Qt.AlignLeft,
                       self.hint_text())
            p.restore()
            return
        words, phones = (self._words, self._phones)
        if self._preview is not None:  # a drag in progress shows its result (a retime keeps the words in order)
            words, phones = _Band(self._preview.words), _Band(self._preview.phones)
        show_phones = sx >= PHONES_MIN_PX_PER_S
        band_h = (y_mid if show_phones else y_bot) - y_top  # without phones the words fill the lane
        drawn["words"], drawn["word_labels"] = self._paint_band(p, fm, words, x0, x1, sx, dx, y_top + 1, band_h - 2,
                                                                _WORD_FILL, selected=self.selected_word,
                                                                lost=self._lost)
        if show_phones:
            drawn["phones"], drawn["phone_labels"] = self._paint_band(p, fm, phones, x0, x1, sx, dx, y_mid + 1,
                                                                      (y_bot - y_mid) - 2, _PHONE_FILL, phones=True)
        p.restore()

    @staticmethod
    def _paint_band(p, fm, band: _Band, x0: float, x1: float, sx: float, dx: float, y: float, h: float, fills,
                    selected: int | None = None, phones: bool = False, lost: set[int] = frozenset()) -> tuple[int, int]:
        """Draw the items of ``band`` in view; returns (blocks drawn, labels drawn). Items narrower
        than :data:`MIN_BLOCK_PX` are merged into runs with numpy (a zoomed-out 10-minute clip draws
        a few hundred runs, not thousands of blocks). Words in ``lost`` and :data:`UNALIGNED` phones
        (a partial alignment could not place them) are drawn in amber, such a phone labelled "?"."""
        vis = band.visible(x0, x1)
        if not len(vis):
            return 0, 0
        idx = np.arange(vis.start, vis.stop)
        lefts, rights = band.starts[idx] * sx + dx, band.ends[idx] * sx + dx
        keep = np.ones(len(idx), bool)
        if phones:
            keep &= np.array([band.labels[i] != "SIL" for i in idx], bool)
        narrow = keep & (rights - lefts < MIN_BLOCK_PX)
        p.setPen(QtCore.Qt.NoPen)
        if narrow.any():  # runs of narrow items closer than a pixel to each other
            nl, nr = lefts[narrow], rights[narrow]
            breaks = np.flatnonzero(nl[1:] - np.maximum.accumulate(nr)[:-1] >= 1.0) + 1
            starts = np.r_[0, breaks]
            ends = np.maximum.reduceat(nr, starts)
            for a, b in zip(nl[starts], ends):
                p.fillRect(QtCore.QRectF(float(a), y, max(1.0, float(b - a)), h), fills[1])
        blocks = labels = 0
        m_width = fm.horizontalAdvance("M")
        for k in np.flatnonzero(keep & ~narrow):
            i, left, right = int(idx[k]), float(lefts[k]), float(rights[k])
            rect = QtCore.QRectF(left, y, right - left, h)
            unplaced = i in lost or (phones and band.labels[i] == UNALIGNED)
            p.fillRect(rect, _SELECTED if i == selected else (_UNALIGNED_FILL if unplaced else fills)[i % 2])
            p.fillRect(QtCore.QRectF(left, y, 1.0, h), _EDGE)
            blocks += 1
            room = right - left - 4
            if room >= m_width:
                text = fm.elidedText("?" if phones and unplaced else band.labels[i], QtCore.Qt.ElideRight, room)
                if text and text != "…":
                    p.setPen(_TEXT)
                    p.drawText(rect.adjusted(2, 0, -2, 0), QtCore.Qt.AlignCenter, text)
                    p.setPen(QtCore.Qt.NoPen)
                    labels += 1
        return blocks, labels

    # ------------------------------------------------------------------ hit testing
    def _kind_at(self, y: float) -> str:
        """The row at ``y``: words on top, phones below (words alone when the phones are hidden)."""
        return "words" if y >= 0.5 or not self.phones_visible() else "phones"

    def boundary_at(self, pos: QtCore.QPointF) -> tuple[str, int, str, float] | None:
        """The boundary within :data:`GRAB_PX` of ``pos`` (item coordinates): ``(kind, index, edge,
        seconds)``; an end shared with the next item's start is reported as the end."""
        if self.transcript is None:
            return None
        kind = self._kind_at(float(pos.y()))
        band = self._words if kind == "words" else self._phones
        if not len(band.starts):
            return None
        tol = GRAB_PX / max(self.px_per_second(), 1e-9)
        x = float(pos.x())
        de, ds = np.abs(band.ends - x), np.abs(band.starts - x)
        ie, is_ = int(np.argmin(de)), int(np.argmin(ds))
        if de[ie] <= ds[is_] + 1e-9 and de[ie] <= tol:
            return kind, ie, "end", float(band.ends[ie])
        if ds[is_] <= tol:
            return kind, is_, "start", float(band.starts[is_])
        return None

    def word_at(self, pos: QtCore.QPointF) -> int | None:
        if self.transcript is None or self._kind_at(float(pos.y())) != "words":
            return None
        return self.transcript.word_at(float(pos.x()))

    def tooltip_at(self, pos: QtCore.QPointF) -> str:
        """The word or phone under ``pos`` and its times, for a hover tooltip (a short block's label is
        cut to a few letters or hidden); "" over a pause or with no transcript."""
        if self.transcript is None:
            return ""
        kind = self._kind_at(float(pos.y()))
        band = self._words if kind == "words" else self._phones
        x = float(pos.x())
        hit = [i for i in band.visible(x, x) if band.starts[i] <= x < band.ends[i]]
        if not hit or (kind == "phones" and band.labels[hit[0]] == SIL):
            return ""
        i = hit[0]
        if (kind == "words" and i in self._lost) or (kind == "phones" and band.labels[i] == UNALIGNED):
            return (f"{band.labels[i]}  {band.starts[i]:.2f}-{band.ends[i]:.2f} s: not aligned, the times are a guess "
                    "and nothing is pinned (retype the word to align it, or drag its edges)")
        return f"{band.labels[i]}  {band.starts[i]:.2f}-{band.ends[i]:.2f} s"

    # ------------------------------------------------------------------ mouse
    def hoverEvent(self, ev) -> None:
        if ev.isExit():
            self.unsetCursor()
            self.setToolTip("")
            return
        self.setToolTip(self.tooltip_at(ev.pos()))
        if self.boundary_at(ev.pos()) is not None:
            self.setCursor(QtCore.Qt.SizeHorCursor)
            claim_under_pointer(self, ev)
        else:
            self.unsetCursor()
            if self.word_at(ev.pos()) is not None:
                ev.acceptClicks(QtCore.Qt.LeftButton)
        ev.acceptClicks(QtCore.Qt.RightButton)

    def _hit(self, pos) -> tuple | None:  # claim_under_pointer's hook
        return self.boundary_at(pos)

    def mouseClickEvent(self, ev) -> None:
        x = float(ev.pos().x())
        if ev.button() == QtCore.Qt.RightButton:
            ev.accept()
            if self.on_context_menu is not None:
                self.on_context_menu(x, self.word_at(ev.pos()), ev.screenPos())
            return
        i = self.word_at(ev.pos()) if ev.button() == QtCore.Qt.LeftButton else None
        if i is None:
            if ev.button() == QtCore.Qt.LeftButton:
                self.select_word(None)
            ev.ignore()  # the track seeks
            return
        ev.accept()
        self.select_word(i)
        if ev.double():
            if self.on_word_double_clicked is not None:
                self.on_word_double_clicked(i)
        elif self.on_word_clicked is not None:
            self.on_word_clicked(i, x)

    def mouseDragEvent(self, ev) -> None:
        if ev.button() != QtCore.Qt.LeftButton:
            ev.ignore()
            return
        if ev.isStart():
            hit = self.boundary_at(ev.buttonDownPos())
            if hit is None:
                ev.ignore()  # the track selects a range
                return
            kind, index, edge, t = hit
            self._drag = (kind, index, edge, t - float(ev.buttonDownPos().x()))
        if self._drag is None or self.transcript is None:
            ev.ignore()
            return
        ev.accept()
        kind, index, edge, offset = self._drag
        t = min(max(float(ev.pos().x()) + offset, 0.0), self.duration)
        try:
            self._preview = self.transcript.retimed(kind, index, edge, t)  # clamped between the neighbours
        except TranscriptError:
            self._preview = None
        self.update()
        if ev.isFinish():
            moved = self._preview
            self._drag = self._preview = None
            self.update()
            if moved is not None and moved != self.transcript and self.on_retime is not None:
                self.on_retime(kind, index, edge, t)
