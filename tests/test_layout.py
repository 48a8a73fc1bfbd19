"""The house rules of the layout, checked on the source: the reference is test-only,
production never imports the tests' twins, bench-only code stays out of the package."""
from tests.helpers import PACKAGE, ROOT, imported_modules, production_sources


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


def test_test_modules_share_through_helpers_not_through_each_other():
    """A test module imports what it shares from a helpers module, never from another
    test module or a conftest (pytest loads those itself; importing them twice runs
    their module code twice and couples unrelated tests)."""
    offenders = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        bad = {m for m in imported_modules(path)
               if m.startswith("tests.") and (m.rsplit(".", 1)[-1].startswith("test_")
                                              or m.rsplit(".", 1)[-1] == "conftest")}
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders, offenders
