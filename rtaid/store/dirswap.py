"""Atomic exchange of two directories (Linux ``renameat2(RENAME_EXCHANGE)``).

Compaction replaces several files of a partition directory by one. No sequence of
renames does that atomically, but swapping the whole directory for a prepared copy
does: the copy holds hard links to every file that stays plus the new one, and one
``renameat2`` call exchanges the two names. Readers and a crash see the old directory
or the new one, never a mix. Supported by ext4, xfs, btrfs, tmpfs, overlayfs and f2fs
(Linux >= 3.15, glibc >= 2.28); :func:`exchange_supported` probes a directory.
"""
from __future__ import annotations

import ctypes
import errno
import os

AT_FDCWD = -100
RENAME_EXCHANGE = 1 << 1
PROBE_NAME = r"^\.swap-probe-(\d+)-[ab]$"   # the probe's directories (pid)

try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _renameat2 = _libc.renameat2
    _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                           ctypes.c_uint]
    _renameat2.restype = ctypes.c_int
except (OSError, AttributeError):  # pragma: no cover - not glibc / too old
    _renameat2 = None


def exchange(a: str, b: str) -> None:
    """Swap the names ``a`` and ``b`` (both must exist) in one atomic step."""
    if _renameat2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available", a)
    if _renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), a, None, b)


def exchange_supported(directory: str) -> str | None:
    """None if :func:`exchange` and hard links work in ``directory``, else the reason."""
    a = os.path.join(directory, f".swap-probe-{os.getpid()}-a")
    b = os.path.join(directory, f".swap-probe-{os.getpid()}-b")
    try:
        os.makedirs(a, exist_ok=True)
        os.makedirs(b, exist_ok=True)
        with open(os.path.join(a, "f"), "wb"):
            pass
        os.link(os.path.join(a, "f"), os.path.join(b, "g"))
        exchange(a, b)
        if not os.path.exists(os.path.join(a, "g")):
            return "renameat2(RENAME_EXCHANGE) did not exchange the directories"
        return None
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        for d in (a, b):
            for name in ("f", "g"):
                try:
                    os.unlink(os.path.join(d, name))
                except OSError:
                    pass
            try:
                os.rmdir(d)
            except OSError:
                pass
