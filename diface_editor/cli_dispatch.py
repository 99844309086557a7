"""Whether ``python -m diface_editor ARGS`` means the command line (no Qt, no torch imported here)."""

from __future__ import annotations


def is_cli_command(argv: list[str]) -> bool:
    """True when the first argument after ``-v``/``--verbose`` names a ``diface`` subcommand."""
    rest = list(argv)
    while rest and rest[0] in ("-v", "--verbose"):
        rest.pop(0)
    if not rest:
        return False
    from diface_editor.cli.main import command_names

    return rest[0] in command_names()
