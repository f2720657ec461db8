"""Shared fixtures: Debian's Chromium for pytest-playwright, a recording SMTP server (and one
the environment points publish at), a spy on essay parsing, a copy
of the example site, the Hypothesis profiles (in CI, `CI=true`: a fixed seed; everywhere: few
examples, no deadline), and a guard that fails the run if a test wrote into the checkout."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.servicesite import harness  # noqa: F401 (the service tests' fixture)
from tests.tools import CHROMIUM_ARGS, RecordingSMTPServer, requires

settings.register_profile(
    "ci",
    derandomize=True,  # the same examples on every run: a red build is never a fluke
    max_examples=25,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("many", max_examples=500, deadline=None)  # a deeper search, by hand
default_profile = "ci" if os.environ.get("CI", "").lower() == "true" else "dev"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", default_profile))


@pytest.fixture(scope="session")
def chromium_available() -> str:
    """Debian's Chromium; skip (or, in CI, fail) when it is not installed."""
    return requires("chromium")["chromium"]


@pytest.fixture(scope="session")
def browser_type_launch_args(
    browser_type_launch_args: dict[str, Any], chromium_available: str
) -> dict[str, Any]:
    """Launch the system Chromium headless; `playwright install` cannot work here."""
    return {
        **browser_type_launch_args,
        "executable_path": chromium_available,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture
def smtp_server() -> Iterator[RecordingSMTPServer]:
    """Yield a started RecordingSMTPServer on 127.0.0.1; stop it afterwards."""
    with RecordingSMTPServer() as server:
        yield server


@pytest.fixture
def relay(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingSMTPServer]:
    """A real SMTP relay on 127.0.0.1, with the environment pointing publish at it."""
    with RecordingSMTPServer() as server:
        monkeypatch.setenv("PUBLISH_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
        monkeypatch.setenv("PUBLISH_SECRET", "test-secret")
        monkeypatch.setenv("PUBLISH_RETRY_BACKOFF", "0")
        yield server


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The essay files actually parsed (not served from the cache), in order."""
    import publish.content.essays

    seen: list[str] = []
    real = publish.content.essays.read_essay

    def spy(path, root, settings, glossary, raw=None):
        seen.append(path.name)
        return real(path, root, settings, glossary, raw)

    monkeypatch.setattr(publish.content.essays, "read_essay", spy)
    yield seen


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    """A copy of the repository's example site in tmp_path (a test that loads or builds the
    site in place leaves its cache in the checkout)."""
    from tests.websites import example_site

    return example_site(tmp_path / "example")


CHECKOUT = Path(__file__).resolve().parent.parent
UNWATCHED = {
    ".venv",
    "node_modules",
    "test-results",
    ".hypothesis",
    "__pycache__",
    ".git",
    ".pytest_cache",
    ".ruff_cache",
}  # tools' own folders, and the screenshots
_checkout_before: set[str] = set()


def checkout_listing() -> set[str]:
    """Every file and folder in the checkout, outside the folders tools keep for themselves."""
    found: set[str] = set()
    for folder, subfolders, files in os.walk(CHECKOUT):
        subfolders[:] = [name for name in subfolders if name not in UNWATCHED]
        base = Path(folder).relative_to(CHECKOUT)
        found.update((base / name).as_posix() for name in subfolders + files)
    return found


def pytest_sessionstart(session: pytest.Session) -> None:
    """Note what the checkout holds before any test runs."""
    _checkout_before.update(checkout_listing())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if the tests left anything new in the checkout, or removed anything."""
    after = checkout_listing()
    added, removed = sorted(after - _checkout_before), sorted(_checkout_before - after)
    if not added and not removed:
        return
    lines = [f"the tests wrote into the checkout {CHECKOUT} (use tmp_path):"]
    lines += [f"  new: {path}" for path in added[:20]] + [f"  gone: {path}" for path in removed]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for line in lines:
        if reporter is not None:
            reporter.write_line(line, red=True, bold=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
