#!/usr/bin/env bash
# The second supported Python: install the package with its test extras into a Python 3.12
# virtualenv (.venv312) and run a small subset of the tests there. The full suite runs on the
# main interpreter (3.11, `make test`); this checks that the pinned stack installs and that
# the package imports and quantizes on 3.12.
#
# The interpreter: $PYTHON312 if set, else `python3.12` on PATH, else pyenv's 3.12. A machine
# with none of them skips the check and says so (exit 0): the 3.11 suite still decides.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV312:-.venv312}
TESTS=(tests/test_import.py tests/test_quantizers.py)

find_python312() {
  local candidate
  for candidate in "${PYTHON312:-}" "$(command -v python3.12 || true)" \
      "$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-${HOME:-/root}/.pyenv}")"/versions/3.12*/bin/python3.12; do
    # pyenv's shim exists even when no 3.12 is installed, so ask the interpreter itself.
    if [ -n "$candidate" ] && [ -x "$candidate" ] \
        && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if ! PY312=$(find_python312); then
  echo "py312: SKIPPED: no Python 3.12 interpreter on this machine (looked for \$PYTHON312," \
       "python3.12 on PATH and pyenv's versions/3.12*); Python 3.11 was checked by make test."
  exit 0
fi
echo "py312: using $PY312 ($("$PY312" --version))"

source .ci/venv.sh
test_venv py312 "$PY312" "$VENV" constraints/tested.txt
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "${TESTS[@]}"
