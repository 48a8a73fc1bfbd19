"""What the engine records: every table's columns from synthetic frames, Python rows."""
import json

import pyarrow.compute as pc
import pytest

from rtaid._kernels.engine import Engine
from rtaid.infra.config import load_config
from rtaid.store import Store, select_tables
from tests.helpers import read_table

E0 = 1723161600370


def frame(stream, **data):
    return json.dumps({"stream": stream, "data": data}).encode()


def depth(U, u, pu, bids, asks, E=E0):
    return frame("btcusdt@depth@0ms", e="depthUpdate", E=E, T=E - 1, s="BTCUSDT", U=U, u=u,
                 pu=pu, b=bids, a=asks)


SNAPSHOT = json.dumps({"lastUpdateId": 100, "E": E0 - 5, "T": E0 - 6,
                       "bids": [["100.00", "1.000"], ["99.90", "2.000"]],
                       "asks": [["100.10", "1.500"]]}).encode()


@pytest.fixture()
def recorded(tmp_path):
    engine = Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)})
    store = Store(engine, str(tmp_path))
    feed = [
        depth(95, 101, 90, [["100.00", "1.100"]], []),            # buffered
        SNAPSHOT,                                                  # synced on replay
        depth(102, 103, 101, [["100.05", "0.500"]], [["100.10", "0"], ["100.20", "3.000"]]),
        frame("btcusdt@aggTrade", e="aggTrade", E=E0 + 1, a=7, s="BTCUSDT", p="100.05",
              q="0.010", f=1, l=2, T=E0, m=True),
        frame("btcusdt@trade", e="trade", E=E0 + 2, T=E0 + 2, s="BTCUSDT", t=8, p="100.20",
              q="0.020", X="MARKET", m=False),
        frame("btcusdt@markPrice@1s", e="markPriceUpdate", E=E0 + 3, s="BTCUSDT",
              p="100.12000000", P="100.1", i="100.1", r="0.0001", T=E0 + 3),
        depth(110, 111, 999, [], []),                              # pu break: gap
    ]
    for k, payload in enumerate(feed):
        engine.feed(payload, 1_000 + k, 0)
    store.push_book_event(0, "reconnect", "reconnect", recv_ns=5_000)
    store.push_book_event(0, "resync", "stale: no frame for 5.0s", E=E0 + 9, recv_ns=6_000)
    store.stop()
    return tmp_path


def test_depth_rows_carry_the_event_ids_side_and_snapshot_flag(recorded):
    d = read_table(recorded, "depth").to_pydict()
    assert list(zip(d["u"], d["side"], d["px"], d["qty_lots"], d["snapshot"])) == [
        (101, "bid", 100.0, 1100, False),
        (100, "bid", 100.0, 1000, True), (100, "bid", 99.9, 2000, True),
        (100, "ask", 100.1, 1500, True),
        (103, "bid", 100.05, 500, False), (103, "ask", 100.1, 0, False),
        (103, "ask", 100.2, 3000, False),
    ]
    assert d["pu"][-1] == 101 and d["U"][-1] == 102 and d["recv_ns"][0] == 1_000


def test_book_top_after_each_applied_event(recorded):
    t = read_table(recorded, "book_top").to_pydict()
    assert t["u"] == [101, 103]
    assert (t["bid_px"], t["bid_qty"]) == ([100.0, 100.05], [1.1, 0.5])
    assert (t["ask_px_ticks"], t["ask_qty_lots"]) == ([10010, 10020], [1500, 3000])
    assert t["recv_ns"] == [1_001, 1_002]  # the replayed event: the snapshot's frame


def test_book_events_from_the_kernel_and_from_python(recorded):
    ev = read_table(recorded, "book_events").to_pydict()
    assert list(zip(ev["event"], ev["reason"], ev["u"])) == [
        ("synced", "", 101), ("gap", "", 111), ("reconnect", "reconnect", 0),
        ("resync", "stale: no frame for 5.0s", 0)]
    assert ev["E"][3] == E0 + 9 and ev["recv_ns"][2:] == [5_000, 6_000]
    assert ev["E"][2] == E0  # Python rows default to the symbol's last exchange time


def test_trades_and_mark_price(recorded):
    tr = read_table(recorded, "trades").to_pydict()
    assert tr["trade_id"] == [7, 8] and tr["aggregate"] == [True, False]
    assert tr["buyer_maker"] == [True, False] and tr["qty"] == [0.01, 0.02]
    mk = read_table(recorded, "mark_price")
    assert mk["px_ticks"].to_pylist() == [10012]  # scaled to the symbol's 2 decimals
    assert pc.all(pc.equal(mk["symbol"], "BTCUSDT")).as_py()


def test_store_from_config(tmp_path):
    config = load_config(None, [f'storage.data_dir="{tmp_path}"', 'storage.tables=["bbo"]',
                                'storage.compression="snappy"'], env={})
    engine = Engine(["BTCUSDT"])
    store = Store.from_config(engine, config.storage)
    assert sorted(store.writer.tables) == ["bbo", "book_events", "book_top"]
    assert store.writer.compression == "snappy" and store.writer.data_dir == str(tmp_path)
    assert select_tables(load_config(None, [], env={}).storage.tables) == [
        "trades", "bbo", "depth", "book_top", "book_events", "mark_price", "indicators",
        "bars_1m", "signals", "orders", "fills"]


def test_new_reasons_between_row_groups_of_one_file(tmp_path):
    engine = Engine(["BTCUSDT"])
    store = Store(engine, str(tmp_path), row_group_s=0.0)
    store.push_book_event(0, "reconnect", "first reason", E=E0)
    store.writer.flush()                      # row group 1, file still open
    store.push_book_event(0, "resync", "a reason never seen before", E=E0 + 1)
    store.stop()                              # row group 2, then the file closes
    files = list(tmp_path.rglob("part-*.parquet"))
    assert len(files) == 1
    ev = read_table(tmp_path, "book_events").to_pydict()
    assert ev["reason"] == ["first reason", "a reason never seen before"]
    assert ev["event"] == ["reconnect", "resync"]


def test_a_depth_message_is_recorded_whole_or_not_at_all(shared_data):
    """A snapshot with more levels than the ring has room for is dropped as a whole
    (counted per level), never cut in half; the next diff that fits is recorded."""
    from rtaid._kernels.ring import RecordRings
    from rtaid.store.tables import TABLES
    from tests.helpers import BTC_RECORDING
    from tests.helpers import read_frames

    payloads = [p for _, p in read_frames(BTC_RECORDING)]
    snap = next(i for i, p in enumerate(payloads) if b"lastUpdateId" in p)
    rings = RecordRings({"depth": (TABLES["depth"].ring, TABLES["depth"].dtype.itemsize)}, 1024)
    engine = Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)}, rings=rings)
    engine.feed(payloads[snap], 0, 0)
    body = json.loads(payloads[snap])
    n_levels = len(body["bids"]) + len(body["asks"])
    assert n_levels > 1024
    assert rings.pushed("depth") == 0 and rings.dropped("depth") == n_levels
    diff = next(p for p in payloads[snap + 1:] if b"depthUpdate" in p)
    engine.feed(diff, 0, 0)
    assert 0 < rings.pushed("depth") < 1024 and rings.dropped("depth") == n_levels


def test_every_tables_columns_are_what_pa_array_makes_of_its_fields():
    """to_arrow builds its columns over the numpy fields' memory (not with pa.array,
    which imports numpy.ma): bit for bit what pa.array makes, for every table and kind
    (random field bytes: NaNs, negative zeros and every bool byte included)."""
    import numpy as np
    import pyarrow as pa

    from rtaid.store.tables import TABLES
    rng = np.random.default_rng(7)
    for table in TABLES.values():
        records = np.zeros(1000, table.dtype)
        raw = records.view(np.uint8)
        raw[:] = rng.integers(0, 256, raw.size)
        for name in table.dtype.names:
            if name in table.enums:
                records[name] = rng.integers(0, len(table.enums[name]), len(records))
            elif table.dtype[name].kind == "S":
                records[name] = [b"cid-%d" % i for i in range(len(records))]
        got = table.to_arrow(records, 2, 3)
        got.validate(full=True)
        for col, field, kind, typ in table.columns:
            values = records[field]
            if kind == "value":
                want = pa.array(values, type=typ)
            elif kind == "float":
                want = pa.array(values / 10.0 ** (2 if field.endswith("px") else 3), type=typ)
            elif kind == "bool":
                want = pa.array(values != 0, type=typ)
            elif kind == "str":
                want = pa.array(np.char.decode(values, "ascii"), type=typ)
            else:
                want = pa.DictionaryArray.from_arrays(pa.array(values.astype(np.int16)),
                                                      pa.array(list(table.enums[field])))
            column = got[col].combine_chunks()
            if kind in ("value", "float"):   # bits: NaN != NaN
                width = typ.bit_width // 8
                assert (column.buffers()[1].to_pybytes()[:width * len(values)]
                        == want.buffers()[1].to_pybytes()[:width * len(values)]), (table.name, col)
            else:
                assert column.to_pylist() == want.to_pylist(), (table.name, col)
