"""TOML config, CLI flags over it, and the rtaid-sim entry point."""
import json
import signal
import subprocess
import sys
import urllib.request

import pytest

from rtaid.sim import SimExchange
from rtaid.sim.cli import build_parser, config_from_args, main
from rtaid.sim.config import SimConfig, load_config


def test_defaults():
    cfg = SimConfig()
    assert (cfg.host, cfg.port) == ("127.0.0.1", 8765)
    assert [s.symbol for s in cfg.symbols] == ["BTCUSDT", "ETHUSDT"]
    assert (cfg.symbols[0].tick_size, cfg.symbols[1].tick_size) == ("0.10", "0.01")
    assert (cfg.api_key, cfg.api_secret) == ("sim-key", "sim-secret")


def test_toml_then_cli_overrides(tmp_path):
    path = tmp_path / "sim.toml"
    path.write_text(
        '[sim]\nport = 9001\nrate = 123.0\nsymbols = ["BTCUSDT", "XYZUSDT"]\napi_secret = "s3"\n'
        '[sim.instruments.XYZUSDT]\ntick_size = "0.5"\nprice_precision = 1\ninitial_price = "10.0"\n'
    )
    cfg = load_config(path)
    assert cfg.port == 9001 and cfg.rate == 123.0 and cfg.api_secret == "s3"
    xyz = cfg.symbols[1]
    assert (xyz.symbol, xyz.tick_size, xyz.price_precision, xyz.base_asset) == ("XYZUSDT", "0.5", 1, "XYZ")
    args = build_parser().parse_args(["--config", str(path), "--port", "0", "--symbols", "ETHUSDT", "--speed", "3"])
    cfg = config_from_args(args)
    assert cfg.port == 0 and [s.symbol for s in cfg.symbols] == ["ETHUSDT"] and cfg.speed == 3.0
    assert cfg.rate == 123.0


def test_per_symbol_rates_from_toml_and_cli(tmp_path, run):
    path = tmp_path / "sim.toml"
    path.write_text('[sim]\nrate = 50.0\nsymbols = ["BTCUSDT", "XRPUSDT", "DOGEUSDT"]\n'
                    '[sim.rates]\nBTCUSDT = 2000\n')
    cfg = load_config(path)
    assert (cfg.rate_of("BTCUSDT"), cfg.rate_of("XRPUSDT")) == (2000.0, 50.0)
    cfg = config_from_args(build_parser().parse_args(
        ["--config", str(path), "--port", "0", "--rates", "xrpusdt=300,DOGEUSDT=7.5"]))
    assert cfg.rates == {"BTCUSDT": 2000.0, "XRPUSDT": 300.0, "DOGEUSDT": 7.5}
    # the grids of the added known symbols are Binance's
    assert [s.tick_size for s in cfg.symbols] == ["0.10", "0.0001", "0.00001"]

    async def scenario():
        async with SimExchange(cfg) as sim:
            return {s: d.rate for s, d in sim.drivers.items()}

    assert run(scenario()) == {"BTCUSDT": 2000.0, "XRPUSDT": 300.0, "DOGEUSDT": 7.5}
    assert main(["--port", "0", "--rates", "BTCUSDT"]) == 2
    assert main(["--port", "0", "--rates", "BTCUSDT=fast"]) == 2


def test_bad_config_is_an_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[sim]\nno_such_key = 1\n")
    assert main(["--config", str(path)]) == 2
    assert main(["--port", "0", "--log-level", "chatty"]) == 2


def test_module_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "rtaid.sim", "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "--replay" in out.stdout and "--rate" in out.stdout


def test_cli_process_serves_and_stops_on_sigterm():
    proc = subprocess.Popen([sys.executable, "-m", "rtaid.sim", "--port", "0", "--symbols", "ETHUSDT",
                             "--rate", "100", "--log-level", "warning"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        while line and not line.startswith("rtaid-sim listening: "):
            line = proc.stdout.readline()  # JSON log lines may come first
        assert line.startswith("rtaid-sim listening: http://127.0.0.1:")
        rest_url = line.split()[2]
        with urllib.request.urlopen(f"{rest_url}/fapi/v1/exchangeInfo", timeout=10) as resp:
            symbols = [s["symbol"] for s in json.load(resp)["symbols"]]
        assert symbols == ["ETHUSDT"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_port_in_use_raises_and_releases(run):
    async def main():
        async with SimExchange(SimConfig(port=0, rate=0)) as first:
            with pytest.raises(OSError):
                async with SimExchange(SimConfig(port=first.port, rate=0)):
                    pass
    run(main())
