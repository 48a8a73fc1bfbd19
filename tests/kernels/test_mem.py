"""Kernel allocations: blocks sized for the worst case cost memory only where used.

The books (level pools, event buffers) and the signal windows are allocated at their
capacity; their large blocks are mappings of their own (mem.rt_calloc), whose pages
become resident when written, whatever glibc's mmap threshold is at the time.
"""
import ctypes
import gc

from rtaid._kernels.engine import Engine
from rtaid._kernels.mem import MAP_MIN_BYTES, allocation_counts, mapped_bytes, resident_bytes
from rtaid._kernels.signals import SignalParams
from tests.helpers import active_config

SYMBOLS = [f"S{i}USDT" for i in range(10)]
M_MMAP_THRESHOLD = -3


def rss_kb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_ten_symbols_with_signals_are_resident_only_where_written():
    # the worst case for calloc: a threshold above every block puts them all on the
    # heap, where calloc clears (touches) every page; glibc's own dynamic threshold
    # gets there after any large free (a JSON document, a numpy temporary)
    libc = ctypes.CDLL(None)
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    assert libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
    try:
        params = SignalParams.from_config(active_config().for_symbol("BTCUSDT"), 2, 3)
        gc.collect()
        live_before, mapped_before, rss_before = allocation_counts()[2], mapped_bytes(), rss_kb()
        engine = Engine(SYMBOLS, scales={s: (2, 3) for s in SYMBOLS}, max_levels=5000,
                        buffer_events=4096, signal_params={s: params for s in SYMBOLS})
        grown_kb = rss_kb() - rss_before
        live = allocation_counts()[2] - live_before
        mapped = mapped_bytes() - mapped_before
    finally:
        libc.mallopt(M_MMAP_THRESHOLD, 128 << 10)   # glibc's initial value
    # hundreds of MB allocated (16 MB level buffers per book), nearly all of it mapped
    assert live > 300 << 20 and mapped > 0.95 * live, (live, mapped)
    # resident: the small blocks and the pages written at init (was ~20 MB: every
    # signal window and book pool cleared)
    assert grown_kb < 4 << 10, grown_kb
    del engine
    gc.collect()
    assert allocation_counts()[2] == live_before and mapped_bytes() == mapped_before


def test_small_blocks_stay_with_malloc():
    assert MAP_MIN_BYTES == 64 << 10
    before = mapped_bytes()
    engine = Engine(["BTCUSDT"], max_levels=16, buffer_events=4, buffer_levels=16,
                    max_message_levels=16)
    assert mapped_bytes() == before
    del engine


def test_resident_bytes_counts_the_pages_written(shared_data):
    from tests.helpers import BTC_RECORDING, pack, read_frames
    engine = Engine(["BTCUSDT"])
    before = resident_bytes()
    buf, offsets = pack(p for _, p in read_frames(BTC_RECORDING))
    engine.run_frames(buf, offsets, 0)
    grown = resident_bytes() - before
    # the book's blocks in use and the buffered events before the snapshot: some
    # hundreds of KiB, far from the ~33 MB mapped for the book
    assert 16 << 10 < grown < 8 << 20, grown
    assert engine.book_state(0) == "synced"
