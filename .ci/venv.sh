# Sourced by the CI scripts: a virtualenv with the package and its test extras installed with
# one constraints file, made again only when the interpreter, the package's requirements or the
# constraints changed. pip's output goes to a log, shown only if the install fails.
#
#   test_venv LABEL PYTHON VENV CONSTRAINTS
test_venv() {
  local label=$1 python=$2 venv=$3 constraints=$4
  local stamp="$venv/.installed"
  if [ -f "$stamp" ] && [ ! setup.cfg -nt "$stamp" ] && [ ! pyproject.toml -nt "$stamp" ] \
      && [ ! "$constraints" -nt "$stamp" ] && [ "$(cat "$stamp")" = "$python" ]; then
    return 0
  fi
  rm -rf "$venv"
  "$python" -m venv "$venv"
  if ! { "$venv/bin/python" -m pip install -q --upgrade pip \
         && "$venv/bin/python" -m pip install -q -c "$constraints" -e ".[test]"; } \
         > "$venv/pip.log" 2>&1; then
    tail -n 40 "$venv/pip.log"
    echo "$label: FAILED: pip could not install the package with $constraints on $python" >&2
    exit 1
  fi
  echo "$python" > "$stamp"
}
