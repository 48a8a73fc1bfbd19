"""daemon.cpu_dma_latency_us: the daemon holds a CPU wake-up latency limit on the
kernel's PM QoS device for as long as it runs (the kernel's own aggregate, read back
from the device, is what these tests check), and refuses to start when it cannot."""
import json
import os
import subprocess
import sys

import pytest

from rtaid.infra.cpu_latency import (DEVICE, CpuLatencyError, current_cpu_latency_us,
                                     hold_cpu_latency)
from tests.helpers import ROOT, NotifySocket, daemon_args, daemon_env, stop_process

# the device is root's (0600) unless a udev rule says otherwise; CI runs as root
needs_device = pytest.mark.skipif(not os.access(DEVICE, os.R_OK | os.W_OK),
                                  reason=f"{DEVICE} not readable and writable here")


def unheld_limit() -> int:
    """The limit in force before a test's request; a test needs it above what it asks."""
    before = current_cpu_latency_us()
    if before <= 10:
        pytest.skip(f"another process holds {DEVICE} at {before} us")
    return before


@needs_device
def test_a_hold_sets_the_kernels_limit_and_closing_it_drops_it():
    before = unheld_limit()
    fd = hold_cpu_latency(7)
    try:
        assert current_cpu_latency_us() == 7
        second = hold_cpu_latency(0)         # the most demanding holder wins
        assert current_cpu_latency_us() == 0
        os.close(second)
        assert current_cpu_latency_us() == 7
    finally:
        os.close(fd)
    assert current_cpu_latency_us() == before


def test_what_cannot_hold_a_limit_is_named(tmp_path):
    missing = tmp_path / "cpu_dma_latency"
    with pytest.raises(CpuLatencyError, match=f"{missing}: No such file"):
        hold_cpu_latency(0, str(missing))
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    with pytest.raises(CpuLatencyError, match="not a character device"):
        hold_cpu_latency(0, str(plain))
    assert plain.read_bytes() == b""         # nothing written to what is not the device
    # a file no one may write (root included: sysfs refuses a write-less attribute)
    read_only = "/sys/class/misc/cpu_dma_latency/dev"
    if os.path.exists(read_only):
        with pytest.raises(CpuLatencyError, match="Permission denied .*root, or a udev rule"):
            hold_cpu_latency(0, read_only)
    with pytest.raises(CpuLatencyError, match="outside"):
        hold_cpu_latency(-1, str(plain))


@needs_device
def test_the_daemon_holds_the_limit_while_it_runs(sim_port, tmp_path):
    before = unheld_limit()
    notify = NotifySocket(tmp_path / "notify")
    args = daemon_args(sim_port, tmp_path) + ["--set", "daemon.cpu_dma_latency_us=0"]
    proc = subprocess.Popen(args, cwd=ROOT, env=daemon_env(tmp_path, notify),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert notify.wait_for("READY=1", 60), notify.messages
        held = current_cpu_latency_us()
        status, shown = (subprocess.run([sys.executable, "-m", "rtaid.ctl", "--socket",
                                         str(tmp_path / "rtaid.sock"), "status", *fmt],
                                        cwd=ROOT, capture_output=True, text=True, timeout=30)
                         for fmt in (["--json"], []))
    finally:
        out = stop_process(proc)
    assert proc.returncode == 0, out[-3000:]
    assert held == 0
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["cpu_dma_latency_us"] == 0
    assert "cpu wake-up latency limit held: 0 us (daemon.cpu_dma_latency_us)" in shown.stdout
    assert '"event": "cpu_dma_latency"' in out and '"us": 0' in out
    assert current_cpu_latency_us() == before       # dropped with the process


def test_a_daemon_that_cannot_hold_the_limit_does_not_start(sim_port, tmp_path):
    """As in a container without the device: exit 2, the key and the device named."""
    notify = NotifySocket(tmp_path / "notify")
    missing = tmp_path / "no-device"
    run = daemon_args(sim_port, tmp_path)[4:] + ["--set", "daemon.cpu_dma_latency_us=0"]
    code = ("import sys, rtaid.infra.cpu_latency as c; c.DEVICE = sys.argv[1]; "
            "from rtaid.cli import main; sys.exit(main(['run', *sys.argv[2:]]))")
    out = subprocess.run([sys.executable, "-c", code, str(missing), *run], cwd=ROOT,
                         env=daemon_env(tmp_path, notify), capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
    assert f"daemon.cpu_dma_latency_us = 0: {missing}: No such file or directory" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert not notify.wait_for("READY=1", 0.5)
