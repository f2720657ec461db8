"""Shared fixtures: Debian's Chromium for pytest-playwright, a recording SMTP server, and the
Hypothesis profiles (in CI, `CI=true`: a fixed seed; everywhere: few examples, no deadline)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.tools import CHROMIUM, CHROMIUM_ARGS, RecordingSMTPServer, need_tool

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
def chromium_available() -> None:
    """Skip (or, in CI, fail) when Debian's Chromium is not installed."""
    need_tool(os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: apt-get install chromium")


@pytest.fixture(scope="session")
def browser_type_launch_args(
    browser_type_launch_args: dict[str, Any], chromium_available: None
) -> dict[str, Any]:
    """Launch the system Chromium headless; `playwright install` cannot work here."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture
def smtp_server() -> Iterator[RecordingSMTPServer]:
    """Yield a started RecordingSMTPServer on 127.0.0.1; stop it afterwards."""
    with RecordingSMTPServer() as server:
        yield server
