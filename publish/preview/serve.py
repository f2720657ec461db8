"""`publish serve`: a local preview that rebuilds on every change and reloads the open page.

The server answers on 127.0.0.1 from the preview build's `build/preview/site/` (queued essays
included, with their banners), plus `/__publish__/`, the index of what goes out next, and
each essay's email as a reader gets it (`/__publish__/email/<slug>/` and `<slug>.txt`).
HTML responses (never the files on disk) get a small script that polls
`/__publish__/version` and reloads when the build number moves. A failed build keeps the
server running: pages then show the build's problems instead. HEAD is answered as GET is,
without the body.
"""

from __future__ import annotations

import json
import mimetypes
import posixpath
import threading
from collections.abc import Callable
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import msgspec
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from publish.cache.store import BuildCache
from publish.content.settings import SETTINGS_FILE, load_settings
from publish.errors import PublishError
from publish.layout import EMAIL_FOLDER, ESSAYS_DIR, GLOSSARY_DIR, SITE_FOLDER, TEMPLATES_DIR
from publish.ops.stats import read_stats, stats_chart_svg
from publish.pipeline.build import BuildOptions, BuildReport, build, output_dir
from publish.preview.preview_pages import (
    EMAIL_PATH,
    INDEX_PATH,
    Shown,
    email_parts,
    preview_index,
    render_index,
)

VERSION_PATH = "/__publish__/version"
WATCHED_DIRS = (ESSAYS_DIR, GLOSSARY_DIR, TEMPLATES_DIR)
HOST = "127.0.0.1"

RELOAD_SCRIPT = """<script>
(function () {
  var version = %d;
  function poll() {
    fetch("%s", {cache: "no-store"})
      .then(function (response) { return response.json(); })
      .then(function (state) { if (state.version !== version) { location.reload(); } })
      .catch(function () {})
      .then(function () { setTimeout(poll, 700); });
  }
  setTimeout(poll, 700);
})();
</script>
"""


class BuildResult(msgspec.Struct, frozen=True):
    """The outcome of one preview build: its number, and the problems if it failed."""

    version: int
    ok: bool
    problems: tuple[str, ...] = ()
    essays: int = 0


class Preview:
    """A preview server for one site: build, serve, watch, rebuild."""

    def __init__(
        self,
        root: Path,
        options: BuildOptions,
        port: int = 8000,
        report: Callable[[BuildResult], None] | None = None,
        delay: float = 0.25,
    ) -> None:
        self.root = root
        self.options = msgspec.structs.replace(options, sandbox=True)  # never build/site/
        self.port = port
        self.report = report or (lambda result: None)
        self.delay = delay
        self.site_dir = output_dir(root, self.options) / SITE_FOLDER
        self.email_dir = (output_dir(root, self.options) / EMAIL_FOLDER).relative_to(root)
        self.shown: Shown | None = None  # what the last good build made, for /__publish__/
        self.cache = BuildCache.for_site(root)  # kept between rebuilds: decodes and templates
        self.result = BuildResult(version=0, ok=False, problems=("not built yet",))
        self._build_lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._timer_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._observer: Any = None
        self._handler: _SourceChangeHandler | None = None
        self._watched: set[str] = set()
        self.site_path = "/"

    @property
    def url(self) -> str:
        """Where the preview answers."""
        return f"http://{HOST}:{self.port}/"

    def start(self) -> BuildResult:
        """Take the port, build once, then serve and watch; return the first build's result.

        The port is taken first, so a busy, privileged or impossible one fails (OSError)
        before any build.
        """
        self._server = ThreadingHTTPServer((HOST, self.port), _handler_for(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        result = self.rebuild()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="publish-serve", daemon=True
        )
        self._thread.start()
        self._observer = self._watch()
        return result

    def stop(self) -> None:
        """Stop watching and serving, and wait for both to finish."""
        with self._timer_lock:
            if self._timer is not None:
                self._timer.cancel()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def rebuild(self) -> BuildResult:
        """Build the site now; record and report the outcome, never raise for bad input."""
        with self._build_lock:
            version = self.result.version + 1
            try:
                report = build(self.root, self.options, cache=self.cache)
                result = BuildResult(
                    version, True, tuple(p.format() for p in report.warnings), len(report.published)
                )
                self.shown = self.shown_by(report)
            except PublishError as exc:
                result = BuildResult(version, False, tuple(p.format() for p in exc.problems))
            except Exception as exc:  # noqa: BLE001 - a preview must survive any failed build
                result = BuildResult(version, False, (f"build failed: {exc}",))
            self.report(result)  # before the version endpoint shows the new build
            self.site_path = self.base_path()
            self.result = result
        self.watch_new_folders()
        return result

    def shown_by(self, report: BuildReport) -> Shown:
        """What a build made, as the preview index links to it."""
        assert report.site is not None and report.known is not None
        pages = frozenset(report.published)
        built = frozenset(p.stem for p in (self.root / self.email_dir).glob("*.eml"))
        return Shown(report.site, report.known, pages, pages | built, self.base_path())

    def index_page(self) -> str:
        """The `/__publish__/` page, for the last good build."""
        assert self.shown is not None
        stats = read_stats(self.root, self.shown.site.settings)
        chart = stats_chart_svg(stats) if stats.months or stats.sends else ""
        return render_index(preview_index(self.shown, self.options.today), stats_chart=chart)

    def email_preview(self, slug: str, part: str) -> str | None:
        """The sample reader's copy of an essay's email, its `html` or `text` part; None
        when the preview has no email for `slug`."""
        if self.shown is None:
            return None
        with self._build_lock:  # an email the build left out is made now, between builds
            parts = email_parts(self.root, self.email_dir, self.shown.site, slug, self.options)
        if parts is None:
            return None
        return parts[0] if part == "html" else parts[1]

    def schedule_rebuild(self) -> None:
        """Rebuild once changes have been quiet for `delay` seconds."""
        with self._timer_lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.delay, self.rebuild)
            self._timer.daemon = True
            self._timer.start()

    def _watch(self) -> Any:
        """Start watchdog on the site's root (for publish.toml) and its source folders."""
        observer = Observer()
        self._handler = _SourceChangeHandler(self)
        observer.schedule(self._handler, str(self.root), recursive=False)
        observer.daemon = True
        observer.start()
        self._observer = observer
        self.watch_new_folders()
        return observer

    def watch_new_folders(self) -> None:
        """Watch every source folder that exists now, such as a `templates/` made after start."""
        if self._observer is None:
            return
        for name in WATCHED_DIRS:
            folder = self.root / name
            if folder.is_dir() and name not in self._watched:
                self._observer.schedule(self._handler, str(folder), recursive=True)
                self._watched.add(name)

    def is_source(self, path: str) -> bool:
        """Whether a changed path is one the build reads."""
        try:
            relative = Path(path).resolve().relative_to(self.root.resolve())
        except ValueError:
            return False
        parts = relative.parts
        if not parts or any(part.startswith(".") for part in parts):
            return False
        return parts[0] in WATCHED_DIRS or relative.as_posix() == SETTINGS_FILE

    def base_path(self) -> str:
        """The path part of the site's URL ('/essays/'), also served, so absolute links work."""
        try:
            return urlsplit(load_settings(self.root).site.url).path or "/"
        except PublishError:
            return "/"


class _SourceChangeHandler(FileSystemEventHandler):
    """Turns watchdog events on sources into a debounced rebuild."""

    def __init__(self, preview: Preview) -> None:
        self.preview = preview

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Schedule a rebuild when a source file changed."""
        if event.event_type in ("opened", "closed_no_write"):
            return
        paths = [event.src_path, getattr(event, "dest_path", "")]
        if any(p and self.preview.is_source(str(p)) for p in paths):
            self.preview.schedule_rebuild()


def inject_reload(html: str, version: int) -> str:
    """The page with the reload script placed just before `</body>`."""
    script = RELOAD_SCRIPT % (version, VERSION_PATH)
    index = html.lower().rfind("</body>")
    if index < 0:
        return html + script
    return html[:index] + script + html[index:]


def error_page(result: BuildResult) -> str:
    """A page listing a failed build's problems."""
    items = "\n".join(f"<li><code>{escape(line)}</code></li>" for line in result.problems)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>Build failed · publish serve</title>\n<style>body{font-family:system-ui,"
        "sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem;line-height:1.5}"
        "code{white-space:pre-wrap;word-break:break-word}li{margin:.5rem 0}</style>\n"
        "</head>\n<body>\n<h1>The build failed</h1>\n"
        f"<p>Build {result.version} found these problems. Fix them and save: "
        "this page reloads by itself.</p>\n"
        f'<ul class="problems">\n{items}\n</ul>\n</body>\n</html>\n'
    )


def _handler_for(preview: Preview) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to one preview."""

    class Handler(PreviewHandler):
        pass

    Handler.preview = preview
    return Handler


class PreviewHandler(BaseHTTPRequestHandler):
    """Serves `build/site/`, the version endpoint and, after a failed build, the error page."""

    preview: Preview
    server_version = "publish-serve"
    head_only = False

    def do_HEAD(self) -> None:  # noqa: N802 - the name http.server calls
        """Answer one HEAD request: GET's status and headers, no body."""
        self.head_only = True
        try:
            self.do_GET()
        finally:
            self.head_only = False

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        """Answer one GET request."""
        path = unquote(urlsplit(self.path).path)
        if path == VERSION_PATH:
            result = self.preview.result
            body = json.dumps({"version": result.version, "ok": result.ok}).encode()
            self._send(HTTPStatus.OK, "application/json", body)
            return
        result = self.preview.result
        if not result.ok and _wants_page(path):
            page = inject_reload(error_page(result), result.version)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, "text/html; charset=utf-8", page.encode())
            return
        if path == INDEX_PATH.rstrip("/"):
            self._redirect(INDEX_PATH)
        elif path == INDEX_PATH:
            self._send_html(HTTPStatus.OK, self.preview.index_page(), result.version)
        elif path.startswith(EMAIL_PATH):
            self._serve_email(path.removeprefix(EMAIL_PATH), result.version)
        else:
            self._serve_file(path, result.version)

    def _serve_email(self, name: str, version: int) -> None:
        """`<slug>/`: the HTML part of the sample reader's copy; `<slug>.txt`: its text part."""
        if name.endswith(".txt"):
            slug, part = name.removesuffix(".txt"), "text"
        elif name.endswith("/"):
            slug, part = name.removesuffix("/"), "html"
        else:
            self._redirect(f"{EMAIL_PATH}{name}/")
            return
        try:
            body = self.preview.email_preview(slug, part) if "/" not in slug else None
        except (PublishError, ValueError) as exc:  # a message that cannot be made
            message = f"The email of '{slug}' could not be made: {exc}\n"
            self._send(
                HTTPStatus.INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", message.encode()
            )
            return
        if body is None:
            message = f"No email for '{slug}' in this preview.\n"
            self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", message.encode())
        elif part == "text":
            self._send(HTTPStatus.OK, "text/plain; charset=utf-8", body.encode("utf-8"))
        else:
            self._send_html(HTTPStatus.OK, body, version)

    def _redirect(self, location: str) -> None:
        """A permanent redirect to `location`."""
        self.send_response(HTTPStatus.MOVED_PERMANENTLY)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _serve_file(self, path: str, version: int) -> None:
        """Send the file a URL path names, a redirect for a folder, or the site's 404 page."""
        site_dir = self.preview.site_dir.resolve()
        relative = _site_relative(path, self.preview.site_path)
        target = (site_dir / relative).resolve() if relative else site_dir
        if not target.is_relative_to(site_dir):
            self._not_found(site_dir, version)
            return
        if target.is_dir() and not path.endswith("/"):
            self._redirect(path + "/")
            return
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            self._not_found(site_dir, version)
            return
        self._send_path(HTTPStatus.OK, target, version)

    def _not_found(self, site_dir: Path, version: int) -> None:
        """The site's own 404 page, or a plain one."""
        page = site_dir / "404.html"
        if page.is_file():
            self._send_path(HTTPStatus.NOT_FOUND, page, version)
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"Not found\n")

    def _send_path(self, status: HTTPStatus, target: Path, version: int) -> None:
        """Send a file; HTML gets the reload script."""
        data = target.read_bytes()
        if target.suffix == ".html":
            self._send_html(status, data.decode("utf-8"), version)
            return
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/json", "application/xml"):
            kind += "; charset=utf-8"
        self._send(status, kind, data)

    def _send_html(self, status: HTTPStatus, html: str, version: int) -> None:
        """Send a page with the reload script."""
        page = inject_reload(html, version)
        self._send(status, "text/html; charset=utf-8", page.encode("utf-8"))

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        """Send a whole response, never cached; a HEAD request gets the headers alone."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not self.head_only:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        """Keep the terminal for build results, not every request."""


def _wants_page(path: str) -> bool:
    """Whether a URL path asks for a page (not a stylesheet, image or feed)."""
    name = posixpath.basename(path)
    return not name or name.endswith(".html") or "." not in name


def _site_relative(path: str, base_path: str) -> str:
    """A URL path as a path inside the site folder, the site's own URL path stripped."""
    if base_path != "/" and path.startswith(base_path):
        path = "/" + path[len(base_path) :]
    normal = posixpath.normpath(path).lstrip("/")
    return "" if normal == "." else normal
