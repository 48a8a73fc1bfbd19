"""Binance error codes and the exception that carries one to the wire."""
from __future__ import annotations


class BinanceError(Exception):
    """An error answered as ``{"code": code, "msg": msg}`` with HTTP ``status``."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status

    def body(self) -> dict:
        return {"code": self.code, "msg": self.msg}


def missing(name: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


# Factories, not instances: each raise needs its own exception object.
def unknown_error() -> BinanceError:
    return BinanceError(-1000, "An unknown error occured while processing the request.", 500)


def invalid_symbol() -> BinanceError:
    return BinanceError(-1121, "Invalid symbol.")


def bad_signature() -> BinanceError:
    return BinanceError(-1022, "Signature for this request is not valid.")


def api_key_format() -> BinanceError:
    return BinanceError(-2014, "API-key format invalid.", 401)


def api_key_invalid() -> BinanceError:
    return BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)


def unknown_order() -> BinanceError:
    return BinanceError(-2011, "Unknown order sent.")


def no_such_order() -> BinanceError:
    return BinanceError(-2013, "Order does not exist.")


def duplicate_client_id() -> BinanceError:
    return BinanceError(-4116, "ClientOrderId is duplicated.")


def reduce_only_rejected() -> BinanceError:
    return BinanceError(-2022, "ReduceOnly Order is rejected.")


def gtx_rejected() -> BinanceError:
    return BinanceError(-5022, "Due to the order could not be executed as maker, the Post Only order will be rejected.")


def fok_rejected() -> BinanceError:
    return BinanceError(-5021, "Due to the order could not be filled immediately, the FOK order has been rejected.")


def listen_key_unknown() -> BinanceError:
    return BinanceError(-1125, "This listenKey does not exist.")


def too_much_weight(limit: int) -> BinanceError:
    return BinanceError(
        -1003,
        f"Too many requests; current limit of IP is {limit} requests per minute. "
        "Please use WebSocket Streams for live updates to avoid polling the API.",
        429,
    )


def too_many_orders(limit: int, interval: str) -> BinanceError:
    return BinanceError(-1015, f"Too many new orders; current limit is {limit} orders per {interval}.", 429)
