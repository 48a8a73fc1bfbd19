"""One Parquet part file that becomes visible under its final name only when complete.

Rows go to ``.<name>.tmp`` in the partition directory (readers skip dot files); on
close the file is fsynced, renamed to its final name and the directory fsynced, so a
reader or a crash (kill -9) never sees a half-written ``part-*.parquet``.
"""
from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq


def fsync_path(path: str, directory: bool = False) -> None:
    """fsync a file or directory by path (any fd of an inode flushes its data)."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PartFile:
    """An open part file of one partition.

    Parameters
    ----------
    final_path : str
        Where the file appears when closed.
    schema : pyarrow.Schema
    compression : str
        "zstd" or "snappy".
    opened_at : float
        Clock reading at open (for time rotation).
    """

    def __init__(self, final_path: str, schema: pa.Schema, compression: str,
                 opened_at: float) -> None:
        self.final_path = final_path
        directory, name = os.path.split(final_path)
        self.tmp_path = os.path.join(directory, f".{name}.tmp")
        self.opened_at = opened_at
        self.rows = 0
        self._sink = pa.OSFile(self.tmp_path, "wb")
        try:
            self._writer = pq.ParquetWriter(self._sink, schema, compression=compression)
        except BaseException:
            self._sink.close()
            raise

    @property
    def size(self) -> int:
        """Bytes written so far (row groups; the footer comes at close)."""
        return self._sink.tell()

    def write(self, table: pa.Table) -> None:
        """Append ``table`` as one row group (pyarrow encodes without the GIL)."""
        self._writer.write_table(table, row_group_size=max(len(table), 1))
        self.rows += len(table)

    def close(self) -> str:
        """Finish the file and publish it under its final name; returns that name."""
        self._writer.close()
        self._sink.close()
        fsync_path(self.tmp_path)
        publish(self.tmp_path, self.final_path)
        return self.final_path

    def abort(self) -> None:
        """Give the file up after an I/O error: close quietly, remove the temporary."""
        discard(self.tmp_path, self._writer.close, self._sink.close)


def publish(tmp_path: str, final_path: str) -> None:
    """Give a complete, fsynced file its final name, durably (the rename, then the
    directory entry): readers and crashes never see a half-written file."""
    os.rename(tmp_path, final_path)
    fsync_path(os.path.dirname(final_path), directory=True)


def discard(tmp_path: str, *closers) -> None:
    """Close quietly and remove a temporary file that will never be published."""
    for closer in closers:
        try:
            closer()
        except Exception:
            pass
    try:
        os.unlink(tmp_path)
    except OSError:
        pass
