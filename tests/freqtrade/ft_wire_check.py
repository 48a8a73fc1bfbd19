"""Runs in the freqtrade venv: compares rtaid's messages and token refusal with what
freqtrade's own producer code makes of the same data. Prints one JSON object.

    python ft_wire_check.py RTAID_PORT
"""
import asyncio
import json
import sys
import threading
import time
from datetime import UTC, datetime

import websockets


def messages():
    import pandas as pd
    from freqtrade.enums import CandleType, RPCMessageType
    from freqtrade.rpc.api_server.ws.serializer import HybridJSONWebSocketSerializer
    from freqtrade.rpc.api_server.ws_schemas import (
        WSAnalyzedDFMessage, WSErrorMessage, WSWhitelistMessage)

    from rtaid.freqtrade import wire

    serialize = HybridJSONWebSocketSerializer(None)._serialize
    deserialize = HybridJSONWebSocketSerializer(None)._deserialize
    out = {}
    # values pandas prints exactly as Python does (it rounds floats to 10 decimals)
    columns = ["date", "open", "high", "low", "close", "volume", "trade_count", "vpin_last", "target"]
    rows = [[1723161240000, 61800.3, 61839.8, 61800.0, 61807.8, 125.967, 1751, float("nan"), 0],
            [1723161300000, 61807.8, 61850.5, 61790.1, 61812.25, 2177.432, 20112, 0.5, -1]]
    la = datetime(2024, 8, 9, 0, 1, 0, 250000, tzinfo=UTC)
    header = wire.FrameHeader(columns)
    ours = wire.analyzed_df("BTC/USDT:USDT", header, [wire.row_text(r) for r in rows], la.timestamp())
    df = pd.DataFrame(rows, columns=columns)
    df["date"] = pd.to_datetime(df["date"], unit="ms", utc=True)
    theirs = serialize(WSAnalyzedDFMessage(data={
        "key": ("BTC/USDT:USDT", "1m", CandleType.FUTURES), "df": df, "la": la}).model_dump(exclude_none=True))
    out["analyzed_df"] = [ours, theirs]
    # what freqtrade's consumer reads back from ours
    back = deserialize(ours)
    got = back["data"]["df"]
    out["read_back"] = {"dtypes": {c: str(t) for c, t in got.dtypes.items()},
                        "dates": [int(d.timestamp() * 1000) for d in got["date"]],
                        "equal": bool(got.drop(columns="date").equals(df.drop(columns="date")))}
    model = WSAnalyzedDFMessage.model_validate(back)
    out["validated_key"] = [str(k) for k in model.data.key]
    out["validated_la"] = model.data.la.isoformat()
    out["whitelist"] = [wire.whitelist(["BTC/USDT:USDT", "ETH/USDT:USDT"]),
                        serialize(WSWhitelistMessage(data=["BTC/USDT:USDT", "ETH/USDT:USDT"]).model_dump(exclude_none=True))]
    out["error"] = [wire.error("Invalid request type: nope"),
                    serialize(WSErrorMessage(data="Invalid request type: nope").model_dump(exclude_none=True))]
    out["new_candle"] = [wire.new_candle("BTC/USDT:USDT"),
                         serialize({"type": RPCMessageType.NEW_CANDLE,
                                    "data": ("BTC/USDT:USDT", "1m", CandleType.FUTURES)})]
    return out


def freqtrade_endpoint(port):
    """freqtrade's own /api/v1/message/ws (its router, token check and channel) on uvicorn."""
    import uvicorn
    from fastapi import FastAPI
    from freqtrade.rpc.api_server.api_ws import router
    from freqtrade.rpc.api_server.deps import get_api_config, get_rpc

    app = FastAPI()
    app.include_router(router, prefix="/api/v1")
    app.dependency_overrides[get_api_config] = lambda: {"ws_token": "good", "jwt_secret_key": "k"}
    app.dependency_overrides[get_rpc] = lambda: None
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    return server


async def refusal(url):
    try:
        async with websockets.connect(url):
            return {"accepted": True}
    except websockets.exceptions.InvalidStatus as exc:
        r = exc.response
        return {"status": r.status_code, "body": bytes(r.body).decode(),
                "content_type": r.headers.get("Content-Type")}


def main():
    rtaid_port = int(sys.argv[1])
    out = messages()
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        ft_port = s.getsockname()[1]
    server = freqtrade_endpoint(ft_port)
    out["refusal"] = {}
    for name, port in (("freqtrade", ft_port), ("rtaid", rtaid_port)):
        out["refusal"][name] = [asyncio.run(refusal(f"ws://127.0.0.1:{port}/api/v1/message/ws{q}"))
                                for q in ("?token=bad", "", "?token=")]
    server.should_exit = True
    print(json.dumps(out))


if __name__ == "__main__":
    main()
