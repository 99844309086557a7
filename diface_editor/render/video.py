"""Videos of animations: headless rendering piped into ffmpeg (H.264 yuv420p + AAC audio).

One or more takes of the same clip (e.g. several samples for the same audio) are drawn side by
side, each in a panel of ``size`` pixels, at the takes' frame rate; shorter takes hold their last
frame. The audio (optional) is muxed as AAC; the video lasts ``max(n_frames) / fps`` seconds and the
audio keeps its own length. Frames are rendered and streamed one at a time, so memory does not grow
with the clip's length. The file is written atomically (a temporary file next to it, renamed at the
end), so a failed or interrupted render leaves no half-written video.

ffmpeg is called as a program (Debian/Ubuntu: ``apt-get install ffmpeg``; elsewhere any ffmpeg with
libx264 and the native AAC encoder on ``PATH``, or set ``DIFACE_FFMPEG`` to its path).

Usage::

    from diface_editor.render.video import VideoOptions, render_video
    render_video([anim], "take.mp4", audio="line.wav", options=VideoOptions(size=(512, 512), camera="front"))
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from diface_editor.core.animation import Animation
from diface_editor.core.errors import DifaceError
from diface_editor.core.rig import BlendshapeRig, Rig, VertexOffsetRig
from diface_editor.render.camera import CameraSpec

log = logging.getLogger(__name__)

#: Named camera views: straight at the face, three-quarter from the character's left, profile.
CAMERAS: dict[str, CameraSpec] = {
    "front": CameraSpec(yaw_deg=0.0, pitch_deg=0.0),
    "three-quarter": CameraSpec(yaw_deg=30.0, pitch_deg=6.0),
    "side": CameraSpec(yaw_deg=90.0, pitch_deg=0.0),
}


class VideoError(DifaceError, RuntimeError):
    """A video cannot be made (no ffmpeg, bad size, takes that do not fit together, ffmpeg failed)."""


#: x264's speed presets (what ``--preset`` accepts).
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")
MIN_SIZE, MAX_SIZE = 16, 4096
MAX_SUPERSAMPLE = 4
#: Rendered pixels per frame (size times supersample squared): 8192 x 8192.
MAX_RENDER_PIXELS = 8192 * 8192


@dataclass(frozen=True)
class VideoOptions:
    """How to render a video.

    size: (width, height) of one panel in pixels (even numbers: H.264 yuv420p needs them).
    camera: a name in :data:`CAMERAS` or a :class:`CameraSpec`.
    supersample: anti-aliasing factor of the renderer (1 = off; 2 costs about 4x the fill time).
    crf: x264 quality (0 = lossless, 18 = visually lossless, 23 = x264's default).
    preset: x264 speed preset (``ultrafast`` ... ``veryslow``).
    audio_bitrate: AAC bitrate, e.g. ``"192k"``.
    separator: width in pixels of the dark line between side-by-side panels.
    """

    size: tuple[int, int] = (512, 512)
    camera: str | CameraSpec = "front"
    supersample: int = 2
    crf: int = 18
    preset: str = "medium"
    audio_bitrate: str = "192k"
    separator: int = 2

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """:class:`VideoError` for a value ffmpeg or the renderer would refuse late or choke on."""
        w, h = self.size
        if not all(isinstance(v, int) and MIN_SIZE <= v <= MAX_SIZE for v in (w, h)):
            raise VideoError(f"the video size must be {MIN_SIZE} to {MAX_SIZE} pixels each way, got {w}x{h}")
        if not isinstance(self.supersample, int) or not 1 <= self.supersample <= MAX_SUPERSAMPLE:
            raise VideoError(f"supersample must be a whole number from 1 to {MAX_SUPERSAMPLE}, got {self.supersample!r}")
        if w * h * self.supersample ** 2 > MAX_RENDER_PIXELS:
            raise VideoError(f"a {w}x{h} video with supersample {self.supersample} renders "
                             f"{w * self.supersample}x{h * self.supersample} pixels per frame, more than the limit of "
                             f"{MAX_RENDER_PIXELS:,}; use a smaller size or supersample")
        if not isinstance(self.crf, int) or not 0 <= self.crf <= 51:
            raise VideoError(f"crf (x264 quality) must be a whole number from 0 to 51, got {self.crf!r}")
        if self.preset not in X264_PRESETS:
            raise VideoError(f"unknown x264 preset {self.preset!r}; use one of {', '.join(X264_PRESETS)}")

    def camera_spec(self) -> CameraSpec:
        if isinstance(self.camera, CameraSpec):
            return self.camera
        try:
            return CAMERAS[self.camera]
        except KeyError:
            raise VideoError(f"unknown camera {self.camera!r}; choose one of {', '.join(CAMERAS)}") from None


@dataclass(frozen=True)
class VideoResult:
    """What :func:`render_video` wrote: path, frame count, fps, duration in seconds, size (w, h)."""

    path: Path
    n_frames: int
    fps: float
    duration: float
    size: tuple[int, int]
    has_audio: bool


def ffmpeg_path() -> str:
    """The ffmpeg program to call (``DIFACE_FFMPEG`` or ``ffmpeg`` on PATH); :class:`VideoError` if none."""
    exe = os.environ.get("DIFACE_FFMPEG") or shutil.which("ffmpeg")
    if not exe:
        raise VideoError("ffmpeg was not found; install it (Debian/Ubuntu: apt-get install ffmpeg) or set "
                         "DIFACE_FFMPEG to its path")
    return exe


def parse_size(text: str) -> tuple[int, int]:
    """``"512x512"`` -> (512, 512); :class:`VideoError` for anything else."""
    try:
        w, h = (int(x) for x in text.lower().replace("*", "x").split("x"))
    except ValueError:
        raise VideoError(f"size must look like 512x512 (width x height in pixels), got {text!r}") from None
    if not (MIN_SIZE <= w <= MAX_SIZE and MIN_SIZE <= h <= MAX_SIZE):
        raise VideoError(f"the video size must be {MIN_SIZE} to {MAX_SIZE} pixels each way, got {w}x{h}")
    return w, h


def rig_for(anim: Animation, rig: Rig | None = None) -> Rig:
    """The rig that draws ``anim``: ``rig`` (default: the shipped head) for ARKit motion; for
    vertex-offset motion a :class:`VertexOffsetRig` with the animation's recorded template (or the
    rig's) and the rig's triangles, pivot and neck weights (same vertex count required)."""
    from diface_editor.core.formats.common import get_template
    from diface_editor.core.rig import load_default_rig

    base = rig if rig is not None else load_default_rig()
    if anim.space == "arkit":
        if not isinstance(base, BlendshapeRig):
            raise VideoError("this animation holds blendshape weights; it needs a blendshape rig")
        return base
    n = anim.n_face // 3
    if isinstance(base, VertexOffsetRig) and base.n_vertices == n:
        return base
    if base.n_vertices != n:
        raise VideoError(f"the animation moves {n} vertices but the rig has {base.n_vertices}; pass a rig with "
                         "the animation's mesh (its triangles are needed to draw it)")
    template = get_template(anim)
    out = VertexOffsetRig(template=base.template if template is None else template, faces=base.faces,
                          pivot=base.pivot, neck_weights=base.neck_weights, name=base.name)
    out.extra = getattr(base, "extra", {})
    return out


def _rate(fps: float) -> str:
    f = Fraction(float(fps)).limit_denominator(1001)
    return f"{f.numerator}/{f.denominator}"


def _audio_clip(audio):
    if audio is None:
        return None
    from diface_editor.core.audio import AudioClip

    return audio if isinstance(audio, AudioClip) else AudioClip.load(audio)


def render_video(takes: Sequence[Animation] | Animation, out: str | os.PathLike, *, rig: Rig | None = None,
                 audio=None, options: VideoOptions = VideoOptions(),
                 progress: Callable[[int, int], None] | None = None) -> VideoResult:
    """Render ``takes`` side by side into a video file with ``audio`` muxed in.

    Args:
        takes: one animation or several with the same fps (the first is on the left).
        out: output file (``.mp4``; ``.mov``/``.mkv`` work too), replaced atomically.
        rig: the rig for every take (default: the shipped head; see :func:`rig_for`).
        audio: an :class:`~diface_editor.core.audio.AudioClip`, an audio file path, or None (silent).
        options: :class:`VideoOptions`.
        progress: ``progress(done_frames, total_frames)`` after each frame.

    Raises:
        VideoError: no ffmpeg, bad size, takes with different fps, ffmpeg failing (its message quoted).
        RenderError: no headless OpenGL context.
    """
    from diface_editor.core.atomic import atomic_path
    from diface_editor.render.offscreen import OffscreenRenderer

    if isinstance(takes, Animation):
        takes = [takes]
    takes = list(takes)
    if not takes:
        raise VideoError("there is no animation to render")
    fps = takes[0].fps
    if any(abs(t.fps - fps) > 1e-6 for t in takes):
        raise VideoError("the takes to compare have different frame rates: " + ", ".join(f"{t.fps:g}" for t in takes))
    w, h = (int(x) for x in options.size)
    if w < 16 or h < 16 or w % 2 or h % 2:
        raise VideoError(f"the video size must be even and at least 16x16 pixels, got {w}x{h}")
    n_frames = max(t.n_frames for t in takes)
    if n_frames == 0:
        raise VideoError("the animation has no frames")
    exe = ffmpeg_path()
    camera = options.camera_spec()
    clip = _audio_clip(audio)
    rigs = [rig_for(t, rig) for t in takes]
    out = Path(out)
    width = w * len(takes)
    sep = max(0, int(options.separator)) if len(takes) > 1 else 0

    renderers: dict[int, OffscreenRenderer] = {}
    with tempfile.TemporaryDirectory(prefix="diface-video-") as tmpdir, atomic_path(out) as tmp_out:
        cmd = [exe, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{width}x{h}", "-framerate", _rate(fps), "-i", "pipe:0"]
        if clip is not None:
            import soundfile

            wav = Path(tmpdir) / "audio.wav"
            soundfile.write(str(wav), clip.samples, int(clip.sample_rate), subtype="FLOAT")
            cmd += ["-i", str(wav), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", options.audio_bitrate]
        cmd += ["-c:v", "libx264", "-preset", options.preset, "-crf", str(int(options.crf)), "-pix_fmt", "yuv420p",
                "-r", _rate(fps), "-movflags", "+faststart", str(tmp_out)]
        log.debug("ffmpeg: %s", " ".join(cmd))
        err_path = Path(tmpdir) / "ffmpeg.log"
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err)
            try:
                for r in rigs:
                    if id(r) not in renderers:
                        renderers[id(r)] = OffscreenRenderer(r, size=(w, h), camera=camera,
                                                             supersample=options.supersample)
                # face motion in each rig's own channel order, once
                faces = [r.weights_for(t) if isinstance(r, BlendshapeRig) else t.face for t, r in zip(takes, rigs)]
                frame = np.empty((h, width, 3), np.uint8)
                chunk = 32
                for start in range(0, n_frames, chunk):
                    stop = min(n_frames, start + chunk)
                    panels = []
                    for take, face, r in zip(takes, faces, rigs):
                        idx = np.minimum(np.arange(start, stop), take.n_frames - 1)
                        panels.append(r.vertices(face=face[idx], head=take.head[idx]))
                    for i in range(stop - start):
                        for p, (r, verts) in enumerate(zip(rigs, panels)):
                            frame[:, p * w:(p + 1) * w] = renderers[id(r)].render(verts[i])
                        for p in range(1, len(takes)):
                            frame[:, p * w - sep // 2: p * w + (sep - sep // 2)] = 12
                        proc.stdin.write(frame.tobytes())
                        if progress is not None:
                            progress(start + i + 1, n_frames)
                proc.stdin.close()
                rc = proc.wait()
            except BrokenPipeError:
                rc = proc.wait()
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            finally:
                for rr in renderers.values():
                    rr.close()
        if rc != 0:
            msg = err_path.read_text(errors="replace").strip().splitlines()
            raise VideoError(f"ffmpeg failed (exit code {rc}): {msg[-1] if msg else 'no message'}")
    return VideoResult(path=out, n_frames=n_frames, fps=float(fps), duration=n_frames / fps, size=(width, h),
                       has_audio=clip is not None)


def probe(path: str | os.PathLike) -> dict:
    """Streams of a media file from ffprobe: ``{"video": {...}, "audio": {...}, "format": {...}}``
    with codec, size, frame count, durations in seconds (for tests and ``diface info``)."""
    import json

    exe = os.environ.get("DIFACE_FFPROBE") or shutil.which("ffprobe")
    if not exe:
        raise VideoError("ffprobe was not found; install ffmpeg (it includes ffprobe)")
    r = subprocess.run([exe, "-v", "error", "-count_frames", "-show_streams", "-show_format", "-of", "json",
                        str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        raise VideoError(f"ffprobe cannot read {path}: {r.stderr.strip()}")
    data = json.loads(r.stdout)
    out: dict = {"format": data.get("format", {}), "streams": data.get("streams", [])}
    for s in data.get("streams", []):
        out.setdefault(s.get("codec_type"), s)
    return out
