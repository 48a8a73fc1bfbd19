"""Signed REST: orders, positions, balance, leverage brackets, listenKeys."""
from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from rtaid.sim.rest_common import API_KEY, SIGNED, RequestContext, endpoint

if TYPE_CHECKING:
    from rtaid.sim.server import SimExchange


def register(app: web.Application, sim: "SimExchange") -> None:
    account = sim.account

    @endpoint(sim, 0, SIGNED, order=True)
    def new_order(params, ctx: RequestContext):
        return sim.place_order(params, "rest", ctx.arrival_mono_ns, ctx.arrival_wall_ns)

    @endpoint(sim, 1, SIGNED, order=True)
    def modify_order(params, ctx):
        # weight 1, and it counts towards the order limits (as order.modify)
        return account.order_json(account.modify(params))

    @endpoint(sim, 1, SIGNED)
    def cancel_order(params, ctx):
        order = account.cancel(params.get("symbol"), params.get("orderId"), params.get("origClientOrderId"))
        return account.order_json(order)

    @endpoint(sim, 1, SIGNED)
    def query_order(params, ctx):
        order = account.query(params.get("symbol"), params.get("orderId"), params.get("origClientOrderId"))
        return account.order_json(order)

    @endpoint(sim, 1, SIGNED)
    def cancel_all(params, ctx):
        account.cancel_all(params.get("symbol"))
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    @endpoint(sim, lambda p: 1 if p.get("symbol") else 40, SIGNED)
    def open_orders(params, ctx):
        return [account.order_json(o) for o in account.open_orders_of(params.get("symbol"))]

    def positions(params, only_active: bool) -> list[dict]:
        symbol = params.get("symbol")
        if symbol:
            account.market_of(symbol)  # raises -1121 for an unknown symbol
        out = []
        with_orders = {o.symbol for o in account.open_orders.values()}
        for pos in account.positions.values():
            if symbol and pos.symbol != symbol.upper():
                continue
            if only_active and not pos.lots and pos.symbol not in with_orders:
                continue
            out.append(account.position_json(pos))
        return out

    @endpoint(sim, 5, SIGNED)
    def position_risk_v3(params, ctx):
        # v3 lists only symbols with a position or open orders.
        return positions(params, only_active=True)

    @endpoint(sim, 5, SIGNED)
    def position_risk_v2(params, ctx):
        rows = positions(params, only_active=False)
        for row in rows:
            row.update({"leverage": str(account.leverage), "marginType": "cross", "isAutoAddMargin": "false",
                        "maxNotionalValue": "1000000"})
        return rows

    @endpoint(sim, 1, SIGNED)
    def leverage_bracket(params, ctx):
        symbol = params.get("symbol")
        rows = []
        for m in sim.markets.values():
            if symbol and m.symbol != symbol.upper():
                continue
            rows.append({"symbol": m.symbol, "notionalCoef": 1.0, "brackets": [
                {"bracket": 1, "initialLeverage": 125, "notionalCap": 50000, "notionalFloor": 0,
                 "maintMarginRatio": 0.004, "cum": 0.0},
                {"bracket": 2, "initialLeverage": 100, "notionalCap": 600000, "notionalFloor": 50000,
                 "maintMarginRatio": 0.005, "cum": 50.0},
                {"bracket": 3, "initialLeverage": 20, "notionalCap": 100000000, "notionalFloor": 600000,
                 "maintMarginRatio": 0.025, "cum": 12050.0},
            ]})
        return rows

    @endpoint(sim, 1, SIGNED)
    def change_leverage(params, ctx):
        account.market_of(params.get("symbol"))
        account.leverage = int(params.get("leverage", account.leverage))
        return {"leverage": account.leverage, "maxNotionalValue": "1000000", "symbol": params["symbol"].upper()}

    @endpoint(sim, 5, SIGNED)
    def balance(params, ctx):
        return account.balance_json()

    @endpoint(sim, 5, SIGNED)
    def account_info(params, ctx):
        bal = account.balance_json()[0]
        return {
            "totalWalletBalance": bal["balance"], "totalUnrealizedProfit": bal["crossUnPnl"],
            "totalMarginBalance": bal["balance"], "availableBalance": bal["availableBalance"],
            "maxWithdrawAmount": bal["maxWithdrawAmount"], "totalInitialMargin": "0", "totalMaintMargin": "0",
            "totalPositionInitialMargin": "0", "totalOpenOrderInitialMargin": "0",
            "totalCrossWalletBalance": bal["crossWalletBalance"], "totalCrossUnPnl": bal["crossUnPnl"],
            "assets": [{
                "asset": "USDT", "walletBalance": bal["balance"], "unrealizedProfit": bal["crossUnPnl"],
                "marginBalance": bal["balance"], "maintMargin": "0", "initialMargin": "0",
                "positionInitialMargin": "0", "openOrderInitialMargin": "0",
                "crossWalletBalance": bal["crossWalletBalance"], "crossUnPnl": bal["crossUnPnl"],
                "availableBalance": bal["availableBalance"], "maxWithdrawAmount": bal["maxWithdrawAmount"],
                "updateTime": bal["updateTime"],
            }],
            "positions": [account.position_json(p) for p in account.positions.values() if p.lots],
        }

    @endpoint(sim, 1, API_KEY)
    def listen_key_create(params, ctx):
        return {"listenKey": sim.user_streams.create()}

    @endpoint(sim, 1, API_KEY)
    def listen_key_keepalive(params, ctx):
        return {"listenKey": sim.user_streams.keepalive(params.get("listenKey"))}

    @endpoint(sim, 1, API_KEY)
    def listen_key_delete(params, ctx):
        sim.user_streams.delete(params.get("listenKey"))
        return {}

    r = app.router
    r.add_post("/fapi/v1/order", new_order)
    r.add_put("/fapi/v1/order", modify_order)
    r.add_delete("/fapi/v1/order", cancel_order)
    r.add_get("/fapi/v1/order", query_order)
    r.add_delete("/fapi/v1/allOpenOrders", cancel_all)
    r.add_get("/fapi/v1/openOrders", open_orders)
    r.add_get("/fapi/v3/positionRisk", position_risk_v3)
    r.add_get("/fapi/v2/positionRisk", position_risk_v2)
    r.add_get("/fapi/v1/leverageBracket", leverage_bracket)
    r.add_post("/fapi/v1/leverage", change_leverage)
    r.add_get("/fapi/v2/balance", balance)
    r.add_get("/fapi/v3/balance", balance)
    r.add_get("/fapi/v2/account", account_info)
    r.add_get("/fapi/v3/account", account_info)
    r.add_post("/fapi/v1/listenKey", listen_key_create)
    r.add_put("/fapi/v1/listenKey", listen_key_keepalive)
    r.add_delete("/fapi/v1/listenKey", listen_key_delete)
