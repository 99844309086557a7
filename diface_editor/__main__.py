"""``python -m diface_editor`` opens the editor (same as ``diface-editor``)."""

from diface_editor.editor_entry import main

if __name__ == "__main__":
    raise SystemExit(main())
