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

import pytest

from bench.baselines.bot import run_recording
from bench.baselines.indicators import settings_from_params
from rtaid.reference.indicators import Params
from tests.helpers import ACTIVE_KEYS, BTC_RECORDING, ETH_RECORDING, config_from_keys, kernel_tables
from tests.signals.compare import column_errors
from tests.signals.synthetic import CONFIGURED_BUCKET, SHORT, make_recording

RECORDINGS = {"btc": BTC_RECORDING, "eth": ETH_RECORDING}
ACTIVE = ACTIVE_KEYS

pytestmark = pytest.mark.slow       # ~30 s: the baseline is Python

CASES = {
    "btc-active": ("btc", ACTIVE), "eth-active": ("eth", ACTIVE), "btc-default": ("btc", None),
    "synthetic-bbo": (1, SHORT), "synthetic-bucket": (2, CONFIGURED_BUCKET),
    "synthetic-l1-from-book": (3, SHORT), "synthetic-l1-from-book-bucket": (4, CONFIGURED_BUCKET),
}
_tables: dict = {}


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
            want = kernel_tables(path, config=config_from_keys(params))
            got = run_recording(path, settings_from_params(Params().with_keys(params or {})))
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
def test_every_column_equals_rtaids(tables, case):
    """The baseline computes what rtaid computes (indicators.md, section 8 with w
    included): the comparison is of equal work."""
    want, got = tables(case)
    assert len(got["indicators"]["seq"]) == len(want["indicators"]["seq"]) > 1000
    problems = differences(want, got, lambda table, column: True)
    assert not problems, "\n".join(problems)
