"""The real daemon (``rtaid run``) as a receiver of the bench: its config, its log, its
memory, and what it recorded.

The daemon runs as it is deployed: decode, book, signal kernels, every record into the
store's rings, the Parquet writer thread on (every table), uvloop, gc.freeze. Its JSON
log (stdout) is read line by line for ``ready``, ``book_synced`` / ``book_unsynced``
and the final ``stopped`` counters.
"""
from __future__ import annotations

import json
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0, what: str = "rtaid-sim") -> None:
    """Until something listens on 127.0.0.1:``port`` (SystemExit naming ``what`` after
    ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{what} did not start")
            time.sleep(0.1)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return repr(v)


def write_config(path: pathlib.Path, base_url: str, symbols, data_dir, metrics_port: int,
                 overrides: dict) -> None:
    """A config file for the daemon against the generator (overrides: config keys)."""
    sections: dict = {
        "exchange": {"rest_url": base_url, "ws_url": base_url.replace("http://", "ws://")},
        "feed": {"symbols": list(symbols)},
        "storage": {"data_dir": str(data_dir)},
        "control": {"socket": str(path.parent / "rtaid.sock")},
        "metrics": {"port": metrics_port},
    }
    for key, value in overrides.items():
        section, _, name = key.partition(".")
        sections.setdefault(section, {})[name] = value
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
        lines.append("")
    path.write_text("\n".join(lines))


def _log_time(stamp: str) -> int:
    """A log line's ISO 8601 UTC timestamp as CLOCK_REALTIME ns."""
    dt = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


class RtaidProcess:
    """``rtaid run`` with a config in ``workdir``; its log events as they come."""

    def __init__(self, workdir: pathlib.Path, base_url: str, symbols, overrides: dict):
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.config = workdir / "rtaid.toml"
        self.metrics_port = free_port()
        self.symbols = list(symbols)
        write_config(self.config, base_url, symbols, self.data_dir, self.metrics_port, overrides)
        self.events: list[dict] = []
        self.lock = threading.Condition()
        self.log_file = open(workdir / "rtaid.log", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "rtaid", "run", "--config", str(self.config)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.log_file.write(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            with self.lock:
                self.events.append(event)
                self.lock.notify_all()
        with self.lock:
            self.lock.notify_all()

    def wait_for(self, predicate, timeout: float, what: str) -> dict:
        """The first log event (from the start) matching ``predicate``."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self.lock:
            while True:
                for event in self.events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self.events)
                left = deadline - time.monotonic()
                if self.proc.poll() is not None and seen == len(self.events):
                    raise RuntimeError(f"rtaid exited ({self.proc.returncode}) before {what}; "
                                       f"log: {self.workdir / 'rtaid.log'}")
                if left <= 0:
                    raise TimeoutError(f"rtaid: no {what} within {timeout:.0f} s; log: {self.workdir / 'rtaid.log'}")
                self.lock.wait(min(left, 0.2))

    def wait_ready(self, timeout: float = 60.0) -> dict:
        return self.wait_for(lambda e: e.get("event") == "ready", timeout, "READY (every book synced)")

    def resynced_after(self, t_ns: int, timeout: float = 30.0) -> int:
        """CLOCK_REALTIME ns at which every symbol's book was synced again after t_ns."""
        last = {}
        for sym in self.symbols:
            e = self.wait_for(lambda e, s=sym: e.get("event") == "book_synced" and e.get("symbol") == s
                              and _log_time(e["timestamp"]) > t_ns, timeout, f"{sym} book resynced")
            last[sym] = _log_time(e["timestamp"])
        return max(last.values())

    def wait_writer_idle(self, quiet_s: float = 1.0, timeout: float = 300.0) -> float:
        """Wait until the dataset (part files being written included) has not grown for
        ``quiet_s``: the writer thread has worked off its backlog. Returns the wait."""
        start = time.monotonic()
        last, since = -1, start
        while time.monotonic() - start < timeout:
            size = sum(f.stat().st_size for f in self.data_dir.rglob("*") if f.is_file())
            now = time.monotonic()
            if size != last:
                last, since = size, now
            elif now - since >= quiet_s:
                return now - start
            time.sleep(0.1)
        raise TimeoutError(f"rtaid's writer still writing after {timeout:.0f} s")

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        raise RuntimeError("no VmRSS")

    def stop(self, timeout: float = 60.0) -> dict:
        """SIGTERM, wait for the exit; the ``stopped`` event (counters) and exit code."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(5)
        self.log_file.close()
        stopped = next((e for e in reversed(self.events) if e.get("event") == "stopped"), {})
        return {"exit_code": code, "stopped": stopped,
                "target_changes": sum(1 for e in self.events if e.get("event") == "target_change"),
                "warnings": sorted({e.get("event") for e in self.events
                                    if e.get("level") in ("warning", "error")})}

    def received(self, wanted: dict) -> dict:
        """When the daemon received each frame it recorded: {(symbol, kind): (ids,
        recv_ns)} for kind "bbo" (u), "trade" (trade id) and "depth" (u; one row per
        level, the first kept), read from its Parquet dataset. ``wanted`` {(symbol,
        kind): (lo, hi)} limits the ids read (row groups outside are skipped)."""
        import pyarrow.dataset as ds

        out = {}
        for (sym, kind), (lo, hi) in wanted.items():
            table, id_col = {"bbo": ("bbo", "u"), "trade": ("trades", "trade_id"), "depth": ("depth", "u")}[kind]
            path = self.data_dir / table / f"symbol={sym}"
            if not path.exists():
                continue
            t = ds.dataset(str(path), format="parquet").to_table(
                columns=[id_col, "recv_ns"], filter=(ds.field(id_col) >= lo) & (ds.field(id_col) <= hi))
            ids = t.column(id_col).to_numpy()
            recv = t.column("recv_ns").to_numpy()
            ids, first = np.unique(ids, return_index=True)
            out[(sym, kind)] = (ids, recv[first])
        return out
