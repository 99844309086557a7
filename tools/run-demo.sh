#!/usr/bin/env bash
# Open the diface editor on the shipped demo (installs what is missing first, via tools/setup.sh).
#
#   tools/run-demo.sh                          # the demo (resources/demo/)
#   tools/run-demo.sh my_voice.wav             # your own audio or .diface project
#   tools/run-demo.sh --screenshot editor.png  # a picture of the editor, also without a display
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup.sh

if [ -x .venv/bin/diface-editor ]; then
  EDITOR_CMD=(.venv/bin/diface-editor)
else
  EDITOR_CMD=(.venv/bin/python -m diface_editor)
fi

wants_screenshot=0
for a in "$@"; do [ "$a" = "--screenshot" ] && wants_screenshot=1; done

if [ "$(uname -s)" = "Linux" ] && [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ "$wants_screenshot" = 0 ]; then
  cat >&2 <<MSG
diface: no display found (DISPLAY is not set), so the editor window cannot open here.
  - On a desktop, run this script from a terminal inside the desktop session (or ssh -X).
  - Without a screen, run the editor on a virtual display:
        xvfb-run -a -s "-screen 0 1600x1000x24" ${EDITOR_CMD[*]}
  - Or take a picture of the editor on the demo:
        tools/run-demo.sh --screenshot editor.png
MSG
  exit 2
fi
exec "${EDITOR_CMD[@]}" "$@"
