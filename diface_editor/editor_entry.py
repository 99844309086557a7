"""Entry point of ``diface-editor`` and ``python -m diface_editor``.

Kept free of Qt imports at module level so that ``--help`` works and a missing display gives a
clear message.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from diface_editor.gui.app import main as gui_main

    return gui_main(sys.argv[1:] if argv is None else argv)
