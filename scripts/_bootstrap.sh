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
# The installers' and the compiler's output goes to logs (shown when a step fails).
install_log="$VENV/rtaid-install.log"
build_log="$ROOT/.build.log"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "rtaid: installing dependencies into $VENV (log: $install_log)" >&2
    # build requirements first: the kernels cimport picows' .pxd
    if ! { "$PY" -m pip install -q --upgrade pip setuptools wheel "Cython>=3.1" "picows>=1.6" &&
           "$PY" -m pip install -q --no-build-isolation -e ".[test]"; } >"$install_log" 2>&1; then
        tail -n 40 "$install_log" >&2
        echo "rtaid: installing the dependencies failed; the whole log: $install_log" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi
# Build mode (RTAID_DEBUG) changes force a full rebuild of the kernels.
mode="release"; [ "${RTAID_DEBUG:-0}" != "0" ] && [ -n "${RTAID_DEBUG:-}" ] && mode="debug"
force=""
if [ ! -f .build-mode ] || [ "$(cat .build-mode)" != "$mode" ]; then force="--force"; fi
if ! "$PY" setup.py -q build_ext --inplace $force >"$build_log" 2>&1; then
    tail -n 40 "$build_log" >&2
    echo "rtaid: building the Cython kernels failed; the whole log: $build_log" >&2
    exit 1
fi
echo "$mode" > .build-mode
# Bytecode for the package, as pip writes it for an installed one: where
# PYTHONDONTWRITEBYTECODE is set (CI), every daemon and test process compiled every
# rtaid module from source, in time and in the heap (the soak's figures included).
"$PY" -m compileall -q -j 0 rtaid >/dev/null
export PATH="$VENV/bin:$PATH"
