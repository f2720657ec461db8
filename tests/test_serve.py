"""Tests for `publish serve`: a real server on 127.0.0.1 that rebuilds and reloads."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import html

from publish.cli.main import cli
from publish.pipeline.build import BuildOptions
from publish.preview.serve import VERSION_PATH, BuildResult, Preview
from tests.tools import free_port
from tests.websites import TODAY, essay_file, fixture_site

WAIT_LIMIT = 30.0  # seconds to wait for a rebuild before giving up; not a speed assertion


def fetch(url: str) -> tuple[int, str]:
    """GET a URL; return the status and the body, also for error statuses."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def version(preview: Preview) -> dict[str, object]:
    """The preview's version endpoint, parsed."""
    return json.loads(fetch(preview.url.rstrip("/") + VERSION_PATH)[1])


def wait_for_version(preview: Preview, number: int) -> dict[str, object]:
    """Poll the version endpoint until the build number reaches `number`."""
    deadline = time.monotonic() + WAIT_LIMIT
    while time.monotonic() < deadline:
        state = version(preview)
        if state["version"] >= number:
            return state
        time.sleep(0.05)
    raise AssertionError(f"no build {number} within {WAIT_LIMIT}s: {version(preview)}")


@pytest.fixture
def preview(tmp_path: Path) -> Iterator[Preview]:
    """A started preview of a small fixture site; stopped afterwards."""
    root = fixture_site(tmp_path / "site", url="https://example.org/letters/", essays=2)
    reported: list[BuildResult] = []
    server = Preview(
        root, BuildOptions(today=TODAY), port=free_port(), report=reported.append, delay=0.1
    )
    server.reported = reported  # type: ignore[attr-defined]
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_serves_pages_with_the_reload_script_only_in_responses(preview: Preview) -> None:
    status, body = fetch(preview.url + "essay-1/")
    assert status == 200
    page = html.fromstring(body)
    scripts = [s.text for s in page.iter("script") if s.get("type") is None]
    assert len(scripts) == 1 and VERSION_PATH in scripts[0]
    on_disk = (preview.site_dir / "essay-1" / "index.html").read_text(encoding="utf-8")
    assert VERSION_PATH not in on_disk
    assert fetch(preview.url + "style.css")[0] == 200
    assert fetch(preview.url + "letters/essay-1/")[0] == 200  # the site's own sub-path
    status, body = fetch(preview.url + "no-such-page/")
    assert status == 404 and "not here" in body


def test_redirects_a_folder_without_its_slash(preview: Preview) -> None:
    with urllib.request.urlopen(preview.url + "archive", timeout=10) as response:
        assert response.url.endswith("/archive/")


def test_an_edit_rebuilds_and_bumps_the_version(preview: Preview) -> None:
    assert version(preview) == {"version": 1, "ok": True}
    essay = preview.root / "essays" / "02-essay.md"
    essay.write_text(essay_file("A Fresh Title", "2025-03-03", slug="essay-2"), encoding="utf-8")
    state = wait_for_version(preview, 2)
    assert state["ok"] is True
    status, body = fetch(preview.url + "essay-2/")
    assert status == 200
    assert html.fromstring(body).cssselect("h1")[0].text == "A Fresh Title"


def test_a_broken_essay_shows_an_error_page_and_the_server_keeps_running(preview: Preview) -> None:
    essay = preview.root / "essays" / "02-essay.md"
    good = essay.read_text(encoding="utf-8")
    essay.write_text(
        essay_file("Broken", "2025-03-03", "Cites a missing note[^nosuch].\n"), encoding="utf-8"
    )
    state = wait_for_version(preview, 2)
    assert state["ok"] is False
    status, body = fetch(preview.url)
    assert status == 500
    problems = [li.text_content() for li in html.fromstring(body).cssselect(".problems li")]
    assert any(p.startswith("essays/02-essay.md:") and "nosuch" in p for p in problems)
    assert VERSION_PATH in body
    failed = preview.reported[-1]  # type: ignore[attr-defined]
    assert not failed.ok and failed.problems
    essay.write_text(good, encoding="utf-8")
    assert wait_for_version(preview, 3)["ok"] is True
    assert fetch(preview.url)[0] == 200


def test_a_change_to_the_settings_rebuilds(preview: Preview) -> None:
    settings = preview.root / "publish.toml"
    settings.write_text(settings.read_text().replace("Fixture Letters", "Renamed Letters"))
    wait_for_version(preview, 2)
    title = html.fromstring(fetch(preview.url)[1]).cssselect(".site-title a")[0].text
    assert title == "Renamed Letters"


def test_the_serve_command_runs_until_interrupted(tmp_path: Path) -> None:
    root = fixture_site(tmp_path / "site", essays=1)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "publish",
        "--root",
        str(root),
        "serve",
        "--port",
        str(port),
        "--today",
        TODAY.isoformat(),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = ""
        while "Serving" not in line:
            line = process.stdout.readline()
            assert line or process.poll() is None, process.stderr.read()
        assert fetch(f"http://127.0.0.1:{port}/essay-1/")[0] == 200
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=WAIT_LIMIT)
    assert process.returncode == 0
    assert "Stopping." in output


def test_a_busy_port_is_refused_with_a_message_before_any_build(tmp_path: Path) -> None:
    root = fixture_site(tmp_path / "site", essays=1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["--root", str(root), "serve", "--port", str(port)])
    assert result.exit_code == 1
    assert f"--port:1:1: error: cannot listen on 127.0.0.1:{port}" in result.output
    assert "another port" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (root / "build").exists()


def test_a_templates_folder_made_while_serving_is_watched(preview: Preview) -> None:
    folder = preview.root / "templates"
    folder.mkdir()
    wait_for_version(preview, 2)
    (folder / "footer.html").write_text('<footer class="site-footer">Made here.</footer>\n')
    wait_for_version(preview, 3)
    footer = html.fromstring(fetch(preview.url)[1]).cssselect(".site-footer")[0]
    assert footer.text_content() == "Made here."


def footer_text(preview: Preview, wanted: str) -> str:
    """The served home page's footer, polled until it reads `wanted` (or WAIT_LIMIT)."""
    deadline = time.monotonic() + WAIT_LIMIT
    text = ""
    while time.monotonic() < deadline:
        status, body = fetch(preview.url)
        if status == 200:
            text = html.fromstring(body).cssselect(".site-footer")[0].text_content()
            if text == wanted:
                break
        time.sleep(0.05)
    return text


def test_an_edited_template_is_shown_after_the_rebuild(preview: Preview) -> None:
    """The builds load each template once (no check for changes at each use): the server's
    kept templates are made again when one is edited."""
    folder = preview.root / "templates"
    folder.mkdir()
    footer = folder / "footer.html"
    for words in ("First words.", "Second, longer words."):
        footer.write_text(f'<footer class="site-footer">{words}</footer>\n')
        assert footer_text(preview, words) == words
