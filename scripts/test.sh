#!/usr/bin/env bash
# Run the whole test suite (or the pytest arguments given) in ./.venv, building first.
# RTAID_DEBUG=1 scripts/test.sh tests/kernels  runs the kernel tests on a debug build.
source "$(dirname "${BASH_SOURCE[0]}")/_bootstrap.sh"
set +e
python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure" >&2
    exit 1
fi
exit "$rc"
