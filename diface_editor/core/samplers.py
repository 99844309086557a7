"""Names of the diffusion samplers, shared by documents, requests, the CLI and :mod:`diface_editor.ml.sampling`.

``ddpm``: ancestral sampling over every training step (3DiFACE's reference, slow); ``ddim`` and
``dpmpp`` (DPM-Solver++(2M)): few-step samplers; ``student``: one call of the model's distilled
one-step student (:mod:`diface_editor.ml.distill`; models that ship one).
"""

from __future__ import annotations

SAMPLERS: tuple[str, ...] = ("ddpm", "ddim", "dpmpp", "student")
