"""The metrics endpoint reads the execution service's state on the event loop, where
it changes (read from the HTTP thread, a dict the loop changes could fail mid-iteration):
an in-process daemon on rtaid-sim with the ccxt venue, scraped over HTTP while it trades."""
import asyncio
import threading
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.exec.helpers import daemon_at, exec_config, run, sim_position, target, until, with_sim
from tests.helpers import free_port


def scrape(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
            if not s.labels}


def test_a_scrape_reads_the_execution_state_on_the_event_loop(tmp_path):
    port = free_port()

    async def scenario(sim):
        config = exec_config(sim, tmp_path / "data", f"metrics.port={port}")
        async with daemon_at(sim, config) as daemon:
            svc = daemon.execution
            loop_thread = threading.get_ident()
            readers = []
            status = svc.status

            def spied_status():
                readers.append(threading.get_ident())
                return status()
            svc.status = spied_status
            svc.on_events([target("BTCUSDT", 0.001)])
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.001)
            assert await until(lambda: svc.manager.counts["filled"] == 1)
            values = await asyncio.to_thread(scrape, port)
            assert values["rtaid_orders_sent_total"] == 1.0
            assert values["rtaid_orders_filled_total"] == 1.0
            assert values["rtaid_metrics_loop_timeouts_total"] == 0.0
            assert readers and set(readers) == {loop_thread}

    run(with_sim(scenario))
