"""Decode kernel vs the json-module reference, on every line of the real recordings."""
import json
import random

import pytest
from hypothesis import given, settings, strategies as st

from rtaid._kernels.decode import Decoder, decode_many, result_name
from rtaid.reference import decode as ref
from tests.helpers import BTC_RECORDING, ETH_RECORDING
from tests.helpers import pack, read_frames

# Real examples from binance.md (the recordings have no aggTrade / markPrice lines).
AGG_TRADE = (b'{"stream":"ctkusdt@aggTrade","data":{"e":"aggTrade","E":1626992741575,"a":16599292,'
             b'"s":"CTKUSDT","p":"1.01100","q":"10","f":23961322,"l":23961322,"T":1626992741421,"m":false}}')
MARK_PRICE = (b'{"e":"markPriceUpdate","E":1680652800001,"s":"BTCUSDT","p":"28155.10000000",'
              b'"P":"28150.12345678","i":"28160.00000000","r":"0.00002760","T":1680652800000}')


def expected(msg, px_dec, qty_dec):
    """What the decoder must produce for a json-parsed message (reference)."""
    data = msg.get("data", msg)
    if "stream" not in msg and "lastUpdateId" in msg:
        return {"kind": "snapshot", "u": msg["lastUpdateId"],
                "bids": ref.levels(msg["bids"], px_dec, qty_dec),
                "asks": ref.levels(msg["asks"], px_dec, qty_dec)}
    kind = data["e"]
    if kind == "depthUpdate":
        return {"kind": "depth", "E": data["E"], "T": data["T"], "U": data["U"], "u": data["u"],
                "pu": data["pu"], "bids": ref.levels(data["b"], px_dec, qty_dec),
                "asks": ref.levels(data["a"], px_dec, qty_dec)}
    # E and T are optional for bookTicker and trades (T defaults to E, E to 0)
    E = data.get("E", 0)
    T = data.get("T", E)
    if kind == "bookTicker":
        return {"kind": "bbo", "E": E, "T": T, "u": data["u"],
                "bid_px": ref.to_scaled_int(data["b"], px_dec),
                "bid_qty": ref.to_scaled_int(data["B"], qty_dec),
                "ask_px": ref.to_scaled_int(data["a"], px_dec),
                "ask_qty": ref.to_scaled_int(data["A"], qty_dec)}
    if kind in ("trade", "aggTrade"):
        return {"kind": kind if kind == "trade" else "aggTrade", "E": E, "T": T,
                "id": data["t"] if kind == "trade" else data["a"],
                "px": ref.to_scaled_int(data["p"], px_dec),
                "qty": ref.to_scaled_int(data["q"], qty_dec), "buyer_maker": data["m"]}
    raise AssertionError(kind)


def subset(decoded, keys):
    return {k: decoded[k] for k in keys}


@pytest.mark.parametrize("path,symbol", [(BTC_RECORDING, "BTCUSDT"), (ETH_RECORDING, "ETHUSDT")])
def test_every_recorded_line_decodes_like_the_reference(shared_data, path, symbol):
    frames = read_frames(path)
    msgs = [json.loads(p) for _, p in frames]
    px_dec, qty_dec = ref.infer_decimals(enumerate(msgs))
    dec = Decoder()
    sym = dec.add_symbol(symbol)            # decimals inferred from the data
    for (_, payload), msg in zip(frames, msgs):
        rc, got = dec.decode_bytes(payload, sym)
        assert rc == 0, (result_name(rc), payload[:200])
        want = expected(msg, px_dec, qty_dec)
        assert subset(got, want.keys()) == want
        assert got["sym"] == sym
    assert dec.scales(sym) == (px_dec, qty_dec)
    assert dec.counts() == {"ok": len(frames)}


def test_every_kind_decodes():
    dec = Decoder()
    btc = dec.add_symbol("BTCUSDT", 2, 3)
    ctk = dec.add_symbol("CTKUSDT", 5, 0)
    rc, m = dec.decode_bytes(AGG_TRADE)
    assert rc == 0 and m["kind"] == "aggTrade" and m["sym"] == ctk
    assert (m["id"], m["px"], m["qty"], m["buyer_maker"], m["T"]) == (16599292, 101100, 10, False, 1626992741421)
    rc, m = dec.decode_bytes(MARK_PRICE)
    assert rc == 0 and m["kind"] == "mark" and m["sym"] == btc and m["px"] == 2815510
    assert dec.kind_counts() == {"aggTrade": 1, "mark": 1}


@pytest.mark.parametrize("mark,ticks", [("28155.10000000", 2815510), ("28155.12345678", 2815512),
                                        ("28155.12500000", 2815513), ("28155.12499999", 2815512),
                                        ("0.00400000", 0), ("0.00500000", 1)])
def test_mark_price_is_rounded_to_the_symbols_precision(mark, ticks):
    dec = Decoder()
    dec.add_symbol("BTCUSDT", 2, 3)
    rc, m = dec.decode_bytes(MARK_PRICE.replace(b'"28155.10000000"', f'"{mark}"'.encode()))
    assert rc == 0 and m["px"] == ticks


def test_decimals_are_exact():
    dec = Decoder()
    dec.add_symbol("BTCUSDT", 2, 3)
    depth = (b'{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":1,"u":2,"pu":0,'
             b'"b":[["61800.30","0.000"],["0.01","1"],["61800.3","12.5"]],"a":[["99999999.99","0.001"]]}')
    rc, m = dec.decode_bytes(depth)
    assert rc == 0
    assert m["bids"] == [(6180030, 0), (1, 1000), (6180030, 12500)]
    assert m["asks"] == [(9999999999, 1)]
    # more decimals than the symbol's precision: exact only if the extra digits are 0
    rc, _ = dec.decode_bytes(depth.replace(b'"0.01"', b'"0.015"'))
    assert result_name(rc) == "precision"
    rc, m = dec.decode_bytes(depth.replace(b'"0.01"', b'"0.0100000"'))
    assert rc == 0 and m["bids"][1] == (1, 1000)
    # 19 significant digits cannot be an exact int64 here
    rc, _ = dec.decode_bytes(depth.replace(b'"0.01"', b'"1234567890123456789"'))
    assert result_name(rc) == "number"


def test_levels_scaled_while_read_decode_like_raw_levels():
    # With "s" before the levels, they are scaled as they are read; results and error
    # precedence must be those of reading them raw and scaling afterwards.
    dec = Decoder()
    dec.add_symbol("BTCUSDT", 2, 3)
    eth = dec.add_symbol("ETHUSDT", 1, 2)
    head = b'"e":"depthUpdate","E":1,"T":1,"U":1,"u":2,"pu":0'
    levels = b'"b":[["61800.30","0.500"]],"a":[["61800.40","1.000"]]'
    rc, early = dec.decode_bytes(b'{' + head + b',"s":"BTCUSDT",' + levels + b'}')
    rc2, late = dec.decode_bytes(b'{' + head + b',' + levels + b',"s":"BTCUSDT"}')
    assert rc == rc2 == 0 and early == late
    assert early["bids"] == [(6180030, 500)] and early["asks"] == [(6180040, 1000)]
    # a level off the symbol's grid, and a missing field: the missing field is reported
    off_grid = levels.replace(b'"0.500"', b'"0.5001"')
    rc, _ = dec.decode_bytes(b'{' + head + b',"s":"BTCUSDT",' + off_grid + b'}')
    assert result_name(rc) == "precision"
    rc, _ = dec.decode_bytes(b'{' + head.replace(b',"pu":0', b'') + b',"s":"BTCUSDT",' + off_grid + b'}')
    assert result_name(rc) == "missing_field"
    # a second "s" after the levels names the symbol (the last key wins): its decimals
    rc, m = dec.decode_bytes(b'{' + head + b',"s":"BTCUSDT",' + levels.replace(b'0"', b'"')
                             + b',"s":"ETHUSDT"}')
    assert rc == 0 and m["sym"] == eth
    assert m["bids"] == [(618003, 50)] and m["asks"] == [(618004, 100)]


def reformat(obj, rng):
    """Same JSON with shuffled keys and random whitespace."""
    def shuffle(o):
        if isinstance(o, dict):
            items = list(o.items())
            rng.shuffle(items)
            return {k: shuffle(v) for k, v in items}
        if isinstance(o, list):
            return [shuffle(v) for v in o]
        return o
    text = json.dumps(shuffle(obj), indent=rng.choice([None, 0, 1, 4]),
                      separators=rng.choice([(",", ":"), (", ", ": "), (" ,", " :  ")]))
    return ("\n " if rng.random() < 0.5 else "") + text + (" \r\n" if rng.random() < 0.5 else "")


def test_field_order_and_whitespace_do_not_matter(shared_data):
    rng = random.Random(7)
    frames = read_frames(BTC_RECORDING)[:3000]
    dec = Decoder()
    sym = dec.add_symbol("BTCUSDT", 2, 3)
    for _, payload in frames:
        rc, want = dec.decode_bytes(payload, sym)
        assert rc == 0
        rc, got = dec.decode_bytes(reformat(json.loads(payload), rng).encode(), sym)
        assert rc == 0 and got == want


@pytest.mark.parametrize("payload,result", [
    (b'{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":1}}}', "unknown_event"),
    (b'{"stream":"dogeusdt@trade","data":{"e":"trade","E":1,"T":1,"s":"DOGEUSDT","t":1,"p":"0.1","q":"1","m":true}}', "unknown_symbol"),
    (b'{"result":null,"id":1}', "control"),
    (b'{"e":"trade","E":1,"T":1,"s":"BTCUSDT","t":1,"p":"1.00","q":"1.000"}', "missing_field"),
    (b'{"e":"trade","E":1,"T":1,"s":"BTCUSDT","t":1,"p":1.0,"q":"1.000","m":true}', "type"),
    (b'{"e":"trade","E":1,"T":1,"s":"BTCUSDT","t":1,"p":"1.x0","q":"1.000","m":true}', "number"),
    (b'{"e":"trade","E":1,"T":1,"s":"BTCUSDT","t":1,"p":"1.00","q":"1.000","m":true} x', "syntax"),
    (b'[1,2,3]', "syntax"),
    (b'', "truncated"),
    (b'{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":1,"u":2,"pu":0,"b":[["1.00","1.000"]', "truncated"),
])
def test_bad_and_unexpected_input_is_counted(payload, result):
    dec = Decoder()
    dec.add_symbol("BTCUSDT", 2, 3)
    rc, msg = dec.decode_bytes(payload)
    assert result_name(rc) == result and msg is None
    assert dec.counts() == {result: 1}


def test_too_many_levels_is_an_error_not_an_overflow():
    dec = Decoder(max_levels=4)
    dec.add_symbol("BTCUSDT", 2, 3)
    levels = ",".join('["1.00","1.000"]' for _ in range(5))
    payload = ('{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":1,"u":2,"pu":0,"b":[%s],"a":[]}' % levels)
    rc, _ = dec.decode_bytes(payload.encode())
    assert result_name(rc) == "too_many_levels"


def test_symbol_lookup_with_many_symbols():
    dec = Decoder()
    names = [f"SYM{i}USDT" for i in range(200)]
    for name in names:
        dec.add_symbol(name, 2, 3)
    for i, name in enumerate(names):
        payload = ('{"stream":"%s@trade","data":{"e":"trade","E":1,"T":1,"t":5,"p":"1.00","q":"2.000","m":true}}'
                   % name.lower()).encode()
        rc, m = dec.decode_bytes(payload)
        assert rc == 0 and m["sym"] == i
    assert dec.symbol_index("sym7usdt") == 7 and dec.symbol_index("NOPE") == -1



@pytest.mark.parametrize("n", range(1, 20))
def test_strings_of_every_length_and_alignment(n):
    """The string scan reads eight bytes at a time: closing quotes and escapes at
    every offset of a word, and strings shorter and longer than one."""
    name = "".join("ABCDEFGHIJKLMNOPQRSTU"[i] for i in range(n))
    dec = Decoder()
    dec.add_symbol(name, 2, 3)
    for pad in range(9):
        for skipped in ("x" * pad, "x" * pad + '\\"y', '\\\\' + "x" * pad):
            payload = ('{"stream":"%s@trade","data":{"e":"trade","E":1,"T":1,"X":"%s","s":"%s",'
                       '"t":5,"p":"1.00","q":"2.000","m":true}}' % (name.lower(), skipped, name))
            rc, m = dec.decode_bytes(payload.encode())
            assert rc == 0 and m["sym"] == 0, (payload, result_name(rc))
    for i in range(n):
        other = name[:i] + "Z" + name[i + 1:]
        payload = ('{"e":"trade","E":1,"T":1,"s":"%s","t":5,"p":"1.00","q":"2.000","m":true}'
                   % other).encode()
        assert result_name(dec.decode_bytes(payload)[0]) == "unknown_symbol"


def test_every_prefix_of_a_real_message_is_truncated_not_a_crash(shared_data):
    frames = read_frames(BTC_RECORDING)
    samples = [p for _, p in frames[:60] if b"depthUpdate" in p][:1] + [frames[1][1], frames[2][1]]
    dec = Decoder()
    sym = dec.add_symbol("BTCUSDT", 2, 3)
    for payload in samples:
        for cut in range(len(payload)):
            rc, msg = dec.decode_bytes(payload[:cut], sym)
            assert rc < 0 and msg is None, (cut, payload[:cut][-40:])


class DuplicateKey(ValueError):
    """An object names a key twice: RFC 8259 leaves its reading open (the json module
    keeps the last, the decoder the first of a field it uses), so there is no one right
    answer to compare with (Binance never sends one)."""


def _unique_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise DuplicateKey(keys)
    return dict(pairs)


def accepted_means_valid(data: bytes, rc: int, msg, px_dec=2, qty_dec=3):
    """A decoder that accepts bytes must have read what the json module reads there.

    The decoder skips the values of fields it does not use without validating them
    (for speed): bytes the json module cannot read at all are only required to give a
    consistent result; the json module is as lenient as the decoder about string
    contents (latin-1, strict=False), and where it reads the bytes, everything the
    decoder reports must be what json reads."""
    assert (rc == 0) == (msg is not None)
    if rc != 0:
        return
    try:
        parsed = json.loads(data.decode("latin-1"), strict=False,
                            object_pairs_hook=_unique_keys)
    except (json.JSONDecodeError, DuplicateKey):
        return
    want = expected(parsed, px_dec, qty_dec)
    assert subset(msg, want.keys()) == want, (data[:200], msg)


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_are_rejected_or_read_right(data):
    dec = Decoder(max_levels=16)
    dec.add_symbol("BTCUSDT", 2, 3)
    rc, msg = dec.decode_bytes(data, 0)
    accepted_means_valid(data, rc, msg)


@settings(max_examples=3000, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 255), st.integers(1, 3))
def test_mutated_real_messages_are_rejected_or_read_right(pos, byte, count):
    payload = bytearray(MUTATION_BASE[pos % len(MUTATION_BASE)])
    for k in range(count):
        payload[(pos * (k + 7)) % len(payload)] = byte
    dec = Decoder(max_levels=64)
    dec.add_symbol("BTCUSDT", 2, 3)
    dec.add_symbol("CTKUSDT", 5, 0)
    rc, msg = dec.decode_bytes(bytes(payload), 0)
    if rc == 0 and msg["sym"] == 1:
        accepted_means_valid(bytes(payload), rc, msg, 5, 0)
    elif rc == 0 and msg["kind"] != "mark":
        accepted_means_valid(bytes(payload), rc, msg)


# ---------------------------------------------------------------- generated messages
PX = st.integers(1, 10**9).map(lambda t: f"{t // 100}.{t % 100:02d}")        # 2 decimals
QTY = st.integers(0, 10**9).map(lambda t: f"{t // 1000}.{t % 1000:03d}")      # 3 decimals
IDS = st.integers(0, 10**18 - 1)   # the decoder reads up to 18 digits (MAX_SIG_DIGITS)
LEVELS = st.lists(st.tuples(PX, QTY).map(list), max_size=12)


@st.composite
def valid_messages(draw):
    """A valid message of every kind rtaid decodes, with random values (combined-stream
    or bare), as a json-serialisable object."""
    kind = draw(st.sampled_from(["depthUpdate", "bookTicker", "trade", "aggTrade", "snapshot"]))
    E, T = draw(IDS), draw(IDS)
    if kind == "snapshot":
        return {"lastUpdateId": draw(IDS), "E": E, "T": T, "bids": draw(LEVELS),
                "asks": draw(LEVELS)}
    if kind == "depthUpdate":
        data = {"e": kind, "E": E, "T": T, "s": "BTCUSDT", "U": draw(IDS), "u": draw(IDS),
                "pu": draw(IDS), "b": draw(LEVELS), "a": draw(LEVELS)}
        stream = "btcusdt@depth@0ms"
    elif kind == "bookTicker":
        data = {"e": kind, "u": draw(IDS), "s": "BTCUSDT", "b": draw(PX), "B": draw(QTY),
                "a": draw(PX), "A": draw(QTY), "T": T, "E": E}
        stream = "btcusdt@bookTicker"
    else:
        data = {"e": kind, "E": E, "T": T, "s": "BTCUSDT", "p": draw(PX), "q": draw(QTY),
                "m": draw(st.booleans())}
        if kind == "trade":
            data.update(t=draw(IDS), X="MARKET")
            stream = "btcusdt@trade"
        else:
            data.update(a=draw(IDS), f=draw(IDS), l=draw(IDS))
            stream = "btcusdt@aggTrade"
    return {"stream": stream, "data": data} if draw(st.booleans()) else data


@settings(max_examples=1500, deadline=None)
@given(valid_messages(), st.randoms(use_true_random=False))
def test_valid_messages_in_any_field_order_and_whitespace_decode_like_the_reference(msg, rng):
    """Random values, field order and whitespace: the decoded struct is the reference's."""
    text = reformat(msg, rng).encode()
    dec = Decoder()
    dec.add_symbol("BTCUSDT", 2, 3)
    rc, got = dec.decode_bytes(text, 0)
    assert rc == 0, (result_name(rc), text[:300])
    want = expected(json.loads(text), 2, 3)
    assert subset(got, want.keys()) == want


@settings(max_examples=300, deadline=None)
@given(valid_messages(), st.randoms(use_true_random=False))
def test_every_prefix_of_a_valid_message_is_rejected_with_an_error_code(msg, rng):
    text = reformat(msg, rng).strip().encode()
    dec = Decoder()
    dec.add_symbol("BTCUSDT", 2, 3)
    assert dec.decode_bytes(text, 0)[0] == 0
    for cut in range(len(text)):
        rc, got = dec.decode_bytes(text[:cut], 0)
        assert rc < 0 and got is None, (cut, text[:cut][-60:], result_name(rc))


MUTATION_BASE = [
    b'{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1723161600370,"T":1723161600319,'
    b'"s":"BTCUSDT","U":5123134944963,"u":5123134944963,"pu":5123134735497,"b":[["5000.00","2.321"]],"a":[]}}',
    b'{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":5123107839020,"s":"BTCUSDT","b":"61800.20",'
    b'"B":"2.507","a":"61800.30","A":"2.510","T":1723161256313,"E":1723161256313}}',
    AGG_TRADE,
    MARK_PRICE,
]


def test_decode_many_counts_what_the_single_call_does(shared_data):
    frames = read_frames(ETH_RECORDING)[:5000]
    buf, offsets = pack([p for _, p in frames])
    dec = Decoder()
    dec.add_symbol("ETHUSDT")
    assert decode_many(dec, buf, offsets, 0) == len(frames)
    assert dec.kind_counts()["bbo"] == sum(1 for _, p in frames if b"bookTicker" in p)
