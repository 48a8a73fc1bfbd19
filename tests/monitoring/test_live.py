"""The dashboard and the alert rules against a live daemon: a real ``rtaid run`` on
rtaid-sim (with ``execution.venue = paper``, so the execution metrics appear as soon as
the daemon has them), scraped over HTTP and parsed with prometheus_client's parser.
Every series any PromQL expression reads must be exported, every label matcher must name
a label (and a value) the series has. Then a real Prometheus (Debian's) scrapes the
daemon with monitoring/prometheus/scrape.yml and rules.yml: every dashboard query
evaluates, returns data wherever the daemon exports its inputs, every rule evaluates
without error and none is pending or firing on a healthy daemon."""
import http.client
import json
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import ROOT, NotifySocket, daemon_args, daemon_env, free_port, start_sim
from tests.monitoring.promql import (
    exposed_names, metric_names, selectors, substitute, template_query,
)

pytestmark = pytest.mark.slow           # a sim, a daemon and a Prometheus: ~20 s

DASHBOARD = ROOT / "monitoring" / "grafana" / "rtaid.json"
RULES = ROOT / "monitoring" / "prometheus" / "rules.yml"
SCRAPE = ROOT / "monitoring" / "prometheus" / "scrape.yml"
SYMBOLS = ("BTCUSDT", "ETHUSDT")

# Series the monitoring reads before the daemon exports them (none since the execution
# layer, issue 12, landed). The test below fails as soon as the daemon exports one of
# them: then delete it here.
EXPECTED_LATER: set[str] = set()
# series Prometheus itself records for every target (RtaidDown reads up)
PROMETHEUS_SERIES = {"up"}
# labels the scrape adds (scrape.yml: job, instance, and the targets' shard)
TARGET_LABELS = {"job", "instance", "shard"}


def family_of(series: str) -> str:
    """The family a series name belongs to, for the names in EXPECTED_LATER."""
    for suffix in ("_bucket", "_count", "_sum"):
        if series.endswith(suffix) and series[:-len(suffix)] in EXPECTED_LATER:
            return series[:-len(suffix)]
    return series


def expressions() -> list[tuple[str, str]]:
    """``[(where, PromQL)]`` of the dashboard (panels and variables) and the rules."""
    d = json.loads(DASHBOARD.read_text())
    out = [(f"dashboard panel {p['title']!r}", t["expr"])
           for p in d["panels"] if p["type"] != "row" for t in p["targets"]]
    out += [(f"dashboard variable {v['name']}", template_query(v["query"])[0])
            for v in d["templating"]["list"] if v["type"] == "query"]
    rules = yaml.safe_load(RULES.read_text())
    out += [(f"rule {r.get('alert') or r.get('record')}", r["expr"])
            for g in rules["groups"] for r in g["rules"]]
    return out


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


@pytest.fixture(scope="module")
def live():
    """A daemon on rtaid-sim with metrics: (metrics port, exposition text, families)."""
    sim_port = free_port()
    sim = start_sim(sim_port, "--rate", "200")
    workdir = Path(tempfile.mkdtemp(prefix="rtaid-mon-", dir="/tmp"))   # short socket path
    notify = NotifySocket(workdir / "notify")
    port = free_port()
    args = daemon_args(sim_port, workdir) + ["--set", f"metrics.port={port}",
                                             "--set", "execution.venue=paper"]
    proc = subprocess.Popen(args, cwd=ROOT, env=daemon_env(workdir, notify),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert notify.wait_for("READY=1"), notify.messages
        time.sleep(1.0)                    # every stage has seen frames
        text = scrape(port)
        yield port, text, list(text_string_to_metric_families(text))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
        sim.kill()
        sim.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def test_every_series_the_monitoring_reads_is_exported(live):
    _, _, families = live
    exported = exposed_names(families)
    missing = {}
    for where, expr in expressions():
        for name in metric_names(expr):
            if name in exported or name in PROMETHEUS_SERIES or family_of(name) in EXPECTED_LATER:
                continue
            missing.setdefault(name, []).append(where)
    assert not missing, f"read but not exported by the daemon: {missing}"


def test_expected_later_is_still_needed(live):
    _, _, families = live
    exported = exposed_names(families)
    landed = {f for f in EXPECTED_LATER if {f, f + "_bucket", f + "_count"} & exported}
    assert not landed, (f"the daemon exports {sorted(landed)} now: delete them from "
                        "EXPECTED_LATER in tests/monitoring/test_live.py")
    used = {family_of(n) for _, e in expressions() for n in metric_names(e)}
    assert EXPECTED_LATER <= used, f"nothing reads {sorted(EXPECTED_LATER - used)}: delete them"


def test_label_matchers_name_labels_and_values_the_series_have(live):
    _, _, families = live
    seen = {}                                      # series name -> {label: {values}}
    for fam in families:
        for s in fam.samples:
            for label, value in s.labels.items():
                seen.setdefault(s.name, {}).setdefault(label, set()).add(value)
    jobs = {j["job_name"] for j in yaml.safe_load(SCRAPE.read_text())["scrape_configs"]}
    wrong = []
    for where, expr in expressions():
        for name, matchers in selectors(expr):
            if family_of(name) in EXPECTED_LATER:
                continue                           # checked once the daemon exports them
            labels = seen.get(name, {})            # up: the target labels only
            for label, op, value in matchers:
                if label == "job":
                    if op == "=" and value not in jobs:
                        wrong.append(f"{where}: job={value!r} is not a job of scrape.yml")
                elif label in TARGET_LABELS:
                    continue
                elif label not in labels:
                    wrong.append(f"{where}: {name} has no label {label!r} (has {sorted(labels)})")
                elif op == "=" and "$" not in value and value not in labels[label]:
                    wrong.append(f"{where}: {name}{{{label}={value!r}}} matches nothing "
                                 f"(values {sorted(labels[label])})")
    assert not wrong, "\n".join(wrong)


# ------------------------------------------------------------------ a real Prometheus
def api(base: str, path: str, **params):
    url = f"{base}/api/v1/{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.loads(r.read())
    assert body["status"] == "success", body
    return body["data"]


def query(base: str, expr: str) -> list:
    try:
        return api(base, "query", query=expr)["result"]
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"Prometheus refused {expr!r}: {exc.read().decode()}") from None


@pytest.fixture(scope="module")
def prometheus(live, prometheus_programs):
    """Prometheus scraping the live daemon every second with scrape.yml's job and the
    rules of rules.yml (evaluated every second): its base URL once it has 5 scrapes."""
    port = live[0]
    workdir = Path(tempfile.mkdtemp(prefix="rtaid-prom-"))
    config = yaml.safe_load(SCRAPE.read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(RULES)]
    (job,) = config["scrape_configs"]
    job.update(scrape_interval="1s", scrape_timeout="1s",
               static_configs=[{"targets": [f"127.0.0.1:{port}"], "labels": {"shard": "test"}}])
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    web = free_port()
    log = open(workdir / "prometheus.log", "w")
    proc = subprocess.Popen([prometheus_programs["prometheus"],
                             f"--config.file={workdir / 'prometheus.yml'}",
                             f"--storage.tsdb.path={workdir / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{web}"],
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{web}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (workdir / "prometheus.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "Prometheus did not scrape the daemon 5 times"
            try:
                got = query(base, f'count_over_time(up{{job="{job["job_name"]}"}}[1m]) >= 5')
                if got:
                    break
            except (OSError, AssertionError):
                pass
            time.sleep(0.5)
        yield base, f"127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def test_prometheus_evaluates_every_dashboard_query(live, prometheus):
    base, instance = prometheus
    _, _, families = live
    assert query(base, f'up{{instance="{instance}"}}')[0]["value"][1] == "1"
    sampled = {s.name for f in families for s in f.samples}
    # as Grafana sends them: one daemon, both symbols (Grafana writes "All" as a|b), and
    # $__rate_interval = 4 scrape intervals
    values = {"instance": instance, "symbol": "|".join(SYMBOLS), "__rate_interval": "4s"}
    d = json.loads(DASHBOARD.read_text())
    empty = []
    for p in d["panels"]:
        for t in p.get("targets", []):
            expr = substitute(t["expr"], values)
            result = query(base, expr)
            if not result and metric_names(expr) <= sampled:
                empty.append(f"{p['title']!r}: {expr}")
    assert not empty, "no data although the daemon exports the inputs:\n" + "\n".join(empty)
    for v in d["templating"]["list"]:
        if v["type"] != "query":
            continue
        expr, label = template_query(v["query"])
        found = {s["metric"].get(label) for s in query(base, substitute(expr, values))}
        assert found >= ({instance} if label == "instance" else set(SYMBOLS)), (v["name"], found)


def test_prometheus_evaluates_every_rule_and_nothing_alerts_on_a_healthy_daemon(prometheus):
    base, _ = prometheus
    names = {r.get("alert") or r.get("record") for g in yaml.safe_load(RULES.read_text())["groups"]
             for r in g["rules"]}
    deadline = time.monotonic() + 20
    while True:                                   # every rule evaluated at least once
        rules = [r for g in api(base, "rules")["groups"] for r in g["rules"]]
        if all(not r["lastEvaluation"].startswith("0001") for r in rules):
            break
        assert time.monotonic() < deadline, "rules not evaluated"
        time.sleep(0.5)
    assert {r["name"] for r in rules} == names
    broken = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert not broken, broken
    alerts = api(base, "alerts")["alerts"]
    assert alerts == [], [(a["labels"]["alertname"], a["state"], a.get("value")) for a in alerts]


def test_the_endpoint_speaks_http_as_prometheus_expects(live):
    port, text, families = live
    assert text.endswith("\n") and any(f.name == "rtaid_build_info" for f in families)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for method, path, status in (("GET", "/metrics", 200), ("HEAD", "/metrics", 200),
                                 ("GET", "/", 404), ("POST", "/metrics", 405)):
        conn.request(method, path, headers={"Accept-Encoding": "gzip"})
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == status, (method, path)
        if status == 200:
            assert resp.getheader("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
            assert int(resp.getheader("Content-Length")) > 1000
            assert body == b"" if method == "HEAD" else body.startswith(b"# HELP")
        conn.close()
