"""Deploy the built site and prove it live: the step `publish run` takes before recording.

A deploy is skipped when the deploy record (`deploy.json` in the state folder) says this
very build is already live at this target; verify still runs, so a run that deployed but
could not see the new build try again next hour without uploading it again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec

from publish.deploy.commandtarget import CommandTarget
from publish.deploy.dirtarget import DirTarget
from publish.deploy.gittarget import GitTarget
from publish.deploy.rsynctarget import RsyncTarget
from publish.deploy.s3target import S3Target
from publish.deploy.target import (
    DeployRecord,
    DeployResult,
    Target,
    build_id,
    read_record,
    shown_target,
    write_record,
)
from publish.deploy.verify import ping_hub, verify_live
from publish.errors import Problem, PublishError
from publish.model import DeploySettings, Settings, Site
from publish.state.db import database_path


class GoLive(msgspec.Struct, frozen=True):
    """What the deploy and verify step did: log lines, and the problem if it failed."""

    log: tuple[str, ...]
    problem: Problem | None = None


def make_target(settings: DeploySettings, root: Path) -> Target:
    """The target `[deploy] target` names."""
    if settings.scheme == "dir":
        return DirTarget(settings, root)
    if settings.scheme == "rsync":
        return RsyncTarget(settings)
    if settings.scheme == "git":
        return GitTarget(settings)
    if settings.scheme == "s3":
        return S3Target(settings)
    return CommandTarget(settings)


def deploy_build(root: Path, settings: Settings, site_dir: Path) -> DeployResult:
    """Deploy `site_dir` unless the record says this build is live there; record it."""
    deploy = settings.deploy
    state_dir = database_path(root, settings).parent
    build = build_id(site_dir)
    record = read_record(state_dir)
    if record is not None and (record.target, record.build_id) == (deploy.target, build):
        return DeployResult(
            build,
            record.release,
            (f"build {build} is already live at {shown_target(deploy)}; not deploying it again",),
            changed=False,
        )
    result = make_target(deploy, root).deploy(site_dir, build)
    write_record(
        state_dir,
        DeployRecord(
            deploy.target,
            result.build_id,
            result.release,
            datetime.now(UTC).isoformat(timespec="seconds"),
        ),
    )
    return result


def deploy_and_ping(root: Path, settings: Settings, site_dir: Path) -> DeployResult:
    """`publish deploy`: deploy the build, then ping the WebSub hub if it changed."""
    result = deploy_build(root, settings, site_dir)
    if result.changed and settings.deploy.websub_hub:
        return DeployResult(
            result.build_id, result.release, (*result.log, ping_hub(settings)), result.changed
        )
    return result


def rollback(root: Path, settings: Settings) -> DeployResult:
    """Make the previous release live again, and record it as the live build."""
    result = make_target(settings.deploy, root).rollback()
    write_record(
        database_path(root, settings).parent,
        DeployRecord(
            settings.deploy.target,
            result.build_id,
            result.release,
            datetime.now(UTC).isoformat(timespec="seconds"),
        ),
    )
    return result


def go_live(root: Path, site: Site, site_dir: Path, slugs: list[str]) -> GoLive:
    """Deploy, then verify that the essays `slugs` are live, then ping the WebSub hub.

    Without `[deploy]` nothing happens (the web server serves build/site/ itself).
    """
    deploy = site.settings.deploy
    if deploy is None:
        return GoLive(())
    log: list[str] = []
    try:
        result = deploy_build(root, site.settings, site_dir)
        log += result.log
        essays = [essay for essay in site.essays if essay.slug in slugs]
        log += verify_live(site, essays, deploy.verify_timeout)
    except PublishError as exc:
        return GoLive(tuple(log), exc.problems[0])
    if deploy.websub_hub and (result.changed or slugs):
        log.append(ping_hub(site.settings))
    return GoLive(tuple(log))
