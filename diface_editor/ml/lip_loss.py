"""A lip-vertex loss for ARKit face models: the error of the predicted weights measured where it
shows, on the lips of the default head rig.

The plain training loss is a mean squared error on per-channel *normalised* weights, so a rarely
used channel with a small spread (``mouthRollLower``) counts as much as ``jawOpen``, which moves
the lips by centimetres. Lip vertex error (LVE, the field's standard metric) and what a viewer sees
depend on the lip vertices. This term maps the error of the prediction through the rig's
blendshape deltas onto the lip vertices (linear, so cheap: one (C, 3L) matrix) and adds its mean
squared displacement, divided by the training data's lip-vertex variance so it is about 1 for a
prediction as bad as the mean pose.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

log = logging.getLogger(__name__)


class LipVertexLoss:
    """``loss(x0_hat, x0, gen) -> scalar`` on (B, C, T) normalised ARKit weights.

    Args:
        channel_names: the model's C face channels (ARKit names, in its order).
        std: (C,) the normaliser's per-channel std (normalised unit -> weight).
        rig: a :class:`~diface_editor.core.rig.BlendshapeRig` with ``lip_idx``.
        frames: (N, C) raw training weights, to compute the reference variance.
        weight: factor of the term.
    """

    def __init__(self, channel_names: Sequence[str], std: np.ndarray, rig, frames: np.ndarray,
                 weight: float = 1.0):
        names = list(rig.blendshape_names)
        lip = np.asarray(rig.lip_idx)
        if lip.size == 0:
            raise ValueError("the rig has no lip vertices (lip_idx)")
        basis = np.zeros((len(channel_names), lip.size * 3), np.float64)
        for c, n in enumerate(channel_names):
            if n in names:
                basis[c] = rig.deltas[names.index(n)][lip].reshape(-1) * 1000.0  # mm per unit weight
        std = np.asarray(std, np.float64).reshape(-1)
        frames = np.asarray(frames, np.float64)
        if len(frames) > 20000:
            frames = frames[np.linspace(0, len(frames) - 1, 20000).astype(int)]
        disp = (frames - frames.mean(axis=0)) @ basis  # (N, 3L) mm
        ref = float((disp.reshape(len(frames), -1, 3) ** 2).sum(-1).mean())
        self.reference_mm2 = max(ref, 1e-6)
        self.weight = float(weight)
        self.n_lip = int(lip.size)
        self._m = torch.from_numpy((std[:, None] * basis).astype(np.float32))  # normalised unit -> mm
        log.info("lip-vertex loss: %d lip vertices, reference %.3f mm^2, weight %g", self.n_lip,
                 self.reference_mm2, self.weight)

    def __call__(self, x0_hat: torch.Tensor, x0: torch.Tensor, gen: torch.Tensor) -> torch.Tensor:
        m = self._m.to(x0.device, x0.dtype)
        err = torch.einsum("bct,ck->btk", x0_hat - x0, m)  # (B, T, 3L) mm
        sq = (err.reshape(err.shape[0], err.shape[1], -1, 3) ** 2).sum(-1).mean(-1)  # (B, T) mm^2
        frames = (gen.sum(1) > 0).to(x0.dtype)  # frames with a generated entry
        return self.weight * (sq * frames).sum() / frames.sum().clamp_min(1.0) / self.reference_mm2
