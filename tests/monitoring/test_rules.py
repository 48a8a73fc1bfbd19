"""The alert rules and the example scrape config, checked by Prometheus' own promtool:
the rules load, their unit tests pass, every alert has a case where it fires and one
where it must not, and each says how bad it is and what to do."""
import subprocess

import yaml

from tests.helpers import ROOT

PROM = ROOT / "monitoring" / "prometheus"
RULES, RULES_TEST, SCRAPE = PROM / "rules.yml", PROM / "rules_test.yml", PROM / "scrape.yml"
# the alerts issue 13 asks for (feed stale: an old last event, or a connection down)
REQUIRED = {"RtaidFeedStale", "RtaidConnectionDown", "RtaidBookUnsynced",
            "RtaidFrameLatencyHigh", "RtaidFrameToSignalLatencyHigh", "RtaidRingDrops",
            "RtaidWriteErrors", "RtaidTradingHalted", "RtaidDailyLossNearLimit"}


def run(*argv, cwd=PROM):
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)


def alerts() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for g in groups for rule in g["rules"] if "alert" in rule]


def test_promtool_checks_the_rules_and_the_scrape_config(promtool):
    out = run(promtool, "check", "rules", str(RULES))
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in out.stdout
    out = run(promtool, "check", "config", str(SCRAPE))
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_runs_the_rules_unit_tests(promtool):
    out = run(promtool, "test", "rules", RULES_TEST.name)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_every_alert_says_how_bad_it_is_and_what_to_do():
    found = alerts()
    assert REQUIRED <= {a["alert"] for a in found}
    for a in found:
        name = a["alert"]
        assert a.get("for"), f"{name}: no for:"
        assert a["labels"]["severity"] in ("critical", "warning"), name
        assert a["annotations"]["summary"].strip(), name
        # the runbook: what it means and what to do, in more than a line
        assert len(a["annotations"]["description"].split()) >= 25, name


def test_every_alert_has_a_firing_and_a_quiet_case():
    spec = yaml.safe_load(RULES_TEST.read_text())
    assert spec["rule_files"] == [RULES.name]
    firing, quiet = set(), set()
    for group in spec["tests"]:
        for case in group.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {a["alert"] for a in alerts()}
    assert names - firing == set(), "no case where these fire"
    assert names - quiet == set(), "no case where these stay quiet"
