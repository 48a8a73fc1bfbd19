"""The order path's HMAC-SHA256 (rtaid/exec/hmac256.pyx) is hashlib's and hmac's: every
message length around the padding boundaries, keys shorter than, equal to and longer
than a block, and random messages."""
import hashlib
import hmac
import os
import random

from rtaid.exec.hmac256 import hmac_hexdigest, sha256_digest


def test_sha256_is_hashlibs_at_every_length_through_three_blocks():
    rng = random.Random(3)
    for n in range(0, 200):
        msg = bytes(rng.randrange(256) for _ in range(n))
        assert sha256_digest(msg) == hashlib.sha256(msg).digest(), n


def test_hmac_is_the_standard_librarys_for_keys_of_every_size():
    rng = random.Random(4)
    for key_len in (0, 1, 32, 63, 64, 65, 128, 300):
        key = os.urandom(key_len)
        for n in (0, 1, 55, 56, 63, 64, 119, 120, 200, 1000):
            msg = bytes(rng.randrange(256) for _ in range(n))
            want = hmac.new(key, msg, hashlib.sha256).hexdigest()
            assert hmac_hexdigest(key, msg) == want, (key_len, n)


def test_an_order_body_signs_as_binance_documents_it():
    # Binance's own example (USD-M futures "SIGNED endpoint examples"): the key and the
    # request body from its documentation and the signature it gives
    secret = b"2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
    body = (b"symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
            b"&recvWindow=5000&timestamp=1591702613943")
    assert hmac_hexdigest(secret, body) == (
        "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9")
