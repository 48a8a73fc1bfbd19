"""Retention: delete date partitions older than ``retention_days``."""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil

DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


def prune(data_dir: str, retention_days: int, today: dt.date | None = None) -> list[str]:
    """Remove ``<data_dir>/<table>/symbol=*/date=D`` (and the raw journal's) with D
    older than ``today - retention_days``.

    Parameters
    ----------
    data_dir : str
        Root of the dataset.
    retention_days : int
        Days kept besides today; 0 keeps everything.
    today : datetime.date, optional
        Defaults to the UTC date now.

    Returns
    -------
    list of str
        The directories removed.
    """
    if retention_days <= 0 or not os.path.isdir(data_dir):
        return []
    today = today or dt.datetime.now(dt.timezone.utc).date()
    cutoff = today - dt.timedelta(days=retention_days)
    removed = []
    for table in _listdir(data_dir):
        table_dir = os.path.join(data_dir, table)
        for sym in _listdir(table_dir):
            sym_dir = os.path.join(table_dir, sym)
            if not sym.startswith("symbol="):
                continue
            for date in _listdir(sym_dir):
                match = DATE_DIR.match(date)
                if match is None:
                    continue
                try:
                    day = dt.date.fromisoformat(match.group(1))
                except ValueError:
                    continue
                if day < cutoff:
                    path = os.path.join(sym_dir, date)
                    try:
                        shutil.rmtree(path)
                    except FileNotFoundError:
                        continue  # another process (shard) sharing data_dir got there first
                    removed.append(path)
    return removed


def _listdir(path: str) -> list[str]:
    """Sorted entries of a directory; none if it is not one (or went away)."""
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []
