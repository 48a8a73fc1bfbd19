"""rtaid/metrics.py writes the text format itself: values and label values as
Prometheus' text format wants them, read back by prometheus_client's parser."""
import math

from prometheus_client.parser import text_string_to_metric_families

from rtaid.metrics import Text, labels, number


def test_values_in_go_float_syntax():
    assert [number(v) for v in (3, 0, -2, 0.25, 1e-07, math.nan, math.inf, -math.inf, True)] == \
        ["3", "0", "-2", "0.25", "1e-07", "NaN", "+Inf", "-Inf", "1.0"]


def test_label_values_are_escaped_and_read_back():
    out = Text()
    out.family("rtaid_orders_rejected_total", "counter", 'Refused orders\\ by "reason"\nsecond line')
    odd = 'venue said "no"\\ twice\nat 12:00'
    out.sample("rtaid_orders_rejected_total", 2, labels(reason=odd))
    out.sample("rtaid_orders_rejected_total", 1, labels(reason="max_position"))
    (fam,) = text_string_to_metric_families(out.render().decode())
    assert fam.type == "counter"
    assert {s.labels["reason"]: s.value for s in fam.samples} == {odd: 2.0, "max_position": 1.0}
    assert fam.documentation == 'Refused orders\\ by "reason"\nsecond line'
