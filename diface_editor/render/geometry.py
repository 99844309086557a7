"""Re-exports the numpy mesh helpers, which live in :mod:`diface_editor.core.geometry` (core formats
such as glTF use them too)."""

from diface_editor.core.geometry import PART_COLOURS, vertex_colours, vertex_normals

__all__ = ["PART_COLOURS", "vertex_colours", "vertex_normals"]
