"""``python -m diface_editor`` opens the editor (same as ``diface-editor``);
``python -m diface_editor COMMAND ...`` with a ``diface`` command (``train``, ``generate``, ...)
runs the command line instead, so ``torchrun ... -m diface_editor train --config F`` works."""

import sys


def _main() -> int:
    from diface_editor.cli_dispatch import is_cli_command

    if is_cli_command(sys.argv[1:]):
        from diface_editor.cli.main import main as cli_main

        return cli_main(sys.argv[1:])
    from diface_editor.editor_entry import main

    return main()


if __name__ == "__main__":
    raise SystemExit(_main())
