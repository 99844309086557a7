"""The editor window's edit wiring (a mixin of :class:`~diface_editor.gui.main_window.MainWindow`):
keyframe gestures, selection, Generate / Resample / Variants, the lip sync, pose copy / paste and
the word/phoneme lane's edits (retime a boundary, edit / delete / insert a word).

It wires; it does not decide. A gesture becomes a core command, handed to the
:class:`~diface_editor.engine.session.EditSession` (``self.session``), which pushes it and says what
to re-solve; the bridge (``self.bridge``) runs that on the engine. Variants wait in
``session.pending_variants``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtWidgets

from diface_editor.core.commands import move_keyframe, remove_keyframes
from diface_editor.core.errors import DifaceError
from diface_editor.core.keyframes import Keyframe
from diface_editor.core.rotations import axis_angle_to_ypr, ypr_to_axis_angle
from diface_editor.engine.session import add_keyframes, replace_keyframe
from diface_editor.gui.engine_bridge import teacher_available, transcript_for
from diface_editor.gui.swap_dialog import SwapPoseDialog

log = logging.getLogger(__name__)

#: how long a pin drag waits for the picture of the pose it set before anything else runs on the GUI
#: thread (seconds; under one display frame; see :meth:`_show_drag_pose`)
DRAG_PICTURE_WAIT_S = 0.012


class EditsMixin:
    """Keyframes, selection, generation, variants and pose copy / paste of the window."""

    # ================================================================== generation
    def generate(self, recognise_words: bool = False) -> None:
        """Generate the clip (``recognise_words``: the first take of audio opened without a transcript:
        the engine recognises its words first and pins their visemes)."""
        if self.doc is None:
            return
        ok, why = self.bridge.model_available()
        if not ok and self.doc.audio is not None and teacher_available():
            self.error("Cannot generate", why + " Without a model, Generate > Lip Sync from Transcript animates "
                       "the speech from a transcript (a .txt file).")
            return
        self.bridge.generate(recognise_words)

    def lipsync_from_transcript(self, transcript: Path | None = None) -> None:
        """Teacher lip sync (no model needed) from ``transcript`` (default: the .txt beside the audio,
        else ask for a file)."""
        if self.doc is None or self.doc.audio is None:
            self.error("Cannot lip-sync", "open an audio file first.")
            return
        path = transcript or transcript_for(self.doc.audio_path)
        if path is None:
            self._prepare_alignment()  # the alignment process loads while the file is chosen
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

    def use_transcript_anyway(self, text: str | None = None) -> None:
        """Align ``text`` (default: the document's refused transcript) without the recogniser's check:
        the user says it is what is said. One undo step, as :meth:`align_transcript`."""
        if text is None:
            tr = self.doc.transcript if self.doc is not None else None
            if tr is None:
                return
            text = tr.text
        self.align_transcript(text, check=False)

    def align_transcript(self, text: str, check: bool = True) -> None:
        """Align ``text`` with the audio off the GUI thread; the transcript and its alignment (or why
        it failed) become the document's as one undo step. The next Generate or edit follows it.
        ``check=False``: a transcript the speech recogniser hears otherwise is used all the same."""
        from diface_editor.core.commands import SetTranscript
        from diface_editor.engine.align_process import align_in_child, cancelled_as_none
        from diface_editor.gui.background import BackgroundCall

        doc = self.doc
        if doc is None or doc.audio is None:
            self.error("Cannot align", "open an audio file first.")
            return
        if not text.strip():
            if doc.transcript is not None and self.undo_stack is not None:
                self.undo_stack.push_command(SetTranscript(None, "clear transcript"))
            return
        audio = doc.audio
        self.statusBar().showMessage("Aligning the transcript… (Esc cancels)")
        task = BackgroundCall(lambda: cancelled_as_none(align_in_child, audio, text, check=check), "the alignment",
                              self)
        label = "align transcript" if check else "use transcript anyway"

        def done(tr, d=doc) -> None:
            if self.doc is not d or self.undo_stack is None or getattr(self, "_closing", False):
                return
            if tr is None:  # Cancel (Esc) stopped it
                self.statusBar().showMessage("The alignment was cancelled; the transcript is as it was", 8000)
                return
            self.undo_stack.push_command(SetTranscript(tr, label))
            self.statusBar().showMessage(
                f"Transcript: {tr.status()}" if tr.aligned else
                f"The transcript was not used ({tr.error}); the motion follows the audio alone"
                + ("; Use Anyway uses it" if tr.mismatched else ""), 8000)

        task.succeeded.connect(done)
        task.failed.connect(lambda message: None if getattr(self, "_closing", False)  # stopped by closing
                            else self.error("Cannot align", message))
        self.track_alignment(task)
        task.start()

    def track_alignment(self, task) -> None:
        """Count ``task`` (a :class:`~diface_editor.gui.background.BackgroundCall` aligning in the alignment
        process) as running until it finishes (and keep it alive till then): Cancel (Esc) is offered
        meanwhile and stops it, and closing the window stops it."""
        self._alignments.add(task)

        def ended(t=task) -> None:
            self._alignments.discard(t)
            t.deleteLater()
            self._update_enabled()

        task.finished.connect(ended)
        self._update_enabled()

    def alignment_running(self) -> bool:
        """Whether one of this window's alignments is running (in the alignment process)."""
        return bool(self._alignments)

    def cancel_work(self) -> None:
        """Cancel (Esc): stop a running alignment and the engine's job in flight (each if any)."""
        from diface_editor.engine.align_process import shared

        if self.alignment_running():
            shared().cancel()
        if self.bridge.busy:
            self.bridge.cancel()

    def _on_performance(self, control: str, value) -> None:
        """A performance control changed: set it as one undo step with the re-solve of the selection or
        the clip (when there are audio and a model), which joins that step."""
        if self.doc is None:
            return
        change = self.session.change_performance(control, value)
        if not self._apply_change(change, "Cannot change the setting", f"{control} could not be changed"):
            self.panel.set_document(self.doc)  # the control goes back to the document's value

    def _on_busy(self, busy: bool) -> None:
        br = self.bridge
        if not busy:
            self.timeline.lane.set_hint(None)  # "recognising the words" ends with the job
        if busy and not br.session.is_long(br.session.latest_job):
            # a keyframe, swap or transcript solve: no flash of the progress bar and Cancel for a
            # few tens of ms (showing them cost 10-15 ms of the GUI thread per drag)
            self._busy_timer.start()
        else:
            self._busy_timer.stop()
            self._show_busy(busy)
        self._update_enabled()

    def _show_busy(self, busy: bool) -> None:
        if self.progress.isHidden() == busy:
            self.progress.setVisible(busy)
            self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
        else:
            self._set_job_text("")

    def _set_job_text(self, text: str) -> None:
        self.job_label.setText(text)

    def _on_progress(self, job: int, step: int, total: int) -> None:
        if self.progress.isHidden():  # a short solve (see _on_busy)
            return
        if self.progress.maximum() != max(1, total):
            self.progress.setRange(0, max(1, total))
        self.progress.setValue(step)

    def _on_preview(self, anim) -> None:
        """A live sampling preview (None: it ended). The viewport shows every one; the curves only
        those of short solves (keyframe, swap, transcript edits): repainting the whole timeline for
        the previews of a generation or resample, while the engine samples and the viewport renders
        on 2 cores, froze the window for 20-30 ms each time (``bench ui`` max_stall_ms_generate)."""
        self.viewport.set_preview(anim)
        session = self.bridge.session
        if anim is None or not session.is_long(session.latest_job):
            self.timeline.set_preview(anim)

    def _on_edit_options(self) -> None:
        self.session.options = self.panel.edit_options()

    # ================================================================== variants
    def variants_selection(self) -> None:
        if self.doc is not None:
            self._clear_variants()
            self.bridge.variants_selection()

    def _on_variants(self, anims: list) -> None:
        self.panel.variants.set_count(len(anims))  # previews the first
        self.generate_dock.raise_()

    def _preview_variant(self, i: int) -> None:
        pv = self.session.pending_variants
        anim = pv.get(i) if pv is not None else None
        self.viewport.set_preview(anim)
        self.timeline.set_preview(anim)

    def apply_variant(self, i: int) -> bool:
        """Apply variant ``i`` of the last Variants job as one undoable edit (False if stale or none)."""
        pv = self.session.pending_variants
        if self.doc is None or pv is None or pv.get(i) is None:
            return False
        try:
            picked = self.session.pick_variant(i)
        except DifaceError as e:
            self._clear_variants()
            self.error("Cannot apply the variant", str(e))
            return False
        self._clear_variants()
        return picked

    def _clear_variants(self) -> None:
        self.session.pending_variants = None
        if self.panel.variants.count:
            self.panel.variants.discard()

    def _on_version(self, _ev) -> None:
        if self.session.variants_stale():
            self._clear_variants()  # drawn for an animation that no longer exists

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
        if self.doc is None or self._copied_pose is None:
            return False
        target = self.viewport.current_frame() if target is None else int(target)
        src = self._copied_pose
        if src == target or not 0 <= src < self.doc.n_frames:
            self.statusBar().showMessage("Move the playhead to another frame to paste the pose there.", 6000)
            return False
        return self.bridge.swap_pose(src, target, self.session.options.parts)

    def swap_pose_dialog(self) -> SwapPoseDialog | None:
        """Edit > Swap Pose: choose a source and a target frame and the parts (defaults: the last
        copied frame or the playhead, the playhead, the Edits parts); OK runs the swap on the engine.
        The dialog is window-modal and does not block; it is returned (and kept in ``swap_dialog``)."""
        if self.doc is None:
            return None
        playhead = self.viewport.current_frame()
        copied = self._copied_pose
        src = copied if copied is not None and 0 <= copied < self.doc.n_frames else playhead
        dlg = SwapPoseDialog(self.doc.n_frames, self.doc.fps, src, playhead, self.session.options.parts, self)
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

    # ================================================================== keyframes and selection
    def add_keyframe_at_playhead(self) -> None:
        self._on_add_keyframe_requested(self.viewport.current_frame(), "both")

    def _on_add_keyframe_requested(self, frame: int, part: str) -> None:
        if self.doc is None:
            return
        frame = int(np.clip(frame, 0, self.doc.n_frames - 1))
        parts = ("head", "face") if part == "both" else (part,)
        group = self.keyframes_panel.group.currentData()
        new = [Keyframe(frame, p, group if p == "face" and group else "all") for p in parts]
        if self._keyframe_change(lambda: add_keyframes(self.doc, new), new):
            self.keyframes_panel.select(new[0])

    def delete_keyframes_at_playhead(self) -> None:
        """Del: the word selected in the lane, else the keyframes at the playhead."""
        if self.doc is not None and self.timeline.lane.selected_word is not None:
            self.delete_word(self.timeline.lane.selected_word)
        elif self.doc is not None:
            self.delete_keyframes(self.doc.keyframes.at(self.viewport.current_frame()))

    def delete_keyframes(self, keys: list[Keyframe]) -> bool:
        """Delete ``keys`` (one undo step), then re-solve the influence window around the frames they
        had (the other keyframes stay pinned; a second undo step)."""
        keys = [k for k in keys if k in list(self.doc.keyframes)] if self.doc is not None else []
        if not keys:
            return False
        frames = sorted({k.frame for k in keys})
        return self._keyframe_change(lambda: remove_keyframes(self.doc, keys), [], vacated=frames,
                                     parts=tuple(sorted({k.part for k in keys})),
                                     label=f"solve after deleting keyframe at frame {', '.join(map(str, frames))}")

    def _keyframe_change(self, make_command, solve: list[Keyframe], vacated=(), parts=None,
                         label: str | None = None, then=None) -> bool:
        """Hand the keyframe command ``make_command()`` to the session (one undo step) and submit the
        re-solve it asks for (:meth:`~diface_editor.engine.session.EditSession.change_keyframes`).
        False if the command failed."""
        if self.doc is None:
            return False
        try:
            cmd = make_command()
        except DifaceError as e:
            self.error("Cannot edit", str(e))
            return False
        # the re-solve goes to the engine before the views redraw the change (they do it while the
        # engine solves: on 2 cores that takes a few ms off every drag's round trip)
        with self.doc.events.deferred():
            change = self.session.change_keyframes(cmd, solve, vacated=tuple(vacated), parts=parts, label=label)
            if change.committed and change.solve is not None:
                self.bridge.submit(change.solve)
            if change.committed and then is not None:
                then()  # e.g. the released pin's pose: drawn while the engine solves and the views redraw
        return self._report_change(change, "Cannot edit", "the keyframes could not be changed")

    def _report_change(self, change, title: str, fallback: str) -> bool:
        """Show a session change's error or note; False if it was not committed."""
        if not change.committed:
            self.error(title, change.error or fallback)
            return False
        if change.note:
            self.statusBar().showMessage(change.note, 8000)
        return True

    def _apply_change(self, change, title: str, fallback: str) -> bool:
        """Show a session change's error or note and submit the re-solve it asks for."""
        if self._report_change(change, title, fallback) and change.solve is not None:
            self.bridge.submit(change.solve)
        return change.committed

    def _replace_keyframe(self, old: Keyframe, new: Keyframe, text: str, then=None) -> bool:
        return self._keyframe_change(lambda: replace_keyframe(self.doc, old, new, text), [new], then=then)

    def _on_keyframe_dragged(self, key: Keyframe, frame: int) -> None:
        if self.doc is not None:
            frame = int(np.clip(frame, 0, self.doc.n_frames - 1))
            if frame == key.frame or key not in list(self.doc.keyframes):
                self.timeline.refresh_keyframes()  # nothing moved: the diamond goes back
                return
            # re-solve around the new frame and the old one (the old pose must not stay frozen there)
            self._keyframe_change(lambda: move_keyframe(self.doc, key, frame), [key.moved(frame)],
                                  vacated=(key.frame,), label=f"solve keyframe moved from frame {key.frame} to {frame}")

    def _on_keyframe_clicked(self, key: Keyframe) -> None:
        if self.doc is not None:
            self.playback.seek(key.frame / self.doc.fps)
            self.keyframes_panel.select(key)

    def _dragged_head_key(self, key: Keyframe, channel: int, degrees: float) -> Keyframe | None:
        """``key`` with its yaw (0) / pitch (1) / roll (2) set to ``degrees`` (within the head limits);
        None when the key is no longer in the document."""
        if self.doc is None or key not in list(self.doc.keyframes):
            return None
        lo, hi = self.settings.head_limits()[int(channel)]
        ypr = axis_angle_to_ypr(key.pinned_values(self.doc.animation).astype(np.float64)[None])[0]
        ypr[int(channel)] = np.radians(float(np.clip(degrees, lo, hi)))
        return key.with_values(ypr_to_axis_angle(ypr[None])[0])

    def _dragged_face_key(self, key: Keyframe, channel: int, weight: float) -> Keyframe | None:
        """``key`` with blendshape ``channel`` pinned to ``weight`` (0..1); None when the key is gone
        or does not pin that channel."""
        if self.doc is None or key not in list(self.doc.keyframes):
            return None
        anim = self.doc.animation
        cols = [int(c) for c in key.channels(anim)]
        if int(channel) not in cols:
            return None
        values = key.pinned_values(anim).astype(np.float32)
        values[cols.index(int(channel))] = float(np.clip(weight, 0.0, 1.0))
        return key.with_values(values)

    def _on_head_value_dragged(self, key: Keyframe, channel: int, degrees: float) -> None:
        """A head pin was dragged on the yaw (0) / pitch (1) / roll (2) curve: pin that angle."""
        new = self._dragged_head_key(key, channel, degrees)
        if new is not None:
            lo, hi = self.settings.head_limits()[int(channel)]
            name = ("yaw", "pitch", "roll")[int(channel)]
            self._replace_keyframe(key, new, f"set {name} {float(np.clip(degrees, lo, hi)):+.1f}° at frame {key.frame}",
                                   then=lambda: self._show_drag_pose(new))

    def _on_face_value_dragged(self, key: Keyframe, channel: int, weight: float) -> None:
        """A face keyframe's pin was dragged on a blendshape curve: pin that channel's weight."""
        new = self._dragged_face_key(key, channel, weight)
        if new is not None:
            name = self.doc.animation.channel_names[int(channel)]
            self._replace_keyframe(key, new, f"set {name} {weight:.2f} at frame {key.frame}",
                                   then=lambda: self._show_drag_pose(new))

    def _on_value_dragging(self, part: str, key: Keyframe, channel: int, value: float) -> None:
        """While a pin is dragged the viewport shows the pose it sets, at the key's frame (the playhead
        goes there, as when a key is clicked): the document's pose there with the key's pinned
        channels at the dragged value, which is exactly the pose the re-solve keeps at that frame for
        those channels. Nothing is committed; the preview gives way to the re-solve's result."""
        new = (self._dragged_head_key if part == "head" else self._dragged_face_key)(key, channel, value)
        if new is not None:
            self._show_drag_pose(new)

    def _show_drag_pose(self, new: Keyframe) -> None:
        """Show the document's pose at ``new``'s frame with ``new``'s values (see above); also right
        after the release, once the re-solve was submitted (the engine starts first)."""
        doc = self.doc
        if self.playback.playing or doc is None:  # the playhead is moving: no pose to hold
            return
        if self.viewport.current_frame() != new.frame:
            self.playback.seek(new.frame / doc.fps)
        shown = self._drag_pose
        if (shown is not None and self.viewport.preview is shown and shown.n_frames == doc.n_frames
                and np.array_equal((shown.head if new.part == "head" else shown.face)[new.frame, new.channels(shown)],
                                   new.pinned_values(shown))):
            return  # that pose is on screen already (a release where the last move was)
        pose = doc.animation.copy()
        target = pose.head if new.part == "head" else pose.face
        target[new.frame, new.channels(pose)] = new.pinned_values(pose)
        self._drag_pose = pose
        self.viewport.set_preview(pose)
        # the pose's picture comes first: on 2 cores the GUI thread's redraw of the other views (and
        # the next mouse move) would compete with the render thread for the CPU and the GIL, and at
        # the release the render thread would still be busy with the last move's picture. Waiting
        # for it (under a display frame) keeps the render thread free for the released pose:
        # bench edit-gui first_preview p50 20 ms instead of 28-36 (docs/bench/2026-12-04d)
        self.viewport.wait_for_picture(DRAG_PICTURE_WAIT_S)

    def _on_value_drag_ended(self) -> None:
        """The pin drag is over: its pose stays on screen only while its re-solve runs (the result, or
        the job's end, replaces it)."""
        pose, self._drag_pose = self._drag_pose, None
        if pose is not None and self.viewport.preview is pose and not self.bridge.busy:
            self.viewport.set_preview(None)

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

    # ================================================================== the word/phoneme lane
    def _connect_transcript_lane(self) -> None:
        tl = self.timeline
        tl.transcript_retime_requested.connect(self.retime_transcript)
        tl.word_edit_requested.connect(self.word_text_dialog)
        tl.word_delete_requested.connect(self.delete_word)
        tl.word_insert_requested.connect(lambda t: self.word_text_dialog(None, t))
        tl.transcript_use_anyway_requested.connect(lambda: self.use_transcript_anyway())
        self.panel.use_anyway_requested.connect(self.use_transcript_anyway)
        self.panel.transcript_typed.connect(self._prepare_alignment)

    def _prepare_alignment(self) -> None:
        """The user types or pastes a transcript (or picks its file): the alignment process loads its
        decoder and recogniser meanwhile (:meth:`~diface_editor.engine.align_process.AlignProcess.prepare`),
        so that the alignment does not wait for them (the demo's first: 3.5 s unprepared, 1.1 s prepared)."""
        from diface_editor.engine.align_process import shared

        if self.doc is not None and self.doc.audio is not None:
            shared().prepare()

    def _transcript_change(self, result) -> bool:
        """Hand a transcript edit (:class:`~diface_editor.engine.transcript_edits.TranscriptEditResult`)
        to the session (one undo step) and submit the re-solve it asks for (it joins that step)."""
        change = self.session.change_transcript(result.transcript, result.label)
        if change.solve is not None:  # its result changes the face under the playhead: that picture first
            self.viewport.picture_first_on_next_change(DRAG_PICTURE_WAIT_S)
        return self._apply_change(change, "Cannot edit the transcript", "the transcript could not be changed")

    def retime_transcript(self, kind: str, index: int, edge: str, seconds: float) -> bool:
        """A lane boundary was dragged: retime word / phone ``index`` (one undo step, the window re-solved)."""
        from diface_editor.engine.transcript_edits import retime

        if self.doc is None:
            return False
        try:
            result = retime(self.doc.transcript, kind, index, edge, seconds)
        except DifaceError as e:
            self.error("Cannot retime", str(e))
            return False
        return self._transcript_change(result)

    def delete_word(self, index: int) -> bool:
        """Delete word ``index`` of the transcript (its span becomes a pause; one undo step)."""
        from diface_editor.engine.transcript_edits import delete_word

        if self.doc is None:
            return False
        try:
            result = delete_word(self.doc.transcript, index)
        except DifaceError as e:
            self.error("Cannot delete the word", str(e))
            return False
        self.timeline.lane.select_word(None)
        return self._transcript_change(result)

    def word_text_dialog(self, index: int | None, seconds: float | None = None) -> QtWidgets.QInputDialog | None:
        """Ask for a word's new text (``index``) or a word to insert at ``seconds``; OK runs
        :meth:`set_word_text` / :meth:`insert_word`. Window-modal, not blocking; returned (and kept
        in ``word_dialog``)."""
        tr = self.doc.transcript if self.doc is not None else None
        if tr is None or not tr.aligned or (index is not None and not 0 <= index < len(tr.words)):
            return None
        dlg = QtWidgets.QInputDialog(self)
        dlg.setAttribute(QtCore.Qt.WA_DeleteOnClose)
        if index is not None:
            dlg.setWindowTitle("Edit Word")
            dlg.setLabelText(f"What is said at {tr.words[index][1]:.2f} s (its phones are aligned again):")
            dlg.setTextValue(tr.words[index][0])
            dlg.textValueSelected.connect(lambda text, i=index: self.set_word_text(i, text))
        else:
            dlg.setWindowTitle("Insert Word")
            dlg.setLabelText(f"The word said in the pause at {float(seconds):.2f} s:")
            dlg.textValueSelected.connect(lambda text, t=float(seconds): self.insert_word(t, text))
        dlg.finished.connect(lambda _r: setattr(self, "word_dialog", None))
        self.word_dialog = dlg
        dlg.open()
        return dlg

    def set_word_text(self, index: int, text: str) -> None:
        """Word ``index`` is ``text`` instead: its phones are aligned again off the GUI thread, then the
        change is one undo step (empty text deletes the word)."""
        from diface_editor.engine.transcript_edits import edit_word

        self._word_edit(lambda tr, audio: edit_word(tr, audio, index, text), "the word's alignment")

    def insert_word(self, seconds: float, text: str) -> None:
        """Insert ``text`` in the pause at ``seconds`` (aligned off the GUI thread; one undo step)."""
        from diface_editor.engine.transcript_edits import insert_word

        self._word_edit(lambda tr, audio: insert_word(tr, audio, seconds, text), "the word's alignment")

    def _word_edit(self, make, what: str) -> None:
        from diface_editor.gui.background import BackgroundCall

        doc = self.doc
        if doc is None or doc.audio is None:
            return
        tr, audio = doc.transcript, doc.audio
        self.statusBar().showMessage("Aligning the word…")
        task = BackgroundCall(lambda: make(tr, audio), what, self)

        def done(result, d=doc, tr=tr) -> None:
            if self.doc is not d:
                return
            if d.transcript != tr:
                self.error("Cannot edit the word", "the transcript changed while the word was aligned; edit it again.")
                return
            self._transcript_change(result)

        task.succeeded.connect(done)
        task.failed.connect(lambda message: self.error("Cannot edit the word", message))
        task.finished.connect(task.deleteLater)
        self._word_task = task
        task.start()
