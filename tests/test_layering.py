"""The layering rule: core (numpy) <- ml (torch) <- engine <- gui (Qt). core, ml, engine and the CLI
never import Qt, pyqtgraph or vispy; core never imports torch; nothing below gui imports gui."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "diface_editor"
QT = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph", "vispy", "superqt", "qtpy")
RULES = {
    "core": QT + ("torch", "transformers", "diffusers", "diface_editor.ml", "diface_editor.engine",
                  "diface_editor.gui", "diface_editor.cli", "diface_editor.render", "diface_editor.synth"),
    "ml": QT + ("diface_editor.engine", "diface_editor.gui", "diface_editor.cli"),
    "engine": QT + ("diface_editor.gui", "diface_editor.cli"),
    "cli": QT + ("diface_editor.gui",),
    "synth": QT + ("torch", "transformers", "diffusers", "diface_editor.ml", "diface_editor.engine",
                   "diface_editor.gui", "diface_editor.cli", "diface_editor.render"),
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


@pytest.mark.parametrize("layer", sorted(RULES))
def test_layer_imports_nothing_above_it(layer):
    bad = []
    for path in sorted((PKG / layer).rglob("*.py")):
        for line, mod in _imports(path):
            if any(mod == f or mod.startswith(f + ".") for f in RULES[layer]):
                bad.append(f"{path.relative_to(PKG.parent)}:{line} imports {mod}")
    assert not bad, "layering violations:\n" + "\n".join(bad)


def test_cli_runs_without_qt_loaded():
    code = ("import sys; from diface_editor.cli.main import build_parser; build_parser(); "
            f"bad=[m for m in sys.modules if m.split('.')[0] in {QT!r}]; print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
