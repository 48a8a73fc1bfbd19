"""rtaid: low-latency market-microstructure daemon for Binance USD-M futures."""

__version__ = "0.1.0"
