"""Section 7: wall ratio."""
import math

import pytest

from rtaid.reference.indicators import wall


def test_wall_tie_nearest_touch_and_distance():
    bids = [(100, 1), (99, 5), (98, 5), (97, 1)]
    asks = [(101, 2), (102, 2)]
    wb, wa, net, db, da = wall(bids, asks, 20, 1.0)
    assert wb == 5 * 4 / 12 and db == 1.0          # tie between k=2 and k=3 -> k=2
    assert wa == 1.0 and da == 0.0                 # all equal -> the touch
    assert net == pytest.approx(math.log(5 / 3), rel=1e-15)
    assert wall(bids, asks, 20, 10.0)[3] == 0.1


def test_wall_levels_cut_and_empty_side():
    bids = [(100, 1), (99, 1), (98, 50)]
    wb, _, _, db, _ = wall(bids, [(101, 1)], 2, 1.0)
    assert wb == 1.0 and db == 0.0
    wb, wa, net, db, da = wall(bids, [], 20, 1.0)
    assert wb == 50 * 3 / 52 and db == 2.0
    assert math.isnan(wa) and math.isnan(da) and math.isnan(net)
