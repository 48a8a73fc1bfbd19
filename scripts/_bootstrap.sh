# Sourced by scripts/test.sh and scripts/demo.sh: make ./.venv, install rtaid with its
# test extras, and (re)build the Cython kernels in place for the requested build mode.
# Needs only python3 (with venv) and a C compiler.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${RTAID_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
# Reinstall only when the dependency list changed.
stamp="$VENV/.rtaid-deps"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    # build requirements first: the kernels cimport picows' .pxd
    "$PY" -m pip install -q --upgrade pip setuptools wheel "Cython>=3.1" "picows>=1.6"
    "$PY" -m pip install -q --no-build-isolation -e ".[test]"
    echo "$want" > "$stamp"
fi
# Build mode (RTAID_DEBUG) changes force a full rebuild of the kernels.
mode="release"; [ "${RTAID_DEBUG:-0}" != "0" ] && [ -n "${RTAID_DEBUG:-}" ] && mode="debug"
force=""
if [ ! -f .build-mode ] || [ "$(cat .build-mode)" != "$mode" ]; then force="--force"; fi
"$PY" setup.py -q build_ext --inplace $force >/dev/null
echo "$mode" > .build-mode
export PATH="$VENV/bin:$PATH"
