"""A second pass over the BTCUSDT recording allocates nothing: no kernel allocation
(mem.allocation_counts) and no Python memory left behind (tracemalloc)."""
import gc
import tracemalloc

import numpy as np

from rtaid._kernels.mem import allocation_counts
from rtaid._kernels.signals import SignalDriver, pack_frames, read_recording_frames, resolve_params
from tests.conftest import BTC_RECORDING
from tests.signals.conftest import ACTIVE


def test_second_pass_allocates_nothing(shared_data):
    params, l1_book, file_symbol = resolve_params([BTC_RECORDING], ACTIVE)
    driver = SignalDriver(["BTCUSDT"], params, l1_book)
    buf, offsets = pack_frames(read_recording_frames(BTC_RECORDING))

    def one_pass():
        driver.reset()
        driver.run_frames(buf, offsets, 0)
        driver.finish()

    one_pass()
    first = {t: {c: np.array(v, copy=True) for c, v in cols.items()}
             for t, cols in driver.arrays().items()}
    assert driver.counts[0] == 93_949 and driver.counts[2] > 0

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
    # and the second pass computed the same tables
    second = driver.arrays()
    for t, cols in first.items():
        for c, v in cols.items():
            np.testing.assert_array_equal(second[t][c], v, err_msg=f"{t}.{c}")
