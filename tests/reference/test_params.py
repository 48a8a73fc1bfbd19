"""Params: every config key of indicators.md section 11 with its default."""
import pytest

from rtaid.reference.indicators import CONFIG_KEYS, Params

SECTION_11 = {
    "tobi.levels": 10, "tobi.decay": 0.5, "tobi.trade_window_ms": 10000,
    "ofi.window_ms": 10000, "ofi.levels": 10, "vpin.bucket_volume": None,
    "vpin.buckets": 50, "vpin.calibration_ms": 600000, "dev.ema_ms": 60000,
    "kyle.interval_ms": 1000, "kyle.window": 300, "kyle.min_intervals": 30,
    "lpi.horizon_ms": 5000, "lpi.half_life_ms": 60000, "lpi.maker_fee_bps": 2.0,
    "wall.levels": 20, "norm.tau_ms": 300000, "norm.warmup": 100, "norm.sigma_floor": 1e-12,
    "strategy.name": "mean_reversion", "strategy.entry_low": 10, "strategy.entry_high": 90,
    "strategy.exit_mid": 50, "strategy.toxic_max": 80, "strategy.max_hold_ms": 120000,
    "strategy.stop_bps": 15, "strategy.cooldown_ms": 30000, "strategy.stale_ms": 1000,
}


def test_defaults_of_every_key():
    p = Params()
    for key, default in SECTION_11.items():
        assert getattr(p, CONFIG_KEYS[key]) == default, key
    assert "strategy.order_qty" in CONFIG_KEYS


def test_with_keys_and_tick_units():
    p = Params(px_dec=2).with_keys({"tobi.levels": 5, "strategy.name": "none"})
    assert p.tobi_levels == 5 and p.strategy_name == "none"
    with pytest.raises(KeyError):
        p.with_keys({"tobi.nope": 1})
    assert p.tick_units == 1.0                                   # 10**-2 in 10**-2 units
    assert Params(px_dec=2, tick=0.1).tick_units == 10.0         # snapped to an integer
    assert Params(px_dec=1, tick=0.25).tick_units == 2.5


def test_defaults_agree_with_rtaid_config():
    config = pytest.importorskip("rtaid.infra.config")
    sc = config.Config().for_symbol("BTCUSDT")
    assert Params.from_config(sc, px_dec=2, qty_dec=3) == Params(px_dec=2, qty_dec=3)
