"""Memory: rings sized from rates, the breakdown the store logs, pandas kept out."""
import subprocess
import sys

from rtaid._kernels.engine import Engine
from rtaid.store import Store
from rtaid.store.footprint import MAIN_PARTS
from rtaid.store.rings import ring_sizes
from rtaid.store.tables import TABLES
from tests.helpers import ROOT


def run_python(code: str, *args: str) -> str:
    """``code`` in a fresh interpreter (its allocator settings are process-wide); its
    stdout, after it exited 0."""
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_rings_are_sized_from_the_rates_and_the_number_of_symbols(tmp_path):
    assert ring_sizes(["depth", "indicators", "bars_1m"], 10) == {
        "depth": 65536, "indicators": 16384, "bars_1m": 1024}     # 0.5 s at peak rates
    assert ring_sizes(["depth"], 10, drain_s=1.0) == {"depth": 262144}   # 2 drains
    assert ring_sizes(["depth"], 10, fixed=4096) == {"depth": 4096}
    engine = Engine(["BTCUSDT", "ETHUSDT"])
    store = Store(engine, str(tmp_path), ring_records=0, flush_interval_ms=100)
    assert {n: store.rings.capacity_of(n) for n in ("depth", "trades", "bars_1m")} == {
        "depth": 16384, "trades": 2048, "bars_1m": 1024}
    rings = sum(store.rings.capacity_of(n) * TABLES[n].dtype.itemsize for n in store.writer.tables)
    parts = store.memory()
    assert parts["rings"] == rings
    assert sum(parts[k] for k in MAIN_PARTS) == parts["rss"]
    assert parts["libraries"] > 0 and parts["python_heap"] > parts["pymalloc"] > 0


def test_pyarrow_is_kept_from_importing_pandas_until_asked():
    """Nor numpy.ma (pa.array(ndarray) imports it: to_arrow builds its columns without),
    for the records of every table."""
    code = (
        "import sys, numpy as np\n"
        "from rtaid.store import Store\n"
        "from rtaid._kernels.engine import Engine\n"
        "from rtaid.store.tables import TABLES\n"
        "Store(Engine(['BTCUSDT']), '/tmp/unused')\n"
        "ts = [t.to_arrow(np.zeros(3, t.dtype), 2, 3) for t in TABLES.values()]\n"
        "print('pandas' in sys.modules, 'numpy.ma' in sys.modules)\n"
        "print(len(ts[0].to_pandas()), 'pandas' in sys.modules)\n"
    )
    assert run_python(code).split() == ["False", "False", "3", "True"]


def test_a_freed_array_goes_back_to_the_os_at_once():
    # glibc would otherwise raise its mmap threshold past the array and keep it on the
    # heap after it is freed (a writer's burst stays resident)
    code = (
        "import numpy as np\n"
        "from rtaid.store import footprint\n"
        "assert footprint.tune_allocator()\n"
        "def rss(): return footprint.status_kb()['VmRSS'] // 1024\n"
        "a = np.ones(2 << 20); del a\n"      # 16 MiB, touched, freed: raises
        "before = rss()\n"                    # glibc's own threshold past it
        "b = np.ones(2 << 20)\n"
        "with_array = rss()\n"
        "del b\n"
        "print(with_array - before, with_array - rss())\n"
    )
    out = run_python(code)
    grown, given_back = map(int, out.split())   # MiB
    assert grown >= 12 and given_back >= 12, out


def test_the_parquet_encoders_allocate_from_glibc_not_mimalloc(tmp_path):
    """pyarrow's Parquet writer encodes with Arrow's C++ default pool, whatever pool
    Python sets: rtaid.store makes it the system one before pyarrow loads (mimalloc gave
    the encoders' buffers back and faulted them in again at every row group)."""
    code = (
        "import numpy as np\n"
        "from rtaid.store import Store\n"
        "from rtaid._kernels.engine import Engine\n"
        "import pyarrow as pa\n"
        "from tests.store.helpers import push_bbo\n"
        "store = Store(Engine(['BTCUSDT']), sys.argv[1], tables=['bbo'])\n"
        "push_bbo(store.rings, 0, 5000)\n"
        "store.writer.flush(final=True)\n"
        "assert store.writer.stats()['rows_written']['bbo'] == 5000\n"
        "print(pa.mimalloc_memory_pool().max_memory(), pa.system_memory_pool().max_memory())\n"
    )
    out = run_python("import sys\n" + code, str(tmp_path))
    mimalloc, system = map(int, out.split())
    assert mimalloc == 0 and system > 0, out


def test_every_thread_allocates_from_the_main_heap():
    """After tune_allocator a new thread's blocks come from the main arena (the brk
    heap), not from an arena of its own (a mapping outside it)."""
    code = (
        "import ctypes, threading\n"
        "from rtaid.store import footprint\n"
        "assert footprint.tune_allocator()\n"
        "libc = ctypes.CDLL(None); libc.malloc.restype = ctypes.c_void_p\n"
        "got = []\n"
        "threading.Thread(target=lambda: got.append(libc.malloc(4096))).start()\n"
        "import time; time.sleep(0.2)\n"
        "heap = [l.split()[0] for l in open('/proc/self/maps') if l.rstrip().endswith('[heap]')]\n"
        "lo, hi = (int(x, 16) for x in heap[0].split('-'))\n"
        "print(lo <= got[0] < hi)\n"
    )
    out = run_python(code)
    assert out.split() == ["True"], out
