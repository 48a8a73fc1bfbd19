"""A CPU wake-up latency limit held for the daemon's life (``daemon.cpu_dma_latency_us``).

Between frames the event loop sleeps in ``epoll_wait`` and an idle CPU halts (a VM's
haltpoll driver) or drops into a C-state (bare metal). The frame that wakes it finds
the frame path's code and data cold: on the bench machine the first frame after a
sleep took several times the same frame's time back to back, and that frame is the one
whose order is timed (bench/cold.py; docs/operating.md, "Keeping idle CPUs awake").
Linux's PM QoS interface takes a limit on the CPUs' wake-up latency: the idle governor
then picks only idle states that wake within it, and 0 keeps idle CPUs polling (no
halt, no C-state; busy for the hypervisor and the power budget even when the daemon is
idle, though ``top`` counts the time idle: the price of the setting).

The kernel keeps a request while the file descriptor that made it stays open and drops
it when the process exits, however it exits: there is nothing to undo. The limit is
system-wide (every CPU, the most demanding holder wins), as tuned's latency-performance
profile sets it.
"""
from __future__ import annotations

import os
import stat
import struct

DEVICE = "/dev/cpu_dma_latency"
# the request and the device's reply: one native signed 32-bit integer, microseconds
_VALUE = struct.Struct("=i")
# the largest limit taken: the kernel's own value when no one holds one (no limit)
MAX_US = 2_000_000_000


class CpuLatencyError(Exception):
    """The limit could not be set (the message names the device and why)."""


def hold_cpu_latency(us: int, device: str | None = None) -> int:
    """Request a wake-up latency limit of ``us`` microseconds on ``device`` (default
    :data:`DEVICE`); return the descriptor that holds it (keep it open for as long as
    the limit should hold)."""
    device = device or DEVICE
    if not 0 <= us <= MAX_US:
        raise CpuLatencyError(f"{us} us is outside 0..{MAX_US}")
    try:
        fd = os.open(device, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        hint = ""
        if exc.errno in (1, 13):        # EPERM, EACCES
            hint = (" (root, or a udev rule giving the daemon's group write access, and "
                    "a unit that lets it see the device: systemd/cpu-latency.conf)")
        raise CpuLatencyError(f"{device}: {exc.strerror}{hint}") from None
    try:
        if not stat.S_ISCHR(os.fstat(fd).st_mode):
            raise CpuLatencyError(f"{device}: not a character device (the kernel's PM QoS "
                                  f"interface is)")
        os.write(fd, _VALUE.pack(us))
    except OSError as exc:
        os.close(fd)
        raise CpuLatencyError(f"{device}: {exc.strerror}") from None
    except CpuLatencyError:
        os.close(fd)
        raise
    return fd


def current_cpu_latency_us(device: str | None = None) -> int:
    """The limit in force (the most demanding request of all holders; 2,000,000,000
    when none holds one). Reading needs read access to the device."""
    with open(device or DEVICE, "rb") as fh:
        return _VALUE.unpack(fh.read(_VALUE.size))[0]
