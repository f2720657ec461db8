"""The environment file: SMTP settings and PUBLISH_SECRET in a file the operator controls.

Each test runs `publish` as a separate process with a clean environment (no PUBLISH_*
variables), as cron or systemd would, against a real aiosmtpd server on 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from publish.content.settings import load_settings
from publish.outputs.urls import unsubscribe_url as unsubscribe_link
from publish.state import db
from publish.state.subscribers import add_subscriber, find_subscriber, unsubscribe_token
from tests.mailsite import SETTINGS, SLUG, copy_site, make_mail_site
from tests.servicesite import service_site
from tests.tools import RecordingSMTPServer, free_port, requires

FILE_SECRET = "file-secret-4242-abcdef"
PASSWORD = "env-file-Pa55word"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of this process without any PUBLISH_* variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISH_")}
    return {**env, "PUBLISH_RETRY_BACKOFF": "0.01", **extra}


def publish(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m publish --root ROOT ARGS…` in a clean environment."""
    return subprocess.run(
        [sys.executable, "-m", "publish", "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env or clean_env(),
    )


def write_env_file(path: Path, text: str, mode: int = 0o600) -> Path:
    """Write an environment file with the given mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The email fixture site, built once for the module."""
    return make_mail_site(tmp_path_factory.mktemp("environment") / "built")


@pytest.fixture
def site(built_site: Path, tmp_path: Path) -> Path:
    """A fresh copy of the built site with two subscribers."""
    root = copy_site(built_site, tmp_path / "site")
    with closing(db.connect(root / "state" / "publish.db")) as conn:
        for address in ("ann@example.org", "bob@example.net"):
            add_subscriber(conn, address, name=address.split("@")[0].title())
    return root


@pytest.fixture
def server() -> Iterator[RecordingSMTPServer]:
    """A started recording SMTP server."""
    with RecordingSMTPServer() as running:
        yield running


def env_text(server: RecordingSMTPServer, secret: str = FILE_SECRET) -> str:
    """An environment file pointing at `server`, with a comment, a blank line and quotes."""
    return (
        f"# mail for the letters\n\nPUBLISH_SMTP_URL=smtp://127.0.0.1:{server.port}\n"
        f"PUBLISH_SECRET='{secret}'\n"
    )


def test_send_takes_smtp_settings_and_secret_from_the_environment_file(
    site: Path, server: RecordingSMTPServer
) -> None:
    write_env_file(site / "state" / "publish.env", env_text(server))
    result = publish(site, "send", SLUG)
    assert result.returncode == 0, result.stderr
    assert sorted(r for _, rcpts, _ in server.messages for r in rcpts) == [
        "ann@example.org",
        "bob@example.net",
    ]
    settings = load_settings(site)
    with closing(db.connect(site / "state" / "publish.db")) as conn:
        ann = find_subscriber(conn, "ann@example.org")
    assert ann is not None
    link = unsubscribe_link(settings, unsubscribe_token(FILE_SECRET.encode(), ann.id))
    [(_, _, message)] = server.messages_to("ann@example.org")
    assert f"<{link}>" in str(message["List-Unsubscribe"])
    assert not (site / "state" / "secret.key").exists()
    assert FILE_SECRET not in result.stdout + result.stderr


def test_the_real_environment_wins_over_the_file(site: Path, server: RecordingSMTPServer) -> None:
    with RecordingSMTPServer() as other:
        write_env_file(site / "state" / "publish.env", env_text(other))
        env = clean_env(PUBLISH_SMTP_URL=f"smtp://127.0.0.1:{server.port}")
        result = publish(site, "send", SLUG, env=env)
        assert result.returncode == 0, result.stderr
        assert len(server.messages) == 2 and other.messages == []


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o660, 0o606])
def test_an_environment_file_others_can_read_is_refused(
    site: Path, server: RecordingSMTPServer, mode: int
) -> None:
    path = write_env_file(
        site / "state" / "publish.env",
        env_text(server).replace("127.0.0.1", f"editor:{PASSWORD}@127.0.0.1"),
        mode,
    )
    for args in (("send", SLUG), ("run", "--today", "2027-01-05T10:00")):
        result = publish(site, *args)
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        first = result.stderr.splitlines()[0]
        assert first.startswith("state/publish.env:1:1: error: ")
        assert f"(mode {mode:04o}); run: chmod 600 {path.resolve()}" in first
        assert FILE_SECRET not in result.stdout + result.stderr
        assert PASSWORD not in result.stdout + result.stderr
    assert server.messages == []
    with closing(db.connect(site / "state" / "publish.db")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == 0


def test_a_line_that_is_not_key_value_is_an_error_that_does_not_show_it(
    site: Path, server: RecordingSMTPServer
) -> None:
    write_env_file(
        site / "state" / "publish.env", env_text(server) + f"\nthis is {PASSWORD} not a line\n"
    )
    result = publish(site, "send", SLUG)
    assert result.returncode == 1
    assert result.stderr.startswith("state/publish.env:6:1: error: not a KEY=VALUE line")
    assert PASSWORD not in result.stderr and server.messages == []


def test_a_misspelt_variable_is_a_warning_with_a_suggestion(
    site: Path, server: RecordingSMTPServer
) -> None:
    write_env_file(site / "state" / "publish.env", env_text(server) + "PUBLISH_SECRT=oops\n")
    result = publish(site, "send", SLUG)
    assert result.returncode == 0, result.stderr
    assert (
        "state/publish.env:5:1: warning: unknown variable 'PUBLISH_SECRT' "
        "(did you mean 'PUBLISH_SECRET'?)"
    ) in result.stderr


def test_every_variable_publish_reads_is_known_to_the_environment_file(
    site: Path, server: RecordingSMTPServer
) -> None:
    """Each PUBLISH_* variable the package reads can sit in the file without a warning."""
    read = set()
    for path in (Path(__file__).parent.parent / "publish").rglob("*.py"):
        read |= set(re.findall(r"PUBLISH_[A-Z_]+[A-Z]", path.read_text(encoding="utf-8")))
    meant_for_operators = {name for name in read if "_TEST_" not in name} - {"PUBLISH_NO_CACHE"}
    lines = "".join(f"{name}=x\n" for name in sorted(meant_for_operators - {"PUBLISH_SMTP_URL"}))
    lines = lines.replace("PUBLISH_SECRET=x", f"PUBLISH_SECRET={FILE_SECRET}")
    lines = lines.replace("PUBLISH_RETRY_BACKOFF=x", "PUBLISH_RETRY_BACKOFF=0")
    write_env_file(
        site / "state" / "publish.env", f"PUBLISH_SMTP_URL=smtp://127.0.0.1:{server.port}\n" + lines
    )
    result = publish(site, "status")
    assert "unknown variable" not in result.stdout + result.stderr, result.stderr


def test_the_settings_can_name_another_environment_file(
    built_site: Path, tmp_path: Path, server: RecordingSMTPServer
) -> None:
    root = copy_site(built_site, tmp_path / "elsewhere")
    (root / "publish.toml").write_text(
        SETTINGS + '\n[state]\nenvironment_file = "private/mail.env"\n', encoding="utf-8"
    )
    with closing(db.connect(root / "state" / "publish.db")) as conn:
        add_subscriber(conn, "cy@example.com")
    write_env_file(root / "state" / "publish.env", "PUBLISH_SMTP_URL=smtp://127.0.0.1:1\n")
    write_env_file(root / "private" / "mail.env", env_text(server))
    result = publish(root, "send", SLUG)
    assert result.returncode == 0, result.stderr
    assert [rcpts for _, rcpts, _ in server.messages] == [["cy@example.com"]]


def test_the_crontab_line_loads_the_file_and_the_unit_names_it(
    site: Path, server: RecordingSMTPServer
) -> None:
    env_file = write_env_file(site / "state" / "publish.env", env_text(server))
    printed = publish(site, "cron")
    assert printed.returncode == 0, printed.stderr
    assert FILE_SECRET not in printed.stdout
    lines = printed.stdout.splitlines()
    assert f"EnvironmentFile=-{env_file}" in lines
    [crontab] = [line for line in lines if re.match(r"^\d+ \* \* \* \* ", line)]
    command = crontab.split(" ", 5)[5]
    shell = requires("sh")["sh"]
    cron_env = {"PATH": "/usr/bin:/bin", "HOME": str(site), "SHELL": shell}
    ran = subprocess.run(
        [shell, "-c", command],
        env=cron_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, (ran.stdout, ran.stderr)
    log = (site / "state" / "run.log").read_text(encoding="utf-8")
    # on the wall clock the run may find the fixture's essay of 2026-12-01 09:00 due: either
    # way it must have reached the mail server named in the file, or had nothing to send
    assert re.search(r"nothing due|: \d+ sent, 0 failed", log) and "PUBLISH_SMTP_URL" not in log
    env_file.unlink()  # without the file, the same line stops and says what is missing
    subprocess.run([shell, "-c", command], env=cron_env, timeout=120, check=False)
    log = (site / "state" / "run.log").read_text(encoding="utf-8")
    assert "PUBLISH_SMTP_URL:1:1: error: is not set" in log


def test_the_subscription_service_mails_through_the_file_settings(
    tmp_path: Path, server: RecordingSMTPServer
) -> None:
    port = free_port()
    root = service_site(tmp_path / "site", port)
    write_env_file(root / "state" / "publish.env", env_text(server))
    service = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "publish",
            "--root",
            str(root),
            "subscriptions",
            "serve",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    try:
        base = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 30
        while True:
            try:
                data = urllib.parse.urlencode({"email": "new@example.org", "website": ""})
                urllib.request.urlopen(base + "subscribe", data=data.encode(), timeout=10)
                break
            except OSError:
                assert time.monotonic() < deadline and service.poll() is None
                time.sleep(0.2)
        while not server.messages_to("new@example.org") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.messages_to("new@example.org")
        assert not (root / "state" / "outbox").exists()
    finally:
        service.terminate()
        service.communicate(timeout=30)


def test_cron_quotes_paths_with_spaces(tmp_path: Path, built_site: Path) -> None:
    root = copy_site(built_site, tmp_path / "a site")
    printed = publish(root, "cron")
    unit = [line for line in printed.stdout.splitlines() if line.startswith("EnvironmentFile=")]
    assert unit == [f"EnvironmentFile=-{root / 'state' / 'publish.env'}"]
    assert f"cd {shlex.quote(str(root))} " in printed.stdout
