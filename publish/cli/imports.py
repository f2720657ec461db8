"""The import command: bring in a Substack, WordPress or Ghost archive as essays and readers."""

from __future__ import annotations

from pathlib import Path

import click

from publish.cli.common import show_problems
from publish.importers import SOURCES, ImportOptions, run_import


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
@click.pass_obj
def import_command(
    root: Path,
    source: str,
    path: Path,
    glossary: bool,
    dry_run: bool,
    uploads: Path | None,
    subscribers: Path | None,
) -> None:
    """Import a Substack export zip, a WordPress WXR file or a Ghost JSON export."""
    options = ImportOptions(
        glossary=glossary, dry_run=dry_run, uploads=uploads, subscribers=subscribers
    )
    report = run_import(root, source, path, options)
    show_problems(report.warnings)
    for line in report.lines():
        click.echo(line)
