"""The `publish` command line: the only module that prints or exits."""

from __future__ import annotations

import shutil
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from publish import __version__
from publish.build import BuildOptions, build, render_outputs
from publish.errors import Problem, PublishError
from publish.essays import ESSAYS_DIR, slugify
from publish.settings import load_settings
from publish.site import load_site, select_published

SCAFFOLD = Path(__file__).parent / "scaffold"


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


def show_problems(problems: list[Problem]) -> None:
    """Print each problem on its own line to stderr, then a count."""
    for problem in problems:
        click.echo(problem.format(), err=True)
    errors = sum(p.is_error for p in problems)
    warnings = len(problems) - errors
    if problems:
        click.echo(f"{errors} error(s), {warnings} warning(s)", err=True)


def site_today(root: Path) -> date:
    """Today's date in the site's time zone (UTC if the settings cannot be read)."""
    try:
        zone = ZoneInfo(load_settings(root).site.timezone)
    except PublishError:
        zone = ZoneInfo("UTC")
    return datetime.now(zone).date()


def parse_today(value: str | None) -> date | datetime | None:
    """A `--today` value: YYYY-MM-DD, or an ISO date and time."""
    if value is None:
        return None
    try:
        if len(value) <= 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date (YYYY-MM-DD) or "
                                 "date and time (YYYY-MM-DDTHH:MM)") from None


TODAY_OPTION = click.option("--today", "today_text", metavar="DATE",
                            help="Treat this date (or ISO date-time) as now.")


@click.group(cls=PublishGroup)
@click.version_option(__version__, prog_name="publish")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True, help="The site folder.")
@click.pass_context
def cli(ctx: click.Context, root: Path) -> None:
    """Publish a monthly essay to the web, to inboxes and to feeds."""
    ctx.obj = root.resolve()


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--title", default="My Monthly Letter", help="The site's title.")
@click.option("--author", default="A. Writer", help="The author's name.")
def init(directory: Path, title: str, author: str) -> None:
    """Create a new working site in DIRECTORY."""
    if directory.exists() and any(directory.iterdir()):
        raise click.ClickException(f"'{directory}' is not empty; choose a new folder")
    values = {"title": title, "author": author, "today": date.today().isoformat()}
    for source in sorted(SCAFFOLD.rglob("*")):
        if source.is_dir() or "__pycache__" in source.parts:
            continue
        relative = source.relative_to(SCAFFOLD).as_posix().replace("gitignore", ".gitignore")
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_fill(source.read_text(encoding="utf-8"), values), encoding="utf-8")
    (directory / "templates").mkdir(exist_ok=True)
    click.echo(f"Created a new site in {directory}. Next: publish --root {directory} build")


def _fill(text: str, values: dict[str, str]) -> str:
    """Replace `{name}` placeholders in a scaffold file."""
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


@cli.command()
@click.argument("title")
@click.pass_obj
def new(root: Path, title: str) -> None:
    """Start a new essay called TITLE in essays/<slug>.md."""
    slug = slugify(title)
    path = root / ESSAYS_DIR / f"{slug}.md"
    if path.exists():
        raise click.ClickException(f"{path.relative_to(root)} already exists; not overwriting it")
    path.parent.mkdir(parents=True, exist_ok=True)
    quoted = title.replace("\\", "\\\\").replace('"', '\\"')
    path.write_text(
        "---\n"
        f'title: "{quoted}"\n'
        'subtitle: ""\n'
        "tags: []\n"
        "# date: 2026-01-06   (leave out: the schedule gives it the next free slot)\n"
        "draft: true\n"
        "---\n"
        "Write the first paragraph here; it becomes the summary unless you set one.\n",
        encoding="utf-8",
    )
    click.echo(f"Wrote {path.relative_to(root)} (a draft: set draft: false when it is ready)")


@cli.command()
@TODAY_OPTION
@click.pass_obj
def check(root: Path, today_text: str | None) -> None:
    """Report every problem in the site; exit 1 if there is any error."""
    site, problems = load_site(root)
    today = parse_today(today_text) or site_today(root)
    render_outputs(select_published(site, today, drafts=True, future=True))
    show_problems(problems)
    click.echo(f"{len(site.essays)} essay(s), {len(site.glossary.entries)} glossary term(s): OK")


@cli.command("build")
@TODAY_OPTION
@click.option("--drafts", is_flag=True, help="Include drafts.")
@click.option("--future", is_flag=True, help="Include essays dated after today.")
@click.pass_obj
def build_command(root: Path, today_text: str | None, drafts: bool, future: bool) -> None:
    """Build the web site, feeds and emails into build/."""
    today = parse_today(today_text) or site_today(root)
    report = build(root, BuildOptions(today=today, drafts=drafts, future=future))
    show_problems(report.warnings)
    click.echo(f"Built {len(report.published)} essay(s), {report.files} file(s) "
               f"into {report.site_dir}")


@cli.command()
@click.pass_obj
def clean(root: Path) -> None:
    """Remove the build folder."""
    shutil.rmtree(root / "build", ignore_errors=True)
    click.echo(f"Removed {root / 'build'}")


def main() -> None:
    """Run the command line."""
    cli(prog_name="publish")


if __name__ == "__main__":
    sys.exit(main())
