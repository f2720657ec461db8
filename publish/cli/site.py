"""The site's commands: init, new, check, build, serve (the preview), clean, schedule."""

from __future__ import annotations

import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from publish.cli.common import (
    STRICT_OPTION,
    TODAY_OPTION,
    parse_today,
    show_problems,
    site_moment,
    site_today,
)
from publish.content.deploy_settings import NOT_DEPLOYED
from publish.content.essays import cap_slug, slugify
from publish.content.preflight import NEW_ESSAY_PLACEHOLDER
from publish.errors import Problem, PublishError, refuse_warnings
from publish.i18n.cadence import describe_rule
from publish.layout import BUILD_DIR, ESSAYS_DIR
from publish.model import Site
from publish.ops.checking import site_problems
from publish.pipeline.build import BuildOptions
from publish.pipeline.build import check as check_site
from publish.pipeline.load import load
from publish.schedule.slots import Timetable, format_slot, plan_schedule, schedule_view

if TYPE_CHECKING:
    from publish.preview.serve import BuildResult


@click.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--title", default="My Monthly Letter", help="The site's title.")
@click.option("--author", default="A. Writer", help="The author's name.")
def init(directory: Path, title: str, author: str) -> None:
    """Create a new working site in DIRECTORY."""
    from publish.ops.scaffold import create_site

    create_site(directory, title, author)
    click.echo(f"Created a new site in {directory}. Next: publish --root {directory} build")


@click.command()
@click.argument("title")
@click.option(
    "--number",
    type=click.IntRange(0),
    help="Number the file NUMBER-<slug>.md (default: one more than the highest numbered file).",
)
@click.option("--no-number", is_flag=True, help="Name the file <slug>.md, without a number.")
@click.pass_obj
def new(root: Path, title: str, number: int | None, no_number: bool) -> None:
    """Start a new essay called TITLE in essays/, numbered after the last one (06-<slug>.md)."""
    from publish.ops.scaffold import files_after, new_essay_name, same_slug_file

    slug = cap_slug(slugify(title))
    folder = root / ESSAYS_DIR
    existing = sorted(p.name for p in folder.glob("*.md")) if folder.is_dir() else []
    clash = same_slug_file(existing, slug)
    name = f"{slug}.md" if no_number else new_essay_name(existing, slug, number)
    path = folder / (clash or name)
    if clash or path.exists():
        why = "already exists" if path.name == name else f"already holds the essay '{slug}'"
        raise PublishError.single(str(path.relative_to(root)), 1, 1, f"{why}; not overwriting it")
    folder.mkdir(parents=True, exist_ok=True)
    quoted = title.replace("\\", "\\\\").replace('"', '\\"')
    path.write_text(
        "---\n"
        f'title: "{quoted}"\n'
        'subtitle: ""\n'
        "tags: []\n"
        "# date: 2026-01-06   (leave out: the schedule gives it the next free slot)\n"
        "draft: true\n"
        "---\n"
        f"{NEW_ESSAY_PLACEHOLDER}\n",
        encoding="utf-8",
    )
    click.echo(f"Wrote {path.relative_to(root)} (a draft: set draft: false when it is ready)")
    later = files_after(existing, name)
    if later:
        click.echo(
            f"note: {name} comes before {', '.join(later[:3])} in file-name order, which is "
            "the order undated essays are queued in",
            err=True,
        )


@click.command()
@TODAY_OPTION
@STRICT_OPTION
@click.option("--links", is_flag=True, help="Also fetch every external link (http, https).")
@click.option(
    "--link-timeout",
    type=click.FloatRange(0.1, 120),
    default=10.0,
    show_default=True,
    help="Seconds to wait for each link with --links.",
)
@click.pass_obj
def check(
    root: Path, today_text: str | None, strict: bool, links: bool, link_timeout: float
) -> None:
    """Report every problem in the site, queued essays included; exit 1 if there is any error.

    With --links, every external link is fetched too (answers are kept in
    build/.cache/links.json, a day or, for broken ones, an hour); broken links are
    warnings, permanently moved ones hints."""
    today = parse_today(today_text) or site_today(root)
    report = check_site(root, BuildOptions(today=today))  # writes no output, only its memo
    site, known = report.site, report.known
    assert site is not None and known is not None
    now = site_moment(today, Timetable.from_settings(site.settings), end_of_day=True)
    problems = site_problems(root, report, now)
    if links:
        problems += _checked_links(root, site, link_timeout)
    if any(problem.is_error for problem in problems):
        raise PublishError(problems)
    if strict:
        refuse_warnings([p for p in problems if p.severity != "hint"])
    show_problems(problems)
    click.echo(f"{len(site.essays)} essay(s), {len(site.glossary.entries)} glossary term(s): OK")
    if site.settings.deploy is None:
        click.echo(NOT_DEPLOYED)


def _checked_links(root: Path, site: Site, timeout: float) -> list[Problem]:
    """The problems of every external link of the essays and the glossary (`check --links`)."""
    from publish.cache.store import BuildCache
    from publish.content.links import glossary_links
    from publish.ops.linkcheck import LinkCheckOptions, check_links

    options = LinkCheckOptions(timeout=timeout, deadline=max(LinkCheckOptions().deadline, timeout))
    more = glossary_links(site.glossary, root)
    return check_links(BuildCache.for_site(root), site.essays, options, more=more)


@click.command()
@TODAY_OPTION
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="The port on 127.0.0.1.",
)
@click.option("--drafts", is_flag=True, help="Include drafts.")
@click.option(
    "--future/--no-future",
    default=True,
    show_default=True,
    help="Include queued essays (at their planned slots) and essays dated after today.",
)
@click.pass_obj
def serve(root: Path, today_text: str | None, port: int, drafts: bool, future: bool) -> None:
    """Preview the site and its emails on 127.0.0.1, rebuilding and reloading on every change.

    Queued essays are shown at their planned slots, with a banner; `/__publish__/` lists the
    queue, the drafts and the sent essays, with each one's email as a reader gets it."""
    from publish.preview.serve import INDEX_PATH, Preview  # the server's modules: only for `serve`

    today = parse_today(today_text) or site_today(root)
    preview = Preview(
        root,
        BuildOptions(today=today, drafts=drafts, future=future, queued=future, sandbox=True),
        port,
        report=_show_build_result,
    )
    try:
        preview.start()
    except OSError as exc:
        raise PublishError.single(
            "--port",
            1,
            1,
            f"cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}); "
            "choose another port, or 0 for any free one",
        ) from None
    click.echo(f"Serving {preview.site_dir} at {preview.url} (Ctrl-C to stop)")
    click.echo(f"The next essays and their emails: {preview.url}{INDEX_PATH.lstrip('/')}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        click.echo("Stopping.")
    finally:
        preview.stop()


def _show_build_result(result: BuildResult) -> None:
    """Print one preview build's outcome: a count, or its problems."""
    stamp = datetime.now().strftime("%H:%M:%S")
    if result.ok:
        click.echo(f"[{stamp}] build {result.version}: {result.essays} essay(s), OK")
    else:
        click.echo(f"[{stamp}] build {result.version} failed:", err=True)
    for line in result.problems:
        click.echo(f"  {line}", err=True)


@click.command()
@click.pass_obj
def clean(root: Path) -> None:
    """Remove the build folder."""
    shutil.rmtree(root / BUILD_DIR, ignore_errors=True)
    click.echo(f"Removed {root / BUILD_DIR}")


@click.command("schedule")
@click.option(
    "--months",
    type=click.IntRange(1, 240),
    default=12,
    show_default=True,
    help="How many months ahead to show.",
)
@TODAY_OPTION
@click.pass_obj
def schedule_command(root: Path, months: int, today_text: str | None) -> None:
    """Show the coming slots and the essay in each; warn about gaps and clashes."""
    loaded = load(root)
    site, problems, known, binding = loaded.files, loaded.warnings, loaded.known, loaded.binding
    timetable = Timetable.from_settings(site.settings)
    now = site_moment(parse_today(today_text), timetable, end_of_day=False)
    plan = plan_schedule(timetable, binding.site.essays, binding.releases, now, known.first_run)
    view = schedule_view(timetable, plan, months)
    show_problems(problems)
    click.echo(
        f"{describe_rule(timetable.rule)} ({' '.join(timetable.rule.split())} at "
        f"{timetable.at:%H:%M} {timetable.timezone})"
    )
    for row in view.rows:
        cadence = "" if row.on_cadence else "  (off-cadence)"
        click.echo(
            f"{format_slot(row.slot)}  {row.status:<9}  {', '.join(row.slugs) or 'empty'}{cadence}"
        )
    for line in view.warnings:
        click.echo(f"warning: {line}", err=True)
