"""diface: a keyframe editor for speech-driven 3D facial animation.

Layers (each imports only the ones below it)::

    gui     PySide6 + pyqtgraph + vispy
    engine  jobs on a worker thread (no Qt)
    ml      torch: audio encoders, denoiser, diffusion, samplers, bundles
    core    numpy only: Animation, Rig, AudioClip, keyframes, file formats
"""

__version__ = "0.1.0"
