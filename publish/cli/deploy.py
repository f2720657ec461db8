"""The deploy command: build the site and put it where readers read it (no mail is sent)."""

from __future__ import annotations

from pathlib import Path

import click

from publish.cli.common import (
    TODAY_OPTION,
    load_environment_settings,
    parse_today,
    show_problems,
    site_today,
)
from publish.content.deploy_settings import NOT_DEPLOYED
from publish.content.settings import SETTINGS_FILE
from publish.deploy.golive import deploy_and_ping
from publish.deploy.golive import rollback as deploy_rollback
from publish.errors import PublishError
from publish.pipeline.build import BuildOptions, build


@click.command("deploy")
@TODAY_OPTION
@click.option("--rollback", is_flag=True, help="Make the previous release live again.")
@click.pass_obj
def deploy_command(root: Path, today_text: str | None, rollback: bool) -> None:
    """Build the site, then deploy it to the [deploy] target (no mail is sent)."""
    settings = load_environment_settings(root)
    if settings.deploy is None:
        raise PublishError.single(SETTINGS_FILE, 1, 1, NOT_DEPLOYED.removeprefix("note: "))
    if rollback:
        result = deploy_rollback(root, settings)
    else:
        report = build(root, BuildOptions(today=parse_today(today_text) or site_today(root)))
        show_problems(report.warnings)
        result = deploy_and_ping(root, settings, report.site_dir)
    for line in result.log:
        click.echo(line)
