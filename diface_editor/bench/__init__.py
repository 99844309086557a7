"""Benchmarks behind ``diface bench NAME``. Each module here has ``add_arguments(parser)`` and
``run(args) -> dict``; the CLI prints the dict as one JSON object on stdout.

Modules may import any layer (the ``ui`` benchmarks import Qt lazily); they are only imported when
their benchmark is asked for.
"""

#: benchmark name -> (module, one-line help)
BENCHES: dict[str, tuple[str, str]] = {
    "denoiser": ("diface_editor.bench.denoiser", "denoiser forward and window sampling speed (ms per window)"),
    "rig": ("diface_editor.bench.rig", "rig throughput: ARKit weights (+ head rotation) -> vertices, frames/s"),
    "audio": ("diface_editor.bench.audio", "AudioClip decode/hash/resample/peaks speed on a long clip"),
    "audio-encoders": ("diface_editor.bench.audio_encoders", "audio encoder speed (s per 10 s of audio, cold and cached)"),
}
