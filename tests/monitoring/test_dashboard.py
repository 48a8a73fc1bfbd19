"""The Grafana dashboard (monitoring/grafana/rtaid.json): the generator's output, a
classic dashboard model Grafana imports (a Prometheus datasource variable, instance and
symbol variables, panels on a 24-column grid), every section issue 13 asks for, and
every query valid PromQL to Prometheus' own promtool."""
import json
import subprocess
import sys

import yaml

from tests.helpers import ROOT
from tests.monitoring.promql import metric_names, substitute, template_query

GRAFANA = ROOT / "monitoring" / "grafana"
DASHBOARD = GRAFANA / "rtaid.json"
DS = {"type": "prometheus", "uid": "${datasource}"}
# what Grafana would send for "All" of each variable
ALL = {"instance": "127.0.0.1:9464|127.0.0.1:9465", "symbol": "BTCUSDT|ETHUSDT",
       "__rate_interval": "1m", "datasource": "prometheus"}
STAGE_HISTOGRAMS = ("decode", "book", "signals", "frame", "frame_to_signal", "tick_to_order",
                    "tick_to_deferred_order", "order_round_trip", "exchange_lag")


def load():
    return json.loads(DASHBOARD.read_text())


def panels(dashboard):
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def exprs(dashboard):
    return [t["expr"] for p in panels(dashboard) for t in p["targets"]]


def test_the_json_is_the_generators_output():
    out = subprocess.run([sys.executable, str(GRAFANA / "dashboard.py"), "--check"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_a_classic_model_with_a_datasource_variable():
    d = load()
    assert isinstance(d["schemaVersion"], int) and 36 <= d["schemaVersion"] <= 41
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("instance", "symbol"):
        v = variables[name]
        assert v["type"] == "query" and v["datasource"] == DS
        expr, label = template_query(v["query"])
        assert label == name and metric_names(expr)
    assert "$instance" in variables["symbol"]["query"]          # symbols of those daemons


def test_panels_use_the_variable_and_tile_the_grid():
    d = load()
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for p in d["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        area = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not (area & cells), f"{p['title']} overlaps another panel"
        cells |= area
    for p in panels(d):
        assert p["datasource"] == DS, p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert p["targets"] and len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert t["datasource"] == DS and t["expr"].strip(), p["title"]


def test_every_section_issue_13_asks_for():
    d = load()
    rows = {p["title"] for p in d["panels"] if p["type"] == "row"}
    assert rows >= {"Feed health", "Latency per stage", "Throughput", "Indicators", "Trading",
                    "Storage"}
    text = "\n".join(exprs(d))
    for stage in STAGE_HISTOGRAMS:                 # p50 / p99 / p99.9 of every stage
        for q in ("0.5", "0.99", "0.999"):
            assert f"histogram_quantile({q}, sum by (instance, le) (rate(rtaid_{stage}_seconds_bucket" \
                   in text, (stage, q)
    used = set().union(*(metric_names(e) for e in exprs(d)))
    assert used >= {
        "rtaid_connection_up", "rtaid_book_synced", "rtaid_last_event_age_seconds",
        "rtaid_reconnects_total", "rtaid_book_resyncs_total", "rtaid_book_gaps_total",
        "rtaid_frames_total", "rtaid_oscillator", "rtaid_position", "rtaid_pnl_usd",
        "rtaid_daily_pnl_usd", "rtaid_orders_sent_total", "rtaid_orders_filled_total",
        "rtaid_orders_rejected_total", "rtaid_rows_written_total", "rtaid_rows_dropped_total",
        "rtaid_write_errors_total", "rtaid_trading_state"}


def test_promtool_parses_every_query(promtool, tmp_path):
    """Each query, as Grafana sends it (variables filled in), as a recording rule:
    ``promtool check rules`` parses and type-checks it with Prometheus' own parser."""
    d = load()
    queries = [substitute(e, ALL) for e in exprs(d)]
    queries += [template_query(v["query"])[0] for v in d["templating"]["list"]
                if v["type"] == "query"]
    queries = [substitute(q, ALL) for q in queries]
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"rtaid_dashboard:query_{i}", "expr": q} for i, q in enumerate(queries)]}]}
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump(rules))
    out = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(queries)} rules found" in out.stdout
