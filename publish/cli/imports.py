"""The import command: bring in a Substack, WordPress or Ghost archive as essays and readers."""

from __future__ import annotations

import re
from pathlib import Path

import click

from publish.cli.common import show_problems
from publish.importers import SOURCES, ImportOptions, run_import
from publish.importers.ziplimits import ZipLimits, size_text

SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*$", re.IGNORECASE)
DEFAULTS = ZipLimits()


class ByteSize(click.ParamType):
    """A size such as `2GB`, `500MB` or a plain count of bytes (powers of 1024)."""

    name = "size"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None):
        """The size in bytes, or a usage error naming what is accepted."""
        if isinstance(value, int):
            return value
        match = SIZE.match(str(value))
        if not match:
            self.fail(f"'{value}' is not a size such as 500MB or 2GB", param, ctx)
        power = " KMGT".index(match[2].upper() or " ")
        return int(float(match[1]) * 1024**power)


@click.command("import")
@click.argument("source", type=click.Choice(sorted(SOURCES)))
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--glossary",
    is_flag=True,
    help="Write repeated notes to footnotes/<key>.md and cite them by key.",
)
@click.option("--dry-run", is_flag=True, help="Report what would be imported; write nothing.")
@click.option(
    "--uploads",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The old site's uploads folder (WordPress wp-content/uploads, Ghost "
    "content/images), to copy images from.",
)
@click.option(
    "--subscribers",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A subscriber CSV to import too (Ghost's members CSV, say).",
)
@click.option(
    "--max-unpacked-size",
    type=ByteSize(),
    default=size_text(DEFAULTS.total),
    show_default=True,
    help="A zip export may unpack to at most this much in all.",
)
@click.option(
    "--max-member-size",
    type=ByteSize(),
    default=size_text(DEFAULTS.member),
    show_default=True,
    help="Each file in a zip export may unpack to at most this much.",
)
@click.option(
    "--max-members",
    type=click.IntRange(min=1),
    default=DEFAULTS.members,
    show_default=True,
    help="A zip export may hold at most this many files.",
)
@click.option(
    "--max-ratio",
    type=click.IntRange(min=1),
    default=DEFAULTS.ratio,
    show_default=True,
    help="A file in a zip export over 1MB may unpack to at most this many times its packed size.",
)
@click.pass_obj
def import_command(
    root: Path,
    source: str,
    path: Path,
    glossary: bool,
    dry_run: bool,
    uploads: Path | None,
    subscribers: Path | None,
    max_unpacked_size: int,
    max_member_size: int,
    max_members: int,
    max_ratio: int,
) -> None:
    """Import a Substack export zip, a WordPress WXR file or a Ghost JSON export."""
    options = ImportOptions(
        glossary=glossary,
        dry_run=dry_run,
        uploads=uploads,
        subscribers=subscribers,
        limits=ZipLimits(
            total=max_unpacked_size, member=max_member_size, members=max_members, ratio=max_ratio
        ),
    )
    report = run_import(root, source, path, options)
    show_problems(report.warnings)
    for line in report.lines():
        click.echo(line)
