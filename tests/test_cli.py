"""The `rtaid` dispatcher: config check/show, exit codes, lazy subcommand handlers."""
import argparse
import json
import os
import subprocess
import sys
import textwrap
import tomllib

import pytest

from rtaid import cli
from rtaid.infra import config as cfgmod

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for var in ("RTAID_CONFIG", "RTAI_CONFIG_PATH", "RTAID_DATA_DIR", "RTAI_DATA_PATH",
                "RTAID_LOG_LEVEL", "RTAI_LOG_LEVEL", "RTAID_API_KEY", "RTAID_API_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(cfgmod, "DEFAULT_CONFIG_PATH", str(tmp_path / "absent-default.toml"))


def write(path, text, mode=0o644):
    path.write_text(textwrap.dedent(text))
    os.chmod(path, mode)
    return str(path)


def test_config_check_ok(tmp_path, capsys):
    path = write(tmp_path / "ok.toml", "[feed]\nsymbols = ['ETHUSDT']\n")
    assert cli.main(["config", "check", path]) == 0
    assert capsys.readouterr().out == f"ok: {path}\n"


def test_config_check_without_a_path_checks_what_rtaid_would_read(tmp_path, capsys, monkeypatch):
    assert cli.main(["config", "check"]) == 0
    assert capsys.readouterr().out == "ok: (defaults, no config file)\n"
    path = write(tmp_path / "env.toml", "[norm]\nwarmup = 1\n")
    monkeypatch.setenv("RTAID_CONFIG", path)
    assert cli.main(["config", "check"]) == 0
    assert capsys.readouterr().out == f"ok: {path}\n"


def test_config_check_reports_every_problem_and_exits_2(tmp_path, capsys):
    path = write(tmp_path / "bad.toml", """\
        [feed]
        symbol = ["BTCUSDT"]
        depth_speed = "1s"
        """)
    assert cli.main(["config", "check", path]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"rtaid: invalid configuration {path}:",
        "  unknown key 'feed.symbol' (did you mean 'feed.symbols'?)",
        "  feed.depth_speed: '1s' is not one of '0ms', '100ms'",
    ]


def test_config_check_applies_set(tmp_path, capsys):
    path = write(tmp_path / "ok.toml", "")
    assert cli.main(["config", "check", path, "--set", "norm.warmup=-1"]) == 2
    assert "norm.warmup: -1 is out of range (must be >= 0 and <= 10000000) (from --set)" in \
        capsys.readouterr().err


def test_unparsable_file_is_a_clean_error(tmp_path, capsys):
    path = write(tmp_path / "broken.toml", "[feed\n")
    assert cli.main(["config", "check", path]) == 2
    err = capsys.readouterr().err
    assert "invalid TOML" in err and "line 1" in err and "Traceback" not in err


def test_config_show_toml_reflects_file_env_and_set(tmp_path, capsys, monkeypatch):
    path = write(tmp_path / "a.toml", "[feed]\nsymbols = ['BTCUSDT', 'ETHUSDT']\n")
    monkeypatch.setenv("RTAID_DATA_DIR", "/data/env")
    monkeypatch.setenv("RTAID_API_SECRET", "topsecret")
    rc = cli.main(["--config", path, "config", "show",
                   "--set", "norm.warmup=50", "--set", "symbols.ETHUSDT.vpin.bucket_volume=50"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "topsecret" not in out
    shown = tomllib.loads(out)
    assert shown["feed"]["symbols"] == ["BTCUSDT", "ETHUSDT"]
    assert shown["storage"]["data_dir"] == "/data/env"
    assert shown["norm"]["warmup"] == 50
    assert shown["exchange"]["api_secret"] == "***"
    assert shown["symbols"]["ETHUSDT"]["vpin"]["bucket_volume"] == 50.0
    assert "api_key" not in shown["exchange"]  # unset optional keys are comments


def test_config_show_json(capsys, monkeypatch):
    monkeypatch.setenv("RTAID_API_KEY", "mykey")
    assert cli.main(["config", "show", "--json", "--set", "feed.trades=aggTrade"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["feed"]["trades"] == "aggTrade"
    assert shown["exchange"]["api_key"] == "***"
    assert shown["vpin"]["bucket_volume"] is None


def test_config_show_missing_explicit_file_exits_2(tmp_path, capsys):
    missing = str(tmp_path / "nope.toml")
    assert cli.main(["config", "show", "--config", missing]) == 2
    assert f"config file not found: {missing}" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["nonsense"], ["config"], ["config", "show", "--bogus"]])
def test_usage_errors_exit_2(argv, capsys):
    assert cli.main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_help_exits_0(capsys):
    assert cli.main(["--help"]) == 0
    assert "config" in capsys.readouterr().out


def test_config_check_does_not_import_the_kernels(tmp_path):
    """Only the table registry (storage.tables' names; no numpy, no hot path) loads."""
    path = write(tmp_path / "ok.toml", "")
    code = (
        "import sys; from rtaid.cli import main; rc = main(['config', 'check', sys.argv[1]]); "
        "heavy = [m for m in sys.modules if m.startswith(('rtaid._kernels.', 'numpy', 'pyarrow'))"
        " and m != 'rtaid._kernels.records']; "
        "print(heavy); raise SystemExit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"ok: {path}", "[]"]


def test_python_dash_m_rtaid(tmp_path):
    path = write(tmp_path / "bad.toml", "[feed]\nsnapshot_limit = 7\n")
    proc = subprocess.run([sys.executable, "-m", "rtaid", "config", "check", path],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert "feed.snapshot_limit: 7 is not one of" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_new_subcommand_is_one_function_and_its_handler_is_imported_lazily(
        tmp_path, monkeypatch, capsys):
    module = tmp_path / "rtaid_fake_sub.py"
    module.write_text(textwrap.dedent("""\
        from rtaid.cli import load_config_from_args
        def run(args):
            config = load_config_from_args(args)
            print("symbols", ",".join(config.feed.symbols), "speed", args.speed)
            return 3
        """))
    monkeypatch.syspath_prepend(str(tmp_path))

    def add_fake_parser(sub, common):
        p = sub.add_parser("fake", parents=[common])
        p.add_argument("--speed", type=float, default=1.0)
        p.set_defaults(handler="rtaid_fake_sub:run")

    monkeypatch.setattr(cli, "PARSERS", cli.PARSERS + [add_fake_parser])
    monkeypatch.delitem(sys.modules, "rtaid_fake_sub", raising=False)
    assert cli.main(["config", "check"]) == 0
    assert "rtaid_fake_sub" not in sys.modules
    capsys.readouterr()
    assert cli.main(["fake", "--speed", "2", "--set", "feed.symbols=['ETHUSDT']"]) == 3
    assert capsys.readouterr().out == "symbols ETHUSDT speed 2.0\n"
    assert cli.main(["fake", "--set", "feed.symbols=7"]) == 2  # config errors exit 2 here too


def test_config_args_accepts_options_before_or_after_the_subcommand():
    parser = cli.build_parser()
    before = parser.parse_args(["--config", "a.toml", "config", "show"])
    after = parser.parse_args(["config", "show", "--config", "a.toml", "--set", "x.y=1"])
    assert cli.config_args(before) == ("a.toml", [])
    assert cli.config_args(after) == ("a.toml", ["x.y=1"])
    assert cli.config_args(argparse.Namespace()) == (None, [])


# --------------------------------------------------------------------------- logging
# rtaid.infra.log has no test file of its own yet; its tests live here with the CLI they serve.

import io  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402

from rtaid.infra import log as rlog  # noqa: E402
from rtaid.infra.secrets import Secret  # noqa: E402


@pytest.fixture
def logbuf():
    buf = io.StringIO()
    rlog.setup_logging("INFO", stream=buf)
    yield buf
    rlog.reset_logging()


def lines(buf):
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_json_lines_ascii_utc_and_level_filter(logbuf):
    logger = rlog.get_logger("feed", symbol="BTCUSDT")
    logger.debug("hidden")
    logger.info("connected", note="caf\u00e9 \u2603")
    text = logbuf.getvalue()
    assert text.isascii()
    [rec] = lines(logbuf)
    assert rec["event"] == "connected" and rec["level"] == "info"
    assert rec["logger"] == "feed" and rec["symbol"] == "BTCUSDT" and rec["note"] == "caf\u00e9 \u2603"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", rec["timestamp"])


def test_level_change_reaches_loggers_made_earlier(logbuf):
    logger = rlog.get_logger("x")
    rlog.setup_logging("debug", stream=logbuf)
    logger.debug("now visible")
    rlog.setup_logging("ERROR", stream=logbuf)
    logger.warning("hidden")
    logger.error("shown")
    assert [r["event"] for r in lines(logbuf)] == ["now visible", "shown"]
    with pytest.raises(ValueError, match="unknown log level"):
        rlog.setup_logging("LOUD")


def test_secrets_are_never_logged(logbuf):
    rlog.get_logger().info("creds", api_key="AKIA123", api_secret="s3cr3t",
                           signature="abcd", other=Secret("hidden"),
                           request={"params": {"listenKey": "lk123"}, "ids": [Secret("x1")]})
    [rec] = lines(logbuf)
    assert (rec["api_key"], rec["api_secret"], rec["signature"], rec["other"]) == ("***",) * 4
    assert rec["request"] == {"params": {"listenKey": "***"}, "ids": ["***"]}
    assert "s3cr3t" not in logbuf.getvalue() and "hidden" not in logbuf.getvalue()


def test_stdlib_logging_is_rendered_as_json_with_a_stable_event(logbuf):
    """A library's message goes into a field; its event is the library's name."""
    logging.getLogger("aiohttp.client").warning("retry %d", 3)
    logging.getLogger("picows.rtaid.feed.public-0.15").info("WS connection established: x")
    first, second = lines(logbuf)
    assert (first["event"], first["message"], first["level"], first["logger"]) == \
        ("aiohttp", "retry 3", "warning", "aiohttp.client")
    assert (second["event"], second["message"]) == ("picows", "WS connection established: x")


def test_rate_limited_log_counts_what_it_holds_back(logbuf):
    now = [100.0]
    limited = rlog.RateLimitedLog(rlog.get_logger("book"), interval_s=10.0, clock=lambda: now[0])
    assert limited.warning("gap:BTCUSDT", "book gap", symbol="BTCUSDT") is True
    assert [limited.warning("gap:BTCUSDT", "book gap") for _ in range(4)] == [False] * 4
    assert limited.warning("gap:ETHUSDT", "book gap") is True  # keys are independent
    assert limited.suppressed("gap:BTCUSDT") == 4
    now[0] += 9.99
    assert limited.warning("gap:BTCUSDT", "book gap") is False
    now[0] += 0.01
    assert limited.error("gap:BTCUSDT", "book gap") is True
    limited.warning("gap:BTCUSDT", "book gap")
    limited.flush()
    recs = lines(logbuf)
    assert [(r["key"], r.get("suppressed"), r["level"]) for r in recs] == [
        ("gap:BTCUSDT", None, "warning"),
        ("gap:ETHUSDT", None, "warning"),
        ("gap:BTCUSDT", 5, "error"),
        ("gap:BTCUSDT", 1, "warning"),
    ]
    assert recs[-1]["event"] == "suppressed_events"
    assert limited.suppressed("gap:BTCUSDT") == 0
