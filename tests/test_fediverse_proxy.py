"""The guide's nginx routes (docs/guide/fediverse.md) in front of the service and the built
site: a Fedify peer finds the actor by WebFinger through nginx and follows it (the signed
host survives the proxy), and the build's Articles are served as ActivityPub JSON."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from publish.cli.main import cli
from publish.service.app import create_app
from tests.fedipeer import fedify_peer, fediverse_settings, running_service
from tests.sitebuilder import essay_text, make_site
from tests.tools import REPO_ROOT, free_port, running_nginx


def guide_nginx_server(root: Path, service_port: int, nginx_port: int) -> str:
    """The guide's nginx `server` block, on a loopback port without TLS, serving `root`."""
    guide = (REPO_ROOT / "docs" / "guide" / "fediverse.md").read_text(encoding="utf-8")
    [block] = re.findall(r"```nginx\n(.*?)```", guide, re.S)
    assert "listen 443 ssl;" in block and "root /var/www/letters;" in block
    block = block.replace("listen 443 ssl;", f"listen 127.0.0.1:{nginx_port};")
    block = block.replace("root /var/www/letters;", f"root {root};")
    return block.replace("127.0.0.1:8001;", f"127.0.0.1:{service_port};")


def test_through_the_guides_nginx_a_fedify_peer_follows_and_reads_the_article(
    tmp_path: Path,
) -> None:
    service_port, nginx_port = free_port(), free_port()
    essays = {"01-first": essay_text("First Letter", "About reading.\n", date="2026-01-06")}
    root = make_site(tmp_path / "site", essays=essays, settings=fediverse_settings(nginx_port))
    built = CliRunner().invoke(cli, ["--root", str(root), "build"])
    assert built.exit_code == 0, built.output
    server = guide_nginx_server(root / "build" / "site", service_port, nginx_port)
    base = f"http://127.0.0.1:{nginx_port}/"
    with (
        running_nginx(tmp_path / "nginx", server),
        running_service(create_app(root), service_port),
        fedify_peer(tmp_path / "peer.log") as peer,
    ):
        request = urllib.request.Request(
            f"{base}activitypub/articles/first-letter.json",
            headers={"Accept": "application/activity+json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.headers["Content-Type"] == "application/activity+json"
            assert b'"type": "Article"' in answer.read()
        resource = f"acct:letters@127.0.0.1:{nginx_port}"
        follow = peer.control(
            "follow", webfinger=f"{base}.well-known/webfinger?resource={resource}"
        )
        assert follow["actor"] == f"{base}activitypub/actor"
        accepted = peer.wait_for(lambda state: state["accepted"])["accepted"]
        assert accepted[0]["follow"] == follow["follow"]
