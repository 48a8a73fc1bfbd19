"""The pieces with rules of their own: client ids, the state file, the user data stream
(listenKey keep-alive, expiry, reconnection) against rtaid-sim, the keys' sources."""
import asyncio
import os

import aiohttp
import pytest

from rtaid.exec.ids import VALID, ClientIds, base36, is_ours
from rtaid.exec.state import StateFileError, TradingState
from rtaid.exec.user_stream import UserStream
from rtaid.infra import preflight
from rtaid.infra.config import ConfigError
from rtaid.infra.secrets import Secret
from tests.exec.helpers import daemon_at, exec_config, run, sim_position, target, until, with_sim


def test_client_ids_are_valid_ours_and_unique_across_restarts():
    first, second = ClientIds(1_733_000_000_000), ClientIds(1_733_000_000_001)
    ids = [first.next(s, 0) for s in (0, 1, 255) for _ in range(1000)]
    ids += [second.next(s, 0) for s in (0, 1, 255) for _ in range(1000)]
    assert len(set(ids)) == len(ids)
    assert all(VALID.match(i) and len(i) <= 36 and is_ours(i) for i in ids)
    assert not is_ours("web_1234") and not is_ours("x-rt-1")
    # the paper venue: a symbol's epoch is its first decision's exchange time
    paper = ClientIds(None)
    a, b = paper.next(0, 1_723_161_356_343), paper.next(0, 5)
    assert a.split("-")[1] == b.split("-")[1] == base36(1_723_161_356_343)
    assert (a.split("-")[-1], b.split("-")[-1]) == ("1", "2")
    assert paper.next(1, 1_723_161_999_999).split("-")[1] == base36(1_723_161_999_999)


def test_the_state_file_keeps_a_halt_and_refuses_garbage(tmp_path):
    path = str(tmp_path / "sub" / "state.json")
    st = TradingState.load(path)
    assert st.state == "active" and os.path.exists(path)      # written at start: writable
    st.halt("kill_switch", ["BTCUSDT"])
    again = TradingState.load(path)
    assert (again.state, again.reason, again.flatten) == ("halted", "kill_switch", {"BTCUSDT"})
    assert again.pause() is not None                           # halted: resume first
    again.resume()
    assert TradingState.load(path).state == "active"
    (tmp_path / "bad.json").write_text('{"state": "sleeping"}')
    config = exec_config_offline(tmp_path, f"execution.state_file={tmp_path / 'bad.json'}")
    with pytest.raises(preflight.StartupError, match=r"execution.state_file .*bad.json"):
        preflight.check_execution(config, None)
    with pytest.raises(StateFileError, match="not a trading state file"):
        TradingState.load(str(tmp_path / "bad.json"))


def exec_config_offline(tmp_path, *sets):
    from rtaid.infra.config import load_config

    return load_config(None, ["execution.venue=paper", f"storage.data_dir={tmp_path}", *sets],
                       env={})


def test_user_stream_keeps_its_key_alive_and_comes_back_after_expiry_and_drops():
    async def scenario(sim):
        events, connected = [], []
        async with aiohttp.ClientSession() as session:
            stream = UserStream(session, sim.rest_url, f"{sim.ws_url}/private/ws",
                                Secret("sim-key"), events.append, lambda: connected.append(1),
                                keepalive_s=0.3)
            stream.start()
            try:
                assert await until(lambda: stream.connected.is_set())
                # the key lives 1 s at this sim: kept alive, the connection stays
                await asyncio.sleep(2.5)
                assert stream.keepalives >= 5 and stream.connects == 1
                sim.account.place({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                   "quantity": "0.001"})
                assert await until(lambda: {"ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE"}
                                   <= {e["e"] for e in events})
                # dropped without a close frame: back, with the same or a new key
                sim.faults.drop_connections("user", clean=False)
                assert await until(lambda: stream.connects == 2, 5)
                # the key is deleted at the exchange: the keep-alive fails, a new key
                sim.user_streams.delete()
                assert await until(lambda: stream.connects == 3, 5)
            finally:
                await stream.stop()
            # no keep-alive: the key expires (listenKeyExpired), a new key, a new connection
            lazy = UserStream(session, sim.rest_url, f"{sim.ws_url}/private/ws",
                              Secret("sim-key"), events.append, lambda: None, keepalive_s=60)
            sim.user_streams.delete()
            lazy.start()
            try:
                assert await until(lambda: lazy.connects >= 2, 6)
            finally:
                await lazy.stop()
            assert len(connected) == 3

    run(with_sim(scenario, listen_key_ttl_s=1.0, ping_interval_s=4.0))


def test_keys_from_a_private_credentials_file(tmp_path):
    creds = tmp_path / "credentials"
    creds.write_text("api_key=sim-key\napi_secret='sim-secret'\n")
    os.chmod(creds, 0o600)

    async def scenario(sim):
        config = exec_config(sim, tmp_path / "data", f"exchange.credentials_file={creds}", env={})
        async with daemon_at(sim, config) as daemon:
            daemon.execution.on_events([target("BTCUSDT", 0.001)])
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.001)

    run(with_sim(scenario))
    os.chmod(creds, 0o644)
    with pytest.raises(ConfigError, match="chmod 600") as refused:
        exec_config_offline(tmp_path, f"exchange.credentials_file={creds}")
    assert "sim-secret" not in str(refused.value)
