"""The timeline: waveform, the transcript's word/phoneme lane (:mod:`.lane`), head yaw/pitch/roll,
chosen blendshape curves, playhead, keyframes, range.

It observes a :class:`~diface_editor.core.document.Document` and the playback time; user gestures
become signals (seek, scrub, add keyframe, keyframe moved) or, for the non-undoable range
selection, ``doc.set_selection``. All tracks share the time axis (X linked), in seconds.

Mouse: wheel zooms time around the cursor, Shift+wheel pans, middle drag (or Alt+drag) pans,
Ctrl+wheel zooms values in curve tracks, click seeks, drag selects a range, drag the red playhead to
scrub, drag a keyframe diamond (top of the waveform track) to move it, double click adds a
keyframe (head track: head pose; face track: all face channels; waveform track: both). In the
lane: drag a word or phone boundary to retime it, click a word to select it, double-click it to edit
its text, right-click for edit / delete / insert (the window makes the undoable edits).
"""

from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from diface_editor.core.animation import Animation
from diface_editor.core.document import Document
from diface_editor.core.rotations import axis_angle_to_ypr
from diface_editor.gui.settings import DEFAULT_HEAD_LIMITS_DEG
from diface_editor.gui.theme import COLORS, CURVE_PALETTE
from diface_editor.gui.timeline.items import (
    LABEL_OVERHANG_PX,
    CurveItem,
    FramesAxis,
    KeyLaneItem,
    SecondsAxis,
    TrackViewBox,
    ValuePinItem,
    WaveformItem,
)
from diface_editor.gui.timeline.lane import LANE_HEIGHT_PX, TranscriptLaneItem

log = logging.getLogger(__name__)

LEFT_AXIS_WIDTH = 46
HEAD_LABELS = ("yaw", "pitch", "roll")


class TimelineWidget(QtWidgets.QWidget):
    """Tracks over time for one document.

    Signals:
        seek_requested(float): seconds (click in a track).
        scrub_requested(float): seconds (playhead being dragged).
        add_keyframe_requested(int, str): frame and part (``"head"``, ``"face"`` or ``"both"``).
        keyframe_drag_finished(object, int): a :class:`Keyframe` and the frame it was dropped on.
        keyframe_clicked(object): a :class:`Keyframe` was clicked.
        head_value_drag_finished(object, int, float): a head :class:`Keyframe`'s pin on the yaw (0),
            pitch (1) or roll (2) curve was dragged to this many degrees.
        face_value_drag_finished(object, int, float): a face :class:`Keyframe`'s pin on a blendshape
            curve (channel index) was dragged to this weight (0..1).
        value_dragging(str, object, int, float): a pin of part ``"head"``/``"face"`` is being dragged:
            its key, channel and the value under the pointer (degrees or weight); from the drag's start
            to its release. value_drag_ended(): the pin drag ended (whatever the outcome).
        transcript_retime_requested(str, int, str, float): a word (``"words"``) or phone (``"phones"``)
            boundary of the lane (index, ``"start"``/``"end"``) was dragged to these seconds.
        word_edit_requested(int), word_delete_requested(int): edit / delete word ``index`` of the lane.
        word_insert_requested(float): insert a word in the pause at these seconds.
        transcript_use_anyway_requested(): use the document's transcript that the speech recogniser's
            check refused (:attr:`Transcript.mismatched`).
    """

    seek_requested = QtCore.Signal(float)
    scrub_requested = QtCore.Signal(float)
    add_keyframe_requested = QtCore.Signal(int, str)
    keyframe_drag_finished = QtCore.Signal(object, int)
    keyframe_clicked = QtCore.Signal(object)
    head_value_drag_finished = QtCore.Signal(object, int, float)
    face_value_drag_finished = QtCore.Signal(object, int, float)
    value_dragging = QtCore.Signal(str, object, int, float)
    value_drag_ended = QtCore.Signal()
    transcript_retime_requested = QtCore.Signal(str, int, str, float)
    word_edit_requested = QtCore.Signal(int)
    word_delete_requested = QtCore.Signal(int)
    word_insert_requested = QtCore.Signal(float)
    transcript_use_anyway_requested = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc: Document | None = None
        self._preview: Animation | None = None
        self._visible: list[str] = []
        self._time = 0.0
        self._fps = 30.0
        self.follow_playhead = True
        self._drag_origin: float | None = None

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.ci.layout.setSpacing(0)
        self.glw.ci.setContentsMargins(2, 2, LABEL_OVERHANG_PX, 2)
        lay.addWidget(self.glw)

        self.seconds_axis = SecondsAxis("top")
        self.frames_axis = FramesAxis("bottom", fps=self._fps)
        self.wave_vb = TrackViewBox()
        self.head_vb = TrackViewBox(y_zoom=True)
        self.face_vb = TrackViewBox(y_zoom=True)
        self.lane_vb = TrackViewBox()
        self.wave_plot = self.glw.addPlot(row=0, col=0, viewBox=self.wave_vb, axisItems={"top": self.seconds_axis})
        self.lane_plot = self.glw.addPlot(row=1, col=0, viewBox=self.lane_vb)
        self.head_plot = self.glw.addPlot(row=2, col=0, viewBox=self.head_vb)
        self.face_plot = self.glw.addPlot(row=3, col=0, viewBox=self.face_vb, axisItems={"bottom": self.frames_axis})
        self.plots = (self.wave_plot, self.lane_plot, self.head_plot, self.face_plot)
        for p, label in zip(self.plots, ("audio", "words", "head °", "face")):
            p.hideButtons()
            p.setMenuEnabled(False)
            p.showAxis("bottom", p is self.face_plot)
            p.showAxis("top", p is self.wave_plot)
            ax = p.getAxis("left")
            ax.setWidth(LEFT_AXIS_WIDTH)
            ax.setLabel(label)
            p.showGrid(x=True, y=False, alpha=0.12)
            if p is not self.wave_plot:
                p.setXLink(self.wave_plot)
        # the time grid without pyqtgraph's third tick level: its lines are all but invisible (at most
        # 5 of 255 levels on screen) and they were most of a repaint (bench ui timeline_fps_10min
        # 51-57 -> 83-86)
        for ax in (self.seconds_axis, self.frames_axis):
            ax.setStyle(maxTickLevel=1)
        self.wave_plot.getAxis("left").setTicks([[]])
        self.lane_plot.getAxis("left").setTicks([[]])
        self.lane_plot.showGrid(x=False, y=False)
        self.lane_plot.setFixedHeight(LANE_HEIGHT_PX)
        self.lane_vb.setYRange(0.0, 1.0, padding=0)
        self.glw.ci.layout.setRowStretchFactor(0, 2)
        self.glw.ci.layout.setRowStretchFactor(1, 0)
        self.glw.ci.layout.setRowStretchFactor(2, 3)
        self.glw.ci.layout.setRowStretchFactor(3, 4)
        self.wave_vb.setYRange(-1.05, 1.05, padding=0)
        self.face_vb.setYRange(-0.05, 1.05, padding=0)
        self.head_vb.enableAutoRange(axis="y")
        self.head_vb.setAutoVisible(y=True)
        self.head_vb.setLimits(minYRange=6.0)

        # contents
        self.waveform = WaveformItem(COLORS["waveform"])
        self.wave_plot.addItem(self.waveform)
        self.head_curves = []
        for name in HEAD_LABELS:
            c = CurveItem(pen=pg.mkPen(COLORS[name], width=1), name=name)
            self.head_plot.addItem(c)
            self.head_curves.append(c)
        self.head_legend = pg.LegendItem(offset=(-6, 4), labelTextSize="8pt", horSpacing=6, colCount=3,
                                        brush=pg.mkBrush(*COLORS["legend_bg"]), pen=pg.mkPen(COLORS["legend_border"]))
        self.head_legend.setParentItem(self.head_vb)
        for c, n in zip(self.head_curves, HEAD_LABELS):
            self.head_legend.addItem(c, n)
        self.face_curves: dict[str, CurveItem] = {}
        self.face_legend = pg.LegendItem(offset=(-6, 4), labelTextSize="8pt", horSpacing=6, colCount=4,
                                        brush=pg.mkBrush(*COLORS["legend_bg"]), pen=pg.mkPen(COLORS["legend_border"]))
        self.face_legend.setParentItem(self.face_vb)
        self.key_lane = KeyLaneItem()
        self.key_lane.on_drag_finished = lambda k, f: self.keyframe_drag_finished.emit(k, int(f))
        self.key_lane.on_clicked = lambda k: self.keyframe_clicked.emit(k)
        self.wave_plot.addItem(self.key_lane)
        self.head_pins = ValuePinItem()  # yaw/pitch/roll in degrees, within set_head_limits()
        self.set_head_limits(DEFAULT_HEAD_LIMITS_DEG)
        self.head_pins.on_value_drag_finished = lambda k, c, d: self.head_value_drag_finished.emit(k, int(c), float(d))
        self.face_pins = ValuePinItem(describe=self._describe_face_value, limits=(0.0, 1.0), size=9)
        self.face_pins.on_value_drag_finished = lambda k, c, v: self.face_value_drag_finished.emit(k, int(c), float(v))
        for part, pins in (("head", self.head_pins), ("face", self.face_pins)):
            pins.on_value_dragging = lambda k, c, v, part=part: self.value_dragging.emit(part, k, int(c), float(v))
            pins.on_value_drag_ended = self.value_drag_ended.emit
        self.head_plot.addItem(self.head_pins)
        self.face_plot.addItem(self.face_pins)

        # the transcript's words and phones (the lane's callbacks become signals; the window edits)
        self.lane = TranscriptLaneItem()
        self.lane.on_retime = lambda k, i, e, t: self.transcript_retime_requested.emit(k, int(i), e, float(t))
        self.lane.on_word_clicked = lambda i, x: self.seek_requested.emit(max(0.0, self._snap(x)))
        self.lane.on_word_double_clicked = lambda i: self.word_edit_requested.emit(int(i))
        self.lane.on_context_menu = self._lane_menu
        self.lane_plot.addItem(self.lane, ignoreBounds=True)

        # selection regions (one per track, kept in sync) and playheads
        self.regions = []
        for p in self.plots:
            r = pg.LinearRegionItem(brush=pg.mkBrush(*COLORS["selection"]), pen=pg.mkPen(COLORS["accent"], width=1),
                                    movable=True, swapMode="sort")
            r.setZValue(-10)
            r.hide()
            p.addItem(r, ignoreBounds=True)
            r.sigRegionChanged.connect(self._on_region_dragged)
            r.sigRegionChangeFinished.connect(self._on_region_finished)
            self.regions.append(r)
        self.playheads = []
        for p in self.plots:
            line = pg.InfiniteLine(pos=0, angle=90, movable=True, pen=pg.mkPen(COLORS["playhead"], width=2),
                                   hoverPen=pg.mkPen("#ff8a80", width=3))
            line.setZValue(30)
            p.addItem(line, ignoreBounds=True)
            line.sigDragged.connect(self._on_playhead_dragged)
            self.playheads.append(line)
        self.playheads[0].setToolTip("Playhead: drag to scrub")

        for vb, part in ((self.wave_vb, "both"), (self.lane_vb, None), (self.head_vb, "head"), (self.face_vb, "face")):
            vb.clicked.connect(self._on_clicked)
            if part is not None:  # a double click in the lane edits a word (the lane item takes it)
                vb.double_clicked.connect(lambda x, part=part: self._on_double_clicked(x, part))
            vb.range_dragged.connect(self._on_range_dragged)
        self.wave_vb.sigXRangeChanged.connect(lambda *_: self.waveform.refresh())
        self.wave_vb.sigResized.connect(lambda *_: self.waveform.refresh())
        self.setToolTip("")
        self.glw.setToolTip("Wheel: zoom · Shift+wheel or middle-drag: pan · click: seek · drag: select range · "
                            "double-click: add keyframe")
        self._set_limits(10.0)

    # ------------------------------------------------------------------ document binding
    def set_document(self, doc: Document | None) -> None:
        if self.doc is not None:
            self.doc.events.disconnect_object(self)
        self.doc = doc
        self._preview = None
        if doc is None:
            return
        doc.events.animation.connect(self._on_animation)
        doc.events.keyframes.connect(self._on_keyframes)
        doc.events.selection.connect(self._on_selection)
        doc.events.audio.connect(self._on_audio)
        doc.events.transcript.connect(self._on_transcript)
        self._fps = doc.fps
        self.frames_axis.set_fps(doc.fps)
        self._on_audio(None)
        self.refresh_curves()
        self._on_keyframes(None)
        self._on_selection(None)
        self.view_all()

    def set_preview(self, anim: Animation | None) -> None:
        """Draw ``anim`` instead of the document's animation (live preview while sampling); ``None`` ends it
        (nothing to do when no preview is drawn)."""
        if anim is None and self._preview is None:
            return
        self._preview = anim
        self.refresh_curves()

    def displayed_animation(self) -> Animation | None:
        if self._preview is not None:
            return self._preview
        return self.doc.animation if self.doc is not None else None

    def _on_audio(self, _ev) -> None:
        self.waveform.set_clip(self.doc.audio if self.doc is not None else None)
        self._set_limits(self.doc.duration if self.doc is not None else 10.0)
        self._on_transcript(None)

    # ------------------------------------------------------------------ the word/phoneme lane
    def _on_transcript(self, _ev) -> None:
        doc = self.doc
        self.lane.set_transcript(doc.transcript if doc is not None else None, doc.duration if doc is not None else 1.0)

    def _lane_menu(self, x: float, word: int | None, screen_pos) -> QtWidgets.QMenu | None:
        """The lane's right-click menu: edit or delete the word under the pointer, or insert one in
        the pause there; without an alignment, use a transcript the recogniser's check refused.
        Returned (and kept in ``lane_menu``) after it was opened."""
        tr = self.lane.transcript
        refused = self.doc.transcript if self.doc is not None else None
        if tr is None and (refused is None or not refused.mismatched):
            return None
        menu = QtWidgets.QMenu(self)
        if tr is None:
            menu.addAction("Use the Transcript Anyway", self.transcript_use_anyway_requested.emit)
        elif word is not None:
            self.lane.select_word(word)
            name = tr.words[word][0]
            menu.addAction(f"Edit Word '{name}'…", lambda: self.word_edit_requested.emit(int(word)))
            menu.addAction(f"Delete Word '{name}'", lambda: self.word_delete_requested.emit(int(word)))
        else:
            menu.addAction("Insert Word Here…", lambda: self.word_insert_requested.emit(float(x)))
        self.lane_menu = menu
        pos = screen_pos.toPoint() if hasattr(screen_pos, "toPoint") else screen_pos
        menu.popup(pos)
        return menu

    def _on_animation(self, ev) -> None:
        if ev is not None and getattr(ev, "replaced", False):
            self._fps = self.doc.fps
            self.frames_axis.set_fps(self._fps)
            self._set_limits(self.doc.duration)
        if self._preview is None or getattr(ev, "replaced", False):  # else the preview stays drawn
            self.refresh_curves()
        self._on_keyframes(None)

    # ------------------------------------------------------------------ curves
    def set_visible_curves(self, names: list[str]) -> None:
        self._visible = list(names)
        self.refresh_curves()
        self._on_keyframes(None)

    @property
    def visible_curves(self) -> list[str]:
        return list(self._visible)

    def curve_colors(self, names: tuple[str, ...] | list[str] | None = None) -> dict[str, str]:
        """Colours of the drawn blendshape curves: the palette in the order they are listed, so the
        curves on screen never share a colour (up to the palette's 12)."""
        names = self._visible if names is None else names
        return {n: CURVE_PALETTE[i % len(CURVE_PALETTE)] for i, n in enumerate(names)}

    def refresh_curves(self) -> None:
        anim = self.displayed_animation()
        if anim is None:
            return
        t = np.arange(anim.n_frames, dtype=np.float64) / anim.fps
        ypr = np.degrees(axis_angle_to_ypr(anim.head)).astype(np.float32)
        for i, c in enumerate(self.head_curves):
            c.setData(t, ypr[:, i])
        self._ypr = ypr
        names = [n for n in self._visible if n in anim.channel_names]
        colors = self.curve_colors(names)
        legend_stale = list(self.face_curves) != names
        for n in list(self.face_curves):
            if n not in names or legend_stale:  # rebuilt in order: colours follow the list
                self.face_plot.removeItem(self.face_curves.pop(n))
        if legend_stale:
            self.face_legend.clear()
        for n in names:
            c = self.face_curves.get(n)
            if c is None:
                c = CurveItem(pen=pg.mkPen(colors[n], width=1), name=n)
                self.face_plot.addItem(c)
                self.face_curves[n] = c
            c.setData(t, anim.face[:, anim.channel_index(n)])
            if legend_stale:
                self.face_legend.addItem(c, n)

    # ------------------------------------------------------------------ keyframes
    def set_head_limits(self, limits) -> None:
        """The ``(low, high)`` degrees of yaw, pitch and roll a head pin can be dragged to."""
        self.head_pins.limits = {i: (float(lo), float(hi)) for i, (lo, hi) in enumerate(limits)}

    def refresh_keyframes(self) -> None:
        """Redraw the keyframe diamonds and value pins from the document (e.g. after a drag that
        changed nothing: the pin goes back)."""
        self._on_keyframes(None)

    def _on_keyframes(self, _ev) -> None:
        doc = self.doc
        if doc is None:
            return
        anim = self.displayed_animation()
        keys = [k for k in doc.keyframes if 0 <= k.frame < anim.n_frames]
        ys = [0.8 if k.part == "head" else 0.55 for k in keys]
        brushes = [pg.mkBrush(COLORS["keyframe"] if k.part == "head" else "#ff9f43") for k in keys]
        self.key_lane.set_keys(keys, ys, brushes, anim.fps)
        hx, hy, hk, hc, hb = [], [], [], [], []
        fx, fy, fk, fc, fb = [], [], [], [], []
        ypr = getattr(self, "_ypr", None)
        for k in keys:
            tt = k.frame / anim.fps
            if k.part == "head" and ypr is not None and k.frame < len(ypr):
                hx += [tt] * 3
                hy += [float(v) for v in ypr[k.frame]]
                hk += [k] * 3
                hc += [0, 1, 2]
                hb += [pg.mkBrush(COLORS[n]) for n in HEAD_LABELS]
            elif k.part == "face":
                cols = set(k.channels(anim))
                for n in self.face_curves:
                    j = anim.channel_index(n)
                    if j in cols:
                        fx.append(tt)
                        fy.append(float(anim.face[k.frame, j]))
                        fk.append(k)
                        fc.append(j)
                        fb.append(pg.mkBrush(pg.mkPen(self.face_curves[n].opts["pen"]).color()))
        self.head_pins.set_pins(hk, hx, hy, hc, hb)
        self.face_pins.set_pins(fk, fx, fy, fc, fb)

    def _describe_face_value(self, channel: int, value: float) -> str:
        names = self.displayed_animation().channel_names if self.doc is not None else ()
        return f"{names[channel] if channel < len(names) else channel} {value:.2f}"

    # ------------------------------------------------------------------ selection
    def _on_selection(self, _ev) -> None:
        sel = self.doc.selection if self.doc is not None else None
        for r in self.regions:
            r.blockSignals(True)
            if sel is None:
                r.hide()
            else:
                r.setRegion((sel[0] / self._fps, sel[1] / self._fps))
                r.show()
            r.blockSignals(False)

    def _frames_of(self, x0: float, x1: float) -> tuple[int, int]:
        a, b = sorted((x0, x1))
        return int(round(a * self._fps)), int(round(b * self._fps))

    def _on_range_dragged(self, x0: float, x1: float, finished: bool) -> None:
        if self.doc is None:
            return
        a, b = sorted((x0, x1))
        for r in self.regions:
            r.blockSignals(True)
            r.setRegion((a, b))
            r.show()
            r.blockSignals(False)
        if finished:
            fa, fb = self._frames_of(a, b)
            try:
                self.doc.set_selection((fa, fb) if fb > fa else None)
            except Exception:  # outside the clip: clear
                self.doc.set_selection(None)
            self._on_selection(None)

    def _on_region_dragged(self, region) -> None:
        rng = region.getRegion()
        for r in self.regions:
            if r is not region:
                r.blockSignals(True)
                r.setRegion(rng)
                r.blockSignals(False)

    def _on_region_finished(self, region) -> None:
        if self.doc is None:
            return
        fa, fb = self._frames_of(*region.getRegion())
        try:
            self.doc.set_selection((fa, fb) if fb > fa else None)
        except Exception:
            self.doc.set_selection(None)
        self._on_selection(None)

    # ------------------------------------------------------------------ playhead and clicks
    def set_time(self, t: float, playing: bool = False) -> None:
        """Move the playhead to ``t`` seconds; while playing, page the view to keep it visible."""
        self._time = t
        for line in self.playheads:
            if not line.moving:
                line.blockSignals(True)
                line.setValue(t)
                line.blockSignals(False)
        if playing and self.follow_playhead:
            (x0, x1), _ = self.wave_vb.viewRange()
            w = x1 - x0
            end = self.doc.duration if self.doc is not None else float("inf")
            if t < x0 or (t > x1 - 0.02 * w and x1 < end):  # page only to show more of the clip
                start = t - 0.05 * w
                if start < 0.0:  # back at the start (a loop): the view's left edge as after a fit
                    start = min(-0.01 * w, t - 0.01 * w)
                self.wave_vb.setXRange(start, start + w, padding=0)

    def _on_playhead_dragged(self, line) -> None:
        t = float(line.value())
        for other in self.playheads:
            if other is not line:
                other.blockSignals(True)
                other.setValue(t)
                other.blockSignals(False)
        self.scrub_requested.emit(t)

    def _snap(self, x: float) -> float:
        return round(x * self._fps) / self._fps

    def _on_clicked(self, x: float) -> None:
        self.seek_requested.emit(max(0.0, self._snap(x)))

    def _on_double_clicked(self, x: float, part: str) -> None:
        if self.doc is None:
            return
        frame = int(np.clip(round(x * self._fps), 0, self.doc.n_frames - 1))
        self.add_keyframe_requested.emit(frame, part)

    # ------------------------------------------------------------------ view
    def _set_limits(self, duration: float) -> None:
        pad = max(0.5, 0.02 * duration)
        self.wave_vb.setLimits(xMin=-pad, xMax=duration + pad, minXRange=10.0 / max(self._fps, 1.0),
                               maxXRange=duration + 2 * pad)

    def view_all(self) -> None:
        d = self.doc.duration if self.doc is not None else 10.0
        self.wave_vb.setXRange(0, max(d, 1.0 / self._fps), padding=0.01)

    def set_visible_range(self, x0: float, x1: float) -> None:
        self.wave_vb.setXRange(x0, x1, padding=0)

    def zoom(self, factor: float) -> None:
        """Zoom time by ``factor`` (> 1 zooms in) around the playhead."""
        (x0, x1), _ = self.wave_vb.viewRange()
        w = (x1 - x0) / factor
        c = self._time if x0 <= self._time <= x1 else (x0 + x1) / 2
        frac = (c - x0) / max(x1 - x0, 1e-9)
        self.wave_vb.setXRange(c - frac * w, c + (1 - frac) * w, padding=0)
