"""The live feed against rtaid-sim: sync, exact books, and every market-data fault."""
import asyncio
import time

from rtaid._kernels.engine import Engine
from rtaid.feed.listener import book_last_update_id
from rtaid.infra.config import load_config
from rtaid.feed import Feed
from rtaid.feed.streams import stream_sets
from rtaid.reference.decode import to_scaled_int
from rtaid.sim import SimConfig, SimExchange

SYMBOLS = ["BTCUSDT", "ETHUSDT"]


def feed_config(sim, **extra):
    sets = [f"exchange.rest_url={sim.rest_url}", f"exchange.ws_url={sim.ws_url}",
            f"feed.symbols={SYMBOLS!r}".replace("'", '"'), "feed.stale_after_s=1.0",
            "feed.reconnect_min_s=0.05", "feed.reconnect_max_s=1.0"]
    sets += [f"{k}={v}" for k, v in extra.items()]
    return load_config(None, sets, env={})


async def until(predicate, timeout=10.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return predicate()


async def assert_books_match_sim(sim, engine, feed):
    """Pause the sim, let the feed drain, then compare whole books level by level.

    Only once synced: a book that loaded a snapshot needs one more event to bracket it,
    and a paused market sends none.
    """
    assert await feed.wait_synced(10), feed.states
    for driver in sim.drivers.values():
        driver.paused = True
    try:
        def drained():
            return all(feed.states[s] == "synced" and
                       book_last_update_id(engine, i) == sim.markets[s].book.last_update_id
                       for i, s in enumerate(SYMBOLS))
        assert await until(drained), (feed.states, [book_last_update_id(engine, i) for i in range(2)])
        for i, sym in enumerate(SYMBOLS):
            px_dec, qty_dec = engine.decoder.scales(i)
            snap = sim.markets[sym].depth_snapshot(None)
            for side, key in (("bid", "bids"), ("ask", "asks")):
                want = [(to_scaled_int(p, px_dec), to_scaled_int(q, qty_dec)) for p, q in snap[key]]
                assert engine.top(i, side, len(want) + 10) == want, (sym, side)
    finally:
        for driver in sim.drivers.values():
            driver.paused = False


def test_stream_sets_put_depth_on_public_and_trades_on_market():
    sets = stream_sets("ws://h:1", ["BTCUSDT", "ETHUSDT"], trades="aggTrade", mark_price=True)
    assert [s.name for s in sets] == ["public-0", "market-0"]
    assert sets[0].url == "ws://h:1/public/stream?streams=btcusdt@depth@0ms/btcusdt@bookTicker/ethusdt@depth@0ms/ethusdt@bookTicker"
    assert sets[1].streams == ("btcusdt@aggTrade", "btcusdt@markPrice@1s", "ethusdt@aggTrade", "ethusdt@markPrice@1s")
    many = stream_sets("ws://h:1", [f"S{i}USDT" for i in range(600)], max_streams=1024)
    assert sum(len(s.depth_symbols) for s in many) == 600
    assert all(len(s.streams) <= 1024 for s in many)


def test_feed_syncs_and_books_equal_the_exchange(run):
    async def scenario():
        async with SimExchange(SimConfig(port=0, rate=300, seed=11)) as sim:
            cfg = feed_config(sim)
            engine = Engine(cfg.feed.symbols)
            feed = Feed(cfg, engine)
            await feed.start()
            try:
                assert await feed.wait_synced(10)
                await asyncio.sleep(0.5)
                tasks = len(asyncio.all_tasks())
                await asyncio.sleep(2.0)      # many supervision ticks
                assert len(asyncio.all_tasks()) == tasks, "the feed leaks tasks"
                await assert_books_match_sim(sim, engine, feed)
                assert feed.counters["snapshots"] == 2 and feed.bad_frames == 0
                assert all(c.listener.frames > 0 for c in feed.connections)
                assert feed.latency.count > 0
            finally:
                await feed.stop()
    run(scenario())


def test_feed_survives_every_market_data_fault(run):
    async def scenario():
        async with SimExchange(SimConfig(port=0, rate=300, seed=12)) as sim:
            cfg = feed_config(sim)
            engine = Engine(cfg.feed.symbols)
            feed = Feed(cfg, engine)
            await feed.start()
            public = feed.connections[0]
            try:
                assert await feed.wait_synced(10)
                # the listener's monotonic stamp (the wall clock's receipt stamp less the
                # clocks' offset) is the monotonic clock's: the watchdogs compare with it
                stamp, now = public.listener.last_frame_mono_ns, time.monotonic_ns()
                assert 0 <= now - stamp < 1_000_000_000, (now, stamp)

                # 1. a skipped depth event: a pu break, resync without reconnecting
                connects = public.connects
                sim.faults.skip_events("BTCUSDT", 1)
                assert await until(lambda: feed.counters["resyncs"] >= 1)
                assert await feed.wait_synced(10)
                assert public.connects == connects
                await assert_books_match_sim(sim, engine, feed)

                # 2. malformed and truncated frames are counted, the books stay right
                sim.faults.corrupt_frames("ETHUSDT", 3, mode="malformed")
                sim.faults.corrupt_frames("ETHUSDT", 3, mode="truncated")
                assert await until(lambda: feed.bad_frames >= 6)
                # a lost depth frame shows as a gap only when the next one arrives
                await asyncio.sleep(0.5)
                await assert_books_match_sim(sim, engine, feed)

                # 3. a dropped connection: reconnect (how fast is bench/latency.py's
                # reconnect_ms, not an assert), resync
                connects = public.connects
                sim.faults.drop_connections("stream")
                assert await until(lambda: public.connects > connects)
                assert public.last_reconnect_s is not None and public.last_reconnect_s >= 0
                assert await feed.wait_synced(10)
                await assert_books_match_sim(sim, engine, feed)

                # 4. a stalled stream: the watchdog reconnects
                stale = feed.counters["stale_reconnects"]
                sim.faults.stall_stream("BTCUSDT", 3.0)
                sim.faults.stall_stream("ETHUSDT", 3.0)
                assert await until(lambda: feed.counters["stale_reconnects"] > stale, timeout=8)
                assert await feed.wait_synced(15)

                # 4b. one symbol goes silent while the other keeps streaming
                stale = feed.counters["stale_reconnects"]
                sim.faults.stall_stream("ETHUSDT", 3.0)
                assert await until(lambda: feed.counters["stale_reconnects"] > stale, timeout=8)
                assert await feed.wait_synced(15)

                # 5. the snapshot endpoint fails, then recovers
                errors = feed.counters["snapshot_errors"]
                sim.faults.fail_rest(mode="status", status=503, count=3, path="/fapi/v1/depth")
                sim.faults.skip_events("ETHUSDT", 1)
                assert await until(lambda: feed.counters["snapshot_errors"] >= errors + 3)
                assert await feed.wait_synced(15)
                await assert_books_match_sim(sim, engine, feed)
            finally:
                await feed.stop()
    run(scenario(), timeout=120)


def drain_all(rings, name):
    from rtaid.store.tables import TABLES
    import numpy as np
    out = np.empty(rings.capacity, dtype=TABLES[name].dtype)
    return out[:rings.drain(name, out.view(np.uint8))]


def test_handover_before_the_age_limit_keeps_books_synced_and_every_event_once(run):
    """max_connection_age_s: a second connection opens, takes over, the old one closes;
    the books never resync, and every trade, depth event and bookTicker is taken once."""
    from rtaid._kernels.ring import RecordRings
    from rtaid.store.tables import TABLES

    async def scenario():
        async with SimExchange(SimConfig(port=0, rate=400, seed=13)) as sim:
            cfg = feed_config(sim, **{"feed.max_connection_age_s": 2.0})
            names = ("trades", "bbo", "book_events")
            rings = RecordRings({n: (TABLES[n].ring, TABLES[n].dtype.itemsize) for n in names},
                                1 << 16)
            engine = Engine(cfg.feed.symbols, rings=rings)
            feed = Feed(cfg, engine)
            await feed.start()
            try:
                assert await feed.wait_synced(10)
                assert await until(lambda: all(c.handovers >= 3 for c in feed.connections),
                                   timeout=20), [c.handovers for c in feed.connections]
                # every symbol stayed synced: one snapshot each, never a gap or resync
                assert feed.counters["snapshots"] == 2, dict(feed.counters)
                assert feed.counters["resyncs"] == 0 and feed.counters["reconnects"] == 0
                assert feed.counters["handover_failures"] == 0
                # frame counts span the handovers (each listener starts from zero)
                assert all(c.frames > c.listener.frames > 0 for c in feed.connections)
                await assert_books_match_sim(sim, engine, feed)
                stats = engine.overlap_stats()
                assert stats["duplicates"] > 0, stats      # the overlaps really overlapped
                assert await until(lambda: engine.overlap_stats()["overlaps"] == 0, timeout=5)
            finally:
                await feed.stop()
            events = drain_all(rings, "book_events")
            assert sorted(events["event"].tolist()) == [0, 0]   # "synced" once per symbol
            trades = drain_all(rings, "trades")
            bbo = drain_all(rings, "bbo")
            for sym in range(len(SYMBOLS)):
                ids = trades["trade_id"][trades["sym"] == sym]
                assert len(ids) > 100
                # consecutive ids: none lost in a handover, none taken twice
                assert (ids[1:] - ids[:-1] == 1).all(), ids[:-1][ids[1:] - ids[:-1] != 1]
                u = bbo["u"][bbo["sym"] == sym]
                assert len(u) > 100 and (u[1:] > u[:-1]).all()
    run(scenario(), timeout=60)
