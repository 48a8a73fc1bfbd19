"""freqtrade's real ExternalMessageConsumer and DataProvider (a pinned freqtrade in its own
venv) read rtaid's producer: the first frame, live rows, a gap the producer fills from the
dataset, a backfill request, a reconnect, and a wrong token.

The producer runs here over a dataset of the shared recordings cut after its fourth
minute (what the daemon had written when it started) and the klines of rtaid-sim
replaying the same recordings; its clock is the recordings' (exchange time), and the
test plays the daemon closing the later bars.
"""
import asyncio
import shutil

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from rtaid.freqtrade import bars as barlib
from rtaid.freqtrade.producer import Producer
from rtaid.infra.secrets import Secret
from rtaid.sim import SimConfig, SimExchange
from rtaid.store.tables import TABLES
from tests.helpers import BTC_RECORDING, ETH_RECORDING, ROOT
from tests.freqtrade.helpers import assert_row_equal, start_consumer

pytestmark = pytest.mark.slow

TOKEN = "consumer-token"
MINUTE = 60_000
BAR_COLUMNS = [c for c, *_ in TABLES["bars_1m"].columns]
HERE = __import__("pathlib").Path(__file__).parent


def truncate(src, dst, tables_before):
    """A copy of dataset ``src`` without the rows at or after ``{table: (column, ms)}``."""
    shutil.copytree(src, dst)
    for table, (column, cutoff) in tables_before.items():
        for part in (dst / table).rglob("part-*.parquet"):
            t = pq.read_table(part)
            kept = t.filter(ds.field(column) < cutoff) if t.num_rows else t
            if kept.num_rows:
                pq.write_table(kept, part)
            else:
                part.unlink()


def table_rows(root, table, symbol):
    rows = ds.dataset(root / table, partitioning="hive").to_table().to_pylist()
    return [r for r in rows if r.pop("symbol") == symbol and r.pop("date")]


def write_rows(root, table, symbol, rows, time_column, template):
    """Add rows to ``root`` the way the store's writer does: a new complete part file."""
    if not rows:
        return
    first = rows[0][time_column]
    directory = root / table / f"symbol={symbol}" / f"date={barlib.day_of(first)}"
    directory.mkdir(parents=True, exist_ok=True)
    seq = len(list(directory.glob("part-*.parquet")))
    pq.write_table(pa.Table.from_pylist(rows, schema=template.schema),
                   directory / f"part-{first}-{seq:04d}.parquet")


def dataset_rows(root, symbol):
    """{minute: {frame column: value}} of the dataset, target included."""
    frame = barlib.read_bars(str(root), symbol)
    return {row[0]: dict(zip(frame.columns, row)) for row in frame.rows()}








def test_freqtrade_reads_rtaid_rows_equal_to_the_dataset(ft_python, dataset, tmp_path):
    full = {s: dataset_rows(dataset, s) for s in ("BTCUSDT", "ETHUSDT")}
    minutes = sorted(full["BTCUSDT"])
    assert minutes == sorted(full["ETHUSDT"]) and len(minutes) == 7
    cut = minutes[4]                         # the daemon had written 4 minutes
    held = tmp_path / "held"
    truncate(dataset, held, {"bars_1m": ("minute_ms", cut), "signals": ("ts_ms", cut)})
    columns = barlib.frame_columns(BAR_COLUMNS)
    raw_bars = {s: {r["minute_ms"]: r for r in table_rows(dataset, "bars_1m", s)} for s in full}
    raw_signals = {s: sorted(table_rows(dataset, "signals", s), key=lambda r: (r["ts_ms"], r["seq"]))
                   for s in full}
    templates = {t: pq.read_table(next((dataset / t).rglob("part-*.parquet"))) for t in ("bars_1m", "signals")}
    signals_written = {s: cut for s in full}

    async def main():
        sim = SimExchange(SimConfig(port=0, replay=(str(BTC_RECORDING), str(ETH_RECORDING)), speed=0))
        await sim.start()
        consumer = None
        producers = []
        try:
            await sim.wait_replay_finished()
            live = {}
            clock = [cut / 1000 + 30]          # half a minute into the fifth minute
            producer = Producer(["BTCUSDT", "ETHUSDT"], Secret(TOKEN), lambda: dict(live),
                                BAR_COLUMNS, str(held), sim.rest_url, port=0, poll_s=0.05,
                                clock=lambda: clock[0])
            producers.append(producer)
            await producer.start()
            port = producer.port
            consumer = await start_consumer(ft_python, [
                {"name": "rtaid", "host": "127.0.0.1", "port": port, "secure": False, "ws_token": TOKEN},
                {"name": "intruder", "host": "127.0.0.1", "port": port, "secure": False, "ws_token": "wrong"},
            ], tmp_path / "consumer.log")

            # the first frame: 1500 rows, the dataset's last three minutes last, klines
            # before them; the dataset's first minute (the recording starts in it: a
            # partial bar, as a daemon's first) is the exchange's candle too
            first, kline_rows = {}, {}

            def want(symbol, minute):
                """The row the producer serves for a minute of the dataset."""
                if minute != minutes[0]:
                    return full[symbol][minute]
                return {**dict(zip(columns, [minute, *map(float, kline_rows[symbol][minute][1:6])])),
                        **{c: None for c in columns[6:]}}

            for pair, symbol in (("BTC/USDT:USDT", "BTCUSDT"), ("ETH/USDT:USDT", "ETHUSDT")):
                got = await consumer.ask(cmd="wait", producer="rtaid", pair=pair,
                                         last_date=minutes[3], timeout=60)
                assert got["columns"] == columns
                assert got["dtypes"]["date"].endswith("UTC]")
                assert sorted(got["pairs"]) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
                rows = got["rows"]
                assert len(rows) == 1500
                assert [r[0] for r in rows] == list(range(rows[0][0], rows[0][0] + 1500 * MINUTE, MINUTE))
                for r in rows[-3:]:
                    assert_row_equal(r, full[symbol][r[0]], columns)
                klines = {}
                async with __import__("aiohttp").ClientSession() as http:
                    async with http.get(f"{sim.rest_url}/fapi/v1/klines", params={
                            "symbol": symbol, "interval": "1m", "limit": "1500",
                            "startTime": str(rows[0][0])}) as resp:
                        klines = {k[0]: k for k in await resp.json()}
                kline_rows[symbol] = klines
                for r in rows[:-3]:
                    kline = dict(zip(columns, [r[0], *map(float, klines[r[0]][1:6])]))
                    assert_row_equal(r[:6], kline, columns[:6])
                    assert r[6:] == [None] * (len(columns) - 6)
                first[symbol] = got
            assert producer.counters["tokens_refused"] >= 1
            # freqtrade's consumer reads its request stream only once its initial
            # requests (subscribe, whitelist, analyzed_df) are out, each followed by its
            # send_throttle (0.5 s); a backfill request it publishes before then is lost
            # (its MessageStream gives an iterator only what comes after the iterator
            # starts). A real hole comes a bar after connecting at the earliest; here the
            # bars come at once, so the test waits that start out.
            for _ in range(200):
                if producer.counters["requests"] >= 3:
                    break
                await asyncio.sleep(0.05)
            assert producer.counters["requests"] >= 3, producer.counters
            await asyncio.sleep(1.5)

            def daemon_closes(symbol, minute, polled=True, has_bar=True):
                """What the daemon does when a bar closes: the strategy's target changes
                reach the hook, the writer makes the rows visible, the poll sees the bar."""
                end = minute + MINUTE
                changes = [r for r in raw_signals[symbol] if signals_written[symbol] <= r["ts_ms"] < end]
                producer_now = producers[-1]
                producer_now.note_targets([{"symbol": symbol, **r} for r in changes])
                write_rows(held, "signals", symbol, changes, "ts_ms", templates["signals"])
                signals_written[symbol] = end
                if has_bar:
                    write_rows(held, "bars_1m", symbol, [raw_bars[symbol][minute]], "minute_ms",
                               templates["bars_1m"])
                if polled:
                    live[symbol] = raw_bars[symbol][minute]

            # the daemon closes the fifth minute: one row each
            for s in full:
                daemon_closes(s, minutes[4])
            for pair, symbol in (("BTC/USDT:USDT", "BTCUSDT"), ("ETH/USDT:USDT", "ETHUSDT")):
                got = await consumer.ask(cmd="wait", producer="rtaid", pair=pair, last_date=minutes[4])
                assert got["rows"][-1][0] == minutes[4] and len(got["rows"]) == 1500
                assert_row_equal(got["rows"][-1], full[symbol][minutes[4]], columns)

            # BTC: the poll misses the sixth minute, which the writer has made visible by
            # then: the producer fills it from the dataset and sends both rows
            daemon_closes("BTCUSDT", minutes[5], polled=False)
            daemon_closes("BTCUSDT", minutes[6])
            # ETH: the sixth minute is nowhere (a minute without a bar): the consumer sees a
            # hole and asks the producer for that pair's last rows
            daemon_closes("ETHUSDT", minutes[5], polled=False, has_bar=False)
            daemon_closes("ETHUSDT", minutes[6])
            btc = await consumer.ask(cmd="wait", producer="rtaid", pair="BTC/USDT:USDT", last_date=minutes[6])
            eth = await consumer.ask(cmd="wait", producer="rtaid", pair="ETH/USDT:USDT", last_date=minutes[6])
            assert [r[0] for r in btc["rows"][-7:]] == minutes
            for r in btc["rows"][-7:]:
                assert_row_equal(r, want("BTCUSDT", r[0]), columns)
            assert [r[0] for r in eth["rows"][-6:]] == minutes[:5] + minutes[6:]
            for r in eth["rows"][-6:]:
                assert_row_equal(r, want("ETHUSDT", r[0]), columns)
            assert producer.counters["gap_rows_from_dataset"] == 1
            assert producer.counters["backfill_requests"] == 1
            log = (tmp_path / "consumer.log").read_text()
            assert "requesting 3 candles for ('ETH/USDT:USDT', '1m'" in log

            # RtaidOrderFlow, dry-run on this DataProvider, merges the producer's rows
            strat = await consumer.ask(cmd="strategy", pair="BTC/USDT:USDT",
                                       strategy_dir=str(ROOT / "integrations" / "freqtrade"))
            merged = dict(zip(strat["columns"], zip(*strat["rows"])))
            for i, date in enumerate(merged["date"][-6:]):
                expected = full["BTCUSDT"][date]
                for c in columns[1:]:
                    v = merged[f"{c}_rtaid"][-6 + i]
                    assert_row_equal([v], {c: expected[c]}, [c])
            assert "enter_long" in merged and "exit_short" in merged

            # the daemon restarts: the consumer reconnects by itself and reads the new one
            await producer.stop()
            clock[0] += 180
            again = Producer(["BTCUSDT", "ETHUSDT"], Secret(TOKEN), lambda: dict(live), BAR_COLUMNS,
                             str(held), sim.rest_url, port=port, poll_s=0.05, clock=lambda: clock[0])
            producers.append(again)
            await again.start()
            # freqtrade retries every sleep_time (1 s) and pings after wait_timeout (5 s):
            # a minute is ample even on a loaded machine
            deadline = asyncio.get_running_loop().time() + 60
            while True:
                got = await consumer.ask(cmd="wait", producer="rtaid", pair="BTC/USDT:USDT", timeout=0)
                if got["la"] != btc["la"] or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.1)

            def why():
                """What to look at when the reconnect went wrong (a failure names it)."""
                return {"before": producer.counters, "after": again.counters,
                        "consumer_log": (tmp_path / "consumer.log").read_text()[-3000:]}

            assert got["la"] != btc["la"], why()
            assert again.counters["consumers_connected"] == 1, why()
            assert [r[0] for r in got["rows"][-7:]] == minutes, why()
            for r in got["rows"][-7:]:
                assert_row_equal(r, want("BTCUSDT", r[0]), columns)

            # the wrong token never got anything, and freqtrade said why
            assert (await consumer.ask(cmd="pairs", producer="intruder"))["pairs"] == []
            log = (tmp_path / "consumer.log").read_text()
            assert "Connection Refused" in log and "HTTP 403" in log, why()
        finally:
            if consumer is not None:
                await consumer.close()
            for p in producers:
                await p.stop()
            await sim.stop()

    asyncio.run(main())
