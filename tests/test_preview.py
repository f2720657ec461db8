"""Seeing the next essay before it goes: `build --future`, and `publish serve` with its
`/__publish__/` index and email previews, on a real server on 127.0.0.1."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import lxml.html
import pytest
from click.testing import CliRunner

from publish.cli.main import cli
from tests.previewserver import (
    DRAFT,
    LATER,
    LATER_SLOT,
    NEXT,
    NEXT_SLOT,
    SAMPLE_GREETING,
    SENT,
    TODAY,
    Served,
    fetch,
    preview_site,
    serving,
    subscribe,
)
from tests.tools import RecordingSMTPServer, free_port, requires
from tests.websites import snapshot

SECRET = "preview-test-secret"
SAMPLE_LINK = re.compile(r"^https://subs\.example\.org/unsubscribe/0-[0-9a-f]{16,}$")
RELOAD = re.compile(r"<script>\s*\(function \(\) \{\s*var version.*?</script>\s*", re.S)


def invoke(root: Path, *args: str, today: bool = True) -> Any:
    """Run `publish --root ROOT ARGS…` in-process (with `--today TODAY`, unless told not to)."""
    dated = ["--today", TODAY.isoformat()] if today else []
    return CliRunner().invoke(cli, ["--root", str(root), *args, *dated])


def page(path: Path) -> Any:
    """A built page, parsed."""
    return lxml.html.parse(str(path)).getroot()


def banner(path: Path) -> str:
    """The preview banner's text on a built page, or '' when it has none."""
    found = page(path).cssselect(".preview-banner")
    return found[0].text_content() if found else ""


def every_text(folder: Path) -> str:
    """All the text files of a folder, joined."""
    return "\n".join(
        data.decode("utf-8", "replace") for data in snapshot(folder).values() if data[:1] != b"\x89"
    )


def test_build_future_shows_the_queue_at_its_slots_with_a_banner(tmp_path: Path) -> None:
    root = preview_site(tmp_path / "site")
    result = invoke(root, "build", "--future")
    assert result.exit_code == 0, result.output
    preview = root / "build" / "preview"
    assert str(preview / "site") in result.output
    assert "1 draft not built; --drafts to include them" in result.output
    next_page = preview / "site" / NEXT / "index.html"
    assert banner(next_page).startswith(f"Scheduled for {NEXT_SLOT}")
    assert (
        page(next_page).cssselect("time.dt-published")[0].get("datetime").startswith("2026-12-01")
    )
    assert banner(preview / "site" / LATER / "index.html").startswith(f"Scheduled for {LATER_SLOT}")
    assert banner(preview / "site" / SENT / "index.html") == ""
    feed = feedparser.parse((preview / "site" / "feed.xml").read_bytes())
    assert "The Next Letter" in [entry.title for entry in feed.entries]
    assert "Scheduled for" not in (preview / "site" / "feed.xml").read_text(encoding="utf-8")
    assert (preview / "email" / f"{NEXT}.eml").is_file()
    assert "Scheduled for" not in every_text(preview / "email")
    assert not (root / "build" / "site").exists() and not (root / "build" / "email").exists()


def test_a_real_build_says_what_it_left_out_and_never_shows_a_preview(tmp_path: Path) -> None:
    root = preview_site(tmp_path / "site")
    real = invoke(root, "build")
    assert real.exit_code == 0, real.output
    assert "2 queued, 1 draft not built; --future/--drafts to include them" in real.output
    before = snapshot(root / "build" / "site"), snapshot(root / "build" / "email")
    assert invoke(root, "build", "--future", "--drafts").exit_code == 0
    after = snapshot(root / "build" / "site"), snapshot(root / "build" / "email")
    assert after == before, "a preview build left the real build as it was"
    assert invoke(root, "build").exit_code == 0
    site = root / "build" / "site"
    assert not (site / NEXT).exists() and not (site / DRAFT).exists()
    assert "preview-banner" not in every_text(site) + every_text(root / "build" / "email")
    assert banner(site / SENT / "index.html") == ""
    refused = invoke(root, "send", NEXT, today=False)
    assert refused.exit_code == 1
    assert f"no built email for '{NEXT}'" in refused.output, "send never reads the preview"


def test_drafts_are_previewed_only_with_drafts(tmp_path: Path) -> None:
    root = preview_site(tmp_path / "site")
    assert invoke(root, "build", "--future").exit_code == 0
    assert not (root / "build" / "preview" / "site" / DRAFT).exists()
    result = invoke(root, "build", "--future", "--drafts")
    assert result.exit_code == 0, result.output
    assert "not built" not in result.output
    draft_page = root / "build" / "preview" / "site" / DRAFT / "index.html"
    assert banner(draft_page).startswith("Draft: not scheduled")


@pytest.fixture
def served(
    tmp_path: Path, smtp_server: RecordingSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Served]:
    """The site with its dated essay really sent to Sam Sample, under `publish serve`."""
    monkeypatch.setenv("PUBLISH_SECRET", SECRET)
    monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    monkeypatch.setenv("PUBLISH_RETRY_BACKOFF", "0")
    root = preview_site(tmp_path / "site")
    subscribe(root, "sam@example.net", "Sam Sample")
    assert invoke(root, "build").exit_code == 0
    sent = invoke(root, "send", SENT, today=False)
    assert sent.exit_code == 0, sent.output
    with serving(root) as running:
        yield running


def rows(index: Any, table: str) -> dict[str, list[str]]:
    """A table of the preview index: each row's cells, by slug."""
    return {
        row.get("data-slug"): [cell.text_content().strip() for cell in row.cssselect("td")]
        for row in index.cssselect(f"table.{table} tbody tr")
    }


def test_the_preview_index_lists_the_next_slot_queue_drafts_and_sent(served: Served) -> None:
    status, _, body = fetch(served.url + "__publish__/")
    assert status == 200
    index = lxml.html.fromstring(body)
    assert index.cssselect("#next-slot .slot")[0].text == NEXT_SLOT
    assert [li.get("data-slug") for li in index.cssselect(".next li")] == [NEXT]
    queue = rows(index, "queue")
    assert list(queue) == [NEXT, LATER]
    assert queue[NEXT][1] == NEXT_SLOT and queue[LATER][1] == LATER_SLOT
    assert list(rows(index, "drafts")) == [DRAFT]
    assert rows(index, "sent")[SENT][2] == "1 sent"
    links = {a.get("href") for a in index.cssselect("table.queue a")}
    assert {f"/letters/{NEXT}/", f"/__publish__/email/{NEXT}/"} <= links
    for link in sorted(links | {a.get("href") for a in index.cssselect("table.sent a")}):
        assert fetch(served.url.rstrip("/") + link)[0] == 200, link
    assert not index.cssselect("table.drafts a"), "drafts are built only with --drafts"
    [chart] = index.cssselect("figure.stats-chart svg")
    assert chart.get("role") == "img" and "Each send" in chart.text_content()


def test_the_email_preview_is_the_copy_a_subscriber_receives(
    served: Served, smtp_server: RecordingSMTPServer
) -> None:
    [(_, _, received)] = smtp_server.messages
    real_html = received.get_body(("html",)).get_content()
    real_text = received.get_body(("plain",)).get_content()
    status, headers, body = fetch(f"{served.url}__publish__/email/{SENT}/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    html = RELOAD.sub("", body.decode("utf-8"))
    [real_link] = re.findall(r"https://subs\.example\.org/unsubscribe/[^\"\s<]+", real_html)
    [link] = set(re.findall(r"https://subs\.example\.org/unsubscribe/[^\"\s<]+", html))
    assert SAMPLE_LINK.match(link)
    assert html == real_html.replace(real_link, link)
    status, headers, body = fetch(f"{served.url}__publish__/email/{SENT}.txt")
    assert status == 200 and headers["Content-Type"] == "text/plain; charset=utf-8"
    assert body.decode("utf-8") == real_text.replace(real_link, link)
    queued = fetch(f"{served.url}__publish__/email/{NEXT}/")[2].decode("utf-8")
    assert SAMPLE_GREETING in lxml.html.fromstring(queued).text_content()
    assert "Scheduled for" not in queued
    assert fetch(f"{served.url}__publish__/email/no-such-essay/")[0] == 404


def raw_head(url: str, path: str) -> bytes:
    """The raw bytes a HEAD request gets back (HTTP/1.0: the server closes when done)."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(f"HEAD {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("path", ["/", f"/{NEXT}/", "/style.css", "/__publish__/"])
def test_head_gets_the_headers_of_get_without_a_body(served: Served, path: str) -> None:
    _, get_headers, body = fetch(served.url.rstrip("/") + path)
    head, _, rest = raw_head(served.url, path).partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].endswith(b"200 OK")
    assert rest == b""
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    assert headers["Content-Length"] == str(len(body)) == get_headers["Content-Length"]
    assert headers["Content-Type"] == get_headers["Content-Type"]


def serve_output(root: Path, port: str, *wrapper: str) -> subprocess.CompletedProcess[str]:
    """Run `publish serve --port PORT` (under `wrapper`) and wait for it to stop by itself."""
    command = [*wrapper, sys.executable, "-m", "publish", "--root", str(root), "serve"]
    return subprocess.run(
        [*command, "--port", port], capture_output=True, text=True, timeout=60, check=False
    )


def test_port_errors_come_before_the_serving_banner(tmp_path: Path) -> None:
    setpriv = requires("setpriv")["setpriv"]
    root = preview_site(tmp_path / "site")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        busy = serve_output(root, str(taken.getsockname()[1]))
    outside = serve_output(root, "70000")
    # without the capability to bind low ports (as any user but root has it)
    drop = [setpriv, "--bounding-set=-net_bind_service", "--inh-caps=-net_bind_service"]
    privileged = serve_output(root, "1", *drop)
    for result, words in [
        (busy, "Address already in use"),
        (outside, "70000 is not in the range"),
        (privileged, "Permission denied"),
    ]:
        assert result.returncode != 0
        assert "Serving" not in result.stdout and "Traceback" not in result.stderr
        assert words in result.stderr
    assert "--port:1:1: error: cannot listen on 127.0.0.1:1" in privileged.stderr
    assert not (root / "build").exists(), "nothing is built before the port is taken"


def test_serve_builds_only_into_the_preview_folder(tmp_path: Path) -> None:
    root = preview_site(tmp_path / "site")
    with serving(root, "--no-future", "--drafts") as served:
        assert str(root / "build" / "preview" / "site") in served.banner
        status, _, body = fetch(f"{served.url}{DRAFT}/")
        assert status == 200 and b"preview-banner" in body
        assert fetch(f"{served.url}{NEXT}/")[0] == 404, "--no-future leaves the queue out"
    assert not (root / "build" / "site").exists() and not (root / "build" / "email").exists()
