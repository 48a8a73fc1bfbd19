"""rtaid.infra.config: layering, validation messages, per-symbol overrides, secrets, reload."""
import dataclasses
import math
import os
import pathlib
import re
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtaid.infra import config as cfgmod
from rtaid.infra.config import (
    SECTIONS,
    Config,
    ConfigError,
    dump_toml,
    load_config,
    parse_override,
    plan_reload,
    reload_config,
    toml_value,
)
from rtaid.infra.secrets import Secret

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_default_file(monkeypatch, tmp_path):
    """Make sure the machine's /etc/rtaid/rtaid.toml never leaks into a test."""
    monkeypatch.setattr(cfgmod, "DEFAULT_CONFIG_PATH", str(tmp_path / "absent-default.toml"))


def write(path, text, mode=0o644):
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


def problems_of(*args, **kwargs):
    with pytest.raises(ConfigError) as info:
        load_config(*args, **kwargs)
    return info.value.problems


# --------------------------------------------------------------------------- defaults


def test_defaults_match_the_indicator_spec_and_the_issue():
    c = load_config(env={})
    assert c == dataclasses.replace(Config(), source=None)
    assert (c.tobi.levels, c.tobi.decay, c.tobi.trade_window_ms) == (10, 0.5, 10000)
    assert (c.ofi.window_ms, c.ofi.levels) == (10000, 10)
    assert (c.vpin.bucket_volume, c.vpin.buckets, c.vpin.calibration_ms) == (None, 50, 600000)
    assert (c.kyle.interval_ms, c.kyle.window, c.kyle.min_intervals) == (1000, 300, 30)
    assert (c.lpi.horizon_ms, c.lpi.half_life_ms, c.lpi.maker_fee_bps) == (5000, 60000, 2.0)
    assert c.wall.levels == 20
    assert (c.norm.tau_ms, c.norm.warmup, c.norm.sigma_floor) == (300000, 100, 1e-12)
    assert c.dev.ema_ms == 60000
    s = c.strategy
    assert (s.name, s.entry_low, s.entry_high, s.exit_mid, s.toxic_max) == (
        "mean_reversion", 10, 90, 50, 80)
    assert (s.max_hold_ms, s.stop_bps, s.cooldown_ms, s.stale_ms, s.order_qty) == (
        120000, 15, 30000, 1000, 0.001)
    assert c.feed.symbols == ("BTCUSDT",)
    assert (c.feed.depth_speed, c.feed.trades, c.feed.snapshot_limit) == ("0ms", "trade", 1000)
    assert c.feed.max_connection_age_s == 82800
    assert c.exchange.rest_url == "https://fapi.binance.com"
    assert c.exchange.ws_url == "wss://fstream.binance.com"
    assert c.exchange.ws_api_url == "wss://ws-fapi.binance.com/ws-fapi/v1"
    assert c.exchange.recv_window_ms == 5000
    assert (c.storage.data_dir, c.storage.ring_records, c.storage.retention_days) == (
        "/var/lib/rtaid", 0, 30)
    assert (c.storage.max_loss_s, c.storage.flush_interval_ms) == (60, 100)
    assert c.control.socket == "/run/rtaid/rtaid.sock"
    assert (c.metrics.host, c.metrics.port) == ("127.0.0.1", 9464)
    assert (c.execution.venue, c.execution.on_shutdown) == ("off", "leave")
    assert c.log.level == "INFO"
    assert (c.daemon.cpu_affinity, c.daemon.gc_freeze, c.daemon.shutdown_timeout_s) == ((), True, 10)


# --------------------------------------------------------------------------- file and layers


def test_file_values_are_typed(tmp_path):
    path = write(tmp_path / "a.toml", """
[feed]
symbols = ["btcusdt", "ETHUSDT"]
depth_speed = "100ms"
stale_after_s = 3          # an int where a float is accepted
[vpin]
bucket_volume = 50
[daemon]
cpu_affinity = [2, 3]
""")
    c = load_config(path, env={})
    assert c.source == path
    assert c.feed.symbols == ("BTCUSDT", "ETHUSDT")
    assert c.feed.stale_after_s == 3.0 and isinstance(c.feed.stale_after_s, float)
    assert c.vpin.bucket_volume == 50.0
    assert c.daemon.cpu_affinity == (2, 3)


def test_config_path_resolution(tmp_path, monkeypatch):
    a = write(tmp_path / "a.toml", "[norm]\nwarmup = 1\n")
    b = write(tmp_path / "b.toml", "[norm]\nwarmup = 2\n")
    assert load_config(env={"RTAID_CONFIG": a}).norm.warmup == 1
    assert load_config(env={"RTAI_CONFIG_PATH": a}).norm.warmup == 1
    assert load_config(env={"RTAID_CONFIG": a, "RTAI_CONFIG_PATH": b}).norm.warmup == 1
    assert load_config(b, env={"RTAID_CONFIG": a}).norm.warmup == 2
    # The default file is used when present, silently skipped when absent.
    assert load_config(env={}).source is None
    monkeypatch.setattr(cfgmod, "DEFAULT_CONFIG_PATH", b)
    assert load_config(env={}).norm.warmup == 2


@pytest.mark.parametrize("how", ["arg", "env"])
def test_an_explicitly_named_missing_file_is_an_error(tmp_path, how):
    missing = str(tmp_path / "nope.toml")
    args = (missing,) if how == "arg" else ()
    env = {} if how == "arg" else {"RTAID_CONFIG": missing}
    assert problems_of(*args, env=env) == [f"config file not found: {missing}"]


def test_env_overrides_file_and_set_overrides_env(tmp_path):
    path = write(tmp_path / "a.toml", '[storage]\ndata_dir = "/file"\n[log]\nlevel = "ERROR"\n')
    c = load_config(path, env={"RTAID_DATA_DIR": "/env", "RTAID_LOG_LEVEL": "debug"})
    assert (c.storage.data_dir, c.log.level) == ("/env", "DEBUG")
    c = load_config(path, env={"RTAI_DATA_PATH": "/legacy", "RTAI_LOG_LEVEL": "warning"})
    assert (c.storage.data_dir, c.log.level) == ("/legacy", "WARNING")
    c = load_config(path, ["storage.data_dir=/cli", "log.level=INFO"],
                    env={"RTAID_DATA_DIR": "/env", "RTAI_DATA_PATH": "/legacy"})
    assert (c.storage.data_dir, c.log.level) == ("/cli", "INFO")


def test_set_values_parse_as_toml_else_as_bare_strings():
    c = load_config(overrides=[
        'feed.symbols=["BTCUSDT","ETHUSDT"]',
        "norm.warmup=50",
        "exchange.rest_url=http://127.0.0.1:8765",
        "feed.book_ticker=false",
        "norm.sigma_floor=1e-9",
        "control.socket=1234",          # a string key keeps the text, not the integer
        "norm.warmup=60",               # last one wins
    ], env={})
    assert c.feed.symbols == ("BTCUSDT", "ETHUSDT")
    assert c.norm.warmup == 60
    assert c.exchange.rest_url == "http://127.0.0.1:8765"
    assert c.feed.book_ticker is False
    assert c.norm.sigma_floor == 1e-9
    assert c.control.socket == "1234"
    assert c.overrides[-1] == "norm.warmup=60"


def test_parse_override():
    assert parse_override("a.b=[1, 2]") == (["a", "b"], [1, 2])
    assert parse_override("a.b = x y") == (["a", "b"], "x y")
    assert parse_override('a.b="q"') == (["a", "b"], "q")
    for bad in ("nokey", "=1", "a..b=1"):
        with pytest.raises(ConfigError, match="expected section.key=value"):
            parse_override(bad)


def test_set_is_validated_like_the_file():
    problems = problems_of(overrides=["feed.symbol=BTC", "norm.warmup=true", "feed.symbols=BTCUSDT"],
                           env={})
    assert "unknown key 'feed.symbol' (did you mean 'feed.symbols'?) (from --set)" in problems
    assert "norm.warmup: expected an integer, got boolean true (from --set)" in problems
    assert any(p.startswith("feed.symbols: expected a list") for p in problems)


# --------------------------------------------------------------------------- validation messages


def test_every_problem_is_reported_at_once(tmp_path):
    path = write(tmp_path / "bad.toml", """
[feed]
symbol = ["BTCUSDT"]
depth_speed = "@0ms"
snapshot_limit = 7
book_ticker = 1
[norm]
warmup = true
sigma_floor = 0
tau_ms = 1.5
[fed]
x = 1
[strategy]
entry_low = 60
[metrics]
port = 70000
""")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    err = info.value
    assert isinstance(err, ValueError)
    assert err.source == path
    assert str(err).splitlines() == err.problems
    assert set(err.problems) == {
        "unknown section 'fed' (did you mean 'feed'?)",
        "unknown key 'feed.symbol' (did you mean 'feed.symbols'?)",
        "feed.depth_speed: '@0ms' is not one of '0ms', '100ms'",
        "feed.snapshot_limit: 7 is not one of 5, 10, 20, 50, 100, 500, 1000",
        "feed.book_ticker: expected true or false, got integer 1",
        "norm.warmup: expected an integer, got boolean true",
        "norm.sigma_floor: 0.0 is out of range (must be > 0)",
        "norm.tau_ms: expected an integer, got float 1.5",
        "metrics.port: 70000 is out of range (must be >= 0 and <= 65535)",
        "strategy: need entry_low < exit_mid < entry_high, got 60.0 / 50.0 / 90.0",
    }


def test_a_key_in_the_wrong_section_points_to_its_home():
    assert problems_of(overrides=["feed.data_dir=/x"], env={}) == [
        "unknown key 'feed.data_dir' (did you mean 'storage.data_dir'?) (from --set)"
    ]


def test_unparsable_toml_reports_line_and_column(tmp_path):
    path = write(tmp_path / "broken.toml", '[feed]\nsymbols = ["BTCUSDT"]\ndepth_speed = 0ms\n')
    [problem] = problems_of(path, env={})
    assert problem.startswith(f"{path}: invalid TOML:")
    assert "line 3" in problem and "column" in problem


@pytest.mark.parametrize("override, message", [
    ("feed.symbols=[\"BTC-USDT\"]", "feed.symbols: item 0: 'BTC-USDT' does not match"),
    ("feed.symbols=[]", "feed.symbols: must not be empty"),
    ("feed.symbols=[\"btcusdt\", \"BTCUSDT\"]", "feed.symbols: duplicate symbols ['BTCUSDT']"),
    ("feed.trades=agg", "feed.trades: 'agg' is not one of 'aggTrade', 'trade'"),
    ("exchange.ws_url=https://x", "exchange.ws_url: 'https://x' is not a ws/wss URL"),
    ("storage.compression=gzip", "storage.compression: 'gzip' is not one of 'zstd', 'snappy'"),
    ("storage.ring_records=3000", "storage.ring_records: 3000 is not a power of two"),
    ("storage.ring_records=512", "storage.ring_records: 512 is below 1024"),
    ("storage.max_loss_s=4", "storage.max_loss_s: 4 is out of range"),
    ("storage.flush_interval_ms=30000", "storage.max_loss_s (60) must be at least 2 x "
                                        "storage.flush_interval_ms (30000 ms) + 3 s"),
    ("storage.tables=[\"trades\", \"nope\"]", "storage.tables: item 1: 'nope' is not one of"),
    ("execution.venue=live", "execution.venue: 'live' is not one of 'off', 'paper', 'ccxt'"),
    ("tobi.decay=1.5", "tobi.decay: 1.5 is out of range (must be > 0 and <= 1)"),
    ("norm.sigma_floor=nan", "norm.sigma_floor: expected a finite number, got nan"),
    ("feed.reconnect_min_s=60", "feed.reconnect_min_s (60.0) must be <= feed.reconnect_max_s (30.0)"),
    ("feed.max_book_levels=100", "feed.max_book_levels (100) must be >= feed.snapshot_limit (1000)"),
    ("kyle.min_intervals=400", "kyle.min_intervals (400) must be <= kyle.window (300)"),
    ("daemon.cpu_affinity=[1, 1]", "daemon.cpu_affinity: duplicate CPU numbers"),
    ("control.socket_mode=0o1777", "control.socket_mode: expected a file mode"),
    ("control.socket=/" + "x" * 120, "control.socket: longer than 107 bytes (121)"),
    ('symbols=["BTCUSDT"]', "symbols: expected tables [symbols.<SYMBOL>.<section>], got list "
                            "(did you mean 'feed.symbols'?)"),
    ("exchange.exchange_info_file=/nonexistent/x.json",
     "exchange.exchange_info_file: file not found: /nonexistent/x.json"),
])
def test_bad_values_are_named(override, message):
    [problem] = problems_of(overrides=[override], env={})
    assert problem.startswith(message), problem


def test_risk_limits_are_checked_against_order_qty_only_when_trading():
    sets = ["strategy.order_qty=1.0", "risk.max_order_qty=0.5"]
    assert load_config(overrides=sets, env={}).strategy.order_qty == 1.0  # venue off
    problems = problems_of(overrides=sets + ["execution.venue=paper"], env={})
    assert any(p.startswith("strategy.order_qty (1.0) exceeds risk.max_order_qty (0.5)")
               for p in problems)


def test_socket_mode_accepts_toml_octal_and_strings(tmp_path):
    path = write(tmp_path / "a.toml", "[control]\nsocket_mode = 0o640\n")
    assert load_config(path, env={}).control.socket_mode == 0o640
    assert load_config(overrides=["control.socket_mode=0600"], env={}).control.socket_mode == 0o600


def test_optional_key_can_be_unset_from_the_command_line(tmp_path):
    path = write(tmp_path / "a.toml", "[vpin]\nbucket_volume = 5.0\n")
    assert load_config(path, env={}).vpin.bucket_volume == 5.0
    assert load_config(path, ["vpin.bucket_volume="], env={}).vpin.bucket_volume is None


# --------------------------------------------------------------------------- per symbol


def test_per_symbol_overrides_from_file_and_set(tmp_path):
    path = write(tmp_path / "a.toml", """
[feed]
symbols = ["BTCUSDT", "ETHUSDT"]
[strategy]
order_qty = 0.002
[symbols.BTCUSDT.vpin]
bucket_volume = 50.0
[symbols.ethusdt.strategy]
order_qty = 0.05
""")
    c = load_config(path, ["symbols.BTCUSDT.strategy.entry_low=5", "symbols.ETHUSDT.risk.max_position=1"],
                    env={})
    btc, eth = c.for_symbol("BTCUSDT"), c.for_symbol("ethusdt")
    assert (btc.symbol, eth.symbol) == ("BTCUSDT", "ETHUSDT")
    assert btc.vpin.bucket_volume == 50.0 and eth.vpin.bucket_volume is None
    assert btc.strategy.order_qty == 0.002 and eth.strategy.order_qty == 0.05
    assert btc.strategy.entry_low == 5.0 and eth.strategy.entry_low == 10.0
    assert eth.risk.max_position == 1.0 and btc.risk.max_position == c.risk.max_position
    assert btc.norm == c.norm
    assert c.vpin.bucket_volume is None  # the global section is untouched
    with pytest.raises(KeyError, match="SOLUSDT"):
        c.for_symbol("SOLUSDT")


def test_per_symbol_problems(tmp_path):
    path = write(tmp_path / "a.toml", """
[feed]
symbols = ["BTCUSDT", "ETHUSDT"]
[symbols.ETHUSDX.vpin]
bucket_volume = 5.0
[symbols.BTCUSDT.vpin]
bucket_volume = -5.0
bucket = 3
[symbols.BTCUSDT.risk]
max_daily_loss_usd = 1.0
[symbols.BTCUSDT.feed]
depth_speed = "100ms"
[symbols.BTCUSDT.strategy]
exit_mid = 95
""")
    assert set(problems_of(path, env={})) == {
        "symbols.ETHUSDX: unknown symbol 'ETHUSDX' (not in feed.symbols ['BTCUSDT', 'ETHUSDT']) "
        "(did you mean 'ETHUSDT'?)",
        "symbols.BTCUSDT.vpin.bucket_volume: -5.0 is out of range (must be > 0)",
        "unknown key 'symbols.BTCUSDT.vpin.bucket' (did you mean 'symbols.BTCUSDT.vpin.buckets'?)",
        "symbols.BTCUSDT.risk.max_daily_loss_usd: not a per-symbol key (per-symbol keys of "
        "[risk]: max_position, max_order_qty, max_notional_usd)",
        "symbols.BTCUSDT.feed: [feed] cannot be set per symbol (per-symbol sections: tobi, ofi, "
        "vpin, kyle, lpi, wall, norm, dev, strategy, risk)",
        "symbols.BTCUSDT: strategy: need entry_low < exit_mid < entry_high, got 10.0 / 95.0 / 90.0",
    }


def test_per_symbol_override_via_set_for_a_symbol_not_traded():
    assert problems_of(overrides=["symbols.ETHUSDT.vpin.bucket_volume=1"], env={}) == [
        "symbols.ETHUSDT: unknown symbol 'ETHUSDT' (not in feed.symbols ['BTCUSDT']) (from --set)"
    ]


# --------------------------------------------------------------------------- secrets


def test_credentials_from_env_win_and_never_show(tmp_path):
    creds = write(tmp_path / "creds", "# test\napi_key = filekey\napi_secret='filesecret'\n", 0o600)
    c = load_config(overrides=[f"exchange.credentials_file={creds}"],
                    env={"RTAID_API_KEY": "envkey"})
    assert c.exchange.api_key.reveal() == "envkey"
    assert c.exchange.api_secret.reveal() == "filesecret"
    text = repr(c) + str(c.to_dict()) + dump_toml(c.to_dict())
    assert "envkey" not in text and "filesecret" not in text
    assert c.to_dict()["exchange"]["api_secret"] == "***"
    assert c.to_dict(redact=False)["exchange"]["api_secret"] == "filesecret"


def test_a_credentials_file_readable_by_others_is_refused(tmp_path):
    creds = write(tmp_path / "creds", "api_key=k\napi_secret=verysecret\n", 0o640)
    [problem] = problems_of(overrides=[f"exchange.credentials_file={creds}"], env={})
    assert problem == (f"exchange.credentials_file: {creds} is readable by group/others "
                       f"(mode 0640); run: chmod 600 {creds}")


def test_a_malformed_credentials_file_never_echoes_values(tmp_path):
    creds = write(tmp_path / "creds", "hunter2secretline\napi_token=abc\n", 0o600)
    problems = problems_of(overrides=[f"exchange.credentials_file={creds}"], env={})
    assert len(problems) == 2
    assert "hunter2" not in "\n".join(problems) and "abc" not in "\n".join(problems)


def test_secrets_in_the_toml_file_need_mode_0600(tmp_path):
    text = '[exchange]\napi_key = "k"\napi_secret = "plainsecret"\n'
    private = write(tmp_path / "private.toml", text, 0o600)
    assert load_config(private, env={}).exchange.api_secret == Secret("plainsecret")
    shared = write(tmp_path / "shared.toml", text, 0o644)
    problems = problems_of(shared, env={})
    assert len(problems) == 2
    assert problems[1].startswith(f"exchange.api_secret: secrets in the config file need it to be "
                                  f"mode 0600, {shared} is 0644")
    assert "plainsecret" not in "\n".join(problems)


def test_secrets_on_the_command_line_are_refused():
    [problem] = problems_of(overrides=["exchange.api_secret=s3cr3t"], env={})
    assert "not accepted on the command line" in problem and "s3cr3t" not in problem


def test_secret_wrong_type_does_not_echo(tmp_path):
    path = write(tmp_path / "a.toml", "[exchange]\napi_secret = 123456\n", 0o600)
    [problem] = problems_of(path, env={})
    assert problem == "exchange.api_secret: expected a string, got integer"


# --------------------------------------------------------------------------- reload


def test_plan_reload_classifies_live_and_restart_keys():
    old = load_config(env={})
    new = load_config(overrides=[
        "strategy.entry_low=5", "risk.max_position=0.1", "log.level=DEBUG",
        "feed.symbols=[\"ETHUSDT\"]", "strategy.order_qty=0.01",
        "symbols.ETHUSDT.strategy.exit_mid=40", "symbols.ETHUSDT.vpin.buckets=10",
    ], env={})
    plan = plan_reload(old, new)
    assert plan.live == ("log.level", "risk.max_position", "strategy.entry_low",
                         "symbols.ETHUSDT.strategy.exit_mid")
    assert plan.restart == ("feed.symbols", "strategy.order_qty", "symbols.ETHUSDT.vpin.buckets")
    assert plan.needs_restart
    assert plan_reload(old, old) == cfgmod.ReloadPlan()


def test_reload_rereads_the_same_file_with_the_same_overrides(tmp_path):
    path = tmp_path / "a.toml"
    write(path, "[strategy]\nentry_high = 95\n")
    old = load_config(str(path), ["norm.warmup=7"], env={})
    write(path, "[strategy]\nentry_high = 85\n[log]\nlevel = \"DEBUG\"\n")
    new, plan = reload_config(old, env={})
    assert (new.strategy.entry_high, new.norm.warmup, new.log.level) == (85.0, 7, "DEBUG")
    assert plan.live == ("log.level", "strategy.entry_high") and not plan.needs_restart
    write(path, "[strategy]\nentry_high = 500\n")
    with pytest.raises(ConfigError, match="strategy.entry_high: 500"):
        reload_config(old, env={})


# --------------------------------------------------------------------------- TOML output


def test_dump_toml_round_trips_through_load(tmp_path):
    c = load_config(overrides=[
        'feed.symbols=["BTCUSDT","ETHUSDT"]', "symbols.ETHUSDT.vpin.bucket_volume=2.5",
        'exchange.rest_url=http://127.0.0.1:1', "daemon.cpu_affinity=[3]", "control.socket_mode=0o600",
    ], env={"RTAID_API_KEY": "k", "RTAID_API_SECRET": "s"})
    path = write(tmp_path / "dump.toml", dump_toml(c.to_dict(redact=False)), 0o600)
    again = load_config(path, env={})
    assert dataclasses.replace(again, source=None) == dataclasses.replace(c, source=None, overrides=())


@settings(max_examples=200, deadline=None)
@given(st.one_of(
    st.text(), st.integers(), st.booleans(),
    st.floats(allow_nan=False), st.lists(st.text(max_size=5), max_size=3),
))
def test_toml_value_round_trips(value):
    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value


def test_toml_value_nan():
    assert math.isnan(tomllib.loads(f"v = {toml_value(float('nan'))}")["v"])


# --------------------------------------------------------------------------- docs stay in step


def all_keys():
    return [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


def test_example_config_is_valid_and_mentions_every_key():
    path = ROOT / "config" / "rtaid.example.toml"
    c = load_config(str(path), env={})
    assert c.source == str(path)
    text = path.read_text()
    section = None
    mentioned = set()
    for line in text.splitlines():
        line = line.lstrip("# ").split("#")[0].strip()
        if m := re.fullmatch(r"\[([a-z_]+)\]", line):
            section = m.group(1)
        elif m := re.match(r"([a-z0-9_]+)\s*=", line):
            mentioned.add(f"{section}.{m.group(1)}")
    assert set(all_keys()) <= mentioned


def test_docs_describe_every_key():
    text = (ROOT / "docs" / "config.md").read_text()
    missing = [k for k in all_keys() if f"`{k}`" not in text]
    assert not missing
