"""The editor window's file handling (a mixin of :class:`~diface_editor.gui.main_window.MainWindow`):
open (audio or project, also by drag and drop), save, autosave and recovery, recent files, export,
the head mesh for vertex-space takes and the model folder. Every user-fixable problem goes to a
dialog; the window stays usable after a failed load.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import traceback
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from diface_editor.core.document import Document
from diface_editor.core.errors import DifaceError
from diface_editor.core.paths import MODELS, RESOURCES, resource
from diface_editor.core.project import PROJECT_SUFFIX, is_project_file, load_project, save_project
from diface_editor.gui.dialogs import show_message
from diface_editor.gui.engine_bridge import resolve_model_path, teacher_available, transcript_for
from diface_editor.gui.settings import autosave_dir

log = logging.getLogger(__name__)

#: longest clip (s) whose words are recognised when it is opened, before its first take (about 0.1 s
#: of waiting per second of audio)
RECOGNISE_MAX_S = 120.0


def audio_extensions() -> tuple[str, ...]:
    from diface_editor.core.audio import AUDIO_EXTENSIONS

    return AUDIO_EXTENSIONS


def _installed(folder: Path) -> bool:
    """Whether ``folder`` is inside the installed resources, models or package (no place to save to)."""
    import diface_editor

    try:
        f = folder.resolve()
    except OSError:
        return True
    roots = (RESOURCES, MODELS, Path(diface_editor.__file__).parent)
    return any(f == Path(r).resolve() or Path(r).resolve() in f.parents for r in roots)


def demo_paths() -> list[Path]:
    """Shipped demo files, preferred first: a demo project, then the demo audio."""
    return [resource("demo", "demo" + PROJECT_SUFFIX), resource("demo", "demo.wav")]


class FilesMixin:
    """Open, save, autosave, recent files, export, head mesh and model folder of the window."""

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
            # the first take is part of opening the audio: it does not make the document "modified"
            self._first_take_pending = ok or (transcript is not None and teacher_available())
            if ok and transcript is not None:
                self._align_on_open(doc, transcript)  # off the GUI thread; it starts the first take
            elif ok:
                recognise = transcript is None and self._can_recognise(doc)
                if recognise:
                    self.statusBar().showMessage(f"Recognising the words in {path.name}, then generating…", 10000)
                    self.timeline.lane.set_hint("Recognising the words in the audio…")
                self.generate(recognise_words=recognise)
                if recognise and not self.bridge.busy:  # the take did not start: nothing is recognised
                    self.timeline.lane.set_hint(None)
            elif transcript is not None and teacher_available():
                self.lipsync_from_transcript(transcript)
            elif generate:
                self.generate()  # explicitly asked: the bridge explains why it cannot
        return True

    def _align_on_open(self, doc: Document, transcript: Path) -> None:
        """The transcript beside the opened audio (``voice.txt``), aligned off the GUI thread before the
        first take, which starts when it is done (part of opening: no undo step). A transcript that does
        not align as a whole is aligned in parts (seconds on a long noisy take: the window stays live);
        a failed alignment is one status line and the take follows the audio."""
        from diface_editor.core.transcript import Transcript
        from diface_editor.engine.align_process import align_in_child, cancelled_as_none
        from diface_editor.gui.background import BackgroundCall

        try:
            text = Path(transcript).read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            self.statusBar().showMessage(f"Cannot read the transcript {transcript.name}: {e.strerror or e}", 8000)
            self.generate()
            return
        audio = doc.audio
        self.statusBar().showMessage(f"Aligning {transcript.name}, then generating… (Esc skips the alignment)")
        self.timeline.lane.set_hint(f"Aligning {transcript.name}…")
        task = BackgroundCall(lambda: cancelled_as_none(align_in_child, audio, text), "the alignment", self)

        def done(tr) -> None:
            self.aligning_on_open = False
            if self.doc is not doc or getattr(self, "_closing", False):  # another file opened, or closing
                return
            self.timeline.lane.set_hint(None)
            if tr is None:  # Cancel (Esc): the take follows the audio; the text waits in the panel for Align
                tr = Transcript(text.strip()).failed("the alignment was cancelled (Align in the Generate panel "
                                                     "aligns it)")
            doc.set_transcript(tr)
            self.statusBar().showMessage(
                f"Transcript {transcript.name}: {tr.status()}" if tr.aligned else
                f"The transcript {transcript.name} was not used ({tr.error}); the take follows the audio "
                "alone" + ("; Use Anyway in the Generate panel uses it" if tr.mismatched else ""), 8000)
            self.generate()

        def failed(message: str) -> None:  # align_transcript does not raise; a crash of the thread itself
            self.aligning_on_open = False
            if self.doc is doc and not getattr(self, "_closing", False):
                self.timeline.lane.set_hint(None)
                self.statusBar().showMessage(f"The transcript {transcript.name} could not be aligned ({message})",
                                             8000)
                self.generate()

        task.succeeded.connect(done)
        task.failed.connect(failed)
        self.track_alignment(task)
        self.aligning_on_open = True  # until the first take has started (or the alignment failed)
        task.start()

    def _can_recognise(self, doc: Document) -> bool:
        """Whether the first take of ``doc`` (audio opened without a transcript) recognises the words said
        first (Whisper tiny.en, in the engine): the recogniser is installed and the clip is at most
        :data:`RECOGNISE_MAX_S` long (else one status line says why not)."""
        from diface_editor.core.paths import recogniser_weights

        if doc.audio is None or recogniser_weights() is None:
            return False
        if doc.audio.duration > RECOGNISE_MAX_S:
            self.statusBar().showMessage(
                f"Words are recognised automatically in clips up to {RECOGNISE_MAX_S:.0f} s; this take follows the "
                "audio alone (type or paste the transcript in the Generate panel to pin the visemes)", 10000)
            return False
        return True

    def _first_take_done(self, applied: bool) -> None:
        """The job started on opening audio ended: its take is the document as opened (clean)."""
        if getattr(self, "_first_take_pending", False):
            self._first_take_pending = False
            if applied and self.undo_stack is not None and self.undo_stack.count() == 1 \
                    and self.undo_stack.index() == 1:
                self.undo_stack.setClean()

    def open_last(self) -> bool:
        """Reopen the most recent project that still exists (start-up without a file); else the demo."""
        for f in self.settings.recent_files:
            p = Path(f)
            if is_project_file(p) and p.is_file():
                return self.open_path(p)
        return self.open_demo()

    def _load(self, path: Path) -> Document:
        if is_project_file(path):
            return load_project(path)
        if path.suffix.lower() in audio_extensions():
            from diface_editor.core.audio import AudioClip
            from diface_editor.engine.loading import recommended_sampler

            # a new take starts from the model's recommended sampler and guidance (a project keeps its own)
            model_id = self.doc.model_id if self.doc is not None else "default"
            return Document.from_audio(AudioClip.load(path), model_id=model_id,
                                       sampler=recommended_sampler(resolve_model_path(model_id)))
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
        if self.doc.project_path is not None:
            text = f"Save the changes to {self.doc.project_path.name}?"
        else:  # never saved: the take would become a new project (the audio file is never written)
            name = self.doc.audio_path.name if self.doc.audio_path else "this take"
            text = (f"Save the animation of {name} as a project "
                    f"({self._proposed_name()})? {name} itself is never changed.")
        r = QtWidgets.QMessageBox.question(
            self, "Unsaved changes", text,
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

    def _proposed_name(self) -> str:
        return (self.doc.audio_path.stem if self.doc.audio_path else "untitled") + PROJECT_SUFFIX

    def save_folder(self) -> Path:
        """Where Save As starts: the project's folder, the last folder saved to, the audio's folder
        (if writable), else the home folder; never the installed demo, model or package folders."""
        doc = self.doc
        cands = [doc.project_path.parent if doc.project_path else None,
                 Path(self.settings.last_save_dir) if self.settings.last_save_dir else None,
                 doc.audio_path.parent if doc.audio_path else None]
        for c in cands:
            if c is not None and c.is_dir() and os.access(c, os.W_OK) and not _installed(c):
                return c
        docs = Path.home() / "Documents"
        return docs if docs.is_dir() else Path.home()

    def save_as(self) -> bool:
        if self.doc is None:
            return False
        start = self.doc.project_path or self.save_folder() / self._proposed_name()
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
        self._saved_state = self._settings_state()
        self.settings.add_recent(out)
        self.settings.last_dir = self.settings.last_save_dir = str(out.parent)
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
        """The autosave file of this document, keyed by the full path of its project (or audio), so
        two windows on ``a/take.diface`` and ``b/take.diface`` never share one."""
        src = self.doc.project_path or self.doc.audio_path
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", src.stem if src else "untitled")
        try:
            full = str(Path(src).resolve()) if src else f"untitled-{id(self.doc)}"
        except OSError:
            full = str(src)
        key = hashlib.sha1(full.encode("utf-8", "surrogateescape")).hexdigest()[:10]
        return autosave_dir() / f"{stem}-{key}.autosave{PROJECT_SUFFIX}"

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
        folder = self.settings.export_dir if self.settings.export_dir and Path(self.settings.export_dir).is_dir() \
            else self.save_folder()
        dlg = ExportDialog(self.doc.animation.copy(), stem, folder, rig=self.viewport.rig, audio=self.doc.audio,
                           parent=self, last_format=self.settings.export_format or None,
                           transcript=self.doc.transcript)
        if dlg.exec() == QtWidgets.QDialog.Accepted and dlg.written is not None:
            self.settings.export_format = dlg.format_name()  # the next export starts there
            self.settings.export_dir = str(Path(dlg.written).parent)
            self.settings.save()
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
            self._update_title()  # the head mesh is saved with the project: a change to save
        self.statusBar().showMessage("Showing the default head" if spec is None else
                                     f"Showing vertex takes on {Path(str(spec)).name} "
                                     f"({rig.n_vertices} vertices)", 5000)
        return True

    def choose_model_dialog(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Choose a Model Bundle Folder",
                                                          str(resolve_model_path("default").parent))
        if path and self.doc is not None:
            self.use_model(path)

    def use_model(self, path: str | Path) -> None:
        """Make the bundle at ``path`` the document's model and take on its recommended sampler, steps,
        guidance and reference mode (seed, blinks and the performance controls stay)."""
        from dataclasses import replace

        from diface_editor.engine.loading import recommended_sampler

        self.doc.set_model_id(str(path))
        rec = recommended_sampler(resolve_model_path(str(path)))
        self.doc.set_sampler(replace(self.doc.sampler, sampler=rec.sampler, steps=rec.steps, guidance=rec.guidance,
                                     reference_mode=rec.reference_mode))

    # ------------------------------------------------------------------ drag and drop
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
