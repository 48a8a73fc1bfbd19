"""Baselines of bench/latency.py and bench/kernels.py: how people run the same job in
plain Python (bot.py: asyncio + websockets + orjson + dict books + rtaid's indicators)."""
