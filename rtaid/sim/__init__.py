"""rtaid-sim: a local Binance USD-M futures exchange for the demo, the tests and benchmarks.

Start it in-process::

    async with SimExchange(SimConfig(port=0)) as sim:
        sim.rest_url, sim.ws_url

or from the command line with ``rtaid-sim`` / ``python -m rtaid.sim``.
"""
from rtaid.sim.config import SimConfig, SymbolSpec, load_config
from rtaid.sim.faults import FaultController
from rtaid.sim.latency import LatencyRecorder
from rtaid.sim.server import SimExchange

__all__ = [
    "FaultController",
    "LatencyRecorder",
    "SimConfig",
    "SimExchange",
    "SymbolSpec",
    "load_config",
]
