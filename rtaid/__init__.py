"""rtaid: low-latency market-microstructure daemon for Binance USD-M futures."""

__version__ = "0.1.0"

import os as _os

# numpy's OpenBLAS starts one busy-waiting thread per core on import; on a latency box
# that steals the cores the event loop and the writer thread need. rtaid does no BLAS.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")
del _os, _var
