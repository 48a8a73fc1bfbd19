"""A copy of rtaid's kernels built with RTAID_PROFILE=1 (the per-family TSC brackets
compiled in), for bench/signals.py --families. Production builds never contain them.

The copy lives in .build/profile (gitignored) and is rebuilt only when a kernel
source changed; benchmarks run it in a child process with it first on sys.path.
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEST = ROOT / ".build" / "profile"
SOURCES = ("*.py", "*.pyx", "*.pxd", "*.pxi")


def _sources():
    files = [ROOT / "setup.py", ROOT / "pyproject.toml"]
    for pattern in SOURCES:
        files += sorted((ROOT / "rtaid").rglob(pattern))
    return [f for f in files if "__pycache__" not in f.parts]


def profiled_copy() -> pathlib.Path:
    """Build (if needed) and return the directory to put first on sys.path."""
    digest = hashlib.sha256()
    for f in _sources():
        digest.update(str(f.relative_to(ROOT)).encode())
        digest.update(f.read_bytes())
    stamp = DEST / "STAMP"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        return DEST
    if DEST.exists():
        shutil.rmtree(DEST)
    for f in _sources():
        target = DEST / f.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, target)
    env = dict(os.environ, RTAID_PROFILE="1")
    env.pop("RTAID_DEBUG", None)
    print("building a profiled copy of the kernels (RTAID_PROFILE=1) in", DEST, file=sys.stderr)
    subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=DEST,
                   env=env, check=True, stdout=subprocess.DEVNULL)
    stamp.write_text(digest.hexdigest())
    return DEST
