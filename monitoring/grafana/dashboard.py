"""Writes rtaid.json, the Grafana dashboard (classic JSON model), from the panels below.

    python monitoring/grafana/dashboard.py           # rewrite rtaid.json
    python monitoring/grafana/dashboard.py --check   # exit 1 if rtaid.json is out of date

Edit the panels here, not the JSON: tests/monitoring checks that rtaid.json is this
file's output and that every query names only series a live daemon exports. Variables:
``datasource`` (any Prometheus data source), ``instance`` (every daemon/shard scraped)
and ``symbol``; the queries use Grafana's ``$__rate_interval``.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

OUT = pathlib.Path(__file__).with_name("rtaid.json")
DS = {"type": "prometheus", "uid": "${datasource}"}
INSTANCE = 'instance=~"$instance"'
SYMBOL = 'instance=~"$instance", symbol=~"$symbol"'
RATE = "[$__rate_interval]"
STAGES = (  # metric, title, what it times
    ("rtaid_frame_seconds", "Frame: receipt to engine done",
     "Everything the engine does for one frame (decode, book, signals, records)."),
    ("rtaid_frame_to_signal_seconds", "Frame to signal",
     "A frame's receipt to its signals computed."),
    ("rtaid_decode_seconds", "Decode", "Decoding one frame."),
    ("rtaid_book_seconds", "Book",
     "Applying a depth event or snapshot to the book (live: up to the levels the signals "
     "read; the rest of the event comes after the frame's order, in Frame)."),
    ("rtaid_signals_seconds", "Signals", "The signal kernels and their records for one event."),
    ("rtaid_tick_to_order_seconds", "Tick to order",
     "The frame that changed a target to its order handed to the transport "
     "(with an execution venue)."),
    ("rtaid_tick_to_deferred_order_seconds", "Tick to deferred order",
     "Orders a decision held back past their frame's turn (the previous order's answer "
     "pending, a cancel first): the frame to the order, the wait included."),
    ("rtaid_order_round_trip_seconds", "Order round trip",
     "An order request sent to the venue's acknowledgement (with an execution venue)."),
    ("rtaid_exchange_lag_seconds", "Exchange lag",
     "The exchange's event time to local receipt: the network, the exchange's own "
     "queueing, and the clock skew between the hosts."),
)


def target(expr: str, legend: str) -> dict:
    return {"datasource": DS, "expr": expr, "legendFormat": legend, "range": True}


def timeseries(title: str, description: str, targets: list, unit: str = "short", *,
               width: int = 12, log_scale: bool = False, stacked: bool = False,
               min_value=None, max_value=None, step: bool = False, repeat: str | None = None) -> dict:
    custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10 if stacked else 0,
              "showPoints": "never", "spanNulls": False,
              "lineInterpolation": "stepAfter" if step else "linear",
              "stacking": {"mode": "normal" if stacked else "none", "group": "A"}}
    if log_scale:
        custom["scaleDistribution"] = {"type": "log", "log": 10}
    defaults = {"unit": unit, "custom": custom}
    if min_value is not None:
        defaults["min"] = min_value
    if max_value is not None:
        defaults["max"] = max_value
    panel = {"type": "timeseries", "title": title, "description": description,
             "datasource": DS, "targets": targets, "_width": width, "_height": 8,
             "fieldConfig": {"defaults": defaults, "overrides": []},
             "options": {"legend": {"displayMode": "list", "placement": "bottom",
                                    "showLegend": True},
                         "tooltip": {"mode": "multi", "sort": "desc"}}}
    if repeat:
        panel.update(repeat=repeat, repeatDirection="h", maxPerRow=2)
    return panel


def state_timeline(title: str, description: str, targets: list, mapping: dict,
                   width: int = 12) -> dict:
    """A 0/1 state per series over time; ``mapping``: {value: (text, colour)}."""
    mappings = [{"type": "value", "options": {str(v): {"text": text, "color": colour, "index": i}
                                              for i, (v, (text, colour)) in enumerate(mapping.items())}}]
    return {"type": "state-timeline", "title": title, "description": description,
            "datasource": DS, "targets": targets, "_width": width, "_height": 8,
            "fieldConfig": {"defaults": {"mappings": mappings, "color": {"mode": "thresholds"},
                                         "thresholds": {"mode": "absolute", "steps": [
                                             {"color": "red", "value": None},
                                             {"color": "green", "value": 1}]}},
                            "overrides": []},
            "options": {"showValue": "never", "mergeValues": True, "rowHeight": 0.9,
                        "legend": {"showLegend": False}, "tooltip": {"mode": "single"}}}


def stat(title: str, description: str, targets: list, unit: str = "short", *,
         width: int = 6, text_mode: str = "value_and_name", colours: dict | None = None) -> dict:
    """The last value per series; ``colours``: {series name regex: colour}."""
    overrides = [{"matcher": {"id": "byRegexp", "options": regex},
                  "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}]}
                 for regex, colour in (colours or {}).items()]
    return {"type": "stat", "title": title, "description": description, "datasource": DS,
            "targets": targets, "_width": width, "_height": 4,
            "fieldConfig": {"defaults": {"unit": unit, "color": {"mode": "fixed",
                                                                 "fixedColor": "text"}},
                            "overrides": overrides},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "background" if colours else "none", "graphMode": "none",
                        "textMode": text_mode, "justifyMode": "auto", "orientation": "auto"}}


def quantiles(metric: str, title: str, description: str) -> dict:
    by = f"sum by (instance, le) (rate({metric}_bucket{{{INSTANCE}}}{RATE}))"
    return timeseries(
        title, description + " p50, p99 and p99.9 from the exported buckets "
        "(1-2.5-5 per decade): a quantile between two bounds is interpolated.",
        [target(f"histogram_quantile({q}, {by})", f"p{label} {{{{instance}}}}")
         for q, label in ((0.5, "50"), (0.99, "99"), (0.999, "99.9"))],
        "s", width=8, log_scale=True)


def per_minute(expr: str) -> str:
    return f"60 * {expr}"


def rows() -> list[tuple[str, list[dict]]]:
    return [
        ("Feed health", [
            stat("Daemons", "Each scraped daemon's version and uptime.",
                 [target(f"rtaid_uptime_seconds{{{INSTANCE}}} * on(instance, job) "
                         f"group_left(version) rtaid_build_info{{{INSTANCE}}}",
                         "{{instance}} {{version}}")], "s", width=6),
            state_timeline("Connections", "Each WebSocket connection: up or down "
                           "(RtaidConnectionDown after 30 s down).",
                           [target(f"rtaid_connection_up{{{INSTANCE}}}",
                                   "{{instance}} {{connection}}")],
                           {0: ("down", "red"), 1: ("up", "green")}, width=9),
            state_timeline("Books synced", "Each symbol's book: synced or not "
                           "(RtaidBookUnsynced after 30 s).",
                           [target(f"rtaid_book_synced{{{SYMBOL}}}", "{{instance}} {{symbol}}")],
                           {0: ("unsynced", "red"), 1: ("synced", "green")}, width=9),
            timeseries("Last event age", "Now minus the exchange time of each symbol's "
                       "last event (RtaidFeedStale above 10 s); the clock skew is in it.",
                       [target(f"rtaid_last_event_age_seconds{{{SYMBOL}}}",
                               "{{instance}} {{symbol}}")], "s", log_scale=True),
            timeseries("Reconnects, handovers, resyncs, gaps (per minute)",
                       "Reconnects and make-before-break handovers per connection; book "
                       "resyncs, depth gaps (pu breaks) and crossed books per symbol.",
                       [target(per_minute(f"sum by (instance, connection) (rate("
                                          f"rtaid_reconnects_total{{{INSTANCE}}}{RATE}))"),
                               "reconnects {{instance}} {{connection}}"),
                        target(per_minute(f"sum by (instance, connection) (rate("
                                          f"rtaid_handovers_total{{{INSTANCE}}}{RATE}))"),
                               "handovers {{instance}} {{connection}}"),
                        target(per_minute(f"sum by (instance, symbol) (rate("
                                          f"rtaid_book_resyncs_total{{{SYMBOL}}}{RATE}))"),
                               "resyncs {{instance}} {{symbol}}"),
                        target(per_minute(f"sum by (instance, symbol) (rate("
                                          f"rtaid_book_gaps_total{{{SYMBOL}}}{RATE}))"),
                               "gaps {{instance}} {{symbol}}"),
                        target(per_minute(f"sum by (instance, symbol) (rate("
                                          f"rtaid_book_crossed_total{{{SYMBOL}}}{RATE}))"),
                               "crossed {{instance}} {{symbol}}")]),
            timeseries("Bad frames and decode errors (per minute)",
                       "Frames the decoder rejected, and its errors by result.",
                       [target(per_minute(f"sum by (instance) (rate("
                                          f"rtaid_bad_frames_total{{{INSTANCE}}}{RATE}))"),
                               "bad frames {{instance}}"),
                        target(per_minute(f"sum by (instance, result) (rate("
                                          f"rtaid_decode_errors_total{{{INSTANCE}}}{RATE}))"),
                               "{{result}} {{instance}}")]),
        ]),
        ("Latency per stage", [quantiles(m, t, d) for m, t, d in STAGES]),
        ("Throughput", [
            timeseries("Frames per second by kind", "Decoded frames the engine took.",
                       [target(f"sum by (instance, kind) (rate(rtaid_frames_total{{{SYMBOL}}}"
                               f"{RATE}))", "{{instance}} {{kind}}")], "short", stacked=True),
            timeseries("Frames per second by symbol", "Decoded frames the engine took.",
                       [target(f"sum by (instance, symbol) (rate(rtaid_frames_total{{{SYMBOL}}}"
                               f"{RATE}))", "{{instance}} {{symbol}}")], "short", stacked=True),
        ]),
        ("Indicators", [
            timeseries("Oscillators: $symbol", "Each indicator's oscillator (0..100) for "
                       "the symbol; the strategy's thresholds act on these.",
                       [target(f"rtaid_oscillator{{{SYMBOL}}}", "{{indicator}} {{instance}}")],
                       "short", min_value=0, max_value=100, repeat="symbol"),
            timeseries("Targets", "The strategy's target per symbol: -1 short, 0 flat, +1 long.",
                       [target(f"rtaid_target{{{SYMBOL}}}", "{{instance}} {{symbol}}")],
                       "short", min_value=-1, max_value=1, step=True),
        ]),
        ("Trading", [
            stat("Trading state", "The risk layer's state (RtaidTradingHalted when halted).",
                 [target(f"rtaid_trading_state{{{INSTANCE}}} == 1", "{{instance}} {{state}}")],
                 width=6, text_mode="name",
                 colours={".*active": "green", ".*reducing": "orange", ".*halted": "red"}),
            timeseries("Positions", "Position per symbol, base units (signed).",
                       [target(f"rtaid_position{{{SYMBOL}}}", "{{instance}} {{symbol}}")],
                       "short", width=9, step=True),
            timeseries("Today's PnL and the loss limit (USD)",
                       "The UTC day's PnL; at the limit the daemon halts and flattens "
                       "(RtaidDailyLossNearLimit at 80 %).",
                       [target(f"rtaid_daily_pnl_usd{{{INSTANCE}}}", "PnL {{instance}}"),
                        target(f"-rtaid_max_daily_loss_usd{{{INSTANCE}}}",
                               "loss limit {{instance}}")], "currencyUSD", width=9),
            timeseries("PnL by symbol (USD)", "Realized, unrealized and fees per symbol.",
                       [target(f"sum by (instance, symbol, kind) (rtaid_pnl_usd{{{SYMBOL}}})",
                               "{{instance}} {{symbol}} {{kind}}")], "currencyUSD"),
            timeseries("Orders (per minute)", "Orders sent and filled, and refused by reason "
                       "(risk checks or the venue).",
                       [target(per_minute(f"sum by (instance) (rate("
                                          f"rtaid_orders_sent_total{{{INSTANCE}}}{RATE}))"),
                               "sent {{instance}}"),
                        target(per_minute(f"sum by (instance) (rate("
                                          f"rtaid_orders_filled_total{{{INSTANCE}}}{RATE}))"),
                               "filled {{instance}}"),
                        target(per_minute(f"sum by (instance, reason) (rate("
                                          f"rtaid_orders_rejected_total{{{INSTANCE}}}{RATE}))"),
                               "rejected: {{reason}} {{instance}}")]),
        ]),
        ("Storage", [
            timeseries("Rows written per second", "Rows written to the Parquet dataset, by table.",
                       [target(f"sum by (instance, table) (rate(rtaid_rows_written_total"
                               f"{{{INSTANCE}}}{RATE}))", "{{instance}} {{table}}")],
                       "short", width=8, stacked=True),
            timeseries("Rows dropped (per minute)", "Rows lost: a full ring (ring; "
                       "RtaidRingDrops) or a failed write (io; RtaidWriteErrors).",
                       [target(per_minute(f"sum by (instance, table, cause) (rate("
                                          f"rtaid_rows_dropped_total{{{INSTANCE}}}{RATE}))"),
                               "{{instance}} {{table}} {{cause}}")], "short", width=8),
            timeseries("Write errors and lost execution events (per minute)",
                       "Parquet write failures; execution events the engine's ring could "
                       "not hold.",
                       [target(per_minute(f"sum by (instance) (rate(rtaid_write_errors_total"
                                          f"{{{INSTANCE}}}{RATE}))"), "write errors {{instance}}"),
                        target(per_minute(f"sum by (instance) (rate("
                                          f"rtaid_exec_events_lost_total{{{INSTANCE}}}{RATE}))"),
                               "execution events lost {{instance}}")], "short", width=8),
            timeseries("Bytes written per second", "Parquet bytes written.",
                       [target(f"sum by (instance) (rate(rtaid_bytes_written_total"
                               f"{{{INSTANCE}}}{RATE}))", "{{instance}}")], "Bps"),
            timeseries("Scrape cost", "CPU time the daemon spent on the previous scrape "
                       "(the GIL held: time its event loop could not take a frame).",
                       [target(f"rtaid_metrics_scrape_cpu_seconds{{{INSTANCE}}}",
                               "{{instance}}")], "s"),
        ]),
    ]


def layout(sections) -> list[dict]:
    """Rows and their panels with ids and grid positions (24 columns, left to right)."""
    panels, y, next_id = [], 0, 1
    for title, members in sections:
        panels.append({"type": "row", "title": title, "collapsed": False, "id": next_id,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        next_id += 1
        y += 1
        x, row_height = 0, 0
        for panel in members:
            w, h = panel.pop("_width"), panel.pop("_height")
            if x + w > 24:
                x, y, row_height = 0, y + row_height, 0
            panel["id"] = next_id
            panel["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
            for ref, t in zip("ABCDEFGHIJ", panel["targets"]):
                t["refId"] = ref
            panels.append(panel)
            next_id += 1
            x += w
            row_height = max(row_height, h)
        y += row_height
    return panels


def query_variable(name: str, label: str, query: str) -> dict:
    return {"type": "query", "name": name, "label": label, "datasource": DS,
            "query": query, "definition": query, "refresh": 2, "sort": 1,
            "multi": True, "includeAll": True, "current": {}, "options": [], "regex": "",
            "hide": 0}


def dashboard() -> dict:
    return {
        "title": "rtaid",
        "uid": "rtaid",
        "description": "rtaid daemons: feed health, latency per stage, throughput, "
                       "indicators, trading, storage (monitoring/grafana/dashboard.py)",
        "tags": ["rtaid"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "10s",
        "timezone": "utc",
        "fiscalYearStartMonth": 0,
        "links": [],
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard"}]},
        "templating": {"list": [
            {"type": "datasource", "name": "datasource", "label": "Data source",
             "query": "prometheus", "current": {}, "options": [], "refresh": 1, "regex": "",
             "hide": 0},
            query_variable("instance", "Instance", "label_values(rtaid_build_info, instance)"),
            query_variable("symbol", "Symbol",
                           'label_values(rtaid_book_synced{instance=~"$instance"}, symbol)'),
        ]},
        "panels": layout(rows()),
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if rtaid.json differs from what this file writes")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python {pathlib.Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
