"""The order first, then the record: a frame that changes the target has its order
written by the binance venue's C path before the frame's own rows and journal line go
into the store's rings (the listener records them after the wake-up), and every frame
is still recorded, once."""
from tests.exec.helpers import binance_config, daemon_at, run, until, with_sim
from tests.helpers import QUICK_TRADING_CONFIG


def test_the_order_goes_out_before_its_frame_is_recorded_and_every_frame_is_recorded(tmp_path):
    config_file = tmp_path / "rtaid.toml"
    config_file.write_text("[storage]\nraw_journal = true\n" + QUICK_TRADING_CONFIG)
    wakes = []

    async def scenario(sim):
        config = binance_config(sim, tmp_path / "data", "strategy.name=mean_reversion",
                                "execution.order_type=market", path=config_file)
        async with daemon_at(sim, config) as daemon:
            fast = daemon.execution.venue.fast
            drain = fast.fallback

            def observed():
                wakes.append((daemon.engine.tail_pending, fast.fired))
                drain()

            fast.fallback = observed
            assert await until(lambda: fast.fired >= 3, 60), (fast.fired, fast.passed_by)
            engine, store = daemon.engine, daemon.store
        return engine.frame_counts(), store.stats()

    counts, stats = run(with_sim(scenario, rate=300))
    # every wake-up came before its frame's records; some of them after a C-path order
    assert wakes and all(pending for pending, _ in wakes), wakes[:5]
    assert any(fired for _, fired in wakes)
    # ... and every frame was recorded once all the same
    decoded = {kind: sum(c.get(kind, 0) for c in counts.values()) for kind in ("bbo", "trade")}
    assert stats["rows_written"]["bbo"] == decoded["bbo"] > 0, (stats["rows_written"], counts)
    assert stats["rows_written"]["trades"] == decoded["trade"] > 0
    assert sum(stats["rows_dropped_ring"].values()) == 0
    assert stats["journal"]["lines_written"] >= sum(sum(c.values()) for c in counts.values())
