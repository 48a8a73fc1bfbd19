"""Live market data: picows connections, stream URLs, snapshot sync, reconnects."""
from rtaid.feed.feed import Feed

__all__ = ["Feed"]
