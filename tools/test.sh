#!/usr/bin/env bash
# Install what is missing, then run the test suite (pytest exit code 5, "no tests", counts as failure
# only when tests were expected; we always have tests, so it is turned into a clear message).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup.sh || exit $?
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-xcb}"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
if [ $rc -eq 5 ]; then echo "diface tests: pytest collected no tests"; exit 1; fi
exit $rc
