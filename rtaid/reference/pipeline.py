"""Reference replay: recordings -> indicators, bars_1m and signals tables.

``run_recording(paths, params=None, exchange_info=None, max_lines=None, stats=None)``
reads one or more collector recordings in order as ONE stream and returns
``{"indicators": {col: [...]}, "bars_1m": {...}, "signals": {...}}`` (column lists,
row order = processing order; see INDICATOR_COLUMNS, BAR_COLUMNS, SIGNAL_COLUMNS).

Two passes over the input:
1. pre-scan: per symbol the price/qty decimals (max decimals seen in its depth,
   bookTicker and trade strings and in the snapshot levels attributed to it), whether
   it has any bookTicker line (else L1 comes from the top of the synced L2 book), and
   each file's symbol (for the REST snapshot, which carries none).
2. replay through RefBook + SymbolState.

Decisions:
* (P1) A snapshot line is attributed to the single symbol seen in that file's stream
  lines; a file with several symbols (or none) and a snapshot is an error.
* (P2) When the snapshot arrives, the diffs RefBook had buffered are replayed one by
  one through ``RefBook.on_depth`` (after loading the snapshot with an empty buffer,
  which is exactly what ``on_snapshot`` does internally), so each replayed diff's row
  sees the book as it was after THAT diff; ``on_snapshot`` returns the statuses only
  after replaying the whole buffer, too late to read per-diff L2 values.
* (P3) tick: ``exchange_info[symbol]`` (tickSize) if given, else ``params.tick`` if
  set, else 10**-px_dec.  px_dec/qty_dec are always inferred from the data.
* (P4) Messages other than depthUpdate, bookTicker, trade and aggTrade are ignored.
* ``params``: None (defaults), one Params for every symbol, or {symbol: Params}.
"""
from __future__ import annotations

from dataclasses import replace

from rtaid.infra import exchange_info as xinfo

from .bars import bar_columns
from .book import RefBook
from .decode import decimals_of, depth_event, read_recording, snapshot_event, to_scaled_int
from .indicators import INDICATOR_COLUMNS, NORM_COLUMNS, RAW_COLUMNS, Params, SymbolState
from .strategy import SIGNAL_COLUMNS

BAR_COLUMNS = bar_columns(RAW_COLUMNS, NORM_COLUMNS)
TABLE_COLUMNS = {"indicators": INDICATOR_COLUMNS, "bars_1m": BAR_COLUMNS, "signals": SIGNAL_COLUMNS}


def tick_sizes(exchange_info) -> dict:
    """{symbol: tickSize float} of an exchangeInfo answer (parsed, or a path to one):
    the exchange's tick sizes as rtaid.infra.exchange_info reads them."""
    if exchange_info is None:
        return {}
    if isinstance(exchange_info, (str, bytes)) or hasattr(exchange_info, "__fspath__"):
        exchange_info = xinfo.load(exchange_info)
    return {sym: float(tick) for sym, tick in xinfo.tick_sizes(exchange_info).items()}


def _lines(paths, max_lines):
    for path in paths:
        for ns, msg in read_recording(path, max_lines):
            yield path, ns, msg


def _prescan(paths, max_lines):
    dec = {}              # symbol -> [px_dec, qty_dec]
    has_bbo = set()
    file_syms = {p: set() for p in paths}
    snaps = {p: [] for p in paths}
    for path, _, msg in _lines(paths, max_lines):
        if "stream" not in msg:
            if "lastUpdateId" in msg:
                snaps[path].append(msg)
            continue
        data = msg["data"]
        kind = data.get("e")
        if kind == "depthUpdate":
            pairs = data["b"] + data["a"]
        elif kind == "bookTicker":
            pairs = [(data["b"], data["B"]), (data["a"], data["A"])]
            has_bbo.add(data["s"])
        elif kind in ("trade", "aggTrade"):
            pairs = [(data["p"], data["q"])]
        else:
            continue
        sym = data["s"]
        file_syms[path].add(sym)
        d = dec.setdefault(sym, [0, 0])
        for px, qty in pairs:
            d[0] = max(d[0], decimals_of(px))
            d[1] = max(d[1], decimals_of(qty))
    file_symbol = {}
    for path in paths:
        if snaps[path]:
            if len(file_syms[path]) != 1:
                raise ValueError(f"{path}: cannot attribute a snapshot to one symbol "
                                 f"(stream symbols: {sorted(file_syms[path])})")
            sym = next(iter(file_syms[path]))
            file_symbol[path] = sym
            d = dec.setdefault(sym, [0, 0])
            for snap in snaps[path]:
                for px, qty in snap["bids"] + snap["asks"]:
                    d[0] = max(d[0], decimals_of(px))
                    d[1] = max(d[1], decimals_of(qty))
    return dec, has_bbo, file_symbol


def run_recording(paths, params=None, exchange_info=None, max_lines=None, stats=None,
                  on_bar=None):
    """Replay recordings; returns {table: {column: list}}.  ``max_lines`` limits the
    lines read from EACH file; ``stats`` (a dict) receives counters if given.
    ``on_bar(symbol, bar) -> (p, from_ms) or None``: the hybrid strategy's model, called
    for each closed bar after the event that closed it (as the daemon's model runs)."""
    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        paths = [paths]
    paths = list(paths)
    dec, has_bbo, file_symbol = _prescan(paths, max_lines)
    ticks = tick_sizes(exchange_info)

    def params_for(sym):
        base = params.get(sym, Params()) if isinstance(params, dict) else (params or Params())
        px_dec, qty_dec = dec[sym]
        tick = ticks.get(sym, base.tick)
        return replace(base, px_dec=px_dec, qty_dec=qty_dec, tick=tick)

    tables = {name: {c: [] for c in cols} for name, cols in TABLE_COLUMNS.items()}
    states: dict = {}
    books: dict = {}
    counters = stats if stats is not None else {}

    def count(key):
        counters[key] = counters.get(key, 0) + 1

    def state_for(sym):
        if sym not in states:
            states[sym] = SymbolState(sym, params_for(sym), l1_from_book=sym not in has_bbo)
            books[sym] = RefBook()
        return states[sym], books[sym]

    def emit(table, row):
        cols = tables[table]
        for c in TABLE_COLUMNS[table]:
            cols[c].append(row[c])

    def drain(st, row):
        bars = list(st.bars_out)
        for bar in bars:
            emit("bars_1m", bar)
        st.bars_out.clear()
        if row is not None:
            emit("indicators", row)
        if on_bar is not None:
            for bar in bars:
                found = on_bar(st.symbol, bar)
                if found is not None:
                    st.set_model_p(*found)
        for sig in st.signals_out:
            emit("signals", sig)
        st.signals_out.clear()

    for path, ns, msg in _lines(paths, max_lines):
        if "stream" not in msg:
            if "lastUpdateId" not in msg:
                continue
            sym = file_symbol[path]
            st, book = state_for(sym)
            px_dec, qty_dec = dec[sym]
            snap = snapshot_event(msg, px_dec, qty_dec, ns)
            count("snapshot")
            pending, book.buffer = book.buffer, []
            assert book.on_snapshot(snap) == []
            st.set_book_synced(book.synced)
            for ev in pending:
                status = book.on_depth(ev)
                count("depth_" + status)
                drain(st, st.on_depth(ev.T, ev.u, status, book))
            continue
        data = msg["data"]
        kind = data.get("e")
        if kind not in ("depthUpdate", "bookTicker", "trade", "aggTrade"):
            count("ignored")
            continue
        sym = data["s"]
        st, book = state_for(sym)
        px_dec, qty_dec = dec[sym]
        if kind == "depthUpdate":
            ev = depth_event(data, px_dec, qty_dec, ns)
            status = book.on_depth(ev)
            count("depth_" + status)
            row = st.on_depth(ev.T, ev.u, status, book)
        elif kind == "bookTicker":
            row = st.on_bbo(data["T"], data["u"],
                            to_scaled_int(data["b"], px_dec), to_scaled_int(data["B"], qty_dec),
                            to_scaled_int(data["a"], px_dec), to_scaled_int(data["A"], qty_dec))
            count("bbo" if row is not None else "bbo_stale")
        else:
            tid = data["t"] if kind == "trade" else data["a"]
            row = st.on_trade(data["T"], tid, to_scaled_int(data["p"], px_dec),
                              to_scaled_int(data["q"], qty_dec), bool(data["m"]))
            count("trade")
        drain(st, row)

    for st in states.values():
        st.finish()
        drain(st, None)
    return tables
