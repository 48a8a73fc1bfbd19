"""Kill a compaction at every step: one forked process per step, SIGKILLed there.

    python -m tests.store.compaction_child SRC OUT TABLE SYMBOL

For k = 1, 2, ...: copies the dataset SRC to OUT/<k>, forks, and the child compacts
it (recover, scan, merge) with every filesystem operation and every step of the merge
counted; at the k-th it sends itself SIGKILL. Stops at the first k the child survives
(the compaction had fewer steps) and prints ``points <k - 1>``. Run in its own process
so that no pyarrow thread of a test runner is around when it forks.
"""
import os
import shutil
import signal
import sys

from rtaid.store import compaction, dirswap
from rtaid.store.tables import TABLES

COUNTED_OS = ("link", "rename", "replace", "unlink", "rmdir", "mkdir", "fsync", "open")


def compact_with_kill_at(directory: str, table: str, symbol: str, k: int) -> None:
    count = [0]

    def counted(fn):
        def wrapped(*args, **kwargs):
            count[0] += 1
            if count[0] == k:
                os.kill(os.getpid(), signal.SIGKILL)
            return fn(*args, **kwargs)
        return wrapped

    for name in COUNTED_OS:
        setattr(os, name, counted(getattr(os, name)))
    compaction.exchange = counted(dirswap.exchange)
    for job in (compaction._CopyJob, compaction._DecodeJob):
        job.advance = counted(job.advance)
    compactor = compaction.Compactor(directory, {table: TABLES[table]}, [symbol],
                                     row_group_rows=64, grace_s=0.0)
    compactor.recover()
    compactor.scan()
    while compactor.candidates or compactor.job is not None:
        compactor.step(set(), 0.0)
    if compactor.errors:
        raise SystemExit(f"compaction failed: {compactor.last_error}")


def main(src: str, out: str, table: str, symbol: str) -> int:
    k = 1
    while True:
        target = os.path.join(out, str(k))
        shutil.copytree(src, target)
        pid = os.fork()
        if pid == 0:  # the child: never returns into the caller's code
            code = 0
            try:
                compact_with_kill_at(target, table, symbol, k)
            except BaseException as exc:  # noqa: BLE001 - report, then exit hard
                print(f"child error at {k}: {exc!r}", flush=True)
                code = 3
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status):
            if os.WEXITSTATUS(status) != 0:
                return 3
            shutil.rmtree(target)
            print(f"points {k - 1}", flush=True)
            return 0
        assert os.WTERMSIG(status) == signal.SIGKILL
        k += 1
        if k > 500:
            return 4


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
