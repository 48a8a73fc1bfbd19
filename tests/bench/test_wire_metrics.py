"""bench/latency.py reads rtaid's per-stage histograms from a Prometheus endpoint: here
the endpoint is prometheus_client's own HTTP server (what the daemon will serve), with
histograms named as the metrics issue names them. A phase is the difference of two
scrapes; its quantiles come from the buckets."""
import socket

import pytest
from prometheus_client import CollectorRegistry, Histogram, start_http_server

from bench.wire import metrics


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def endpoint():
    registry = CollectorRegistry()
    buckets = [x * 1e-6 for x in (1, 2, 5, 10, 20, 50, 100)]
    hists = {stage: Histogram(f"rtaid_{stage}_seconds", stage, ["symbol"], buckets=buckets, registry=registry)
             for stage in ("decode", "frame_to_signal")}
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield f"http://127.0.0.1:{port}/metrics", hists
    server.shutdown()


def test_a_phase_is_the_difference_of_two_scrapes(endpoint):
    url, hists = endpoint
    for _ in range(1000):                       # before the phase: must not count
        hists["decode"].labels("BTCUSDT").observe(90e-6)
    before = metrics.scrape(url)
    for i in range(100):                        # the phase: 1..100 us over two symbols
        hists["decode"].labels("BTCUSDT" if i % 2 else "ETHUSDT").observe((i + 1) * 1e-6 * 0.999)
    hists["frame_to_signal"].labels("BTCUSDT").observe(3e-6)
    after = metrics.scrape(url)
    phase = metrics.delta(before, after)
    q = metrics.quantiles_us(phase["decode"])
    assert q["count"] == 100
    # 50 of 100 observations are <= 50 us: p50 sits at the 50 us bucket's bound
    assert q["p50"] == pytest.approx(50.0)
    assert 50.0 < q["p90"] <= 100.0 and q["p99"] <= 100.0
    assert q["max"] == pytest.approx(100.0)     # the highest non-empty bucket's bound
    f = metrics.quantiles_us(phase["frame_to_signal"])
    assert f["count"] == 1 and 2.0 < f["p50"] <= 5.0


def test_no_endpoint_means_no_numbers():
    assert metrics.scrape(f"http://127.0.0.1:{free_port()}/metrics", timeout=2) is None


def test_windows_pool_into_one_histogram(endpoint):
    """Two phases added (bench/latency.py pools its writer-on and writer-off windows) are
    the histogram of both: here 1-100 us then 101 observations at 90 us."""
    url, hists = endpoint
    first = metrics.scrape(url)
    for i in range(100):
        hists["decode"].labels("BTCUSDT").observe((i + 1) * 1e-6 * 0.999)
    second = metrics.scrape(url)
    for _ in range(101):
        hists["decode"].labels("ETHUSDT").observe(90e-6)
    third = metrics.scrape(url)
    pooled = metrics.add(metrics.add(None, metrics.delta(first, second)), metrics.delta(second, third))
    assert pooled == metrics.delta(first, third)
    q = metrics.quantiles_us(pooled["decode"])
    assert q["count"] == 201 and 50.0 < q["p50"] <= 100.0
