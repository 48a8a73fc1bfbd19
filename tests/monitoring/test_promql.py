"""The PromQL name extractor (tests/monitoring/promql.py): metric names, not functions,
keywords, label names, strings, numbers, durations or Grafana variables."""
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.monitoring.promql import (
    PromQLError, exposed_names, metric_names, selectors, template_query,
)


@pytest.mark.parametrize("expr, names", [
    ("up", {"up"}),
    ('histogram_quantile(0.99, sum by (instance, le) '
     '(rate(rtaid_frame_seconds_bucket{instance=~"$instance"}[$__rate_interval])))',
     {"rtaid_frame_seconds_bucket"}),
    # grouping after the aggregation; a label named like a metric is not one
    ("sum(rate(rtaid_frames_total[5m])) by (rtaid_frames_total, kind)", {"rtaid_frames_total"}),
    ("rtaid_daily_pnl_usd <= -0.8 * rtaid_max_daily_loss_usd and rtaid_max_daily_loss_usd > 0",
     {"rtaid_daily_pnl_usd", "rtaid_max_daily_loss_usd"}),
    ("a / on(instance, job) group_left(version) b", {"a", "b"}),
    ("a * ignoring(kind) group_right c", {"a", "c"}),
    ("a unless b or c", {"a", "b", "c"}),
    ("count without (symbol) (x) > bool 1", {"x"}),
    ('{__name__="rtaid_uptime_seconds", job="rtaid"}', {"rtaid_uptime_seconds"}),
    ("rate(x[5m] offset 1h) - rate(x[5m] offset -30m)", {"x"}),
    ("x @ start() + y @ 1609746000", {"x", "y"}),
    ("max_over_time(deriv(x[1m])[1h:5m])", {"x"}),
    ('label_replace(up, "stage", "$1", "job", "(rtaid_frames_total)")', {"up"}),
    ('count_values("version", rtaid_build_info)', {"rtaid_build_info"}),
    ("topk(3, x) + quantile(0.5, y) + bottomk(2, z)", {"x", "y", "z"}),
    ("job:rtaid_frames:rate5m > 1e-3 * 2.5E+2 + 0x1F + .5", {"job:rtaid_frames:rate5m"}),
    ("x > Inf or y < NaN or z != -inf", {"x", "y", "z"}),
    ('x{on="by", and="or"} # a comment naming not_a_metric\n + y', {"x", "y"}),
    ("60 * sum by (instance) (rate(x{cause=\"ring\"} [$__rate_interval]))", {"x"}),
    ("x > ${threshold} and y > $bound", {"x", "y"}),
    ("vector(1) + scalar(x) + time()", {"x"}),
    ("atan2(1, 2) + x atan2 y", {"x", "y"}),
])
def test_metric_names(expr, names):
    assert metric_names(expr) == names


def test_selectors_keep_their_matchers():
    found = selectors('rate(rtaid_rows_dropped_total{cause="ring", table=~"bbo|trades"}[5m]) '
                      '+ rtaid_trading_state {state="halted"}')
    assert found == [("rtaid_rows_dropped_total", [("cause", "=", "ring"), ("table", "=~", "bbo|trades")]),
                     ("rtaid_trading_state", [("state", "=", "halted")])]


@pytest.mark.parametrize("expr, error", [
    ("rtae(x[5m])", "unknown function 'rtae'"),             # a typo is not a metric
    ("sum(rate(x[5m])", "unbalanced"),
    ("x)", "unbalanced"),
    ('x{a="b"', "unbalanced"),
    ('x{a="b}', "unterminated string"),
    ('{__name__=~"rtaid_.*"}', "regex cannot be checked"),
    ('{job="rtaid"}', "without a metric name"),
    ("rtaid_${stage}_seconds_bucket", "template variable in a metric name"),
    ("x{a=b}", "not quoted"),
    ("5x", "bad number"),
])
def test_what_cannot_be_checked_is_an_error(expr, error):
    with pytest.raises(PromQLError, match=error):
        selectors(expr)


def test_grafana_variable_queries():
    assert template_query("label_values(rtaid_build_info, instance)") == \
        ("rtaid_build_info", "instance")
    assert template_query('label_values(rtaid_book_synced{instance=~"$instance"}, symbol)') == \
        ('rtaid_book_synced{instance=~"$instance"}', "symbol")
    assert template_query("label_values(job)") == (None, None)
    assert template_query("query_result(topk(5, x))") == ("topk(5, x)", None)
    with pytest.raises(PromQLError):
        template_query("metrics(rtaid_.*)")


def test_exposed_names_suffixes_and_empty_families():
    text = """# HELP rtaid_frames_total frames
# TYPE rtaid_frames_total counter
rtaid_frames_total{kind="bbo"} 3.0
# HELP rtaid_orders_rejected_total refused orders
# TYPE rtaid_orders_rejected_total counter
# HELP rtaid_frame_seconds frame
# TYPE rtaid_frame_seconds histogram
rtaid_frame_seconds_bucket{le="+Inf"} 1.0
rtaid_frame_seconds_count 1.0
rtaid_frame_seconds_sum 0.1
# HELP rtaid_book_synced synced
# TYPE rtaid_book_synced gauge
rtaid_book_synced{symbol="BTCUSDT"} 1.0
"""
    names = exposed_names(text_string_to_metric_families(text))
    assert names == {"rtaid_frames_total", "rtaid_orders_rejected_total",
                     "rtaid_frame_seconds_bucket", "rtaid_frame_seconds_count",
                     "rtaid_frame_seconds_sum", "rtaid_book_synced"}


def test_substitute_grafana_variables():
    from tests.monitoring.promql import substitute

    expr = 'rate(x{instance=~"$instance", symbol=~"${symbol}"}[$__rate_interval]) > [[bound]]'
    assert substitute(expr, {"instance": "a:1|b:2", "symbol": "(BTCUSDT)", "__rate_interval": "1m",
                             "bound": "3"}) == \
        'rate(x{instance=~"a:1|b:2", symbol=~"(BTCUSDT)"}[1m]) > 3'
    with pytest.raises(PromQLError, match="no value for the variable 'symbol'"):
        substitute("x{symbol=~\"$symbol\"}", {})
