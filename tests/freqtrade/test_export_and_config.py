"""``rtaid export freqtrade`` (files and errors) and the [freqtrade] config section."""
import json
import os

import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from rtaid import cli
from rtaid.freqtrade import bars as barlib
from rtaid.infra.config import ConfigError, load_config

TOKEN = "Tok_en-1.2~x"


def run_cli(args, capsys, env=None):
    code = cli.main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_export_writes_the_traded_bars_in_freqtrades_layout(dataset, tmp_path, capsys):
    code, out, err = run_cli(["export", "freqtrade", str(tmp_path / "ft"), "--set",
                              f"storage.data_dir={dataset}", "--timeframes", "1m,5m",
                              "--data-format", "parquet"], capsys)
    assert code == 0, err
    for symbol, name in (("BTCUSDT", "BTC_USDT_USDT"), ("ETHUSDT", "ETH_USDT_USDT")):
        frame = barlib.read_bars(str(dataset), symbol)
        traded = [dict(zip(frame.columns, r)) for r in frame.rows() if r[1] == r[1]]
        path = tmp_path / "ft" / "futures" / f"{name}-1m-futures.parquet"
        assert f"{path}: {len(traded)} candles" in out
        table = pq.read_table(path)
        assert table.column_names == ["date", "open", "high", "low", "close", "volume"]
        rows = table.to_pylist()
        assert [int(r["date"].timestamp() * 1000) for r in rows] == [b["date"] for b in traded]
        for c in ("open", "high", "low", "close", "volume"):
            assert [r[c] for r in rows] == [b[c] for b in traded]
        five = barlib.resample(frame, 300_000)
        assert pq.read_table(path.with_name(f"{name}-5m-futures.parquet")).num_rows == \
            sum(1 for v in five.arrays["open"] if v == v)
    code, out, err = run_cli(["export", "freqtrade", str(tmp_path / "ft2"), "--set",
                              f"storage.data_dir={dataset}", "--pairs", "ETH/USDT:USDT"], capsys)
    assert code == 0 and os.listdir(tmp_path / "ft2" / "futures") == ["ETH_USDT_USDT-1m-futures.feather"]
    table = feather.read_table(tmp_path / "ft2" / "futures" / "ETH_USDT_USDT-1m-futures.feather")
    assert str(table.schema.field("date").type) == "timestamp[ms, tz=UTC]"


@pytest.mark.parametrize("extra, code, message", [
    (["--pairs", "BTC/USDT"], 2, "'BTC/USDT' is not a USD-M futures pair"),
    (["--pairs", "XRPUSDT"], 1, "no bars in"),
    (["--timeframes", "1M"], 2, "timeframe '1M' is not supported"),
])
def test_export_names_what_is_wrong(dataset, tmp_path, capsys, extra, code, message):
    got, out, err = run_cli(["export", "freqtrade", str(tmp_path / "ft"), "--set",
                             f"storage.data_dir={dataset}", *extra], capsys)
    assert got == code and message in err and "Traceback" not in err


def test_export_of_an_empty_dataset_says_so(tmp_path, capsys):
    got, out, err = run_cli(["export", "freqtrade", str(tmp_path / "ft"), "--set",
                             f"storage.data_dir={tmp_path / 'none'}"], capsys)
    assert got == 1 and "no bars_1m in" in err


# --------------------------------------------------------------------------- config


def write(path, text, mode):
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_the_token_comes_from_the_environment_or_a_private_file(tmp_path):
    c = load_config(None, ["freqtrade.enabled=true"], env={"RTAID_FREQTRADE_TOKEN": TOKEN})
    assert c.freqtrade.token.reveal() == TOKEN and c.freqtrade.port == 8080
    assert c.to_dict()["freqtrade"]["token"] == "***"
    token_file = write(tmp_path / "ft.token", f"  {TOKEN}\n", 0o600)
    c = load_config(None, ["freqtrade.enabled=true", f"freqtrade.token_file={token_file}"], env={})
    assert c.freqtrade.token.reveal() == TOKEN
    # the environment wins over the file
    c = load_config(None, [f"freqtrade.token_file={token_file}"], env={"RTAID_FREQTRADE_TOKEN": "env"})
    assert c.freqtrade.token.reveal() == "env"
    assert load_config(None, [], env={}).freqtrade.token is None


@pytest.mark.parametrize("setup, message", [
    (lambda p: ([], {}), "freqtrade.enabled: the producer needs a token"),
    (lambda p: ([f"freqtrade.token_file={write(p / 't', TOKEN, 0o644)}"], {}),
     "is readable by group/others (mode 0644)"),
    (lambda p: ([f"freqtrade.token_file={write(p / 't', '  ', 0o600)}"], {}), "is empty"),
    (lambda p: ([f"freqtrade.token_file={p / 'missing'}"], {}), "file not found"),
    (lambda p: ([], {"RTAID_FREQTRADE_TOKEN": "a&b"}), "may only contain letters"),
    (lambda p: ([f"freqtrade.token={TOKEN}"], {}), "not accepted in the config file or on the command line"),
    (lambda p: (["metrics.port=8080"], {"RTAID_FREQTRADE_TOKEN": "x"}), "freqtrade.port: 8080 is also metrics.port"),
    (lambda p: (['storage.tables=["trades","bars_1m"]'], {"RTAID_FREQTRADE_TOKEN": "x"}),
     "needs the signals table"),
    (lambda p: (['feed.symbols=["BTCUSDT","ETHBTC"]'], {"RTAID_FREQTRADE_TOKEN": "x"}),
     "'ETHBTC' is not a USD-M perpetual symbol"),
])
def test_bad_token_setups_are_refused_without_echoing_the_token(tmp_path, setup, message):
    overrides, env = setup(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_config(None, ["freqtrade.enabled=true", *overrides], env=env)
    assert message in str(err.value)
    assert TOKEN not in str(err.value)


def test_a_token_in_the_config_file_is_refused_even_when_private(tmp_path):
    path = write(tmp_path / "rtaid.toml", f'[freqtrade]\nenabled = true\ntoken = "{TOKEN}"\n', 0o600)
    with pytest.raises(ConfigError) as err:
        load_config(str(path), env={"RTAID_FREQTRADE_TOKEN": "x"})
    assert "freqtrade.token" in str(err.value) and TOKEN not in str(err.value)


def test_config_show_redacts_the_token(capsys, monkeypatch):
    monkeypatch.setenv("RTAID_FREQTRADE_TOKEN", TOKEN)
    monkeypatch.delenv("RTAID_CONFIG", raising=False)
    code, out, err = run_cli(["config", "show", "--json", "--set", "freqtrade.enabled=true"], capsys)
    assert code == 0 and TOKEN not in out
    assert json.loads(out)["freqtrade"]["token"] == "***"
