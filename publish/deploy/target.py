"""What every deploy target offers, the build id that names a build, and the deploy record.

A build id is a hash of every file of `build/site/` (path and bytes), so two builds of the
same input have the same id and a rerun can tell that the live site is already this build.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import msgspec
from msgspec.structs import asdict

from publish.content.deploy_settings import SETTINGS_FILE
from publish.errors import PublishError
from publish.model import DeploySettings

RECORD_FILE = "deploy.json"
USERINFO = re.compile(r"(\w+://)[^/@\s]+@")


class DeployResult(msgspec.Struct, frozen=True):
    """What a deploy did: the build id now live, its release name and lines for the log."""

    build_id: str
    release: str
    log: tuple[str, ...] = ()
    changed: bool = True


class Target(Protocol):
    """One place the site can be deployed to."""

    def deploy(self, site_dir: Path, build_id: str) -> DeployResult:
        """Put `site_dir` live as build `build_id`; raise PublishError if that fails."""
        ...

    def rollback(self) -> DeployResult:
        """Make the previous release live again; raise PublishError if there is none."""
        ...


def site_files(site_dir: Path) -> list[tuple[str, Path]]:
    """Every file under `site_dir` as (posix relative path, path), sorted by path."""
    files = []
    for folder, _, names in os.walk(site_dir):
        for name in names:
            path = Path(folder) / name
            files.append((path.relative_to(site_dir).as_posix(), path))
    return sorted(files)


def build_id(site_dir: Path) -> str:
    """A short hash of every file's path and bytes: the same for two identical builds."""
    digest = hashlib.sha256()
    for relative, path in site_files(site_dir):
        digest.update(relative.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:12]


def release_name(build: str, now: datetime | None = None) -> str:
    """A release folder's name: UTC time (sorts by age) and build id."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%S%fZ}-{build}"


def build_of(release: str) -> str:
    """The build id in a release folder's name."""
    return release.rpartition("-")[2]


def failure(settings: DeploySettings, message: str) -> PublishError:
    """A deploy failure, located at the `target` line of publish.toml."""
    return PublishError.single(
        SETTINGS_FILE, settings.line, 1, f"deploy to {shown_target(settings)} failed: {message}"
    )


def shown_target(settings: DeploySettings) -> str:
    """The target as messages show it (a command target by its program only)."""
    if settings.scheme == "command":
        words = settings.location.split()
        return f"command:{words[0] if words else ''}"
    return redact(settings.target)


def redact(text: str) -> str:
    """`text` with the user:password (or token) part of any `scheme://user@host` hidden."""
    return USERINFO.sub(r"\1***@", text)


class DeployRecord(msgspec.Struct, frozen=True):
    """The last build put live, in the state folder: what a rerun compares with."""

    target: str
    build_id: str
    release: str
    deployed_at: str


def read_record(state_dir: Path) -> DeployRecord | None:
    """The last deploy on record, or None (never deployed, or an unreadable record)."""
    try:
        return DeployRecord(**json.loads((state_dir / RECORD_FILE).read_text("utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def write_record(state_dir: Path, record: DeployRecord) -> None:
    """Write the deploy record atomically."""
    state_dir.mkdir(parents=True, exist_ok=True)
    temporary = state_dir / f".{RECORD_FILE}.tmp"
    temporary.write_text(json.dumps(asdict(record), indent=2) + "\n", "utf-8")
    os.replace(temporary, state_dir / RECORD_FILE)
