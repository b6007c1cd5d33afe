"""``ttsearch browse``: serve an index of the experiments under ROOT and their reports on 127.0.0.1.

A report is rebuilt when its experiment's result files change (so a running search can be watched; the
page reloads itself while the search runs). Only ROOT is served:
- a request whose path resolves outside it (``..``, an absolute path, a symlink out) gets 403;
- nothing read for a page resolves outside it: a trial folder or file inside a served experiment that
  links elsewhere is left out of the report, with a warning (``load_experiment(confine_to=ROOT)``);
- a request whose ``Host`` header names another server gets 403 (DNS rebinding: a page elsewhere
  whose name was rebound to 127.0.0.1 could otherwise read the reports); the server binds loopback only.
"""
from __future__ import annotations

import hashlib
import html
import logging
import math
import os
import threading
import urllib.parse
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import plotly

from analysis import DEFAULT_BROWSE_PORT
from analysis.figures import comparison_figure
from analysis.listing import find_experiments, is_experiment_dir, summarise
from analysis.loading import Experiment, load_experiment
from analysis.report import build_report_html
from analysis.trial_files import is_trial_dir
from vocab.errors import UsageError
from vocab.experiment_folder import (
    EXPERIMENT_META_FILE,
    TUNE_ERROR_FILE,
    TUNE_PARAMS_FILE,
    TUNE_PROGRESS_FILE,
    TUNE_RESULT_FILE,
)

LOG = logging.getLogger("ttsearch.browse")
HOST = "127.0.0.1"
DEFAULT_PORT = DEFAULT_BROWSE_PORT
PLOTLY_JS_ROUTE = "/_static/plotly.min.js"
REPORT_ROUTE = "/report/"
PLOTLY_JS_PATH = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
_FINGERPRINT_FILES = (TUNE_RESULT_FILE, TUNE_PROGRESS_FILE, TUNE_ERROR_FILE, TUNE_PARAMS_FILE)


def experiment_fingerprint(folder: Path) -> str:
    """Changes whenever a trial appears or any result/error/meta file changes size or time."""
    digest = hashlib.sha1()
    entries = [folder / EXPERIMENT_META_FILE]
    try:
        trial_dirs = sorted(p for p in folder.iterdir() if is_trial_dir(p))
    except OSError:
        trial_dirs = []
    entries += [d / name for d in trial_dirs for name in _FINGERPRINT_FILES]
    for path in entries:
        try:
            stat = path.stat()
        except OSError:
            continue
        digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def resolve_inside(root: Path, relative: str) -> Path | None:
    """``root/relative`` resolved, or None when it leaves ``root`` (traversal, absolute, symlink out)."""
    if relative.startswith("/") or "\x00" in relative:
        return None
    candidate = (root / relative).resolve()
    if candidate == root or root in candidate.parents:
        return candidate
    return None


@dataclass
class ReportCache:
    """Report HTML per experiment folder, rebuilt when the folder's fingerprint changes."""

    refresh_seconds: int = 30
    root: Path | None = None  # nothing outside it is read for a report
    _entries: dict[Path, tuple[str, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    builds: int = 0  # how many reports were built (tests check the cache with it)

    def report(self, folder: Path) -> str:
        fingerprint = experiment_fingerprint(folder)
        with self._lock:
            cached = self._entries.get(folder)
            if cached and cached[0] == fingerprint:
                return cached[1]
        page = build_report_html(load_experiment(folder, confine_to=self.root), plotlyjs=PLOTLY_JS_ROUTE,
                                 refresh_seconds=self.refresh_seconds)
        with self._lock:
            self._entries[folder] = (fingerprint, page)
            self.builds += 1
        return page


def index_html(root: Path, refresh_seconds: int) -> str:
    """The index page: every experiment under root with its status, and one comparison figure."""
    experiments: list[Experiment] = []
    for folder in find_experiments(root):
        try:
            experiments.append(load_experiment(folder, confine_to=root))
        except UsageError:  # links outside the root: not listed
            continue
    rows = []
    for exp in experiments:
        summary = summarise(exp, root)
        link = REPORT_ROUTE + urllib.parse.quote(summary.relative) + "/"
        best = "n/a" if math.isnan(summary.best_score) else f"{summary.best_score:.4g}"
        smallest = "n/a" if math.isnan(summary.smallest_front_params) else f"{summary.smallest_front_params:,.0f}"
        rows.append(
            f'<tr><td class="text"><a href="{html.escape(link)}">{html.escape(summary.name)}</a></td>'
            f'<td class="text">{html.escape(summary.relative)}</td><td class="text">{html.escape(summary.status)}</td>'
            f'<td class="text">{html.escape(summary.methods_text)}</td>'
            f"<td>{summary.trials_done} / {summary.trials_total}</td>"
            f"<td>{html.escape(best)} ({html.escape(summary.score_name)})</td>"
            f"<td>{html.escape(smallest)}</td><td>{summary.warnings}</td></tr>"
        )
    table = ("<table id=\"experiments\"><thead><tr><th class=\"text\">experiment</th><th class=\"text\">folder</th>"
             "<th class=\"text\">status</th><th class=\"text\">methods</th><th>trials done / total</th>"
             "<th>best metric</th><th>smallest front adapter params</th><th>warnings</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    with_results = [(e.name, e.trials, e.score_name) for e in experiments if len(e.trials)]
    figure = ""
    if with_results:
        figure = comparison_figure(with_results).to_html(
            full_html=False, include_plotlyjs=PLOTLY_JS_ROUTE, div_id="comparison-figure", config={"displaylogo": False})
    empty = "" if experiments else "<p>No experiment folders found here yet.</p>"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="{refresh_seconds}">'
            f"<title>ttsearch: {html.escape(str(root))}</title>"
            "<style>body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1200px}"
            "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}"
            ".text{text-align:left}th{background:#f4f4f4}</style></head>"
            f"<body><h1>Experiments under {html.escape(str(root))}</h1>{empty}{table}{figure}</body></html>")


class BrowseHandler(BaseHTTPRequestHandler):
    """GET only. Routes: /, /report/<relative experiment path>/, /_static/plotly.min.js."""

    server: BrowseServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        LOG.info("%s %s", self.address_string(), format % args)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str = "text/html; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store" if content_type.startswith("text/html") else "max-age=3600")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str) -> None:
        body = (f"<!DOCTYPE html><html><body><h1>{status.value} {html.escape(status.phrase)}</h1>"
                f"<p>{html.escape(message)}</p></body></html>")
        self._send(status, body.encode())

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self.do_GET()

    def _host_is_ours(self) -> bool:
        """The Host header names this server (127.0.0.1 or localhost, with or without its port): a page
        elsewhere whose name was rebound to 127.0.0.1 (DNS rebinding) sends its own name and is refused."""
        host = (self.headers.get("Host") or "").strip().lower()
        port = self.server.server_address[1]
        return host in {f"{name}{suffix}" for name in (HOST, "localhost") for suffix in ("", f":{port}")}

    def do_GET(self) -> None:  # noqa: N802
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        root = self.server.root
        if not self._host_is_ours():
            self._error(HTTPStatus.FORBIDDEN, "the Host header does not name this server (127.0.0.1 or localhost)")
            return
        try:
            if path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, index_html(root, self.server.cache.refresh_seconds).encode())
            elif path == "/favicon.ico":  # browsers ask for it; no icon, and no 404 in their console
                self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
            elif path == PLOTLY_JS_ROUTE:
                self._send(HTTPStatus.OK, PLOTLY_JS_PATH.read_bytes(), "application/javascript; charset=utf-8")
            elif path.startswith(REPORT_ROUTE):
                relative = path[len(REPORT_ROUTE):].strip("/") or "."
                folder = resolve_inside(root, relative)
                if folder is None:
                    self._error(HTTPStatus.FORBIDDEN, f"{relative!r} is outside the browsed folder")
                elif not is_experiment_dir(folder):
                    self._error(HTTPStatus.NOT_FOUND, f"{relative!r} is not an experiment folder")
                else:
                    self._send(HTTPStatus.OK, self.server.cache.report(folder).encode())
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no page {path!r}")
        except (UsageError, OSError) as exc:
            self._error(HTTPStatus.NOT_FOUND, str(exc))
        except Exception as exc:  # a report must never take the server down
            LOG.exception("error while serving %s", path)
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}")


class BrowseServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, port: int, refresh_seconds: int = 30) -> None:
        self.root = root
        self.cache = ReportCache(refresh_seconds=refresh_seconds, root=root)
        super().__init__((HOST, port), BrowseHandler)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"


def make_server(root: str | Path, port: int = DEFAULT_PORT, refresh_seconds: int = 30) -> BrowseServer:
    """A server for ``root`` on 127.0.0.1:``port`` (0 picks a free port). Call ``serve_forever()``."""
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise UsageError("no such folder", where=str(folder), expected="a folder holding experiment folders")
    if not 0 <= port <= 65535:
        raise UsageError(f"port {port} is out of range", where="--port", expected="0..65535")
    try:
        return BrowseServer(folder.resolve(), port, refresh_seconds)
    except OSError as exc:
        raise UsageError(f"cannot listen on {HOST}:{port}: {os.strerror(exc.errno) if exc.errno else exc}",
                         where="--port", expected="a free port (0 picks one)") from None
