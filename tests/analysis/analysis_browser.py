"""Drive headless Chromium over its DevTools protocol (CDP): open a page, wait for a plotly figure to
render, count its SVG points, collect console errors and exceptions, take a screenshot.

Chromium comes from the Debian package ``chromium``; the websocket client is aiohttp (installed with
ray[default]). Nothing here is mocked: a real browser renders the real report.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
    "--window-size=1400,1800",  # the width the report is checked at
)

# JavaScript run in the page: per plotly figure div, the number of rendered SVG points in each trace
# group, with the trace's `meta` tag (trace groups are drawn in the order of gd.data).
COUNT_POINTS_JS = """
(() => {
  const out = {};
  for (const gd of document.querySelectorAll('.plotly-graph-div')) {
    const groups = gd.querySelectorAll('.scatterlayer .trace');
    const traces = (gd.data || []).map((t, i) => ({
      meta: t.meta === undefined ? null : t.meta, name: t.name || null,
      points: groups[i] ? groups[i].querySelectorAll('path.point').length : 0,
    }));
    out[gd.id] = {traces, svg: gd.querySelectorAll('svg.main-svg').length};
  }
  return JSON.stringify(out);
})()
"""


# JavaScript run in the page: where the legend and colour bars of each figure are drawn, and whether
# anything (a table) is wider than the page.
LAYOUT_JS = """
(() => {
  const box = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const figures = {};
  for (const gd of document.querySelectorAll('.plotly-graph-div')) {
    figures[gd.id] = {legend: [...gd.querySelectorAll('g.legend')].map(box),
                      colorbars: [...gd.querySelectorAll('g.colorbar')].map(box)};
  }
  const tables = {};
  for (const t of document.querySelectorAll('table[id]')) {
    tables[t.id] = {box: box(t.parentElement), scroll: t.parentElement.scrollWidth > t.parentElement.clientWidth};
  }
  return JSON.stringify({figures, tables, page_width: document.documentElement.scrollWidth,
                         window_width: window.innerWidth});
})()
"""


def overlaps(a: list[float], b: list[float]) -> bool:
    """Two [left, top, right, bottom] boxes share some area."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def find_chromium() -> str | None:
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageResult:
    """What the browser saw on one page."""

    figures: dict[str, Any]
    console_errors: list[str] = field(default_factory=list)
    title: str = ""
    layout: dict[str, Any] = field(default_factory=dict)  # LAYOUT_JS's measurements

    def points(self, figure_id: str, meta: str) -> int:
        return sum(t["points"] for t in self.figures.get(figure_id, {}).get("traces", []) if t["meta"] == meta)


class Chromium:
    """One headless Chromium process; use as a context manager."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.profile = Path(tempfile.mkdtemp(prefix="ttsearch-chromium-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.ws_url = ""

    def __enter__(self) -> Chromium:
        self.process = subprocess.Popen(
            [self.binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if port_file.is_file():
                lines = port_file.read_text().split("\n")
                if len(lines) >= 2 and lines[1]:
                    self.ws_url = f"ws://127.0.0.1:{lines[0]}{lines[1]}"
                    return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError("chromium did not start its DevTools endpoint within 30 s")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)

    def open(self, url: str, screenshot: Path | None = None, wait_for_figure: str = "", timeout: float = 60.0) -> PageResult:
        return asyncio.run(self._open(url, screenshot, wait_for_figure, timeout))

    async def _open(self, url: str, screenshot: Path | None, wait_for_figure: str, timeout: float) -> PageResult:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(self.ws_url, max_msg_size=0) as ws:
                cdp = _Cdp(ws)
                reader = asyncio.create_task(cdp.read_loop())
                try:
                    return await asyncio.wait_for(self._drive(cdp, url, screenshot, wait_for_figure), timeout)
                finally:
                    reader.cancel()

    async def _drive(self, cdp: _Cdp, url: str, screenshot: Path | None, wait_for_figure: str) -> PageResult:
        target = await cdp.call("Target.createTarget", {"url": "about:blank"})
        attached = await cdp.call("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        sid = attached["sessionId"]
        for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
            await cdp.call(domain, session=sid)
        loaded = cdp.expect("Page.loadEventFired", sid)
        await cdp.call("Page.navigate", {"url": url}, session=sid)
        await loaded
        figures: dict[str, Any] = {}
        for _ in range(300):  # plotly draws after load; poll until the figure has its SVG
            value = await cdp.call("Runtime.evaluate", {"expression": COUNT_POINTS_JS, "returnByValue": True}, session=sid)
            figures = json.loads(value["result"]["value"])
            if not wait_for_figure or figures.get(wait_for_figure, {}).get("svg", 0) > 0:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # let late console errors arrive
        title = await cdp.call("Runtime.evaluate", {"expression": "document.title", "returnByValue": True}, session=sid)
        layout = await cdp.call("Runtime.evaluate", {"expression": LAYOUT_JS, "returnByValue": True}, session=sid)
        if screenshot is not None:
            shot = await cdp.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=sid)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        await cdp.call("Target.closeTarget", {"targetId": target["targetId"]})
        return PageResult(figures=figures, console_errors=list(cdp.errors.get(sid, [])), title=title["result"]["value"],
                          layout=json.loads(layout["result"]["value"]))


class _Cdp:
    """Minimal CDP client over one browser-level websocket (flattened sessions)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next_id = 0
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.waiters: list[tuple[str, str, asyncio.Future[Any]]] = []
        self.errors: dict[str, list[str]] = {}

    async def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        await self.ws.send_str(json.dumps(message))
        return await future

    def expect(self, method: str, session: str) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiters.append((method, session, future))
        return future

    def _record_error(self, session: str, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "exception")
            self.errors.setdefault(session, []).append(f"exception: {text}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.errors.setdefault(session, []).append(f"console.{params['type']}: {args}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.errors.setdefault(session, []).append(f"log: {entry.get('text')} ({entry.get('url', '')})")

    async def read_loop(self) -> None:
        async for raw in self.ws:
            if raw.type != aiohttp.WSMsgType.TEXT:
                continue
            message = json.loads(raw.data)
            if "id" in message and message["id"] in self.pending:
                future = self.pending.pop(message["id"])
                if "error" in message:
                    future.set_exception(RuntimeError(f"CDP error: {message['error']}"))
                else:
                    future.set_result(message.get("result", {}))
                continue
            method, session = message.get("method", ""), message.get("sessionId", "")
            self._record_error(session, method, message.get("params", {}))
            for waiter in list(self.waiters):
                if waiter[0] == method and waiter[1] == session and not waiter[2].done():
                    waiter[2].set_result(message.get("params", {}))
                    self.waiters.remove(waiter)


@contextmanager
def serving(server: Any) -> Iterator[Any]:
    """Run an http.server-style ``server`` in a daemon thread; shut it down and join on exit."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def artifacts_dir() -> Path:
    """``artifacts/`` at the repository root (gitignored); screenshots go here."""
    folder = Path(os.environ.get("TTSEARCH_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
