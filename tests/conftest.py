"""Shared fixtures: Debian's Chromium for pytest-playwright, and a recording SMTP server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.tools import CHROMIUM, CHROMIUM_ARGS, RecordingSMTPServer, need_tool


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
