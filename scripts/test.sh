#!/usr/bin/env bash
# Run the whole test suite (or the pytest arguments given) in ./.venv, building first.
# RTAID_DEBUG=1 scripts/test.sh tests/kernels  runs the kernel tests on a debug build.
#
# The whole suite runs in two pytest processes at once ("lanes"): much of it waits on
# daemons, simulators and wall-clock windows rather than computing, so two lanes on two
# cores take about two thirds of the time of one. The lanes split by directory so that
# what must not run twice at once stays in one lane: the tests that pip- or apt-get
# install extras into ./.venv or the system (ai, dashboard, monitoring, bench) and the
# freqtrade venv are all in lane A. tests/test_install.py (a venv of its own, ~1.5 min)
# runs in lane B: in A it made that lane ~3 minutes the longer one.
# RTAID_TEST_LANES=1 runs the suite in one process.
source "$(dirname "${BASH_SOURCE[0]}")/_bootstrap.sh"
set +e

LANE_A=(tests/bench tests/ai tests/dashboard tests/monitoring tests/freqtrade)

pytest_status() {   # pytest's exit status, with "no tests collected" a failure
    if [ "$1" -eq 5 ]; then
        echo "pytest collected no tests: that is a failure" >&2
        return 1
    fi
    return "$1"
}

if [ "$#" -gt 0 ] || [ "${RTAID_TEST_LANES:-2}" = "1" ]; then
    python -m pytest "$@"
    pytest_status $?
    exit $?
fi

lanes="$(mktemp -d "${TMPDIR:-/tmp}/rtaid-lanes.XXXXXX")"
ignore=()
for path in "${LANE_A[@]}"; do ignore+=(--ignore="$path"); done
echo "rtaid: the suite in two lanes (logs: $lanes/a.log, $lanes/b.log)" >&2
python -m pytest -p no:cacheprovider --basetemp="$lanes/tmp-a" "${LANE_A[@]}" \
    >"$lanes/a.log" 2>&1 &
pid_a=$!
python -m pytest -p no:cacheprovider --basetemp="$lanes/tmp-b" tests "${ignore[@]}" \
    >"$lanes/b.log" 2>&1 &
pid_b=$!
wait "$pid_a"; rc_a=$?
wait "$pid_b"; rc_b=$?
for lane in a b; do
    echo "================================ lane ${lane^^} ================================"
    cat "$lanes/$lane.log"
done
pytest_status "$rc_a"; rc_a=$?
pytest_status "$rc_b"; rc_b=$?
echo "rtaid: lane A exit $rc_a, lane B exit $rc_b" >&2
rm -rf "$lanes/tmp-a" "$lanes/tmp-b"
[ "$rc_a" -eq 0 ] && [ "$rc_b" -eq 0 ]
