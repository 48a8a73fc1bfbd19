"""scripts/dashboard_screenshots.py: every page drawn by a real browser (Debian's
``chromium``, headless) from ``rtaid dashboard`` on the replayed dataset."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import ROOT
from tests.dashboard.helpers import DAYS, OVERRIDES, PAGES, SYMBOL

SCRIPT = ROOT / "scripts" / "dashboard_screenshots.py"
README_IMAGE = "docs/img/dashboard-market.png"
CANDLE_GREEN, CANDLE_RED = (0x26, 0xA6, 0x9A), (0xEF, 0x53, 0x50)  # rtaid.dashboard.figures


@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium, installed with apt-get when missing (CI runs as root)."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0:
        pytest.fail("chromium is not installed (apt-get install chromium) and this user "
                    "cannot install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env)
    return shutil.which("chromium")


@pytest.mark.slow
def test_every_page_renders_in_chromium(dataset_dir, chromium, tmp_path):
    from PIL import Image

    out = tmp_path / "shots"
    cmd = [sys.executable, str(SCRIPT), "--data-dir", str(dataset_dir), "--out", str(out),
           "--socket", str(tmp_path / "no-daemon.sock"), "--chromium", chromium,
           "--query", f"symbol={SYMBOL}&from={DAYS[0]}&to={DAYS[1]}"]
    for text in OVERRIDES:
        cmd += ["--set", text]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(out / f"{page}.png") for page in PAGES]
    for page in PAGES:
        path = out / f"{page}.png"
        image = Image.open(path).convert("RGB")
        assert image.width == 1400 and image.height >= 900, (page, image.size)
        assert path.stat().st_size > 30_000, page
        pixels = np.asarray(image).reshape(-1, 3)
        colours, counts = np.unique(pixels, axis=0, return_counts=True)
        # a blank or skeleton page is one or two flat colours; drawn text and charts are
        # antialiased in hundreds of shades and cover a visible share of the page
        assert counts.max() < 0.97 * len(pixels), f"{page}: blank"
        assert len(colours) > 200, f"{page}: too few colours for drawn text and charts"
    text = {page: (out / f"{page}.txt").read_text() for page in PAGES}
    assert "Market" in text["market"] and "Bars\n\n7" in text["market"]
    assert "Signals" in text["trading"] and "no orders or fills tables" in text["trading"]
    assert "not running" in text["health"] and "book events: synced" in text["health"]
    assert "Partitions" in text["data"] and "Retention" in text["data"]
    # the candles were drawn: their colours cover a visible area of the Market page
    market = np.asarray(Image.open(out / "market.png").convert("RGB")).reshape(-1, 3).astype(int)
    for colour in (CANDLE_GREEN, CANDLE_RED):
        near = int((np.abs(market - colour).max(axis=1) <= 8).sum())
        assert near > 500, (colour, near)


def test_readme_shows_the_market_page():
    from PIL import Image

    assert f"]({README_IMAGE})" in (ROOT / "README.md").read_text()
    image = Image.open(ROOT / README_IMAGE)
    assert image.format == "PNG" and image.width == 1400
