# Kernel parameters from Python: SignalParams, families, capacities.
# Included by signals.pyx (one compilation unit: the inline helpers stay inline).

# ------------------------------------------------------------------ params from Python
cdef int fill_sig_params(SigParams* out, object params) except -1:
    """Fill ``out`` from an object with an attribute per parameter (``SignalParams``);
    capacities from optional attributes, else defaults."""
    p = params
    memset(out, 0, sizeof(SigParams))
    out.tobi_levels = p.tobi_levels
    out.tobi_decay = p.tobi_decay
    out.tobi_trade_window_ms = p.tobi_trade_window_ms
    out.ofi_window_ms = p.ofi_window_ms
    out.ofi_levels = p.ofi_levels
    if p.vpin_bucket_volume is not None:
        # Decision (V1): C = round(Decimal(repr(V)) * 10**qty_dec) lots, half-even
        lots = int((Decimal(repr(float(p.vpin_bucket_volume))) * 10**p.qty_dec).to_integral_value())
        if lots < 1:
            raise ValueError("vpin.bucket_volume is below one lot")
        out.vpin_capacity_lots = lots
    out.vpin_buckets = p.vpin_buckets
    out.vpin_calibration_ms = p.vpin_calibration_ms
    out.dev_ema_ms = p.dev_ema_ms
    out.kyle_interval_ms = p.kyle_interval_ms
    out.kyle_window = p.kyle_window
    out.kyle_min_intervals = p.kyle_min_intervals
    out.lpi_horizon_ms = p.lpi_horizon_ms
    out.lpi_half_life_ms = p.lpi_half_life_ms
    out.lpi_maker_fee_bps = p.lpi_maker_fee_bps
    out.lpi_history = p.lpi_history
    out.wall_levels = p.wall_levels
    out.norm_tau_ms = p.norm_tau_ms
    out.norm_warmup = p.norm_warmup
    out.norm_sigma_floor = p.norm_sigma_floor
    if p.strategy_name == "none":
        out.strategy_kind = STRAT_NONE
    elif p.strategy_name == "mean_reversion":
        out.strategy_kind = STRAT_MEAN_REVERSION
    elif p.strategy_name == "hybrid":
        out.strategy_kind = STRAT_HYBRID
    else:
        raise ValueError(f"unknown strategy {p.strategy_name!r}")
    out.strategy_entry_low = p.strategy_entry_low
    out.strategy_entry_high = p.strategy_entry_high
    out.strategy_exit_mid = p.strategy_exit_mid
    out.strategy_toxic_max = p.strategy_toxic_max
    out.strategy_max_hold_ms = p.strategy_max_hold_ms
    out.strategy_stop_bps = p.strategy_stop_bps
    out.strategy_cooldown_ms = p.strategy_cooldown_ms
    out.strategy_stale_ms = p.strategy_stale_ms
    out.strategy_order_qty = p.strategy_order_qty
    out.strategy_model_threshold = p.strategy_model_threshold
    out.tick_units = p.tick_units
    out.px_dec = p.px_dec
    out.qty_dec = p.qty_dec
    out.pscale = 10 ** p.px_dec
    out.qscale = 10 ** p.qty_dec
    out.trade_window_cap = getattr(p, "trade_window_cap", DEFAULT_CAPACITIES["trade_window_cap"])
    out.l1_window_cap = getattr(p, "l1_window_cap", DEFAULT_CAPACITIES["l1_window_cap"])
    out.depth_window_cap = getattr(p, "depth_window_cap", DEFAULT_CAPACITIES["depth_window_cap"])
    out.lpi_pending_cap = getattr(p, "lpi_pending_cap", DEFAULT_CAPACITIES["lpi_pending_cap"])
    out.disabled_families = family_mask(getattr(p, "disabled_families", ()))
    for name in ("tobi_levels", "ofi_levels", "wall_levels", "vpin_buckets", "kyle_window",
                 "lpi_history"):
        if getattr(p, name) < 1:
            raise ValueError(f"{name} must be >= 1")
    if max(p.tobi_levels, p.ofi_levels, p.wall_levels) > MAX_BOOK_LEVELS:
        raise ValueError(f"at most {MAX_BOOK_LEVELS} book levels")
    if min(out.trade_window_cap, out.l1_window_cap, out.depth_window_cap,
           out.lpi_pending_cap) < 1:
        raise ValueError("ring capacities must be >= 1")
    if (p.kyle_interval_ms < 1 or p.norm_tau_ms <= 0 or p.dev_ema_ms <= 0
            or p.lpi_half_life_ms <= 0 or out.tick_units <= 0):
        raise ValueError("interval_ms, tau_ms, ema_ms, half_life_ms and tick must be > 0")
    return 0


FAMILIES = {"tobi": FAM_TOBI, "ofi": FAM_OFI, "dev": FAM_DEV, "kyle": FAM_KYLE,
            "lpi": FAM_LPI, "ti": FAM_TI, "vpin": FAM_VPIN, "di": FAM_DI,
            "mlofi": FAM_MLOFI, "wall": FAM_WALL, "norm": FAM_NORM, "bars": FAM_BARS,
            "strategy": FAM_STRATEGY}


def family_mask(names):
    """FAM_* bits of the family names (``FAMILIES``)."""
    mask = 0
    for name in names:
        if name not in FAMILIES:
            raise KeyError(f"unknown indicator family {name!r}")
        mask |= FAMILIES[name]
    return mask


# Ring capacities (entries per symbol) of the time windows; generous for Binance rates
# (the busiest USD-M books send a few hundred L1 updates a second).
# High-water marks on the BTCUSDT recording of 2024-08-08 (SignalDriver.stats) at the
# default windows: 3,945 L1 updates in 10 s, 2,726 trades in 10 s, 195 diffs in 10 s,
# 2,428 trades pending in 5 s; these leave 8-40x headroom for bursts. ~3.3 MB per symbol
# allocated, but a window uses (touches) only the slots it has needed: its ring starts at
# 512 entries and doubles in place up to the capacity (signals.pyx, ring_widen).
DEFAULT_CAPACITIES = {
    "trade_window_cap": 1 << 15,    # trades within tobi.trade_window_ms
    "l1_window_cap": 1 << 15,       # L1 updates within ofi.window_ms
    "depth_window_cap": 1 << 13,    # depth diffs within ofi.window_ms
    "lpi_pending_cap": 1 << 15,     # trades within lpi.horizon_ms
}


cdef class SignalParams:
    """Kernel parameters of one symbol (the C struct ``SigParams``).

    Parameters
    ----------
    params : object or mapping
        Every signal parameter, named ``<section>_<key>`` after its config key
        (rtaid.infra.config.signal_keys: the schema declares them and their defaults),
        plus ``px_dec``, ``qty_dec``, ``tick_units`` (the tick in price units) and
        ``lpi_history``; as attributes or as a mapping. ``from_config`` builds them.
    **capacities
        Ring capacities overriding ``DEFAULT_CAPACITIES``; ``disabled_families``: names
        of ``FAMILIES`` not to compute (benchmarks; default none).
    """

    def __init__(self, params, **capacities):
        unknown = set(capacities) - set(DEFAULT_CAPACITIES) - {"disabled_families"}
        if unknown:
            raise KeyError(f"unknown capacities {sorted(unknown)}")
        if isinstance(params, Mapping):
            params = SimpleNamespace(**params)
        fill_sig_params(&self.c, _WithCaps(params, capacities))

    @classmethod
    def from_config(cls, cfg, px_dec, qty_dec, tick=None, **capacities):
        """The parameters of a symbol from its config.

        Parameters
        ----------
        cfg : rtaid.infra.config.SymbolConfig or Config
            The symbol's effective sections (``Config.for_symbol``).
        px_dec, qty_dec : int
            The symbol's price and quantity decimals (the decoder's).
        tick : Decimal, str or float, optional
            exchangeInfo's tickSize; None: one unit of the last price decimal.
        """
        from rtaid.infra.config import LPI_HISTORY, signal_values
        from rtaid.infra.exchange_info import tick_units
        values = signal_values(cfg)
        values.update(px_dec=px_dec, qty_dec=qty_dec, tick_units=tick_units(tick, px_dec),
                      lpi_history=LPI_HISTORY)
        return cls(values, **capacities)

    def as_dict(self):
        """The C struct as a dict."""
        return self.c


class _WithCaps:
    """Parameters with capacity attributes layered on top."""

    def __init__(self, params, caps):
        self._p = params
        self._caps = caps

    def __getattr__(self, name):
        if name in self._caps:
            return self._caps[name]
        return getattr(self._p, name)


def tsc_calibration(double seconds=0.05):
    """(cycles per ns, cycles of an empty profiled section) of the profiling clock, to
    turn ``Engine.profile`` counts into ns (RTAID_PROFILE=1 builds only)."""
    if not RTAID_PROFILE_BUILD:
        raise RuntimeError("the kernels were built without RTAID_PROFILE=1")
    import time
    cdef long long c0, c1, t0
    cdef int64_t i, n = 1_000_000, acc = 0
    cdef SymbolSignals probe
    memset(&probe, 0, sizeof(SymbolSignals))
    probe.profile = True
    p0 = time.perf_counter()
    c0 = rtaid_cycles()
    while time.perf_counter() - p0 < seconds:
        pass
    c1 = rtaid_cycles()
    per_ns = (c1 - c0) / ((time.perf_counter() - p0) * 1e9)
    with nogil:
        for i in range(n):
            t0 = prof_begin(&probe)
            prof_end(&probe, 0, t0)
    return per_ns, probe.prof_cycles[0] / <double>n
