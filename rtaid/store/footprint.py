"""Where the daemon's memory is (its footprint), and giving back what the allocators keep.

:func:`breakdown` splits the resident set (``VmRSS``) into what the store can count
exactly (its rings, the records it buffers, pyarrow's allocations, the kernels' own
allocations) and what the allocators report (CPython's small-object arenas, the C heap
in use and kept free), leaving "rest" as what none of them explains (thread stacks,
the interpreter's static data, free pages the allocators keep for reuse).

:func:`release` hands free memory back to the OS: pyarrow's pool (glibc's once
:func:`tune_allocator` ran) and glibc's heaps (``malloc_trim``), whose free chunks
otherwise stay resident after the writer's peaks (a large row group, a compaction).
"""
from __future__ import annotations

import ctypes
import os
import re
import sys
import tempfile

import pyarrow as pa

MIB = 1 << 20
# what breakdown() splits the RSS into (its other keys are details of these)
MAIN_PARTS = ("libraries", "rings", "writer", "engine", "python_heap", "rest")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


try:
    _libc = ctypes.CDLL(None)
    _mallinfo2 = _libc.mallinfo2
    _mallinfo2.restype = _MallInfo2
    _malloc_trim = _libc.malloc_trim
    _malloc_trim.argtypes = [ctypes.c_size_t]
    _mallopt = _libc.mallopt
    _mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
except (OSError, AttributeError):  # pragma: no cover - not glibc >= 2.33
    _mallinfo2 = _malloc_trim = _mallopt = None


def arrow_without_pandas() -> bool:
    """Keep pyarrow from importing pandas (~40 MB of RSS) for nothing.

    The first ``pyarrow.array(numpy_array)`` asks pyarrow's lazy pandas importer whether
    the array is a pandas object, which imports pandas when it is installed. Asked once
    while ``import pandas`` fails, the importer remembers that there is none; an explicit
    pandas conversion (``Table.to_pandas``) still imports it then. Returns False when
    pandas is imported already (nothing to save) or pyarrow's internals differ.
    """
    if "pandas" in sys.modules:
        return False
    sys.modules["pandas"] = None   # makes ``import pandas`` raise ImportError
    try:
        return not pa.lib._pandas_api.have_pandas
    except AttributeError:  # pragma: no cover - another pyarrow
        return False
    finally:
        del sys.modules["pandas"]


def status_kb(pid: int | str = "self") -> dict[str, int]:
    """``VmRSS``, ``RssAnon``, ``RssFile``... of ``/proc/<pid>/status`` in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(("Vm", "Rss")):
                key, _, value = line.partition(":")
                out[key] = int(value.split()[0])
    return out


def pymalloc_bytes() -> int:
    """Bytes of CPython's small-object arenas (objects of at most 512 bytes).

    ``sys._debugmallocstats()`` is the only interface and prints to the C stderr: it
    is pointed at a temporary file for the call (a few milliseconds)."""
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(2)
        try:
            sys.stderr.flush()
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode("ascii", "replace")
    match = re.search(r"\d+ arenas \* \d+ bytes/arena\s*=\s*([\d,]+)", text)
    return int(match.group(1).replace(",", "")) if match else 0


def malloc_info() -> tuple[int, int]:
    """glibc heap bytes ``(in use, free but kept)``; (0, 0) without mallinfo2."""
    if _mallinfo2 is None:
        return 0, 0
    info = _mallinfo2()
    return info.uordblks + info.hblkhd, info.fordblks


def release() -> None:
    """Return free memory to the OS: pyarrow's pool, then glibc's heaps."""
    pa.default_memory_pool().release_unused()
    if _malloc_trim is not None:
        _malloc_trim(0)


# glibc mallopt parameters
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 4 << 20
TRIM_THRESHOLD = 4 << 20
ARENA_MAX = 1


def tune_allocator() -> bool:
    """Make glibc give freed memory back (process-wide; the daemon's store calls it).

    By default glibc raises its mmap threshold to the size of the largest block freed
    (up to 32 MiB) and its trim threshold with it: after the writer's first large
    arrays (an hourly compaction, a burst), blocks of tens of MiB are carved from a
    heap that keeps what it freed. Fixed thresholds of 4 MiB keep larger blocks in
    their own mappings, unmapped when freed, and let the heap keep at most 4 MiB free
    at its top between the store's :func:`release` calls (``malloc_trim``, at most
    every 0.25 s after the writer wrote), which give that back too.

    Why 4 MiB and not less: below it are the writer's own buffers (at most
    ``buffer_bytes`` of records, a row group's columns, the encoders' pages). With
    64 KiB / 128 KiB thresholds each of them was mapped, page-faulted and unmapped
    again at every row group: bench/store.py's writer lost half its rows/s to page
    faults (its flush alone, ad hoc: 50,000-75,000 faults a pass at 64 KiB, ~12,000
    at 1 MiB, ~2,000 at 4 MiB; the README's store table: 1.1 M rows/s before, 2.6-3.0 M
    after). Memory: docs/operating.md (the soaks).

    pyarrow allocates through glibc too (its system pool, process-wide): after the
    writer thread compacted an hour of one symbol (950 files), mimalloc kept ~9 MiB
    more resident than before, after ``release_unused()`` and with
    MIMALLOC_PURGE_DELAY=0, and the soak's RSS stepped up by that at the first hourly
    compaction and stayed; glibc kept 0.5-3 MiB (same files, same process, release()
    after each; ad hoc runs, two to three per pool). bench/store.py's writer rows/s were within its
    run-to-run noise of mimalloc's (zstd 1.04-2.03 M against 1.07-2.11 M, pairs of
    runs on the 2-core box).

    One arena for every thread (``M_ARENA_MAX``): glibc gives each thread that
    allocates an arena of its own, where the writer's buffers, Arrow's and the
    encoders' allocations, freed in another order than made, left free memory in
    partly used pages that ``malloc_trim`` cannot give back. Two-symbol daemons side by
    side against rtaid-sim, 4 minutes, one run each (ad hoc; glibc's malloc_stats by
    gdb): the writer's arena held 10.4 MB, 3.6 MB of it in use and 8.3 MB resident, and
    the anonymous RSS went 44.9 -> 48.3 MiB; with one arena 43.7 -> 44.4 MiB, its heap
    0.2 MB above what was in use. (The 60-minute soaks at c7aec25 rose ~1.1 % over their
    first 25 minutes, in the split's `rest`.) The threads that share it: the writer, the
    snapshot fetches, the metrics server; the hot path allocates nothing from glibc.
    """
    if _mallopt is None:
        return False
    pa.set_memory_pool(pa.system_memory_pool())
    return (bool(_mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
            and bool(_mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
            and bool(_mallopt(M_ARENA_MAX, ARENA_MAX)))


def breakdown(*, rings: int, buffered: int, arrow: int, metadata: int, kernels: int,
              engine: int = 0, python_heap: bool = True) -> dict[str, int]:
    """The resident set split by owner, in bytes.

    Parameters
    ----------
    rings : int
        The store's rings (record and journal rings; the kernels allocate them and
        touch every page at start).
    buffered : int
        Drained records waiting for their row group (and the journal's drain buffer).
    arrow : int
        pyarrow's allocated bytes (encoding, compaction).
    metadata : int
        The open part files' footer metadata (an estimate: C++ objects on the heap).
    kernels : int
        What the Cython kernels allocated with malloc (their small blocks; the large
        ones, rings, books and signal windows, have their own mappings, touched as
        they are used: ``engine``).
    engine : int
        Resident bytes of the kernels' mapped blocks but the rings: the books, the
        signal windows, the decoder's buffers (``rtaid._kernels.mem.resident_bytes``).
    python_heap : bool
        Also measure CPython's arenas (a few ms: not on a hot path).

    Returns
    -------
    dict
        ``rss``; ``libraries`` (resident pages of mapped files: the interpreter's and
        shared libraries' code and data); ``rings``; ``writer`` (buffered records,
        pyarrow's allocations, the open part files' metadata); ``engine``;
        ``python_heap`` (CPython's small-object arenas plus the C heap in use outside
        the kernels and the buffered records: Python's larger objects, libraries'
        allocations); ``rest`` (thread stacks, the interpreter's static data, free
        memory the allocators keep until :func:`release`).
    """
    status = status_kb()
    rss = status.get("VmRSS", 0) * 1024
    in_use, _ = malloc_info()
    pymalloc = pymalloc_bytes() if python_heap else 0
    # glibc counts the kernels' small allocations, numpy's buffers and the open files'
    # metadata as in use (the kernels' large blocks, rings included, are mappings of
    # their own: not in it)
    if pa.default_memory_pool().backend_name == "system":
        in_use -= arrow   # Arrow's buffers are malloc'd too
    other_malloc = max(in_use - kernels - buffered - metadata, 0)
    parts = {
        "libraries": status.get("RssFile", 0) * 1024,
        "rings": rings,
        "writer": buffered + arrow + metadata,
        "engine": engine,
        "python_heap": pymalloc + other_malloc,
    }
    parts["rest"] = rss - sum(parts.values())
    # details (already counted above)
    details = {"writer_buffered": buffered, "writer_arrow": arrow, "writer_metadata": metadata,
               "pymalloc": pymalloc}
    return {"rss": rss, **parts, **details}


def text(parts: dict[str, int]) -> str:
    """``rss 112M = libraries 50M + rings 8M + ...`` for logs and the soak."""
    items = " + ".join(f"{k} {parts[k] / MIB:.1f}M" for k in MAIN_PARTS)
    return f"rss {parts['rss'] / MIB:.1f}M = {items}"
