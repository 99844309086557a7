"""The 52 ARKit blendshape names (Apple's names, in the column order of Live Link Face CSV files)
and the channel groups the editor pins together."""

from __future__ import annotations

ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawRight", "jawLeft", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthRight", "mouthLeft",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)
assert len(ARKIT_NAMES) == 52

#: Head rotation channel names (axis-angle components, radians) as stored in the native format.
HEAD_NAMES: tuple[str, ...] = ("headRotX", "headRotY", "headRotZ")

#: Channel groups for pinning face keyframes and choosing curves. Every name is in exactly one group.
GROUPS: dict[str, tuple[str, ...]] = {
    "eyes": tuple(n for n in ARKIT_NAMES if n.startswith("eye")),
    "jaw": tuple(n for n in ARKIT_NAMES if n.startswith("jaw")),
    "mouth": tuple(n for n in ARKIT_NAMES if n.startswith("mouth") or n == "tongueOut"),
    "brows": tuple(n for n in ARKIT_NAMES if n.startswith("brow")),
    "cheeks_nose": tuple(n for n in ARKIT_NAMES if n.startswith(("cheek", "nose"))),
}
assert sum(len(v) for v in GROUPS.values()) == 52


def group_indices(group: str, names: tuple[str, ...] = ARKIT_NAMES) -> list[int]:
    """Column indices of ``group`` (a key of :data:`GROUPS`, or ``"all"``) within ``names``."""
    if group == "all":
        return list(range(len(names)))
    if group not in GROUPS:
        raise ValueError(f"unknown channel group {group!r}; choose one of: all, {', '.join(GROUPS)}")
    members = set(GROUPS[group])
    return [i for i, n in enumerate(names) if n in members]
