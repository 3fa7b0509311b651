#!/usr/bin/env bash
# The package as a user gets it: build the wheel and the sdist, check their metadata, check
# that the base install pulls none of the extras' heavy packages, then install the wheel (not
# the checkout) into a fresh virtualenv and run the tests against it, from a copy of the
# repository without the package's source, so that `import adaste_tf` can only find the wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DIST=$(mktemp -d)
WORK=$(mktemp -d)
VENV=${VENV_WHEEL:-.venv-wheel}
LOG=$(mktemp)
trap 'rm -rf "$DIST" "$WORK" "$LOG"' EXIT
quiet() { "$@" > "$LOG" 2>&1 || { tail -n 40 "$LOG"; echo "wheel: FAILED: $*" >&2; exit 1; }; }
quiet "$PY" -m pip install -q -c constraints/tested.txt -e ".[dev]"   # build, twine

quiet "$PY" -m build --outdir "$DIST" .
"$PY" -m twine check --strict "$DIST"/*
wheel=$(ls "$DIST"/*.whl)

# The base install: what `pip install adaste_tf` would resolve, without installing it.
quiet "$PY" -m pip install -q --dry-run --ignore-installed --report "$WORK/base.json" "$wheel"
"$PY" - "$WORK/base.json" <<'PYTHON'
import json, sys
names = sorted(item["metadata"]["name"].lower().replace("_", "-")
               for item in json.load(open(sys.argv[1]))["install"])
heavy = {"tensorflow-datasets", "matplotlib", "larq-compute-engine", "pyarrow"} & set(names)
print(f"wheel: the base install resolves {len(names)} packages")
if heavy:
    sys.exit(f"wheel: FAILED: the base install pulls {sorted(heavy)}")
PYTHON

rm -rf "$VENV"
python3 -m venv "$VENV"
quiet "$VENV/bin/python" -m pip install -q --upgrade pip
quiet "$VENV/bin/python" -m pip install -q -c constraints/tested.txt "$wheel[test]"
rm -f "$WORK/base.json"
git ls-files -z | grep -zv '^adaste_tf/' | xargs -0 cp --parents -t "$WORK"
cd "$WORK"
where=$("$OLDPWD/$VENV/bin/python" -c 'import adaste_tf; print(adaste_tf.__file__)')
case "$where" in
  *site-packages*) echo "wheel: testing $where" ;;
  *) echo "wheel: FAILED: adaste_tf imported from $where, not the installed wheel" >&2; exit 1 ;;
esac
"$OLDPWD/$VENV/bin/python" -m pytest -q -p no:cacheprovider --numprocesses=auto \
    --maxprocesses=4 -m "not slow" tests
