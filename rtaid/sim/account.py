"""The single simulated account: orders, matching against the sim book, positions, PnL, fees."""
from __future__ import annotations

import itertools
import re
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Mapping

from rtaid.sim import errors
from rtaid.sim.errors import BinanceError, missing
from rtaid.sim.logs import LazyLogger
from rtaid.sim.market import SymbolMarket

log = LazyLogger("rtaid.sim.account")

CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX")
MAX_ORDER_HISTORY = 100_000


def _ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class Order:
    """One order; prices in ticks, quantities in lots."""

    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    price: int
    orig_lots: int
    reduce_only: bool
    time_ms: int
    update_ms: int
    executed_lots: int = 0
    cum_quote: float = 0.0
    status: str = "NEW"

    @property
    def remaining(self) -> int:
        return self.orig_lots - self.executed_lots

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")


@dataclass(slots=True)
class Position:
    """One-way-mode position of a symbol (signed lots)."""

    symbol: str
    lots: int = 0
    entry_price: float = 0.0
    realized_pnl: float = 0.0
    update_ms: int = 0


def _flag(value: object) -> bool:
    return str(value).lower() == "true"


class Account:
    """Orders, positions and balance of the sim's one account.

    Parameters
    ----------
    markets : dict of str to SymbolMarket
        Where orders match.
    initial_balance : float
        USDT wallet balance at start.
    maker_fee, taker_fee : float
        Fee rates on notional.
    leverage : int
        Leverage reported and used for margin figures.
    emit : callable
        Receives user-data events (``ORDER_TRADE_UPDATE``/``ACCOUNT_UPDATE`` dicts).
    """

    def __init__(self, markets: dict[str, SymbolMarket], *, initial_balance: float = 100_000.0,
                 maker_fee: float = 0.0002, taker_fee: float = 0.0005, leverage: int = 20,
                 emit: Callable[[dict], None] = lambda event: None) -> None:
        self.markets = markets
        self.wallet = initial_balance
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self.leverage = leverage
        self.emit = emit
        self.open_orders: dict[int, Order] = {}
        self.orders: dict[int, Order] = {}  # recent orders (open or not), oldest first
        self.positions: dict[str, Position] = {s: Position(s) for s in markets}
        self._order_ids = itertools.count(8_000_000_000)
        self._trade_ids = itertools.count(1)
        self.fills = 0
        for market in markets.values():
            market.trade_listeners.append(self.on_public_trade)

    # ------------------------------------------------------------------ validation
    def market_of(self, symbol: str | None) -> SymbolMarket:
        """The market of ``symbol``; raises -1102 (missing) or -1121 (unknown)."""
        if not symbol:
            raise missing("symbol")
        market = self.markets.get(symbol.upper())
        if market is None or market.delisted:
            raise errors.invalid_symbol()
        return market

    def _parse_new(self, p: Mapping[str, str]) -> Order:
        market = self.market_of(p.get("symbol"))
        inst = market.inst
        side = p.get("side")
        if not side:
            raise missing("side")
        if side not in ("BUY", "SELL"):
            raise BinanceError(-1117, "Invalid side.")
        otype = p.get("type")
        if not otype:
            raise missing("type")
        if otype not in ("LIMIT", "MARKET"):
            raise BinanceError(-1116, "Invalid orderType.")
        position_side = p.get("positionSide", "BOTH")
        if position_side != "BOTH":
            raise BinanceError(-4061, "Order's position side does not match user's setting.")
        qty = p.get("quantity")
        if not qty:
            raise missing("quantity")
        try:
            lots = inst.parse_qty(str(qty))
        except ValueError:
            raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
        if lots <= 0:
            raise BinanceError(-4003, "Quantity less than or equal to zero.")
        price = 0
        tif = p.get("timeInForce", "GTC")
        if otype == "LIMIT":
            if not p.get("price"):
                raise missing("price")
            if "timeInForce" not in p:
                raise missing("timeInForce")
            if tif not in TIME_IN_FORCE:
                raise BinanceError(-1115, "Invalid timeInForce.")
            try:
                price = inst.parse_price(str(p["price"]))
            except ValueError:
                raise BinanceError(-4014, "Price not increased by tick size.")
            if price <= 0:
                raise BinanceError(-4001, "Price less than 0.")
        cid = p.get("newClientOrderId") or f"sim_{uuid.uuid4().hex[:18]}"
        if not CLIENT_ID_RE.match(cid):
            raise BinanceError(-4015, "Client order id is not valid.")
        if any(o.client_order_id == cid and o.symbol == market.symbol for o in self.open_orders.values()):
            raise errors.duplicate_client_id()
        now = _ms()
        return Order(next(self._order_ids), cid, market.symbol, side, otype, tif if otype == "LIMIT" else "GTC",
                     price, lots, _flag(p.get("reduceOnly", "false")), now, now)

    # ------------------------------------------------------------------ orders
    def place(self, params: Mapping[str, str], reject: BinanceError | None = None) -> tuple[Order, dict]:
        """Validate, accept and match a new order.

        Returns the order (final state) and its ACK-time JSON (state before matching).
        Raises `BinanceError` for rejections.
        """
        order = self._parse_new(params)
        market = self.markets[order.symbol]
        pos = self.positions[order.symbol]
        if order.reduce_only:
            reducing = (pos.lots > 0 and order.side == "SELL") or (pos.lots < 0 and order.side == "BUY")
            if not reducing:
                raise errors.reduce_only_rejected()
        if reject is not None:
            raise reject
        fillable = order.orig_lots
        if order.reduce_only:
            fillable = min(fillable, abs(pos.lots))
        limit = order.price if order.type == "LIMIT" else None
        if order.type == "LIMIT":
            best = market.book.asks.best() if order.side == "BUY" else market.book.bids.best()
            marketable = best is not None and (best <= limit if order.side == "BUY" else best >= limit)
            if order.time_in_force == "GTX" and marketable:
                raise errors.gtx_rejected()
            if order.time_in_force == "FOK":
                available = sum(q for _, q in market.take(order.side, fillable, limit, dry_run=True))
                if available < order.orig_lots:
                    raise errors.fok_rejected()
        self.orders[order.order_id] = order
        if len(self.orders) > MAX_ORDER_HISTORY:
            # History is for queries; open orders live in open_orders too.
            del self.orders[next(iter(self.orders))]
        ack = self.order_json(order)
        self._order_event(order, "NEW")
        fills = market.take(order.side, fillable, limit) if fillable else []
        for price, lots in fills:
            self._fill(order, market, price, lots, maker=False)
        if order.is_open:
            if order.type == "MARKET" or order.time_in_force in ("IOC", "FOK"):
                order.status = "EXPIRED"
                order.update_ms = _ms()
                self._order_event(order, "EXPIRED")
            else:
                self.open_orders[order.order_id] = order
        return order, ack

    def modify(self, params: Mapping[str, str]) -> Order:
        """``order.modify`` / ``PUT /fapi/v1/order``: a resting LIMIT order's new price and
        quantity (both required, ``side`` must be the order's). A price or quantity off
        the filters is rejected and the order stays; the order is cancelled instead when
        the new quantity is not above what already filled, or when a GTX order would take;
        a GTC/IOC order made marketable takes what it can, the rest rests. The order keeps
        its ids and moves to the back of its price's queue (not modelled: no queue)."""
        order = self._find(params.get("symbol"), params.get("orderId"), params.get("origClientOrderId"))
        market = self.markets[order.symbol]
        inst = market.inst
        for name in ("side", "quantity", "price"):
            if not params.get(name):
                raise missing(name)
        if params["side"] != order.side:
            raise BinanceError(-1117, "Invalid side.")
        if order.type != "LIMIT":
            raise BinanceError(-1116, "Invalid orderType.")
        try:
            lots = inst.parse_qty(str(params["quantity"]))
        except ValueError:
            raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
        try:
            price = inst.parse_price(str(params["price"]))
        except ValueError:
            raise BinanceError(-4014, "Price not increased by tick size.")
        if lots <= 0:
            raise BinanceError(-4003, "Quantity less than or equal to zero.")
        if price <= 0:
            raise BinanceError(-4001, "Price less than 0.")
        now = _ms()
        if lots <= order.executed_lots:
            self._cancel(order)
            return order
        best = market.book.asks.best() if order.side == "BUY" else market.book.bids.best()
        marketable = best is not None and (best <= price if order.side == "BUY" else best >= price)
        if order.time_in_force == "GTX" and marketable:
            self.open_orders.pop(order.order_id, None)
            order.status = "EXPIRED"
            order.update_ms = now
            self._order_event(order, "EXPIRED")
            return order
        order.price, order.orig_lots, order.update_ms = price, lots, now
        self._order_event(order, "AMENDMENT")
        if marketable:
            fillable = order.remaining
            if order.reduce_only:
                fillable = min(fillable, abs(self.positions[order.symbol].lots))
            for px, got in (market.take(order.side, fillable, price) if fillable else []):
                self._fill(order, market, px, got, maker=False)
        return order

    def _find(self, symbol: str | None, order_id: object = None, client_id: object = None,
              open_only: bool = True) -> Order:
        market = self.market_of(symbol)
        if order_id in (None, "") and client_id in (None, ""):
            raise BinanceError(-1102, "Mandatory parameter 'orderid' was not sent, was empty/null, or malformed.")
        pools = (self.open_orders,) if open_only else (self.open_orders, self.orders)
        for pool in pools:
            if order_id not in (None, ""):
                try:
                    order = pool.get(int(order_id))
                except ValueError:
                    order = None
                if order is not None and order.symbol == market.symbol:
                    return order
            else:
                for order in pool.values():
                    if order.symbol == market.symbol and order.client_order_id == client_id:
                        return order
        raise errors.unknown_order() if open_only else errors.no_such_order()

    def cancel(self, symbol: str | None, order_id: object = None, client_id: object = None) -> Order:
        order = self._find(symbol, order_id, client_id)
        self._cancel(order)
        return order

    def _cancel(self, order: Order) -> None:
        self.open_orders.pop(order.order_id, None)
        order.status = "CANCELED"
        order.update_ms = _ms()
        self._order_event(order, "CANCELED")

    def cancel_all(self, symbol: str | None) -> int:
        market = self.market_of(symbol)
        victims = [o for o in self.open_orders.values() if o.symbol == market.symbol]
        for order in victims:
            self._cancel(order)
        return len(victims)

    def query(self, symbol: str | None, order_id: object = None, client_id: object = None) -> Order:
        return self._find(symbol, order_id, client_id, open_only=False)

    def open_orders_of(self, symbol: str | None = None) -> list[Order]:
        if symbol:
            symbol = self.market_of(symbol).symbol
        return [o for o in self.open_orders.values() if symbol is None or o.symbol == symbol]

    # ------------------------------------------------------------------ fills
    def on_public_trade(self, market: SymbolMarket, price: int, lots: int, buyer_is_maker: bool) -> None:
        """Fill resting orders that a public trade crosses (at their limit price, as maker).

        Queue position is not modelled: a trade strictly through the limit fills, one at
        the limit fills only if it hit the order's side (a sell aggressor for a resting buy).
        """
        if not self.open_orders:
            return
        resting = [o for o in self.open_orders.values() if o.symbol == market.symbol]
        if not resting:
            return
        # Best-priced orders first, then time priority.
        resting.sort(key=lambda o: (-o.price if o.side == "BUY" else o.price, o.order_id))
        left = lots
        for order in resting:
            if left <= 0:
                break
            if order.side == "BUY":
                crossed = price < order.price or (price == order.price and buyer_is_maker)
            else:
                crossed = price > order.price or (price == order.price and not buyer_is_maker)
            if not crossed:
                continue
            got = min(left, order.remaining)
            if order.reduce_only:
                got = min(got, abs(self.positions[order.symbol].lots))
                if got <= 0:
                    self._cancel(order)
                    continue
            left -= got
            self._fill(order, market, order.price, got, maker=True)

    def _fill(self, order: Order, market: SymbolMarket, price: int, lots: int, maker: bool) -> None:
        inst = market.inst
        px = inst.price_float(price)
        qty = inst.qty_float(lots)
        notional = px * qty
        fee = notional * (self.maker_fee if maker else self.taker_fee)
        realized = self._update_position(self.positions[order.symbol], order.side, lots, px, inst.step)
        self.wallet += realized - fee
        order.executed_lots += lots
        order.cum_quote += notional
        order.update_ms = _ms()
        order.status = "FILLED" if order.remaining == 0 else "PARTIALLY_FILLED"
        if order.status == "FILLED":
            self.open_orders.pop(order.order_id, None)
        self.fills += 1
        trade_id = self._order_event(order, "TRADE", last=(price, lots), fee=fee, maker=maker, realized=realized)
        self.emit({
            "e": "TRADE_LITE", "E": order.update_ms, "T": order.update_ms, "s": order.symbol,
            "q": inst.fmt_qty(order.orig_lots), "p": inst.fmt_price(order.price) if order.price else "0",
            "m": maker, "c": order.client_order_id, "S": order.side, "L": inst.fmt_price(price),
            "l": inst.fmt_qty(lots), "t": trade_id, "i": order.order_id,
        })
        self._account_event(order.symbol)

    @staticmethod
    def _update_position(pos: Position, side: str, lots: int, px: float, step: float) -> float:
        """Apply a fill to a one-way position; returns the realized PnL."""
        signed = lots if side == "BUY" else -lots
        realized = 0.0
        if pos.lots == 0 or (pos.lots > 0) == (signed > 0):
            total = pos.lots + signed
            pos.entry_price = (pos.entry_price * abs(pos.lots) + px * lots) / abs(total)
            pos.lots = total
        else:
            closing = min(abs(signed), abs(pos.lots))
            direction = 1 if pos.lots > 0 else -1
            realized = (px - pos.entry_price) * closing * step * direction
            pos.lots += signed
            if pos.lots == 0:
                pos.entry_price = 0.0
            elif (pos.lots > 0) != (direction > 0):
                pos.entry_price = px  # flipped: the remainder opened at this fill
        pos.realized_pnl += realized
        pos.update_ms = _ms()
        return realized

    # ------------------------------------------------------------------ JSON views
    def order_json(self, o: Order) -> dict:
        inst = self.markets[o.symbol].inst
        avg = o.cum_quote / inst.qty_float(o.executed_lots) if o.executed_lots else 0.0
        return {
            "orderId": o.order_id, "symbol": o.symbol, "status": o.status, "clientOrderId": o.client_order_id,
            "price": inst.fmt_price(o.price) if o.price else "0", "avgPrice": f"{avg:.{max(inst.pp, 5)}f}",
            "origQty": inst.fmt_qty(o.orig_lots), "executedQty": inst.fmt_qty(o.executed_lots),
            "cumQty": inst.fmt_qty(o.executed_lots), "cumQuote": f"{o.cum_quote:.8f}",
            "timeInForce": o.time_in_force, "type": o.type, "reduceOnly": o.reduce_only, "closePosition": False,
            "side": o.side, "positionSide": "BOTH", "stopPrice": "0", "workingType": "CONTRACT_PRICE",
            "priceProtect": False, "origType": o.type, "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0, "time": o.time_ms,
            "updateTime": o.update_ms,
        }

    def position_json(self, pos: Position) -> dict:
        market = self.markets[pos.symbol]
        inst = market.inst
        mark = market.mark_price() or pos.entry_price
        amt = inst.qty_float(pos.lots)
        unrealized = (mark - pos.entry_price) * amt if pos.lots else 0.0
        notional = mark * amt
        margin = abs(notional) / self.leverage
        return {
            "symbol": pos.symbol, "positionSide": "BOTH", "positionAmt": inst.fmt_qty(pos.lots) if pos.lots >= 0
            else "-" + inst.fmt_qty(-pos.lots), "entryPrice": f"{pos.entry_price:.8f}",
            "breakEvenPrice": f"{pos.entry_price:.8f}", "markPrice": f"{mark:.8f}",
            "unRealizedProfit": f"{unrealized:.8f}", "liquidationPrice": "0", "isolatedMargin": "0",
            "notional": f"{notional:.8f}", "marginAsset": "USDT", "isolatedWallet": "0",
            "initialMargin": f"{margin:.8f}", "maintMargin": f"{abs(notional) * 0.004:.8f}",
            "positionInitialMargin": f"{margin:.8f}", "openOrderInitialMargin": "0", "adl": 0,
            "bidNotional": "0", "askNotional": "0", "updateTime": pos.update_ms,
        }

    def unrealized_total(self) -> float:
        total = 0.0
        for pos in self.positions.values():
            if pos.lots:
                m = self.markets[pos.symbol]
                mark = m.mark_price() or pos.entry_price
                total += (mark - pos.entry_price) * m.inst.qty_float(pos.lots)
        return total

    def balance_json(self) -> list[dict]:
        upnl = self.unrealized_total()
        used = sum(abs(float(self.position_json(p)["notional"])) for p in self.positions.values() if p.lots)
        available = self.wallet + upnl - used / self.leverage
        return [{
            "accountAlias": "SimAccount", "asset": "USDT", "balance": f"{self.wallet:.8f}",
            "crossWalletBalance": f"{self.wallet:.8f}", "crossUnPnl": f"{upnl:.8f}",
            "availableBalance": f"{available:.8f}", "maxWithdrawAmount": f"{available:.8f}",
            "marginAvailable": True, "updateTime": _ms(),
        }]

    # ------------------------------------------------------------------ user data events
    def _order_event(self, o: Order, exec_type: str, last: tuple[int, int] | None = None, fee: float = 0.0,
                     maker: bool = False, realized: float = 0.0) -> int:
        """Emit ORDER_TRADE_UPDATE; returns the trade id (0 when not a trade)."""
        inst = self.markets[o.symbol].inst
        trade_id = next(self._trade_ids) if last else 0
        avg = o.cum_quote / inst.qty_float(o.executed_lots) if o.executed_lots else 0.0
        now = _ms()
        self.emit({
            "e": "ORDER_TRADE_UPDATE", "E": now, "T": o.update_ms,
            "o": {
                "s": o.symbol, "c": o.client_order_id, "S": o.side, "o": o.type, "f": o.time_in_force,
                "q": inst.fmt_qty(o.orig_lots), "p": inst.fmt_price(o.price) if o.price else "0",
                "ap": f"{avg:.{max(inst.pp, 5)}f}", "sp": "0", "x": exec_type, "X": o.status, "i": o.order_id,
                "l": inst.fmt_qty(last[1]) if last else "0", "z": inst.fmt_qty(o.executed_lots),
                "L": inst.fmt_price(last[0]) if last else "0", "N": "USDT", "n": f"{fee:.8f}",
                "T": o.update_ms, "t": trade_id, "b": "0", "a": "0", "m": maker,
                "R": o.reduce_only, "wt": "CONTRACT_PRICE", "ot": o.type, "ps": "BOTH", "cp": False,
                "rp": f"{realized:.8f}", "pP": False, "si": 0, "ss": 0, "V": "EXPIRE_MAKER", "pm": "NONE", "gtd": 0,
            },
        })
        return trade_id

    def _account_event(self, symbol: str) -> None:
        pos = self.positions[symbol]
        inst = self.markets[symbol].inst
        now = _ms()
        amt = inst.fmt_qty(abs(pos.lots))
        self.emit({
            "e": "ACCOUNT_UPDATE", "E": now, "T": now,
            "a": {
                "m": "ORDER",
                "B": [{"a": "USDT", "wb": f"{self.wallet:.8f}", "cw": f"{self.wallet:.8f}", "bc": "0"}],
                "P": [{
                    "s": symbol, "pa": amt if pos.lots >= 0 else "-" + amt, "ep": f"{pos.entry_price:.8f}",
                    "bep": f"{pos.entry_price:.8f}", "cr": f"{pos.realized_pnl:.8f}",
                    "up": "0", "mt": "cross", "iw": "0", "ps": "BOTH",
                }],
            },
        })
