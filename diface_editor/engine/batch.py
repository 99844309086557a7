"""Batch generation: one animation per audio file of a folder, saved in every chosen format.

No Qt. The model-specific part is a callable ``generate(clip: AudioClip) -> Animation`` supplied by
the caller (``diface generate`` builds it from its options); this module loads each audio file,
calls it, writes the outputs and keeps going when a file fails: a corrupt or unreadable audio
file, a generation error or a failed write is recorded in the :class:`BatchReport` and the next file
is processed. Only ``KeyboardInterrupt`` stops the batch (the files done so far stay written).

Output names: ``OUT_DIR/<audio stem><format extension>`` (e.g. ``hello.npz``, ``hello.glb``); with
``root=`` the audio's sub-folders below ``root`` are mirrored. When two inputs share a stem (``a.wav``
and ``a.flac``) their outputs are named ``a_wav.*`` and ``a_flac.*``. Formats are the names or
extensions of the format registry (:data:`diface_editor.core.formats.FORMATS`: ``npz``/``native``,
``glb``/``gltf``, ``csv``, ``npy``/``3diface``, ``pc2``, ...) plus ``mp4``, a rendered video with the
audio (needs ffmpeg and a headless OpenGL context).

Hook for a command (what ``diface generate AUDIO_FOLDER`` does)::

    from diface_editor.engine.batch import engine_generator, find_audio_files, parse_formats, run_batch
    files = find_audio_files(folder, recursive=args.recursive)
    generate = engine_generator(Engine(model, previews=False), seed=..., sampler=..., steps=..., guidance=...)
    report = run_batch(files, out_dir, generate, parse_formats(args.formats), root=folder)
    print(report.summary())
    return 0 if report.ok else 1
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from diface_editor.core.animation import Animation
from diface_editor.core.errors import DifaceError

log = logging.getLogger(__name__)

#: Pseudo-format for a rendered video (not in the animation format registry).
VIDEO_FORMAT = "mp4"
#: Name of the JSON report written into the output folder.
REPORT_NAME = "diface_batch.json"


class BatchError(DifaceError, ValueError):
    """The batch cannot start: no audio files, unknown format, output folder not writable."""


@dataclass
class BatchItem:
    """One input file's outcome: ``outputs`` written (path per format), ``error`` (one sentence) or None."""

    audio: Path
    outputs: dict[str, Path] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    n_frames: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class BatchReport:
    """All items of a batch, in input order, and the total wall time in seconds."""

    items: list[BatchItem]
    out_dir: Path
    formats: list[str]
    seconds: float = 0.0

    @property
    def succeeded(self) -> list[BatchItem]:
        return [i for i in self.items if i.ok]

    @property
    def failed(self) -> list[BatchItem]:
        return [i for i in self.items if not i.ok]

    @property
    def ok(self) -> bool:
        """True when every file was processed."""
        return not self.failed

    def summary(self) -> str:
        """A few lines for the terminal: counts, time, output folder and every failure."""
        n, bad = len(self.items), self.failed
        n_out = sum(len(i.outputs) for i in self.items)
        lines = [f"{n - len(bad)} of {n} audio files done in {self.seconds:.1f} s; {n_out} files written to "
                 f"{self.out_dir} ({', '.join(self.formats)})"]
        if bad:
            lines.append(f"{len(bad)} failed:")
            lines += [f"  {i.audio}: {i.error}" for i in bad]
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {"out_dir": str(self.out_dir), "formats": self.formats, "seconds": round(self.seconds, 3),
                "succeeded": len(self.succeeded), "failed": len(self.failed),
                "items": [{"audio": str(i.audio), "ok": i.ok, "error": i.error, "seconds": round(i.seconds, 3),
                           "frames": i.n_frames, "outputs": {k: str(v) for k, v in i.outputs.items()}}
                          for i in self.items]}


def find_audio_files(folder: str | os.PathLike, *, recursive: bool = False) -> list[Path]:
    """Audio files (by extension, see :data:`~diface_editor.core.audio.AUDIO_EXTENSIONS`) in ``folder``,
    sorted by path; hidden files are skipped. :class:`BatchError` when there are none."""
    from diface_editor.core.audio import AUDIO_EXTENSIONS

    folder = Path(folder)
    if not folder.is_dir():
        raise BatchError(f"{folder} is not a folder")
    pattern = folder.rglob("*") if recursive else folder.iterdir()
    files = sorted(p for p in pattern if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        raise BatchError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) in {folder}"
                         + ("" if recursive else " (add --recursive to look in sub-folders)"))
    return files


def parse_formats(formats: str | Sequence[str]) -> list[str]:
    """``"npz,glb,csv"`` (or a list) -> registry format names (plus ``"mp4"``), in order, without
    duplicates; :class:`BatchError` naming the unknown ones and the choices."""
    from diface_editor.core.formats import FORMATS, get_format

    items = formats.split(",") if isinstance(formats, str) else list(formats)
    out: list[str] = []
    for raw in (s.strip() for s in items):
        if not raw:
            continue
        if raw.lower().lstrip(".") == VIDEO_FORMAT:
            name = VIDEO_FORMAT
        else:
            try:
                fmt = get_format(raw)
            except DifaceError:
                choices = sorted({e.lstrip(".") for f in FORMATS.values() if f.can_save for e in f.extensions}
                                 | {VIDEO_FORMAT})
                raise BatchError(f"unknown output format {raw!r}; choose from {', '.join(choices)}") from None
            if not fmt.can_save:
                raise BatchError(f"the {fmt.name} format can be read but not written")
            name = fmt.name
        if name not in out:
            out.append(name)
    if not out:
        raise BatchError("no output formats given")
    return out


def _extension(fmt: str) -> str:
    if fmt == VIDEO_FORMAT:
        return ".mp4"
    from diface_editor.core.formats import get_format

    return get_format(fmt).extension


def output_stems(audio_files: Sequence[Path], out_dir: Path, root: Path | None = None) -> list[Path]:
    """Output path without extension for each input (see the module docstring for the naming)."""
    def base(p: Path) -> Path:
        rel = p.relative_to(root).parent if root is not None and p.is_relative_to(root) else Path()
        return out_dir / rel / p.stem

    bases = [base(p) for p in audio_files]
    count = Counter(bases)
    return [b.with_name(f"{b.name}_{p.suffix.lstrip('.').lower()}") if count[b] > 1 else b
            for b, p in zip(bases, audio_files)]


def _save(fmt: str, anim: Animation, path: Path, clip, rig, video_options) -> None:
    if fmt == VIDEO_FORMAT:
        from diface_editor.render.video import VideoOptions, render_video

        render_video([anim], path, rig=rig, audio=clip, options=video_options or VideoOptions())
        return
    from diface_editor.core.formats import get_format, save_animation

    accepted = get_format(fmt).save_options()
    opts = {}
    if "audio" in accepted:
        opts["audio"] = clip
    if "rig" in accepted and rig is not None:
        opts["rig"] = rig
    save_animation(anim, path, format=fmt, **opts)


def _message(e: BaseException) -> str:
    if isinstance(e, DifaceError):
        return str(e)
    return f"{e.__class__.__name__}: {e}" if str(e) else e.__class__.__name__


def engine_generator(engine, *, transcribe: bool = False, **request_options) -> Callable[..., list[Animation]]:
    """A ``generate`` callable for :func:`run_batch` that runs a
    :class:`~diface_editor.engine.requests.GenerateRequest` (``seed``, ``sampler``, ``steps``,
    ``guidance``, ``parts``, ``style``, ``n_samples``) synchronously on ``engine``
    (an :class:`~diface_editor.engine.worker.Engine`); ``on_event`` (optional) gets its progress events.
    ``transcribe``: each clip's words are recognised and aligned
    (:func:`~diface_editor.engine.edit_policy.transcribe_speech`) and pin its visemes (at
    ``viseme_strength``, default 1), as ``diface generate`` does for one file; a clip without
    recognisable words is generated from its audio alone."""
    from diface_editor.engine.edit_policy import with_recognised_words
    from diface_editor.engine.requests import GenerateRequest

    on_event = request_options.pop("on_event", None)

    def generate(clip) -> list[Animation]:
        request = GenerateRequest(clip, **request_options)
        if transcribe and request.viseme_strength > 0:
            request, heard = with_recognised_words(request)
            if not heard.aligned:
                log.info("%s: %s; generating from the audio alone", getattr(clip, "path", None) or "clip", heard.error)
        return engine.run_sync(request, on_event=on_event).animations

    return generate


def run_batch(audio_files: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
              generate: Callable[..., Animation], formats: Sequence[str], *, rig=None, root: str | os.PathLike | None = None,
              video_options=None, overwrite: bool = True, progress: bool = True,
              on_item: Callable[[BatchItem, int, int], None] | None = None, write_report: bool = True) -> BatchReport:
    """Generate and save an animation for every audio file; failures are recorded, never raised.

    Args:
        audio_files: input audio paths (see :func:`find_audio_files`).
        out_dir: output folder (created when missing).
        generate: ``generate(clip: AudioClip) -> Animation`` (or a list of takes, written as
            ``stem_1.ext``, ``stem_2.ext``, ...) for one loaded audio clip; see :func:`engine_generator`.
        formats: format names from :func:`parse_formats`.
        rig: rig passed to formats that take one (``glb``, ``pc2``, ``npy``, ``mp4``); default the shipped head.
        root: mirror the inputs' sub-folders below ``root`` in ``out_dir``.
        video_options: :class:`~diface_editor.render.video.VideoOptions` for ``mp4``.
        overwrite: when False, a file whose outputs all exist already is skipped (counted as done).
        progress: show a tqdm progress bar on stderr.
        on_item: ``on_item(item, index, total)`` after each file.
        write_report: write :data:`REPORT_NAME` (JSON) into ``out_dir``.

    Returns:
        A :class:`BatchReport`.
    """
    from tqdm import tqdm

    from diface_editor.core.audio import AudioClip

    files = [Path(p) for p in audio_files]
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BatchError(f"cannot create the output folder {out_dir} ({e.strerror or e})") from None
    formats = list(formats)
    stems = output_stems(files, out_dir, Path(root) if root is not None else None)
    exts = {f: _extension(f) for f in formats}
    report = BatchReport(items=[], out_dir=out_dir, formats=formats)
    t_start = time.perf_counter()
    bar = tqdm(total=len(files), unit="file", desc="generate", disable=not progress, dynamic_ncols=True)
    try:
        for n, (audio, stem) in enumerate(zip(files, stems)):
            item = BatchItem(audio=audio)
            t0 = time.perf_counter()
            targets = {f: stem.with_name(stem.name + exts[f]) for f in formats}
            bar.set_postfix_str(audio.name[-30:])
            try:
                if not overwrite and all(p.exists() for p in targets.values()):
                    item.outputs = targets
                    log.info("skipping %s: all outputs exist", audio)
                else:
                    clip = AudioClip.load(audio)
                    result = generate(clip)
                    anims = [result] if isinstance(result, Animation) else list(result)
                    if not anims:
                        raise BatchError("the generator returned no animation")
                    item.n_frames = anims[0].n_frames
                    stem.parent.mkdir(parents=True, exist_ok=True)
                    for i, anim in enumerate(anims):
                        for fmt, path in targets.items():
                            if len(anims) > 1:  # several takes: stem_1.ext, stem_2.ext, ...
                                path = path.with_name(f"{stem.name}_{i + 1}{exts[fmt]}")
                            _save(fmt, anim, path, clip, rig, video_options)
                            item.outputs[fmt if len(anims) == 1 else f"{fmt}_{i + 1}"] = path
            except KeyboardInterrupt:
                raise
            except Exception as e:  # noqa: BLE001 - one bad file must not stop the batch
                item.error = _message(e)
                log.debug("batch item %s failed", audio, exc_info=True)
                bar.write(f"failed: {audio}: {item.error}")
            item.seconds = time.perf_counter() - t0
            report.items.append(item)
            bar.update(1)
            if on_item is not None:
                on_item(item, n, len(files))
    finally:
        bar.close()
        report.seconds = time.perf_counter() - t_start
        if write_report and report.items:
            try:
                from diface_editor.core.atomic import atomic_write_text

                atomic_write_text(out_dir / REPORT_NAME, json.dumps(report.to_json(), indent=2))
            except DifaceError as e:
                log.warning("could not write the batch report: %s", e)
    return report
