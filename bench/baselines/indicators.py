"""rtaid's indicators (docs: indicators.md) written the way a competent Python developer
writes a trading bot's signal layer: per-symbol state in plain objects with __slots__,
``collections.deque`` windows with running sums, exact int arithmetic on ticks and lots
(Python ints), ``math`` for the rest. Independent of rtaid: nothing here imports it.

Every event method returns the row of the ``indicators`` table (a tuple in COLUMNS
order) or None; closed one-minute bars go to ``bars_out`` and strategy target changes
to ``signals_out`` (both lists of tuples, BAR_COLUMNS / SIGNAL_COLUMNS order), which the
caller empties.

Section 8 (z-scores and oscillators) follows the current text of indicators.md: the
EWMA variance is divided by its weight ``w`` (sigma = sqrt(var / w)).
"""
from __future__ import annotations

import math
from collections import deque
from decimal import Decimal

NAN = float("nan")
SQRT2 = math.sqrt(2.0)
LN2 = math.log(2.0)
MINUTE_MS = 60_000

RAW = ("obi", "di", "ti", "mpd_ticks", "mpd_bps", "ofi", "ofi_norm", "mlofi_sum", "vpin",
       "kyle_lambda", "lpi", "wall_bid", "wall_ask", "wall_net", "wall_dist_bid",
       "wall_dist_ask", "dev_bps")
SERIES = ("obi", "di", "mpd_bps", "ofi_norm", "mlofi_sum", "vpin", "kyle_lambda", "lpi",
          "wall_net", "dev_bps")
NORMALISED = tuple(c for x in SERIES for c in (f"{x}_z", f"{x}_osc"))
COLUMNS = ("symbol", "ts_ms", "event", "u", "seq") + RAW + NORMALISED
BAR_COLUMNS = (("symbol", "minute_ms", "open", "high", "low", "close", "volume", "buy_volume",
                "sell_volume", "trade_count", "vwap", "spread_mean", "mid_last")
               + tuple(f"{c}_last" for c in RAW + NORMALISED))
SIGNAL_COLUMNS = ("symbol", "ts_ms", "seq", "prev_target", "target", "target_qty", "reason",
                  "mid", "dev_osc", "ofi_osc", "vpin_osc", "model_p")   # no model: NaN

# the defaults of indicators.md section 11 (+ strategy keys), by config key
DEFAULTS = {
    "tobi.levels": 10, "tobi.decay": 0.5, "tobi.trade_window_ms": 10_000,
    "ofi.window_ms": 10_000, "ofi.levels": 10,
    "vpin.bucket_volume": None, "vpin.buckets": 50, "vpin.calibration_ms": 600_000,
    "dev.ema_ms": 60_000,
    "kyle.interval_ms": 1000, "kyle.window": 300, "kyle.min_intervals": 30,
    "lpi.horizon_ms": 5000, "lpi.half_life_ms": 60_000, "lpi.maker_fee_bps": 2.0,
    "wall.levels": 20,
    "norm.tau_ms": 300_000, "norm.warmup": 100, "norm.sigma_floor": 1e-12,
    "strategy.name": "mean_reversion", "strategy.entry_low": 10.0, "strategy.entry_high": 90.0,
    "strategy.exit_mid": 50.0, "strategy.toxic_max": 80.0, "strategy.max_hold_ms": 120_000,
    "strategy.stop_bps": 15.0, "strategy.cooldown_ms": 30_000, "strategy.stale_ms": 1000,
    "strategy.order_qty": 0.001,
}
LPI_HISTORY = 4096      # "keep a history of at least 4096 states": rtaid keeps exactly this many


def settings(overrides: dict | None = None) -> dict:
    """DEFAULTS with config-key overrides (unknown keys are an error)."""
    out = dict(DEFAULTS)
    for key, value in (overrides or {}).items():
        if key not in out:
            raise KeyError(f"unknown indicator setting {key!r}")
        out[key] = value
    return out


def settings_from_params(params) -> dict:
    """Settings read from any object with an attribute per config key ('.' -> '_'), such
    as the Params of rtaid's reference (tests use it to give both sides the same values)."""
    return {key: getattr(params, key.replace(".", "_")) for key in DEFAULTS}


def tick_in_units(tick: float, px_dec: int) -> float:
    """The tick in price units (10**-px_dec), snapped to an integer when within 1e-9."""
    raw = tick * 10**px_dec
    near = round(raw)
    return float(near) if near > 0 and abs(raw - near) <= 1e-9 * max(1.0, abs(raw)) else raw


class Normaliser:
    """Time-decayed EWMA mean/variance with its weight; z and [0, 100] oscillator."""

    __slots__ = ("tau", "warmup", "floor", "n", "mu", "var", "w", "t_prev")

    def __init__(self, tau_ms: int, warmup: int, floor: float):
        self.tau = float(tau_ms)
        self.warmup = max(warmup, 1)
        self.floor = floor
        self.n = 0
        self.mu = self.var = self.w = 0.0
        self.t_prev = 0

    def update(self, x: float, t: int) -> tuple:
        """(z, osc) of this update; NaN x leaves the state alone."""
        if not math.isfinite(x):
            return NAN, NAN
        self.n += 1
        if self.n == 1:
            self.mu = x
            self.var = self.w = 0.0
            self.t_prev = t
            return NAN, NAN
        dt = t - self.t_prev
        a = 1.0 - math.exp(-float(dt if dt > 0 else 0) / self.tau)
        w = self.w
        mu = self.mu
        z = NAN
        if w > 0.0 and self.n - 1 >= self.warmup:
            sigma = math.sqrt(self.var / w)
            z = (x - mu) / (sigma if sigma >= self.floor else self.floor)
        d = x - mu
        self.mu = mu + a * d
        self.var = (1.0 - a) * (self.var + a * d * d)
        self.w = (1.0 - a) * (w + a)
        self.t_prev = t
        if z != z:
            return NAN, NAN
        zc = -20.0 if z < -20.0 else (20.0 if z > 20.0 else z)
        return z, 50.0 * math.erfc(-zc / SQRT2)


class Kyle:
    """Kyle's lambda over the last W one-interval pairs (x, y), centred Welford/West
    add/remove updates re-synced from the window every W updates (section 5)."""

    __slots__ = ("dt", "W", "min_n", "scale", "open_i", "open_end", "open_x", "cur_m2",
                 "prev_m2", "closed_any", "X", "Y", "mx", "my", "cxx", "cxy", "updates",
                 "value")

    def __init__(self, interval_ms: int, window: int, min_intervals: int, px_dec: int, qty_dec: int):
        self.dt = interval_ms
        self.W = window
        self.min_n = min_intervals
        self.scale = float(10 ** (px_dec + qty_dec)) * 1e6
        self.open_i = None
        self.open_end = 0
        self.open_x = 0
        self.cur_m2 = None
        self.prev_m2 = None
        self.closed_any = False
        self.X: deque = deque()
        self.Y: deque = deque()
        self.mx = self.my = self.cxx = self.cxy = 0.0
        self.updates = 0
        self.value = NAN

    def _resync(self) -> None:
        n = len(self.X)
        self.updates = 0
        if not n:
            self.mx = self.my = self.cxx = self.cxy = 0.0
            return
        mx = math.fsum(self.X) / n
        my = math.fsum(self.Y) / n
        self.mx, self.my = mx, my
        self.cxx = math.fsum((x - mx) * (x - mx) for x in self.X)
        self.cxy = math.fsum((x - mx) * (y - my) for x, y in zip(self.X, self.Y))

    def _push(self, x: int, y: float) -> None:
        X, Y = self.X, self.Y
        if len(X) == self.W:
            x0, y0 = X.popleft(), Y.popleft()
            n = len(X)
            if n == 0:
                self.mx = self.my = self.cxx = self.cxy = 0.0
            else:
                dx = x0 - self.mx
                self.mx -= dx / n
                self.my -= (y0 - self.my) / n
                self.cxx -= dx * (x0 - self.mx)
                self.cxy -= dx * (y0 - self.my)
            self.updates += 1
        X.append(x)
        Y.append(y)
        n = len(X)
        dx = x - self.mx
        self.mx += dx / n
        self.my += (y - self.my) / n
        self.cxx += dx * (x - self.mx)
        self.cxy += dx * (y - self.my)
        self.updates += 1
        if self.updates >= self.W:
            self._resync()

    def _close(self, x: int) -> bool:
        m_end = self.cur_m2
        entered = False
        if self.closed_any and m_end is not None and self.prev_m2 is not None:
            self._push(x, (10000 * (m_end - self.prev_m2)) / self.prev_m2)
            entered = True
        self.closed_any = True
        self.prev_m2 = m_end
        return entered

    def advance(self, T: int) -> bool:
        """Before each L1 update or trade: close the intervals T has passed.
        True when a pair entered the window (lambda recomputed)."""
        if self.open_i is not None and T < self.open_end:
            return False
        i = T // self.dt
        if self.open_i is None:
            self.open_i = i
            self.open_end = (i + 1) * self.dt
            return False
        entered = self._close(self.open_x)
        for _ in range(min(i - self.open_i - 1, self.W + 1)):
            entered = self._close(0) or entered
        self.open_i = i
        self.open_end = (i + 1) * self.dt
        self.open_x = 0
        if entered:
            self.value = self._compute()
        return entered

    def _compute(self) -> float:
        X, Y = self.X, self.Y
        n = len(X)
        if n < self.min_n:
            return NAN
        first = X[0]
        if self.cxx == 0.0 or all(x == first for x in X):
            return NAN          # Var(x) = 0
        y0 = Y[0]
        if all(y == y0 for y in Y):
            return 0.0          # the mid did not move over the window: Cov = 0 exactly
        return self.scale * (self.cxy / self.cxx)


class Lpi:
    """Volume-weighted EWMA of matured realized spreads minus the maker fee (section 6)."""

    __slots__ = ("h", "half_life", "fee", "scale", "history", "pending", "inversions",
                 "sw", "swx", "t_prev", "value")

    def __init__(self, horizon_ms: int, half_life_ms: int, fee_bps: float, qty_dec: int):
        self.h = horizon_ms
        self.half_life = float(half_life_ms)
        self.fee = fee_bps
        self.scale = 10**qty_dec
        self.history: deque = deque(maxlen=LPI_HISTORY)   # (T, m2)
        self.pending: deque = deque()                       # (T, d, px, qty, m2 at the trade)
        self.inversions = 0     # adjacent pending trades out of time order
        self.sw = self.swx = 0.0
        self.t_prev = None
        self.value = NAN

    def on_trade(self, T: int, d: int, px: int, qty: int) -> None:
        for t_s, m2 in reversed(self.history):
            if t_s <= T:
                break
        else:
            return              # no L1 state at or before the trade: it never enters lpi
        pending = self.pending
        if pending and T < pending[-1][0]:
            self.inversions += 1
        pending.append((T, d, px, qty, m2))

    def _mature(self, trade, m2: int) -> None:
        t_i, d, px, qty, m2_i = trade
        rs = (10000 * d * (2 * px - m2)) / m2_i
        if self.t_prev is None:
            f = 1.0
        else:
            dt = t_i - self.t_prev
            f = math.exp(-LN2 * float(dt if dt > 0 else 0) / self.half_life)
        q = qty / self.scale
        self.sw = f * self.sw + q
        self.swx = f * self.swx + q * rs
        self.t_prev = t_i

    def on_l1(self, T: int, m2: int) -> int:
        """Record the L1 state and mature the trades due; returns how many matured."""
        self.history.append((T, m2))
        pending = self.pending
        if not pending:
            return 0
        cutoff = T - self.h
        matured = 0
        if not self.inversions:
            while pending and pending[0][0] <= cutoff:
                self._mature(pending.popleft(), m2)
                matured += 1
        else:
            keep = deque()
            for tr in pending:
                if tr[0] <= cutoff:
                    self._mature(tr, m2)
                    matured += 1
                else:
                    keep.append(tr)
            if matured:
                self.pending = keep
                self.inversions = sum(1 for a, b in zip(keep, list(keep)[1:]) if b[0] < a[0])
        if matured:
            self.value = self.swx / self.sw - self.fee if self.sw != 0.0 else NAN
        return matured


class Vpin:
    """VPIN on volume buckets with exact integer arithmetic (section 4).

    Volumes are counted in lots * ``mult``: with a calibrated bucket size V = cal / n,
    counting in lots * n makes the capacity the integer ``cal``.
    """

    __slots__ = ("n", "calibration_ms", "capacity", "mult", "calibrating", "t0", "cal",
                 "buy", "sell", "ois", "oi_sum", "completed", "value")

    def __init__(self, buckets: int, qty_dec: int, bucket_volume, calibration_ms: int):
        self.n = buckets
        self.calibration_ms = calibration_ms
        if bucket_volume is not None:
            lots = int((Decimal(repr(float(bucket_volume))) * 10**qty_dec).to_integral_value())
            if lots < 1:
                raise ValueError("vpin.bucket_volume is below one lot")
            self.capacity, self.mult, self.calibrating = lots, 1, False
        else:
            self.capacity, self.mult, self.calibrating = 0, buckets, True
        self.t0 = None
        self.cal = 0
        self.buy = self.sell = 0
        self.ois: deque = deque()
        self.oi_sum = 0
        self.completed = 0
        self.value = NAN

    def on_trade(self, T: int, d: int, qty: int) -> int:
        """Fill buckets; returns how many this trade completed."""
        if self.calibrating:
            if self.t0 is None:
                self.t0 = T
            if T < self.t0 + self.calibration_ms:
                self.cal += qty
                return 0
            self.calibrating = False
            self.capacity = self.cal
        cap = self.capacity
        if not cap:
            return 0
        rem = qty * self.mult
        done = 0
        while rem > 0:
            take = min(cap - self.buy - self.sell, rem)
            if d > 0:
                self.buy += take
            else:
                self.sell += take
            rem -= take
            if self.buy + self.sell == cap:
                oi = abs(self.buy - self.sell)
                self.ois.append(oi)
                self.oi_sum += oi
                if len(self.ois) > self.n:
                    self.oi_sum -= self.ois.popleft()
                self.buy = self.sell = 0
                done += 1
        if done:
            self.completed += done
            if self.completed >= self.n:
                self.value = self.oi_sum / (self.n * cap)
        return done


class Bar:
    """The open one-minute bar of a symbol (section 10)."""

    __slots__ = ("start", "o", "h", "l", "c", "vol", "buy", "sell", "count", "pq",
                 "spread_sum", "spread_n", "has_row")

    def __init__(self, start: int):
        self.start = start
        self.o = self.h = self.l = self.c = None
        self.vol = self.buy = self.sell = self.count = self.pq = 0
        self.spread_sum = self.spread_n = 0
        self.has_row = False


class SymbolSignals:
    """Indicators, normalisers, bars and the mean-reversion strategy of one symbol.

    Parameters
    ----------
    symbol : str
    cfg : dict
        ``settings()``: indicator and strategy settings by config key.
    px_dec, qty_dec : int
        Decimals of the symbol's price and quantity (ticks and lots).
    tick : float or None
        tickSize (None: one unit of the last price decimal).
    l1_from_book : bool
        No bookTicker stream: L1 is the top of the synced book after each diff.
    """

    def __init__(self, symbol: str, cfg: dict, px_dec: int, qty_dec: int,
                 tick: float | None = None, l1_from_book: bool = False):
        self.symbol = symbol
        self.l1_from_book = l1_from_book
        self.pscale = 10**px_dec
        self.qscale = 10**qty_dec
        self.tick_units = tick_in_units(tick if tick is not None else 10.0 ** -px_dec, px_dec)
        self.levels_di = cfg["tobi.levels"]
        self.weights = [cfg["tobi.decay"] ** k for k in range(self.levels_di)]
        self.levels_ofi = cfg["ofi.levels"]
        self.levels_wall = cfg["wall.levels"]
        self.depth_n = max(self.levels_di, self.levels_ofi, self.levels_wall)
        self.seq = 0
        # L1
        self.has_l1 = False
        self.pb = self.qb = self.pa = self.qa = 0
        self.l1_T = None
        self.last_bbo_u = None
        self.book_synced = False
        # raw values
        self.v = dict.fromkeys(RAW, NAN)
        # windows
        self.ti_window_ms = cfg["tobi.trade_window_ms"]
        self.ti_q: deque = deque()
        self.vbuy = self.vsell = 0
        self.ofi_window_ms = cfg["ofi.window_ms"]
        self.ofi_prev = None
        self.ofi_q: deque = deque()
        self.ofi_e = self.ofi_qsum = 0
        self.ml_prev = None
        self.ml_q: deque = deque()
        self.ml_e = [0] * self.levels_ofi
        self.ml_depth = 0
        self.vpin = Vpin(cfg["vpin.buckets"], qty_dec, cfg["vpin.bucket_volume"], cfg["vpin.calibration_ms"])
        self.kyle = Kyle(cfg["kyle.interval_ms"], cfg["kyle.window"], cfg["kyle.min_intervals"],
                         px_dec, qty_dec)
        self.lpi = Lpi(cfg["lpi.horizon_ms"], cfg["lpi.half_life_ms"], cfg["lpi.maker_fee_bps"], qty_dec)
        self.dev_ema_ms = float(cfg["dev.ema_ms"])
        self.ema = None
        self.ema_t = 0
        # normalisers: one per series, their z and osc carried between updates
        self.norms = {x: Normaliser(cfg["norm.tau_ms"], cfg["norm.warmup"], cfg["norm.sigma_floor"])
                      for x in SERIES}
        self.z = dict.fromkeys(SERIES, NAN)
        self.osc = dict.fromkeys(SERIES, NAN)
        # bars
        self.bar: Bar | None = None
        self.timer_closed_end = None
        self.last_row = None
        self.bars_out: list = []
        # strategy
        self.trading = cfg["strategy.name"] == "mean_reversion"
        if cfg["strategy.name"] not in ("mean_reversion", "none"):
            raise ValueError(f"unknown strategy {cfg['strategy.name']!r}")
        self.entry_low = cfg["strategy.entry_low"]
        self.entry_high = cfg["strategy.entry_high"]
        self.exit_mid = cfg["strategy.exit_mid"]
        self.toxic_max = cfg["strategy.toxic_max"]
        self.max_hold_ms = cfg["strategy.max_hold_ms"]
        self.stop_bps = cfg["strategy.stop_bps"]
        self.cooldown_ms = cfg["strategy.cooldown_ms"]
        self.stale_ms = cfg["strategy.stale_ms"]
        self.order_qty = cfg["strategy.order_qty"]
        self.target = 0
        self.entry_T = self.entry_mid = self.exit_T = None
        self.signals_out: list = []

    # ------------------------------------------------------------------ helpers
    def mid(self) -> float:
        return (self.pb + self.pa) / (2 * self.pscale) if self.has_l1 else NAN

    def _norm(self, x: str, T: int) -> None:
        self.z[x], self.osc[x] = self.norms[x].update(self.v[x], T)

    def _bar_advance(self, T: int) -> None:
        """Before each row-producing event: the first event past the minute closes it."""
        bar = self.bar
        if bar is None:
            start = T // MINUTE_MS * MINUTE_MS
            if self.timer_closed_end is not None and start < self.timer_closed_end:
                start = self.timer_closed_end   # that minute's bar is already out
            self.bar = Bar(start)
        elif T >= bar.start + MINUTE_MS:
            self._emit_bar(bar)
            self.bar = Bar(T // MINUTE_MS * MINUTE_MS)

    def _emit_bar(self, bar: Bar) -> None:
        ps, qs = self.pscale, self.qscale
        if bar.o is None:
            o = h = l = c = NAN
        else:
            o, h, l, c = bar.o / ps, bar.h / ps, bar.l / ps, bar.c / ps
        row = self.last_row
        self.bars_out.append((
            self.symbol, bar.start, o, h, l, c, bar.vol / qs, bar.buy / qs, bar.sell / qs,
            bar.count, bar.pq / (bar.vol * ps) if bar.vol else NAN,
            bar.spread_sum / (bar.spread_n * ps) if bar.spread_n else NAN, self.mid(),
        ) + row[5:])

    def bar_timer(self, now_ms: int) -> None:
        """Live: close the open bar one second after its minute if no event did."""
        bar = self.bar
        if bar is not None and bar.has_row and now_ms >= bar.start + MINUTE_MS + 1000:
            self._emit_bar(bar)
            self.timer_closed_end = bar.start + MINUTE_MS
            self.bar = None

    def finish(self) -> None:
        """End of input: emit the open bar."""
        if self.bar is not None and self.bar.has_row:
            self._emit_bar(self.bar)
        self.bar = None

    def _row(self, T: int, event: str, u: int):
        v, z, osc = self.v, self.z, self.osc
        for x in SERIES:
            if v[x] != v[x]:    # a NaN raw value: NaN z and osc
                z[x] = osc[x] = NAN
        row = (self.symbol, T, event, u, self.seq, *v.values(),
               z["obi"], osc["obi"], z["di"], osc["di"], z["mpd_bps"], osc["mpd_bps"],
               z["ofi_norm"], osc["ofi_norm"], z["mlofi_sum"], osc["mlofi_sum"],
               z["vpin"], osc["vpin"], z["kyle_lambda"], osc["kyle_lambda"],
               z["lpi"], osc["lpi"], z["wall_net"], osc["wall_net"], z["dev_bps"], osc["dev_bps"])
        self.seq += 1
        self.last_row = row
        self.bar.has_row = True
        if self.trading:
            self._strategy(row, T)
        return row

    # ------------------------------------------------------------------ strategy (section 9)
    def _strategy(self, row, T: int) -> None:
        osc = self.osc
        dev, ofi, vpin = osc["dev_bps"], osc["ofi_norm"], osc["vpin"]
        mid = self.mid()
        if self.target == 0:
            if self.exit_T is not None and T < self.exit_T + self.cooldown_ms:
                return
            if not self.book_synced or self.l1_T is None or T - self.l1_T > self.stale_ms or mid != mid:
                return
            if dev <= self.entry_low and ofi >= 50.0 and vpin <= self.toxic_max:
                new, reason = 1, "entry_long"
            elif dev >= self.entry_high and ofi <= 50.0 and vpin <= self.toxic_max:
                new, reason = -1, "entry_short"
            else:
                return
            self.entry_T, self.entry_mid = T, mid
        else:
            if self.target == 1:
                loss = 1e4 * (self.entry_mid - mid) / self.entry_mid
                dev_exit = dev >= self.exit_mid
            else:
                loss = 1e4 * (mid - self.entry_mid) / self.entry_mid
                dev_exit = dev <= self.exit_mid
            if dev_exit:
                reason = "exit_mid"
            elif T - self.entry_T > self.max_hold_ms:
                reason = "max_hold"
            elif loss > self.stop_bps:
                reason = "stop_loss"
            else:
                return
            new = 0
            self.exit_T = T
        self.signals_out.append((self.symbol, T, row[4], self.target, new, new * self.order_qty,
                                 reason, mid, dev, ofi, vpin, NAN))
        self.target = new

    # ------------------------------------------------------------------ L1 (sections 1-3, 5, 6, 9)
    def _l1(self, T: int, pb: int, qb: int, pa: int, qa: int) -> None:
        v = self.v
        kyle = self.kyle
        if kyle.advance(T):
            v["kyle_lambda"] = kyle.value
            self._norm("kyle_lambda", T)
        self.has_l1 = True
        self.pb, self.qb, self.pa, self.qa = pb, qb, pa, qa
        self.l1_T = T
        m2 = pb + pa
        den = qb + qa
        if den:
            obi = (qb - qa) / den
            wm = (pa - pb) / 2 * obi
            v["obi"] = obi
            v["mpd_ticks"] = wm / self.tick_units
            v["mpd_bps"] = (1e4 * wm) / (m2 / 2)
        else:
            v["obi"] = v["mpd_ticks"] = v["mpd_bps"] = NAN
        # OFI (Cont, Kukanov, Stoikov), exact window of (T, e, Qb + Qa)
        prev = self.ofi_prev
        e = 0
        if prev is not None:
            pb0, qb0, pa0, qa0 = prev
            if pb >= pb0:
                e += qb
            if pb <= pb0:
                e -= qb0
            if pa <= pa0:
                e -= qa
            if pa >= pa0:
                e += qa0
        self.ofi_prev = (pb, qb, pa, qa)
        q = self.ofi_q
        q.append((T, e, den))
        self.ofi_e += e
        self.ofi_qsum += den
        edge = T - self.ofi_window_ms
        while q[0][0] <= edge:
            _, e0, s0 = q.popleft()
            self.ofi_e -= e0
            self.ofi_qsum -= s0
        v["ofi"] = self.ofi_e / self.qscale
        v["ofi_norm"] = (2 * len(q) * self.ofi_e) / self.ofi_qsum if self.ofi_qsum else NAN
        # price deviation from its EMA
        mid = m2 / (2 * self.pscale)
        if self.ema is None:
            self.ema = mid
        else:
            dt = T - self.ema_t
            a = 1.0 - math.exp(-float(dt if dt > 0 else 0) / self.dev_ema_ms)
            self.ema = self.ema + a * (mid - self.ema)
        self.ema_t = T
        v["dev_bps"] = 1e4 * (mid - self.ema) / self.ema
        kyle.cur_m2 = m2
        matured = self.lpi.on_l1(T, m2)
        v["lpi"] = self.lpi.value
        bar = self.bar
        bar.spread_sum += pa - pb
        bar.spread_n += 1
        self._norm("obi", T)
        self._norm("mpd_bps", T)
        self._norm("ofi_norm", T)
        self._norm("dev_bps", T)
        if matured:
            self._norm("lpi", T)

    def _reset_ofi(self) -> None:
        self.ofi_prev = None
        self.ofi_q.clear()
        self.ofi_e = self.ofi_qsum = 0

    # ------------------------------------------------------------------ events
    def on_bbo(self, T: int, u: int, pb: int, qb: int, pa: int, qa: int):
        if self.last_bbo_u is not None and u < self.last_bbo_u:
            return None         # stale
        self.last_bbo_u = u
        self._bar_advance(T)
        self._l1(T, pb, qb, pa, qa)
        return self._row(T, "bbo", u)

    def on_trade(self, T: int, trade_id: int, px: int, qty: int, buyer_is_maker: bool):
        d = -1 if buyer_is_maker else 1
        self._bar_advance(T)
        v = self.v
        kyle = self.kyle
        if kyle.advance(T):
            v["kyle_lambda"] = kyle.value
            self._norm("kyle_lambda", T)
        kyle.open_x += d * px * qty
        # trade imbalance over the window
        q = self.ti_q
        q.append((T, d, qty))
        if d > 0:
            self.vbuy += qty
        else:
            self.vsell += qty
        edge = T - self.ti_window_ms
        while q[0][0] <= edge:
            _, d0, q0 = q.popleft()
            if d0 > 0:
                self.vbuy -= q0
            else:
                self.vsell -= q0
        tot = self.vbuy + self.vsell
        v["ti"] = (self.vbuy - self.vsell) / tot if tot else NAN
        if self.vpin.on_trade(T, d, qty):
            v["vpin"] = self.vpin.value
            self._norm("vpin", T)
        else:
            v["vpin"] = self.vpin.value
        self.lpi.on_trade(T, d, px, qty)
        bar = self.bar
        if bar.o is None:
            bar.o = bar.h = bar.l = px
        elif px > bar.h:
            bar.h = px
        elif px < bar.l:
            bar.l = px
        bar.c = px
        bar.vol += qty
        if d > 0:
            bar.buy += qty
        else:
            bar.sell += qty
        bar.count += 1
        bar.pq += px * qty
        return self._row(T, "trade", trade_id)

    def on_depth(self, T: int, u: int, status: str, book):
        """After the book processed a diff with this status ('synced', 'applied', 'gap',
        'crossed' give a row; anything else none)."""
        self.book_synced = book.synced
        if status not in ("synced", "applied", "gap", "crossed"):
            return None
        self._bar_advance(T)
        v = self.v
        if status == "gap" or status == "crossed":
            # the break clears the L2 windows; L2 values are NaN until the next applied diff
            self._reset_mlofi()
            v["di"] = v["mlofi_sum"] = NAN
            v["wall_bid"] = v["wall_ask"] = v["wall_net"] = v["wall_dist_bid"] = v["wall_dist_ask"] = NAN
            if self.l1_from_book:
                self._reset_ofi()
            return self._row(T, "depth", u)
        if status == "synced":
            self._reset_mlofi()
            if self.l1_from_book:
                self._reset_ofi()
        n = self.depth_n
        bids = book.bids.top(n)
        asks = book.asks.top(n)
        self._depth_imbalance(bids, asks)
        self._mlofi(T, bids, asks)
        self._wall(bids, asks)
        self._norm("di", T)
        self._norm("mlofi_sum", T)
        self._norm("wall_net", T)
        if self.l1_from_book and bids and asks:
            self._l1(T, bids[0][0], bids[0][1], asks[0][0], asks[0][1])
        return self._row(T, "depth", u)

    # ------------------------------------------------------------------ L2 (sections 1, 3, 7)
    def _depth_imbalance(self, bids, asks) -> None:
        num = den = 0.0
        nb, na = len(bids), len(asks)
        for k, w in enumerate(self.weights):
            qb = bids[k][1] if k < nb else 0
            qa = asks[k][1] if k < na else 0
            num += w * float(qb - qa)
            den += w * float(qb + qa)
        self.v["di"] = num / den if den != 0.0 else NAN

    def _reset_mlofi(self) -> None:
        self.ml_prev = None
        self.ml_q.clear()
        self.ml_e = [0] * self.levels_ofi
        self.ml_depth = 0

    def _mlofi(self, T: int, bids, asks) -> None:
        K = self.levels_ofi
        bids, asks = bids[:K], asks[:K]
        prev = self.ml_prev
        sums = self.ml_e
        e = None
        if prev is not None:
            pbids, pasks = prev
            e = [0] * K
            for k in range(min(len(bids), len(asks), len(pbids), len(pasks))):
                pb0, qb0 = pbids[k]
                pa0, qa0 = pasks[k]
                pb1, qb1 = bids[k]
                pa1, qa1 = asks[k]
                ek = 0
                if pb1 >= pb0:
                    ek += qb1
                if pb1 <= pb0:
                    ek -= qb0
                if pa1 <= pa0:
                    ek -= qa1
                if pa1 >= pa0:
                    ek += qa0
                e[k] = ek
                sums[k] += ek
        self.ml_prev = (bids, asks)
        depth = sum(q for _, q in bids) + sum(q for _, q in asks)
        q = self.ml_q
        q.append((T, e, depth))
        self.ml_depth += depth
        edge = T - self.ofi_window_ms
        while q[0][0] <= edge:
            _, e0, d0 = q.popleft()
            if e0 is not None:
                for k in range(K):
                    sums[k] -= e0[k]
            self.ml_depth -= d0
        self.v["mlofi_sum"] = ((2 * K * len(q) * sum(sums)) / self.ml_depth) if self.ml_depth else NAN

    def _wall(self, bids, asks) -> None:
        L = self.levels_wall
        v = self.v
        wb, db = self._wall_side(bids[:L])
        wa, da = self._wall_side(asks[:L])
        v["wall_bid"], v["wall_ask"], v["wall_dist_bid"], v["wall_dist_ask"] = wb, wa, db, da
        v["wall_net"] = math.log(wb / wa) if wb == wb and wa == wa else NAN

    def _wall_side(self, levels) -> tuple:
        if not levels:
            return NAN, NAN
        best_px, best_q = levels[0]
        total = 0
        for px, q in levels:
            total += q
            if q > best_q:
                best_px, best_q = px, q
        if not total:
            return NAN, NAN
        return (best_q * len(levels)) / total, abs(best_px - levels[0][0]) / self.tick_units
