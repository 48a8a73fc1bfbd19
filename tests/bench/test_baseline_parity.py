"""The plain-Python baseline of the benchmarks (bench/baselines) computes what rtaid
computes: its tables equal the kernels', column by column (integers and strings exactly,
floats to 1e-9 relative, NaN in the same places), on the shared recordings and on
synthetic ones with gaps, crossed books, stale bookTickers, late trades and L1 from the
book. So the benchmarks compare equal work.

Section 8 of indicators.md (z-scores, oscillators) now divides the EWMA variance by its
weight w; the baseline implements that text. While rtaid's kernels still compute
sigma = sqrt(var), the normalised columns (and the strategy, which reads them) differ:
that comparison is an expected failure until the kernels follow, and then must pass.
"""
import json
import math

import pytest

from bench.baselines.bot import run_recording
from bench.baselines.indicators import Normaliser, settings_from_params
from rtaid._kernels import signals
from rtaid.reference.indicators import Params
from tests.signals.compare import column_errors
from tests.signals.conftest import ACTIVE, RECORDINGS
from tests.signals.synthetic import make_recording
from tests.signals.test_parity_synthetic import CONFIGURED_BUCKET, SHORT

pytestmark = pytest.mark.slow       # ~30 s: the baseline is Python

CASES = {
    "btc-active": ("btc", ACTIVE), "eth-active": ("eth", ACTIVE), "btc-default": ("btc", None),
    "synthetic-bbo": (1, SHORT), "synthetic-bucket": (2, CONFIGURED_BUCKET),
    "synthetic-l1-from-book": (3, SHORT), "synthetic-l1-from-book-bucket": (4, CONFIGURED_BUCKET),
}
_tables: dict = {}


def normalised(table: str, column: str) -> bool:
    """Columns that depend on section 8: z, osc, their bar copies, every signal."""
    if table == "signals":
        return True
    return column.endswith(("_z", "_osc", "_z_last", "_osc_last"))


@pytest.fixture
def tables(shared_data, tmp_path_factory):
    def get(case):
        if case not in _tables:
            source, params = CASES[case]
            if isinstance(source, int):
                path = tmp_path_factory.mktemp("synthetic") / f"rec{source}.txt"
                make_recording(path, seed=source, n_events=4000, with_bbo=source in (1, 2))
            else:
                path = RECORDINGS[source]
            want = signals.run_recording(path, params=params)
            got = run_recording(path, settings_from_params(params or Params()))
            _tables[case] = want, got
        return _tables[case]

    return get


def differences(want: dict, got: dict, which) -> list:
    problems = []
    for table in want:
        assert list(got[table]) == list(want[table]), table
        for col in want[table]:
            if which(table, col):
                bad, worst, first = column_errors(want[table][col], got[table][col])
                if bad:
                    problems.append(f"{table}.{col}: {bad} of {len(want[table][col])} differ, "
                                    f"worst {worst:.3g}, first (row, rtaid, baseline) {first}")
    return problems


@pytest.mark.parametrize("case", list(CASES))
def test_every_other_column_equals_rtaids(tables, case):
    want, got = tables(case)
    assert len(got["indicators"]["seq"]) == len(want["indicators"]["seq"]) > 1000
    problems = differences(want, got, lambda t, c: not normalised(t, c))
    assert not problems, "\n".join(problems)


def kernel_section_8(tmp_path) -> str:
    """How rtaid's kernels compute sigma: 'weighted' (sqrt(var / w), the current
    indicators.md) or 'unweighted' (sqrt(var)), read from their obi_z on four
    bookTickers; anything else is 'unknown'."""
    path = tmp_path / "probe.txt"
    sizes = [(1000, 3000), (3000, 1000), (2000, 2500), (1500, 1000)]
    lines = []
    for i, (qb, qa) in enumerate(sizes):
        data = {"e": "bookTicker", "u": 100 + i, "s": "TSTUSDT", "b": "100.00", "B": f"{qb / 1000:.3f}",
                "a": "100.10", "A": f"{qa / 1000:.3f}", "T": 1_700_000_000_000 + 20_000 * i,
                "E": 1_700_000_000_000 + 20_000 * i}
        lines.append(f"{i} " + json.dumps({"stream": "tstusdt@bookTicker", "data": data}))
    path.write_text("\n".join(lines) + "\n")
    params = Params().with_keys({"norm.warmup": 0})
    got = signals.run_recording(path, params=params)["indicators"]["obi_z"]
    obi = [(qb - qa) / (qb + qa) for qb, qa in sizes]
    weighted = Normaliser(params.norm_tau_ms, 0, params.norm_sigma_floor)
    want_weighted = [weighted.update(x, 20_000 * i)[0] for i, x in enumerate(obi)]
    # sqrt(var) without the weight, same float order as the weighted one otherwise
    mu, var, want_plain = obi[0], 0.0, [math.nan]
    for x in obi[1:]:
        a = 1.0 - math.exp(-20_000.0 / params.norm_tau_ms)
        sigma = math.sqrt(var)
        want_plain.append((x - mu) / max(sigma, params.norm_sigma_floor))
        d = x - mu
        mu += a * d
        var = (1.0 - a) * (var + a * d * d)

    def same(a, b):
        return all((math.isnan(x) and math.isnan(y)) or abs(x - y) <= 1e-9 * max(abs(x), abs(y))
                   for x, y in zip(a[2:], b[2:]))

    if same(got, want_weighted):
        return "weighted"
    if same(got, want_plain):
        return "unweighted"
    return "unknown"


def test_the_kernels_normalise_by_one_of_the_known_formulas(tmp_path):
    assert kernel_section_8(tmp_path) in ("weighted", "unweighted")


@pytest.mark.parametrize("case", list(CASES))
def test_normalised_columns_equal_rtaids(tables, case, request, tmp_path):
    if kernel_section_8(tmp_path) == "unweighted":
        request.applymarker(pytest.mark.xfail(
            strict=True, reason="rtaid's kernels compute sigma = sqrt(var); indicators.md section 8 "
                                "(and the baseline) divide var by its weight w"))
    want, got = tables(case)
    problems = differences(want, got, normalised)
    assert not problems, "\n".join(problems)
