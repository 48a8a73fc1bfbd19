"""The hybrid strategy's model at work: in the daemon and in ``rtaid replay``.

At each closed one-minute bar of a symbol whose strategy is ``hybrid`` (the engine
queues it as an execution event), the runner appends the bar to the symbol's
``BarHistory``, computes the model's p_up from the one feature function training used
(rtaid/ai/features.py) and hands it to the engine, which gates the symbol's entries
with it from exchange time ``bar close + strategy.model_delay_ms`` on. This runs in the
daemon's execution task, between frames, never in the frame callback; in replay it
runs after the frame that closed the bar. Because the engine applies a probability on
exchange time, a live run and a replay of its journal compute the same probabilities and
take the same decisions (tested).

A model that fails (an exception while predicting) gives NaN: no new entries, the feed
and the exits go on; the failure is logged (rate-limited) and counted. A model file is
validated before it replaces the one in use (start, SIGHUP).
"""
from __future__ import annotations

import time

from rtaid._kernels.hist import LatencyHistogram
from rtaid.ai.features import BarHistory
from rtaid.ai.model import Model, ModelError
from rtaid.infra.log import RateLimitedLog, get_logger

log = get_logger("rtaid.ai.live")
MINUTE_MS = 60_000


def hybrid_symbols(config, symbols) -> dict[str, object]:
    """``{symbol: its SymbolConfig}`` of the symbols whose strategy is hybrid."""
    out = {}
    for sym in symbols:
        cfg = config.for_symbol(sym) if sym in config.feed.symbols else config
        if cfg.strategy.name == "hybrid":
            out[sym] = cfg
    return out


class ModelRunner:
    """Compute each hybrid symbol's p_up at its bar closes and give it to the engine.

    Parameters
    ----------
    engine : rtaid._kernels.engine.Engine
    config : rtaid.infra.config.Config
        ``strategy.model_path`` and, per symbol, ``strategy.model_delay_ms``.
    model : Model, optional
        Already loaded (tests); default: ``Model.load(strategy.model_path)``.
    log_level : str
        Of the ``model_p`` line logged per prediction: "info" live (one per symbol and
        minute), "debug" in replay (a month of bars is not news).

    Raises
    ------
    ModelError
        The model file is missing, damaged, for other features, or LightGBM is missing.
    """

    def __init__(self, engine, config, model: Model | None = None,
                 log_level: str = "info") -> None:
        self.engine = engine
        self.symbols = hybrid_symbols(config, engine.symbols)
        self.model = model if model is not None else Model.load(config.strategy.model_path)
        self.history = {sym: BarHistory() for sym in self.symbols}
        self.delay_ms = {sym: cfg.strategy.model_delay_ms for sym, cfg in self.symbols.items()}
        self.index = {s: i for i, s in enumerate(engine.symbols)}
        self.predictions = 0
        self.failures = 0
        # features + predict of one bar (ns), exported as rtaid_model_inference_seconds;
        # it runs on the event loop between frames, so it is also how long a frame
        # arriving meanwhile can wait (bench/model.py measures that wait)
        self.latency = {"model_inference": LatencyHistogram()}
        self._log_p = getattr(log, log_level)
        self._failed_log = RateLimitedLog(log, 60.0)
        engine.queue_bars = bool(self.symbols)

    def on_bar(self, bar: dict) -> float | None:
        """A closed bar (an execution event of type "bar"); returns the p_up handed to
        the engine (None: not a hybrid symbol)."""
        sym = bar["symbol"]
        history = self.history.get(sym)
        if history is None:
            return None
        t0 = time.perf_counter_ns()
        wall0 = time.time_ns()
        try:
            history.append(bar)
            p = float(self.model.predict_proba(history.features()))
            self.predictions += 1
        except Exception as exc:   # noqa: BLE001 - a failing model stops entries, not the feed
            self.failures += 1
            p = float("nan")
            self._failed_log.error(sym, "model_failed", symbol=sym,
                                   error=f"{type(exc).__name__}: {exc}",
                                   consequence="no new entries until the model works again")
        spent = time.perf_counter_ns() - t0
        self.latency["model_inference"].record(spent)
        self._log_p("model_p", symbol=sym, minute_ms=int(bar["minute_ms"]),
                    p_up=p if p == p else None, inference_us=round(spent / 1e3, 1),
                    start_ns=wall0)
        self.engine.set_model_p(self.index[sym], p,
                                int(bar["minute_ms"]) + MINUTE_MS + self.delay_ms[sym])
        return p

    def reload(self, path: str) -> bool:
        """SIGHUP: load and validate ``path``; replace the model only when it is usable."""
        try:
            model = Model.load(path)
        except ModelError as exc:
            log.error("model_reload_rejected", path=path, error=str(exc),
                      consequence="the model in use stays")
            return False
        self.model = model
        log.info("model_loaded", path=path, sha256=model.sha256[:16],
                 trained=model.metadata.get("training_range"))
        return True

    def status(self) -> dict:
        return {"model": self.model.path, "sha256": self.model.sha256,
                "symbols": sorted(self.symbols), "predictions": self.predictions,
                "failures": self.failures}
