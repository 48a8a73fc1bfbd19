"""Helpers the tests share (and the benchmarks reuse): the recordings, the parameter set
that makes every indicator fire on them, the kernel tables in the reference's format,
dataset reading and starting rtaid/rtaid-sim processes. Fixtures are in conftest.py;
test modules import helpers from here, never from each other."""
from __future__ import annotations

import ast
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rtaid"
SHARED_DATA = pathlib.Path(
    os.environ.get("RTAID_SHARED_DATA", ROOT.parent / "shared" / "data" / "binance-usdm")
)
BTC_RECORDING = SHARED_DATA / "btcusdt_20240808.gz"
ETH_RECORDING = SHARED_DATA / "ethusdt_20240808.gz"
EXCHANGE_INFO = SHARED_DATA / "exchangeInfo_2021.json"
SIGNAL_TABLES = ("indicators", "bars_1m", "signals")

# ------------------------------------------------------------------ parameters
# The defaults calibrate VPIN for 10 minutes and warm the normalisers up over 100
# updates: on the 346 s recordings VPIN would stay NaN and the strategy idle. These
# settings (the tests' and the benchmarks' "active" set, named in their output) make
# VPIN calibrate within 10 s, the normalisers warm up after 20 updates, Kyle's lambda
# start after 10 intervals and vpin_osc never block the strategy.
ACTIVE_KEYS = {"vpin.calibration_ms": 10_000, "vpin.buckets": 50, "norm.warmup": 20,
               "kyle.min_intervals": 10, "strategy.toxic_max": 100.0}
ACTIVE_SETTINGS = tuple(f"{k}={v}" for k, v in ACTIVE_KEYS.items())


def config_with(settings=()):
    """A validated Config: the defaults with ``section.key=value`` settings applied."""
    from rtaid.infra.config import load_config

    return load_config(None, tuple(settings), env={})


def config_from_keys(keys=None, per_symbol=None):
    """A Config from ``{config key: value}`` (as ``Params.with_keys`` takes) and
    ``{SYMBOL: {config key: value}}`` overrides (those symbols become feed.symbols)."""
    import json

    settings = [f"{k}={json.dumps(v)}" for k, v in (keys or {}).items()]
    if per_symbol:
        settings.append(f"feed.symbols={json.dumps(sorted(per_symbol))}")
        for sym, over in per_symbol.items():
            settings += [f"symbols.{sym}.{k}={json.dumps(v)}" for k, v in over.items()]
    return config_with(settings)


def exchange_info_with_ticks(ticks: dict) -> dict:
    """A minimal exchangeInfo answer carrying only tick sizes ``{SYMBOL: "0.05"}``."""
    return {"symbols": [{"symbol": sym, "filters": [
        {"filterType": "PRICE_FILTER", "tickSize": str(tick)}]} for sym, tick in ticks.items()]}


def active_config():
    return config_with(ACTIVE_SETTINGS)


def active_params():
    """The reference's Params with ACTIVE_KEYS."""
    from rtaid.reference.indicators import Params

    return Params().with_keys(ACTIVE_KEYS)


# ------------------------------------------------------------------ recordings
def read_frames(path, max_lines=None):
    """``[(recv_ns, payload)]`` of a recording (rtaid's recordings reader)."""
    from rtaid.infra.recordings import read_frames as _read

    payloads, stamps = _read(path, max_lines)
    return list(zip(stamps.tolist(), payloads))


def pack(payloads):
    """``(buf, offsets)`` of payloads for ``Engine.run_frames``."""
    from rtaid.infra.recordings import pack as _pack

    buf, offsets, _ = _pack(list(payloads))
    return buf, offsets


# ------------------------------------------------------------------ kernel tables
def records_to_columns(name: str, records, symbols) -> dict:
    """A table's records (registry dtype) as the reference's ``{column: list}``: the
    ``sym`` index as ``symbol`` names, enum codes as names, every other field as is."""
    from rtaid.store.tables import TABLES

    table = TABLES[name]
    out = {}
    for field in table.dtype.names:
        values = records[field].tolist()
        if field == "sym":
            out["symbol"] = [symbols[s] for s in values]
        elif field in table.enums:
            names = table.enums[field]
            out[field] = [names[v] for v in values]
        else:
            out[field] = values
    return out


def kernel_tables(paths, config=None, exchange_info=None, capacities=None, engine_out=None):
    """The signal tables of the daemon's Engine over recordings, in the reference's
    format (``rtaid.reference.pipeline.run_recording``'s ``{table: {column: list}}``)."""
    from rtaid.replay import replay_tables

    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        paths = [paths]
    if isinstance(exchange_info, (str, os.PathLike)):
        from rtaid.infra.exchange_info import load

        exchange_info = load(exchange_info)
    engines = []
    arrays, summary = replay_tables(paths, config=config, exchange_info=exchange_info,
                                    capacities=capacities, engine_out=engines)
    assert not any(summary.dropped.values()), summary.dropped
    if engine_out is not None:
        engine_out.extend(engines)
    symbols = engines[0].symbols
    return {name: records_to_columns(name, arrays[name], symbols) for name in SIGNAL_TABLES}


def sort_by_symbol(tables: dict) -> dict:
    """Tables with rows grouped by symbol (stable): the dataset's partition order."""
    out = {}
    for name, cols in tables.items():
        order = sorted(range(len(cols["symbol"])), key=lambda i: cols["symbol"][i])
        out[name] = {c: [v[i] for i in order] for c, v in cols.items()}
    return out


# ------------------------------------------------------------------ the dataset
def read_table(root, table):
    """A table of a dataset as one Arrow table, with the hive partition columns."""
    import pyarrow.dataset as ds

    return ds.dataset(pathlib.Path(root) / table, format="parquet",
                      partitioning="hive").to_table()


# ------------------------------------------------------------------ processes
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listening on {port}")


def start_sim(port: int, *args: str) -> subprocess.Popen:
    """An rtaid-sim process on 127.0.0.1:port, listening when this returns."""
    proc = subprocess.Popen([sys.executable, "-m", "rtaid.sim", "--port", str(port), *args],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
    except AssertionError:
        proc.kill()
        proc.wait()
        raise
    return proc


class NotifySocket:
    """A NOTIFY_SOCKET reader: what the daemon tells systemd."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []

    def wait_for(self, field, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(field in m for m in self.messages):
                return True
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass
        return False


def daemon_env(tmp_path, notify):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RTAID_", "RTAI_"))}
    env.update(NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="3000000")
    return env


def daemon_args(port, tmp_path, config=None):
    args = [sys.executable, "-m", "rtaid", "run"]
    if config:
        args += ["--config", str(config)]
    return args + ["--set", f"exchange.rest_url=http://127.0.0.1:{port}",
                   "--set", f"exchange.ws_url=ws://127.0.0.1:{port}",
                   "--set", 'feed.symbols=["BTCUSDT","ETHUSDT"]',
                   "--set", f"storage.data_dir={tmp_path / 'data'}",
                   "--set", f"control.socket={tmp_path / 'rtaid.sock'}",
                   "--set", "metrics.port=0"]



# Fast warm-ups and wide entry bands: on rtaid-sim the strategy trades within seconds.
QUICK_TRADING_CONFIG = """
[vpin]
calibration_ms = 2000
buckets = 10
[norm]
warmup = 20
[kyle]
min_intervals = 5
[strategy]
entry_low = 35.0
entry_high = 65.0
exit_mid = 50.0
toxic_max = 100.0
cooldown_ms = 1000
max_hold_ms = 5000
"""


def stop_process(proc, sig=signal.SIGTERM, timeout=30.0) -> str:
    """Send ``sig``, collect the output; a process that does not stop is killed (and the
    test fails on its return code, not by hanging)."""
    try:
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return out or ""


def run_daemon(sim_port, tmp_path, config=None, seconds=20.0, extra=(), until=None,
               until_timeout=150.0) -> str:
    """``rtaid run`` against rtaid-sim: ready (sd_notify READY=1), ``seconds`` of data,
    SIGTERM; asserts a clean exit and returns the daemon's output.

    ``until``: a test of the output so far; the daemon runs until it holds (at most
    ``until_timeout`` seconds after ready, else the test fails), then ``seconds`` more.
    For what depends on the market rtaid-sim makes (a decision, a bar): a fixed run
    length is too short on a busy machine."""
    notify = NotifySocket(tmp_path / "notify")
    log_path = tmp_path / "daemon.out"
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen([*daemon_args(sim_port, tmp_path, config), *extra], cwd=ROOT,
                                env=daemon_env(tmp_path, notify), stdout=log_file,
                                stderr=subprocess.STDOUT, text=True)
    try:
        assert notify.wait_for("READY=1"), notify.messages
        if until is not None:
            deadline = time.monotonic() + until_timeout
            while not until(log_path.read_text(errors="replace")):
                assert time.monotonic() < deadline, (
                    f"the daemon's output did not show what was waited for within "
                    f"{until_timeout:.0f} s:\n" + log_path.read_text(errors="replace")[-3000:])
                assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
                time.sleep(0.5)
        time.sleep(seconds)
    finally:
        stop_process(proc)
    out = log_path.read_text(errors="replace")
    assert proc.returncode == 0, out[-3000:]
    return out


class EngineDriver:
    """The daemon's Engine with its signal tables collected in memory, fed frame by
    frame: what the kernel tests drive (no second driver of the kernels exists).

    Parameters
    ----------
    symbols : sequence of str
    params : dict
        ``{SYMBOL: SignalParams or reference Params}`` (decimals px_dec/qty_dec).
    l1_from_book : collection of str
    capacities : dict, optional
        Signal ring capacities (with reference Params).
    """

    def __init__(self, symbols, params, l1_from_book=(), capacities=None):
        from rtaid._kernels.engine import Engine
        from rtaid._kernels.signals import SignalParams
        from rtaid.store.memory import MemoryTables

        self.symbols = [s.upper() for s in symbols]
        sp = {s: p if isinstance(p, SignalParams) else SignalParams(p, **(capacities or {}))
              for s, p in params.items()}
        scales = {s: (p.as_dict()["px_dec"], p.as_dict()["qty_dec"]) for s, p in sp.items()}
        self.engine = Engine(self.symbols, scales=scales, signal_params=sp,
                             l1_from_book=l1_from_book)
        self.memory = MemoryTables(self.engine, SIGNAL_TABLES)

    def feed(self, payload: bytes, default_sym: int = -1):
        out = self.engine.feed(payload, 0, default_sym)
        self.memory.drain()
        return out

    def finish(self):
        self.engine.finish_signals()
        self.memory.drain()

    def bar_timer(self, now_ms: int) -> bool:
        closed = self.engine.bar_timer(now_ms)
        self.memory.drain()
        return closed > 0

    def reconnect(self, sym: int):
        self.engine.reset_book(sym)

    def reset(self):
        self.engine.reset()
        self.memory.clear()

    def stats(self, sym: int = 0) -> dict:
        return self.engine.signal_stats(sym)

    def mlofi_vec(self, sym: int = 0):
        return self.engine.mlofi_vec(sym)

    def book_stats(self, sym: int = 0) -> dict:
        return self.engine.book_stats(sym)

    @property
    def counts(self):
        arrays = self.memory.arrays()
        return tuple(len(arrays[n]) for n in SIGNAL_TABLES)

    def tables(self) -> dict:
        arrays = self.memory.arrays()
        return {n: records_to_columns(n, arrays[n], self.symbols) for n in SIGNAL_TABLES}


# ------------------------------------------------------------------ sources
def imported_modules(path: pathlib.Path) -> set[str]:
    """Every module a Python or Cython file imports or cimports (top-level or not)."""
    text = path.read_text()
    found = set()
    if path.suffix == ".py":
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                base = node.module if node.level == 0 else f"<relative>.{node.module}"
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)
        return found
    # Cython: `import x`, `from x import/cimport y`, `cimport x` lines
    for line in text.splitlines():
        words = line.strip().split()
        if len(words) >= 2 and words[0] in ("import", "cimport"):
            found.add(words[1].rstrip(","))
        elif len(words) >= 4 and words[0] == "from" and words[2] in ("import", "cimport"):
            found.add(words[1])
            found.update(f"{words[1]}.{w.strip('(,)')}" for w in words[3:] if w.strip("(,)"))
    return found


def production_sources():
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix not in (".py", ".pyx", ".pxd", ".pxi"):
            continue
        if "reference" in path.relative_to(PACKAGE).parts:
            continue
        yield path
