"""A second pass over the BTCUSDT recording allocates nothing: no kernel allocation
(mem.allocation_counts) and no Python memory left behind (tracemalloc), through the
daemon's Engine with its signal tables drained into memory."""
import gc
import tracemalloc

import numpy as np

from rtaid._kernels.engine import Engine
from rtaid._kernels.mem import allocation_counts
from rtaid._kernels.signals import SignalParams
from rtaid.store.memory import MemoryTables
from tests.helpers import BTC_RECORDING, SIGNAL_TABLES, active_config, pack, read_frames


def test_second_pass_allocates_nothing(shared_data):
    params = SignalParams.from_config(active_config().for_symbol("BTCUSDT"), 2, 3)
    engine = Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)}, signal_params={"BTCUSDT": params})
    memory = MemoryTables(engine, SIGNAL_TABLES, ring_records=1 << 17, expected_rows=1 << 17)
    buf, offsets = pack(p for _, p in read_frames(BTC_RECORDING))

    def one_pass():
        engine.reset()
        memory.clear()
        engine.run_frames(buf, offsets, 0)
        engine.finish_signals()
        memory.drain()

    one_pass()
    first = {t: np.array(v, copy=True) for t, v in memory.arrays().items()}
    assert len(first["indicators"]) == 93_949 and len(first["signals"]) > 0

    gc.collect()
    tracemalloc.start()
    try:
        kernel_before = allocation_counts()
        py_before = tracemalloc.get_traced_memory()[0]
        one_pass()
        gc.collect()
        py_after = tracemalloc.get_traced_memory()[0]
        kernel_after = allocation_counts()
    finally:
        tracemalloc.stop()
    assert kernel_after[0] == kernel_before[0] and kernel_after[2] == kernel_before[2]
    print(f"second pass: {py_after - py_before} bytes of Python memory, "
          f"{kernel_after[0] - kernel_before[0]} kernel allocations")
    assert py_after - py_before < 4096, py_after - py_before
    # and the second pass computed the same tables, bit for bit (field by field: the
    # structs' padding bytes are not data)
    for t, v in first.items():
        got = memory.arrays()[t]
        for f in v.dtype.names:
            np.testing.assert_array_equal(np.ascontiguousarray(got[f]).view(np.uint8),
                                          np.ascontiguousarray(v[f]).view(np.uint8),
                                          err_msg=f"{t}.{f}")
