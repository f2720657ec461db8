"""The `publish` command line: the group, its error handling and exit codes, and main().

Exit codes: 0 done; 1 the command could not do its job (every reason printed as
`path:line:col: error: ...`); 2 the command line itself was wrong (Click's usage errors).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import os
import sys
import threading
from pathlib import Path

import click

from publish import __version__
from publish.support.collector import loading

# Each command by name: the module of publish.cli that holds it, and its function there.
# A command's module (and what it imports) is loaded only when that command runs, so
# `publish --version` starts at the speed of click alone.
COMMANDS = {
    "init": ("site", "init"),
    "new": ("site", "new"),
    "check": ("site", "check"),
    "build": ("build", "build_command"),
    "serve": ("site", "serve"),
    "clean": ("site", "clean"),
    "schedule": ("site", "schedule_command"),
    "subscriptions": ("mail", "subscriptions"),
    "subscribers": ("mail", "subscribers_group"),
    "send": ("mail", "send"),
    "run": ("mail", "run_command"),
    "cron": ("mail", "cron"),
    "bounces": ("bounces", "bounces_command"),
    "deploy": ("deploy", "deploy_command"),
    "import": ("imports", "import_command"),
    "doctor": ("doctor", "doctor"),
    "status": ("status", "status_command"),
    "stats": ("status", "stats_command"),
    "replies": ("fediverse", "replies_command"),
    "move": ("fediverse", "move_command"),
    "follow": ("fediverse", "follow_command"),
}


class PublishGroup(click.Group):
    """A click group that loads each command when it is asked for, shows PublishError
    problems and exits 1, without a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command's name, A to Z."""
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        """The command called `name`, its module imported now (see `loading`); None for an
        unknown name."""
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name]
        with loading():
            command = getattr(importlib.import_module(f"publish.cli.{module}"), attribute)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context):
        """Run the command; what it froze as it loaded (see `loading`) is scanned again once
        it ends, for a process that runs commands in turn (as the tests do)."""
        with loading():
            from publish.cli.common import show_problems
            from publish.errors import PublishError  # here: `--version` loads no msgspec

        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise with_docs_pointer(exc) from None
        except PublishError as exc:
            show_problems(exc.problems)
            ctx.exit(1)
        except OSError as exc:
            click.echo(f"{exc.filename or 'publish'}: error: {exc.strerror or exc}", err=True)
            ctx.exit(1)
        except loaded_database_errors() as exc:
            from publish.state.db import database_error  # loaded only when needed

            show_problems(database_error(_state_file(ctx.obj), exc).problems)
            ctx.exit(1)
        finally:
            gc.unfreeze()


def loaded_database_errors() -> tuple[type[Exception], ...]:
    """SQLite's DatabaseError once a command has loaded sqlite3, else nothing: an error of
    the state database can come only from a loaded sqlite3, and a command that never opens
    the database (a build of a site without state) should not load it to catch one."""
    sqlite3 = sys.modules.get("sqlite3")
    return (sqlite3.DatabaseError,) if sqlite3 is not None else ()


def with_docs_pointer(exc: click.UsageError) -> click.UsageError:
    """A command-line mistake, its message followed by the docs of the command it was in."""
    from publish.cli.docslinks import command_docs_url

    if exc.ctx is not None:
        # The command's words below the root, whatever the root was called (`python -m`).
        words = exc.ctx.command_path.split()[1:]
        exc.message = f"{exc.message}\n  see: {command_docs_url(' '.join(['publish', *words]))}"
    return exc


def _state_file(root: Path | None) -> str:
    """The state database's path, for messages, as far as the settings can tell."""
    from publish.content.settings import load_settings
    from publish.errors import PublishError
    from publish.state.db import database_path

    try:
        return str(database_path(root, load_settings(root))) if root else "state"
    except PublishError:
        return str(root / "state")


@click.group(cls=PublishGroup)
@click.version_option(__version__, prog_name="publish")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="The site folder.",
)
@click.pass_context
def cli(ctx: click.Context, root: Path) -> None:
    """Publish a monthly essay to the web, to inboxes and to feeds."""
    ctx.obj = root.resolve()


def main() -> None:
    """Run the command line, then end the process at once (see `end_process`)."""
    try:
        cli(prog_name="publish")
    except SystemExit as exc:  # how Click ends every command
        end_process(exc.code)
        raise


def end_process(code: object) -> None:
    """End the process with `code` without tearing the interpreter down: the exit handlers
    run and the output is flushed, but the thousands of objects a build leaves are not freed
    one by one (a tenth of a small rebuild's time). Returns, for the ordinary exit, while
    another thread runs (it is waited for), a profiler or tracer listens (it writes its
    report at the end) or the code is a message rather than a number."""
    if code is not None and not isinstance(code, int):
        return
    if threading.active_count() > 1 or sys.getprofile() or sys.gettrace():
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    os._exit(code or 0)
