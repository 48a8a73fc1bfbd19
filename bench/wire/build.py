"""Compile the bench's own Cython modules (floor.pyx, patch.pyx) on first use.

They are not part of the rtaid package: they are built here, into bench/wire/_build
(ignored by git), and rebuilt when their source changes. Needs Cython and a C
compiler, as rtaid's own build does.
"""
from __future__ import annotations

import hashlib
import importlib
import os
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
BUILD = HERE / "_build"
MODULES = ("floor", "patch")


def _digest(name: str) -> str:
    import Cython
    return hashlib.sha256((HERE / f"{name}.pyx").read_bytes() + Cython.__version__.encode()).hexdigest()[:16]


def load(name: str):
    """Import bench/wire/<name>.pyx, compiling it first if it is new or changed."""
    if name not in MODULES:
        raise ValueError(name)
    module = f"_bench_{name}_{_digest(name)}"
    if str(BUILD) not in sys.path:
        sys.path.insert(0, str(BUILD))
    try:
        return importlib.import_module(module)
    except ImportError:
        pass
    _compile(name, module)
    importlib.invalidate_caches()
    return importlib.import_module(module)


def _compile(name: str, module: str) -> None:
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension

    BUILD.mkdir(exist_ok=True)
    src = BUILD / f"{module}.pyx"
    src.write_bytes((HERE / f"{name}.pyx").read_bytes())
    ext = Extension(module, [str(src)], extra_compile_args=["-O2", "-Wno-unused-function"])
    dist = Distribution({"ext_modules": cythonize([ext], quiet=True, build_dir=str(BUILD / "c"),
                                                  compiler_directives={"language_level": 3})})
    cmd = dist.get_command_obj("build_ext")
    cmd.build_lib = str(BUILD)
    cmd.build_temp = str(BUILD / "tmp")
    cmd.ensure_finalized()
    cwd = os.getcwd()
    try:
        cmd.run()
    finally:
        os.chdir(cwd)


if __name__ == "__main__":
    for m in MODULES:
        print(m, load(m).__file__)
