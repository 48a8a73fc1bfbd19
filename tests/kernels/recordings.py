"""Load the shared recordings as raw frames for kernel tests and benchmarks."""
import gzip
import pathlib

import numpy as np


def read_frames(path):
    """Return [(recv_ns, payload_bytes)] of a collector recording."""
    path = pathlib.Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    out = []
    with opener(path, "rb") as fh:
        for line in fh:
            line = line.rstrip(b"\r\n")
            if line:
                stamp, _, payload = line.partition(b" ")
                out.append((int(stamp), payload))
    return out


def pack(payloads):
    """Concatenate payloads into one buffer with an int64 offsets array (n + 1)."""
    buf = b"".join(payloads)
    offsets = np.zeros(len(payloads) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(p) for p in payloads])
    return buf, offsets
