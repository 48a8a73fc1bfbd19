"""Reference decoding of Binance USD-M messages with the json module.

The kernels parse decimals straight from bytes; this module does the same job the
obvious way (``json.loads`` + string arithmetic) so tests can compare the two.
Prices and sizes are integers scaled by ``10**decimals`` (the symbol's price and
quantity precision), never floats.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from rtaid.infra.recordings import RecordingReader


def decimals_of(text: str) -> int:
    """Number of digits after the decimal point of a decimal string."""
    dot = text.find(".")
    return 0 if dot < 0 else len(text) - dot - 1


def to_scaled_int(text: str, decimals: int) -> int:
    """Exact ``int(Decimal(text) * 10**decimals)``; ValueError if digits would be lost."""
    neg = text.startswith("-")
    body = text[1:] if neg else text
    whole, _, frac = body.partition(".")
    if not whole and not frac:
        raise ValueError(f"not a decimal: {text!r}")
    if not (whole or "0").isdigit() or (frac and not frac.isdigit()):
        raise ValueError(f"not a decimal: {text!r}")
    if len(frac) > decimals:
        extra = frac[decimals:]
        if extra.strip("0"):
            raise ValueError(f"{text!r} has more than {decimals} decimals")
        frac = frac[:decimals]
    value = int(whole or "0") * 10**decimals + int((frac + "0" * decimals)[:decimals] or "0")
    return -value if neg else value


@dataclass
class DepthEvent:
    """One depth diff (or the levels of a snapshot) in integer ticks and lots."""

    E: int
    T: int
    U: int
    u: int
    pu: int
    bids: list = field(default_factory=list)  # [(px, qty)]
    asks: list = field(default_factory=list)
    recv_ns: int = 0


def read_recording(path, max_lines=None):
    """Yield ``(recv_ns, message_dict)`` for each line of a recording (the lines as
    rtaid.infra.recordings reads them; the JSON parsed with the json module)."""
    for _, recv_ns, payload in RecordingReader(path, max_lines).lines():
        yield recv_ns, json.loads(payload)


def infer_decimals(messages) -> tuple[int, int]:
    """Price and quantity decimals as seen in depth/bookTicker/trade messages (the max)."""
    px_dec = qty_dec = 0
    for _, msg in messages:
        data = msg.get("data", msg)
        kind = data.get("e")
        if kind == "depthUpdate":
            pairs = data["b"] + data["a"]
        elif kind == "bookTicker":
            pairs = [(data["b"], data["B"]), (data["a"], data["A"])]
        elif kind in ("trade", "aggTrade"):
            pairs = [(data["p"], data["q"])]
        else:
            continue
        for px, qty in pairs:
            px_dec = max(px_dec, decimals_of(px))
            qty_dec = max(qty_dec, decimals_of(qty))
    return px_dec, qty_dec


def levels(pairs, px_dec: int, qty_dec: int) -> list:
    return [(to_scaled_int(p, px_dec), to_scaled_int(q, qty_dec)) for p, q in pairs]


def depth_event(data: dict, px_dec: int, qty_dec: int, recv_ns: int = 0) -> DepthEvent:
    return DepthEvent(
        E=data["E"], T=data["T"], U=data["U"], u=data["u"], pu=data["pu"],
        bids=levels(data["b"], px_dec, qty_dec), asks=levels(data["a"], px_dec, qty_dec),
        recv_ns=recv_ns,
    )


def snapshot_event(data: dict, px_dec: int, qty_dec: int, recv_ns: int = 0) -> DepthEvent:
    last = data["lastUpdateId"]
    return DepthEvent(
        E=data.get("E", 0), T=data.get("T", 0), U=last, u=last, pu=last,
        bids=levels(data["bids"], px_dec, qty_dec), asks=levels(data["asks"], px_dec, qty_dec),
        recv_ns=recv_ns,
    )
