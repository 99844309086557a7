"""The editor window's actions, menus, toolbar and status bar (a mixin of
:class:`~diface_editor.gui.main_window.MainWindow`): every command has one ``QAction`` in
``actions_by_name``, with its shortcut, tooltip and icon; the menus and the toolbar show them.
"""

from __future__ import annotations

import logging

from PySide6 import QtCore, QtGui, QtWidgets

from diface_editor.gui import icons
from diface_editor.gui.engine_bridge import teacher_available

#: how long an interactive solve runs before the status bar shows its progress and Cancel (ms)
BUSY_SHOW_DELAY_MS = 300

log = logging.getLogger(__name__)

SHORTCUTS: list[tuple[str, str]] = [
    ("Space", "Play / pause"), ("Home / End", "Go to start / end"), ("Left / Right", "Previous / next frame"),
    ("Shift+Left / Shift+Right", "Back / forward 10 frames"), ("L", "Loop playback on/off"),
    ("I", "Add keyframe (head + face) at the playhead"),
    ("Delete", "Delete the word selected in the word lane, else the keyframes at the playhead"),
    ("Ctrl+A / Alt+A", "Select the whole clip / clear the selection"),
    ("Ctrl+G", "Generate (or, without a model: Generate > Lip Sync from Transcript)"),
    ("Ctrl+R", "Resample the selection"), ("Ctrl+Shift+R", "Variants of the selection"),
    ("Ctrl+Shift+C / Ctrl+Shift+V", "Copy the pose at the playhead / paste it at the playhead (re-solved)"),
    ("Ctrl+Shift+P", "Swap pose: copy the face and/or head pose of one frame to another (re-solved)"),
    ("Esc", "Cancel generation, alignment or lip sync"),
    ("Ctrl+Z / Ctrl+Shift+Z", "Undo / redo"), ("Ctrl+O / Ctrl+S / Ctrl+Shift+S", "Open / save / save as"),
    ("Ctrl+E", "Export"), ("F", "Reset the 3-D view"), ("= / - / Ctrl+0", "Zoom timeline in / out / fit"),
    ("Mouse (timeline)", "wheel zoom · Shift+wheel or middle-drag pan · click seek · drag select · "
                         "double-click add keyframe · drag a diamond to move a keyframe · "
                         "drag a head pin up/down to change its angle"),
    ("Mouse (word lane)", "drag a word or phone boundary to retime it · click selects a word · "
                          "double-click edits it · right-click: edit, delete or insert a word"),
    ("Mouse (viewport)", "left drag orbit · wheel zoom · Shift+drag pan"),
]


class ActionsMixin:
    """Builds the window's actions (``actions_by_name``), menus, toolbar and status bar widgets."""

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
        A("generate", "&Generate", lambda: self.generate(), "Ctrl+G", "Generate motion for the whole clip", icons.icon("generate"))
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
        A("cancel", "&Cancel", self.cancel_work, "Esc", "Cancel the running generation or alignment",
          SP.SP_BrowserStop)
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
        # an interactive solve (tens of ms) shows its progress and Cancel only when it lasts this long
        self._busy_timer = QtCore.QTimer(self)
        self._busy_timer.setSingleShot(True)
        self._busy_timer.setInterval(BUSY_SHOW_DELAY_MS)
        self._busy_timer.timeout.connect(lambda: self._show_busy(self.bridge.busy))
        self.sound_label = QtWidgets.QLabel("")
        self.frame_label = QtWidgets.QLabel("")
        for w in (self.job_label, self.progress, self.cancel_button, self.sound_label, self.frame_label):
            sb.addPermanentWidget(w)

