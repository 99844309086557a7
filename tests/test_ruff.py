"""The code passes ``ruff check`` (the rules in pyproject.toml's ``[tool.ruff]``; ruff is pinned in the
``test`` extras). Its findings are the failure message."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> list[str]:
    exe = Path(sys.executable).with_name("ruff")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("ruff")
    assert found, "ruff is not installed: pip install -e '.[test]'"
    return [found]


def test_ruff_check_passes():
    r = subprocess.run([*_ruff(), "check", "--no-cache", "--output-format", "concise", "diface_editor", "tests", "tools"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"ruff check found problems:\n{r.stdout}{r.stderr}"
