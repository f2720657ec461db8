"""The `publish` command line: the group, its error handling and exit codes, and main().

Exit codes: 0 done; 1 the command could not do its job (every reason printed as
`path:line:col: error: ...`); 2 the command line itself was wrong (Click's usage errors).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click

from publish import __version__
from publish.cli import deploy, imports, mail, site
from publish.cli.common import (
    show_problems,
)
from publish.content.settings import load_settings
from publish.errors import PublishError
from publish.state.db import database_error, database_path


class PublishGroup(click.Group):
    """A click group that shows PublishError problems and exits 1, without a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PublishError as exc:
            show_problems(exc.problems)
            ctx.exit(1)
        except OSError as exc:
            click.echo(f"{exc.filename or 'publish'}: error: {exc.strerror or exc}", err=True)
            ctx.exit(1)
        except sqlite3.DatabaseError as exc:
            show_problems(database_error(_state_file(ctx.obj), exc).problems)
            ctx.exit(1)


def _state_file(root: Path | None) -> str:
    """The state database's path, for messages, as far as the settings can tell."""
    try:
        return str(database_path(root, load_settings(root))) if root else "state"
    except PublishError:
        return str(root / "state")


@click.group(cls=PublishGroup)
@click.version_option(__version__, prog_name="publish")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True, help="The site folder.")
@click.pass_context
def cli(ctx: click.Context, root: Path) -> None:
    """Publish a monthly essay to the web, to inboxes and to feeds."""
    ctx.obj = root.resolve()


COMMANDS = (site.init, site.new, site.check, site.build_command, site.serve, site.clean,
            site.schedule_command, mail.subscriptions, mail.subscribers_group, mail.send,
            mail.run_command, mail.cron, deploy.deploy_command,
            imports.import_command)
for command in COMMANDS:
    cli.add_command(command)


def main() -> None:
    """Run the command line."""
    cli(prog_name="publish")
