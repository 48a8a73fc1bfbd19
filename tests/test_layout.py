"""The house rules of the layout, checked on the source: the reference is test-only,
production never imports the tests' twins, bench-only code stays out of the package."""
import ast
import pathlib

from tests.helpers import ROOT

PACKAGE = ROOT / "rtaid"


def imported_modules(path: pathlib.Path) -> set[str]:
    """Every module a Python or Cython file imports or cimports (top-level or not)."""
    text = path.read_text()
    found = set()
    if path.suffix == ".py":
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                base = node.module if node.level == 0 else f"<relative>.{node.module}"
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)
        return found
    # Cython: `import x`, `from x import/cimport y`, `cimport x` lines
    for line in text.splitlines():
        words = line.strip().split()
        if len(words) >= 2 and words[0] in ("import", "cimport"):
            found.add(words[1].rstrip(","))
        elif len(words) >= 4 and words[0] == "from" and words[2] in ("import", "cimport"):
            found.add(words[1])
            found.update(f"{words[1]}.{w.strip('(,)')}" for w in words[3:] if w.strip("(,)"))
    return found


def production_sources():
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix not in (".py", ".pyx", ".pxd", ".pxi"):
            continue
        if "reference" in path.relative_to(PACKAGE).parts:
            continue
        yield path


def test_nothing_outside_the_reference_and_the_tests_imports_the_reference():
    offenders = {}
    for path in production_sources():
        bad = sorted(m for m in imported_modules(path)
                     if m == "rtaid.reference" or m.startswith("rtaid.reference."))
        if path.suffix == ".py":
            bad += sorted(m for m in imported_modules(path) if m.startswith("<relative>.reference"))
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert not offenders, f"production code imports the test-only reference: {offenders}"


def test_the_check_sees_an_import_of_the_reference(tmp_path):
    """The guard above is not vacuous: it finds each form of import."""
    for text in ("import rtaid.reference.book\n",
                 "from rtaid.reference.indicators import Params\n",
                 "def f():\n    from rtaid.reference import pipeline\n"):
        path = tmp_path / "mod.py"
        path.write_text(text)
        assert any(m.startswith("rtaid.reference") for m in imported_modules(path)), text
    pyx = tmp_path / "mod.pyx"
    pyx.write_text("from rtaid.reference.indicators import Params\n")
    assert "rtaid.reference.indicators" in imported_modules(pyx)


def test_bench_only_code_is_not_in_the_package():
    """Frame timing and TSC profiling helpers live in bench/ (or behind RTAID_PROFILE)."""
    assert not list(PACKAGE.rglob("frame_timing*"))
    engine = (PACKAGE / "_kernels" / "engine.pyx").read_text()
    assert "run_frames_timed" not in engine
    signals = (PACKAGE / "_kernels" / "signals.pyx").read_text()
    assert "RTAID_PROFILE_BUILD and st.profile" in signals
