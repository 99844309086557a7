"""Benchmarks behind ``diface bench NAME``. Each module here has ``add_arguments(parser)`` and
``run(args) -> dict``; the CLI prints the dict as one JSON object on stdout.

Modules may import any layer (the ``ui`` benchmarks import Qt lazily); they are only imported when
their benchmark is asked for.
"""

#: benchmark name -> (module, one-line help)
BENCHES: dict[str, tuple[str, str]] = {
    "sampling": ("diface_editor.bench.sampling", "DDPM-1000 vs DDIM/DPM-Solver++ on a 10 s clip: wall time, speedup, LVE gap"),
    "edit": ("diface_editor.bench.edit", "local edit latency (p50/p95 ms) in a 10 s and a 10 min clip"),
    "denoiser": ("diface_editor.bench.denoiser", "denoiser forward and window sampling speed (ms per window)"),
    "rig": ("diface_editor.bench.rig", "rig throughput: ARKit weights (+ head rotation) -> vertices, frames/s"),
    "audio": ("diface_editor.bench.audio", "AudioClip decode/hash/resample/peaks speed on a long clip"),
    "audio-encoders": ("diface_editor.bench.audio_encoders", "audio encoder speed (s per 10 s of audio, cold and cached)"),
    "edit-gui": ("diface_editor.bench.edit_gui",
                 "editor keyframe drag: ms to the final result in the viewport and to the first preview (2 s window)"),
    "ui": ("diface_editor.bench.ui",
           "editor feel: timeline fps on 10 min, viewport frame ms, playback drift, GUI stall while generating"),
}
