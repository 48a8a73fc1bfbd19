#!/usr/bin/env python3
"""Render every page of ``rtaid dashboard`` with headless Chromium to PNG files.

    python scripts/dashboard_screenshots.py --data-dir DIR --out DIR \\
        [--socket PATH] [--query 'symbol=BTCUSDT&from=2024-08-08&to=2024-08-09'] \\
        [--pages market,trading,health,data] [--set KEY=VALUE ...]

Starts ``rtaid dashboard`` on a free port, then Debian's ``chromium`` (``--chromium``)
headless, and drives it over the DevTools protocol: load a page, wait until Streamlit
has drawn it (no skeleton, every Plotly chart drawn, the text stable), grow the window
to the page's height, take the screenshot. Writes ``<page>.png`` and ``<page>.txt``
(the page's text, for checks) per page and prints the PNG paths.

(Chromium's one-shot ``--screenshot`` with ``--virtual-time-budget`` races
Streamlit's websocket: it sometimes captures the loading skeleton. Waiting for the
drawn page over the DevTools protocol does not.)
Needs the dashboard extra and ``chromium`` (``apt-get install chromium``).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import aiohttp

PAGES = {"market": "", "trading": "trading", "health": "health", "data": "data"}
WIDTH, MIN_HEIGHT, MAX_HEIGHT = 1400, 900, 6000
# null until Streamlit has drawn the page; then a signature that changes while it draws.
READY_JS = """(() => {
  if (document.querySelector('[data-testid="stAppSkeleton"], [data-testid="stSkeleton"]')) return null;
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main || !main.querySelector('h1, h2')) return null;
  const charts = main.querySelectorAll('[data-testid="stPlotlyChart"]');
  for (const c of charts) if (!c.querySelector('svg.main-svg')) return null;
  const tables = main.querySelectorAll('[data-testid="stDataFrame"]');
  for (const t of tables) if (!t.querySelector('canvas')) return null;
  const block = document.querySelector('[data-testid="stMainBlockContainer"]');
  return [main.innerText.length, charts.length, tables.length, block.scrollHeight].join(':');
})()"""
HEIGHT_JS = """(() => {
  const block = document.querySelector('[data-testid="stMainBlockContainer"]');
  const sidebar = document.querySelector('[data-testid="stSidebarContent"]');
  return Math.max(block ? block.scrollHeight : 0, sidebar ? sidebar.scrollHeight : 0);
})()"""
TEXT_JS = "document.querySelector('[data-testid=\"stMain\"]').innerText"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="the dataset to show")
    parser.add_argument("--out", required=True, help="directory for <page>.png")
    parser.add_argument("--socket", default=None, help="daemon control socket")
    parser.add_argument("--query", default="", help="query string preselecting the pickers")
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated pages")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="config override passed to rtaid dashboard")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    parser.add_argument("--width", type=int, default=WIDTH)
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds per page")
    args = parser.parse_args(argv)
    pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    unknown = [p for p in pages if p not in PAGES]
    if unknown:
        parser.error(f"unknown page(s) {unknown}; pages: {', '.join(PAGES)}")
    if not shutil.which(args.chromium):
        print(f"dashboard_screenshots: {args.chromium} not found (apt-get install chromium)",
              file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    port = free_port()
    with dashboard(args, port) as base_url, chromium(args.chromium, args.width) as devtools:
        written = asyncio.run(render_all(devtools, base_url, pages, args))
    for path in written:
        print(path)
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def dashboard(args, port: int):
    """``rtaid dashboard`` on ``port``; yields its URL once it answers."""
    cmd = [sys.executable, "-m", "rtaid", "dashboard", "--data-dir", args.data_dir,
           "--port", str(port)]
    if args.socket:
        cmd += ["--socket", args.socket]
    for text in args.overrides:
        cmd += ["--set", text]
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise SystemExit(f"rtaid dashboard exited with {proc.returncode}:\n"
                                 f"{log.read().decode(errors='replace')}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("rtaid dashboard did not answer /_stcore/health within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextlib.contextmanager
def chromium(binary: str, width: int):
    """Headless Chromium with the DevTools protocol on a free port; yields its HTTP base."""
    profile = tempfile.mkdtemp(prefix="rtaid-chromium-")
    proc = subprocess.Popen(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--hide-scrollbars", "--remote-debugging-port=0", f"--user-data-dir={profile}",
         f"--window-size={width},{MIN_HEIGHT}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.monotonic() + 30
        while not os.path.exists(port_file) or not open(port_file).read().strip():
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode(errors="replace") if proc.poll() is not None else ""
                raise SystemExit(f"chromium did not start its DevTools endpoint\n{err}")
            time.sleep(0.1)
        port = int(open(port_file).read().split()[0])
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


class DevTools:
    """A minimal DevTools protocol client over one page's websocket."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0

    async def call(self, method: str, **params):
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        while True:
            msg = await self.ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"devtools connection closed during {method}")
            data = json.loads(msg.data)
            if data.get("id") == self.next_id:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                return data.get("result", {})

    async def evaluate(self, expression: str):
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")


async def render_all(devtools_url: str, base_url: str, pages, args) -> list[str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{devtools_url}/json/list") as r:
            targets = await r.json()
        page_ws = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
        async with http.ws_connect(page_ws, max_msg_size=0) as ws:
            tools = DevTools(ws)
            await tools.call("Page.enable")
            written = []
            for page in pages:
                query = f"?{args.query}" if args.query else ""
                url = f"{base_url}/{PAGES[page]}{query}"
                written.append(await render(tools, url, page, args))
            return written


async def render(tools: DevTools, url: str, page: str, args) -> str:
    await tools.call("Emulation.setDeviceMetricsOverride", width=args.width, height=MIN_HEIGHT,
                     deviceScaleFactor=1, mobile=False)
    await tools.call("Page.navigate", url=url)
    await wait_drawn(tools, page, args.timeout)
    height = min(max(int(await tools.evaluate(HEIGHT_JS) or 0) + 60, MIN_HEIGHT), MAX_HEIGHT)
    await tools.call("Emulation.setDeviceMetricsOverride", width=args.width, height=height,
                     deviceScaleFactor=1, mobile=False)
    await wait_drawn(tools, page, args.timeout)
    shot = await tools.call("Page.captureScreenshot", format="png")
    path = os.path.join(args.out, f"{page}.png")
    with open(path, "wb") as fh:
        fh.write(base64.b64decode(shot["data"]))
    with open(os.path.join(args.out, f"{page}.txt"), "w") as fh:
        fh.write(await tools.evaluate(TEXT_JS) or "")
    return path


async def wait_drawn(tools: DevTools, page: str, timeout: float, stable_polls: int = 4) -> None:
    """Until the page is drawn and its signature held for ``stable_polls`` polls."""
    deadline = time.monotonic() + timeout
    last, same = None, 0
    while time.monotonic() < deadline:
        signature = await tools.evaluate(READY_JS)
        same = same + 1 if signature is not None and signature == last else 0
        if same >= stable_polls:
            return
        last = signature
        await asyncio.sleep(0.25)
    raise SystemExit(f"page {page!r} was not drawn within {timeout:g} s")


if __name__ == "__main__":
    sys.exit(main())
