"""Helpers the freqtrade tests share (fixtures are in conftest.py)."""
from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess

from tests.helpers import ROOT

FREQTRADE_VERSION = "2026.9"
FT_VENV = ROOT / ".venv-freqtrade"


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RTAID_", "RTAI_"))}
    env.update(extra)
    return env


def ft_env(**extra):
    """Environment for scripts in the freqtrade venv: rtaid's source importable."""
    return clean_env(PYTHONPATH=str(ROOT), **extra)


HERE = __import__("pathlib").Path(__file__).parent


def assert_row_equal(got, want, columns):
    for c, v in zip(columns, got):
        w = want[c]
        if w is None or (isinstance(w, float) and math.isnan(w)):
            assert v is None, (c, v, w)
        elif isinstance(w, float):
            # the consumer parses with pandas.read_json (precise_float=False): about 15
            # significant digits, and 15 decimal places for numbers written without exponent
            assert math.isclose(v, w, rel_tol=1e-14, abs_tol=1e-15), (c, v, w)
        else:
            assert v == w, (c, v, w)


async def start_consumer(ft_python, producers, stderr_path):
    stderr = open(stderr_path, "wb")
    proc = await asyncio.create_subprocess_exec(
        str(ft_python), str(HERE / "ft_consumer.py"), json.dumps(producers),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=ft_env(),
        limit=1 << 27)
    stderr.close()
    return Consumer(proc, stderr_path)


class Consumer:
    """The freqtrade consumer process, driven over stdin/stdout."""

    def __init__(self, proc, stderr_path):
        self.proc = proc
        self.stderr_path = stderr_path

    async def ask(self, **cmd):
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), cmd.get("timeout", 30) + 30)
        assert line, self.stderr_path.read_text()[-3000:]
        return json.loads(line)

    async def close(self):
        if self.proc.returncode is None:
            self.proc.stdin.write(b'{"cmd": "quit"}\n')
            await self.proc.stdin.drain()
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()
