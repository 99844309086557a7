"""Compatibility with other research systems' checkpoints (see :mod:`.threediface`)."""
