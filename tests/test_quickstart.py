"""The quick start, as the docs write it: every shell block of docs/quickstart.md runs, in
order, in a fresh folder, and ends with the essay served from the deployed folder and in a
reader's inbox (a real SMTP server and a real HTTP server on 127.0.0.1).

The example addresses the page tells a newcomer to replace are replaced by local ones: the
site's address by the HTTP server's, the deploy folder by one under the test's folder, and
the relay by the local SMTP server (as an environment variable, which wins over the
environment file the page writes)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.deployservers import http_folder

REPO_ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = REPO_ROOT / "docs" / "quickstart.md"
README = REPO_ROOT / "README.md"
EXAMPLE_URL = "https://letters.example.org/"
EXAMPLE_FOLDER = "/var/www/letters"
SHELL_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def shell_blocks(path: Path) -> list[str]:
    """The fenced ```sh blocks of a Markdown file, in order, as written."""
    return SHELL_BLOCK.findall(path.read_text(encoding="utf-8"))


def command_lines(blocks: list[str]) -> list[str]:
    """Each command of the blocks, without comments and blank lines."""
    lines = (line.split("  #", 1)[0].strip() for block in blocks for line in block.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def publish_shim(folder: Path) -> Path:
    """A folder holding a `publish` command that runs this checkout's code."""
    folder.mkdir()
    shim = folder / "publish"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m publish "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    return folder


def test_the_quick_start_runs_to_a_live_essay_and_a_mailed_reader(tmp_path, smtp_server):
    blocks = shell_blocks(QUICKSTART)
    assert len(blocks) >= 6, "the quick start lost its commands"
    www = tmp_path / "www" / "letters"
    with http_folder(www) as site_url:
        script = "set -euo pipefail\n" + "\n".join(
            block.replace(EXAMPLE_URL, site_url).replace(EXAMPLE_FOLDER, str(www))
            for block in blocks
        )
        env = {
            **os.environ,
            "PATH": f"{publish_shim(tmp_path / 'bin')}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(REPO_ROOT),
            "HOME": str(tmp_path),
            "PUBLISH_SMTP_URL": f"smtp://127.0.0.1:{smtp_server.port}",
        }
        for name in ("PUBLISH_SECRET", "PUBLISH_BOUNCE_URL", "PUBLISH_SERVICE_SMTP_URL"):
            env.pop(name, None)
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        with urllib.request.urlopen(f"{site_url}a-summer-of-fewer-tabs/", timeout=10) as page:
            assert "A Summer of Fewer Tabs" in page.read().decode("utf-8")

    test_copy = smtp_server.messages_to("you@example.org")
    assert len(test_copy) == 1
    mailed = smtp_server.messages_to("reader@example.net")
    assert len(mailed) == 1, result.stdout
    message = mailed[0][2]
    assert message["Subject"] == "A Summer of Fewer Tabs"
    assert "X-Publish-Test" not in message
    text = message.get_body(("plain",)).get_content()
    assert "For one summer I kept a single browser tab open" in text


def test_the_readme_quick_start_is_the_docs_quick_start():
    """Every command the README's quick start shows is one the tested page runs."""
    readme_part = README.read_text(encoding="utf-8").split("## Quick start", 1)[1]
    readme_commands = command_lines(SHELL_BLOCK.findall(readme_part.split("\n## ", 1)[0]))
    assert readme_commands, "the README lost its quick start"
    docs_commands = set(command_lines(shell_blocks(QUICKSTART)))
    assert [c for c in readme_commands if c not in docs_commands] == []
