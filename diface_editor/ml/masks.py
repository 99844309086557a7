"""Random training masks: which entries of a training window are given clean (known, flag 1).

Kinds (drawn per sample with the probabilities of :class:`MaskConfig`):

* ``"none"``: nothing known, generate the whole window (plain audio-driven synthesis);
* ``"gap"``: one contiguous gap is generated, everything else is known (inpainting / a selected
  range; with ``edge_prob`` the gap touches the start or the end, which is what windowed
  generation with known context looks like);
* ``"keys"``: scattered keyframes are known, the rest is generated;
* ``"groups"``: channel-group masks (face model with per-channel flags): a random proper subset of
  the channel groups (the 5 ARKit groups of :data:`diface_editor.core.arkit.GROUPS`) is either
  known over the whole window (the other groups follow a none/gap/keys mask), or pinned at
  scattered keyframes only (a face keyframe on one group).

All masks are (T, C) bool with True = known, and always leave at least one entry to generate.
Randomness comes only from the ``numpy.random.Generator`` passed in (seeded by the caller).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from diface_editor.core.arkit import GROUPS
from diface_editor.core.strict_dict import from_dict_strict

MASK_KINDS: tuple[str, ...] = ("none", "gap", "keys", "groups")


@dataclass
class MaskConfig:
    """Probabilities and sizes of the random masks.

    Attributes:
        p_none, p_gap, p_keys, p_groups: relative weights of the kinds (normalised; ``p_groups``
            is ignored when no channel groups are given).
        gap_min, gap_max: gap length as a fraction of the window (at least one frame).
        edge_prob: probability that a gap touches the window's start or end.
        keys_max_frac: at most this fraction of the frames are keyframes (at least 1 keyframe).
    """

    p_none: float = 0.3
    p_gap: float = 0.35
    p_keys: float = 0.2
    p_groups: float = 0.15
    gap_min: float = 0.1
    gap_max: float = 0.9
    edge_prob: float = 0.3
    keys_max_frac: float = 0.15

    def __post_init__(self) -> None:
        ps = (self.p_none, self.p_gap, self.p_keys, self.p_groups)
        if any(p < 0 for p in ps) or sum(ps) <= 0:
            raise ValueError("mask probabilities must be >= 0 and not all 0")
        if not 0 < self.gap_min <= self.gap_max <= 1:
            raise ValueError("need 0 < gap_min <= gap_max <= 1")
        if not 0 <= self.edge_prob <= 1 or not 0 < self.keys_max_frac <= 1:
            raise ValueError("edge_prob must be in [0, 1] and keys_max_frac in (0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MaskConfig:
        return from_dict_strict(cls, d, "mask config")


def arkit_groups(channel_names: Sequence[str]) -> list[list[int]]:
    """Column indices of each ARKit channel group present in ``channel_names`` (non-empty groups)."""
    index = {n: i for i, n in enumerate(channel_names)}
    out = [[index[n] for n in members if n in index] for members in GROUPS.values()]
    return [g for g in out if g]


def gap_frames(rng: np.random.Generator, T: int, cfg: MaskConfig) -> np.ndarray:
    """(T,) bool, True inside one random contiguous gap (1..T frames)."""
    n = int(np.clip(round(rng.uniform(cfg.gap_min, cfg.gap_max) * T), 1, T))
    if rng.random() < cfg.edge_prob:
        start = 0 if rng.random() < 0.5 else T - n
    else:
        start = int(rng.integers(0, T - n + 1))
    g = np.zeros(T, bool)
    g[start:start + n] = True
    return g


def key_frames(rng: np.random.Generator, T: int, cfg: MaskConfig) -> np.ndarray:
    """(T,) bool, True at 1..max(1, keys_max_frac*T) random frames (never all T frames)."""
    if T < 2:
        return np.zeros(T, bool)
    k_max = max(1, min(T - 1, int(round(cfg.keys_max_frac * T))))
    k = int(rng.integers(1, k_max + 1))
    m = np.zeros(T, bool)
    m[rng.choice(T, size=k, replace=False)] = True
    return m


def random_mask(rng: np.random.Generator, n_frames: int, n_channels: int, cfg: MaskConfig | None = None,
                groups: Sequence[Sequence[int]] | None = None, kind: str | None = None) -> np.ndarray:
    """One random known-mask.

    Args:
        rng: the random source.
        n_frames, n_channels: T and C.
        cfg: probabilities and sizes.
        groups: channel groups (lists of column indices) for the ``"groups"`` kind; ``None`` or
            fewer than 2 groups disables it (per-frame masks only, e.g. the head model).
        kind: force one of :data:`MASK_KINDS` instead of drawing it.
    Returns:
        (T, C) bool, True = known. At least one entry is False.
    """
    cfg = cfg or MaskConfig()
    T, C = int(n_frames), int(n_channels)
    use_groups = groups is not None and len(groups) >= 2
    if kind is None:
        p = np.array([cfg.p_none, cfg.p_gap, cfg.p_keys, cfg.p_groups if use_groups else 0.0])
        kind = MASK_KINDS[int(rng.choice(4, p=p / p.sum()))]
    elif kind not in MASK_KINDS:
        raise ValueError(f"unknown mask kind {kind!r}")
    if kind == "groups" and not use_groups:
        kind = "keys"
    m = np.zeros((T, C), bool)
    if kind == "gap":
        m[~gap_frames(rng, T, cfg)] = True
    elif kind == "keys":
        m[key_frames(rng, T, cfg)] = True
    elif kind == "groups":
        n_known = int(rng.integers(1, len(groups)))
        chosen = rng.choice(len(groups), size=n_known, replace=False)
        cols = np.concatenate([np.asarray(groups[i], int) for i in chosen])
        if rng.random() < 0.5:   # some groups known everywhere, the others from a per-frame mask
            base = random_mask(rng, T, C, cfg, None, kind=str(rng.choice(["none", "gap", "keys"])))
            m = base
            m[:, cols] = True
        else:                    # keyframes pinning only the chosen groups
            m[np.ix_(key_frames(rng, T, cfg), cols)] = True
    if m.all():  # keep something to generate
        m[int(rng.integers(0, T)), :] = False
    return m


def random_masks(rng: np.random.Generator, batch: int, n_frames: int, n_channels: int,
                 cfg: MaskConfig | None = None, groups: Sequence[Sequence[int]] | None = None) -> np.ndarray:
    """(B, T, C) bool: :func:`random_mask` for each sample of a batch."""
    return np.stack([random_mask(rng, n_frames, n_channels, cfg, groups) for _ in range(batch)])
