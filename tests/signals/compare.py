"""Column-by-column comparison of kernel tables with the reference's."""
import math

REL_TOL = 1e-9


def column_errors(want: list, got: list):
    """(mismatches, max relative error, first mismatch) of one column.

    Integers and strings must be equal; floats within REL_TOL relative, NaN exactly
    where the reference has NaN.
    """
    if len(want) != len(got):
        return max(len(want), len(got)), math.inf, ("length", len(want), len(got))
    bad = 0
    worst = 0.0
    first = None
    for i, (x, y) in enumerate(zip(want, got)):
        if isinstance(x, float) or isinstance(y, float):
            x, y = float(x), float(y)
            if math.isnan(x) or math.isnan(y):
                ok = math.isnan(x) and math.isnan(y)
            elif x == y:
                ok = True
            else:
                rel = abs(x - y) / max(abs(x), abs(y))
                worst = max(worst, rel)
                ok = rel <= REL_TOL
        else:
            ok = x == y and type(x) is type(y)
        if not ok:
            bad += 1
            if first is None:
                first = (i, x, y)
    return bad, worst, first


def compare_tables(want: dict, got: dict) -> dict:
    """Assert every table and column equal; returns {table.column: max relative error}."""
    errors = {}
    problems = []
    assert list(want) == list(got)
    for table in want:
        assert list(want[table]) == list(got[table]), table
        for col in want[table]:
            bad, worst, first = column_errors(want[table][col], got[table][col])
            errors[f"{table}.{col}"] = worst
            if bad:
                problems.append(f"{table}.{col}: {bad} mismatches, first (row, ref, kernel) {first}")
    assert not problems, "\n".join(problems)
    return errors
