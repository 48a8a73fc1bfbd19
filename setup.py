"""Build the Cython kernels (rtaid/_kernels) and the feed's picows listener (rtaid/feed).

Build switches are environment variables so that ``pip install -e .`` behaves the
same everywhere:

- ``RTAID_DEBUG=1``: bounds and wraparound checks on, debug symbols, no -O3, and
  the ``RTAID_DEBUG`` C macro that turns on the book invariant checks after every
  event (a violation fails the engine call and the test that caused it).
- ``RTAID_ANNOTATE=1``: write Cython's annotated HTML next to each .pyx.
- ``RTAID_KERNELS=book,decode``: build only these kernels (development: rebuild one
  kernel while another is mid-edit). Unset: all of rtaid/_kernels/*.pyx,
  rtaid/feed/*.pyx, rtaid/exec/*.pyx (the binance venue's order path) and
  rtaid/store/*.pyx (the compaction's footer decoder).
- ``RTAID_PROFILE=1``: compile the signal kernels' per-family TSC brackets in
  (bench/signals.py --families builds such a copy in a temporary directory).

A build with ``--inplace`` (a development checkout: scripts/_bootstrap.sh) also builds
the benchmarks' own helpers, bench/*.pyx; an installed rtaid never contains them.
"""
import glob
import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("RTAID_DEBUG", "") not in ("", "0")
PROFILE = os.environ.get("RTAID_PROFILE", "") not in ("", "0")
ANNOTATE = os.environ.get("RTAID_ANNOTATE", "") not in ("", "0")

# Every Cython compiler directive lives here, nowhere else.
DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "nonecheck": False,
    "overflowcheck": False,
    "embedsignature": True,
    "freethreading_compatible": False,
}

if DEBUG:
    CFLAGS = ["-O0", "-g3", "-UNDEBUG", "-DRTAID_DEBUG=1"]
else:
    CFLAGS = ["-O3", "-DNDEBUG"]
if PROFILE:
    CFLAGS += ["-DRTAID_PROFILE=1"]
CFLAGS += ["-Wno-unused-function", "-Wno-unreachable-code"]


ONLY = {name.strip() for name in os.environ.get("RTAID_KERNELS", "").split(",") if name.strip()}


def kernel_extensions():
    exts = []
    sources = sorted(glob.glob(os.path.join("rtaid", "_kernels", "*.pyx")))
    sources += sorted(glob.glob(os.path.join("rtaid", "feed", "*.pyx")))
    sources += sorted(glob.glob(os.path.join("rtaid", "exec", "*.pyx")))
    sources += sorted(glob.glob(os.path.join("rtaid", "store", "*.pyx")))
    if "--inplace" in sys.argv:
        sources += sorted(glob.glob(os.path.join("bench", "*.pyx")))
    for pyx in sources:
        module = pyx[:-4].replace(os.sep, ".")
        if ONLY and module.rsplit(".", 1)[1] not in ONLY:
            continue
        exts.append(
            Extension(
                module,
                [pyx],
                extra_compile_args=CFLAGS,
                extra_link_args=["-g"] if DEBUG else [],
            )
        )
    return exts


# Every core: Cython's translation and the C compiler run in parallel (a full build of
# the kernels is most of a fresh checkout's set-up time, and CI builds it twice).
JOBS = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)

setup(
    ext_modules=cythonize(
        kernel_extensions(),
        compiler_directives=DIRECTIVES,
        annotate=ANNOTATE,
        force=False,
        nthreads=JOBS if JOBS > 1 else 0,
    ),
    options={"build_ext": {"parallel": JOBS}},
)
