"""`publish doctor`: the deliverability check of the From domain, in plain words."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import click

from publish.cli.common import load_environment_settings
from publish.errors import PublishError
from publish.ops.dnsrecords import DNS_SERVER_ENV, DnsTrouble, txt_lookup
from publish.ops.doctor import FIX, Diagnosis, Finding, diagnose

WIDTH = 88


@click.command()
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 60),
    default=5.0,
    show_default=True,
    help="Seconds to wait for each DNS answer.",
)
@click.pass_context
def doctor(ctx: click.Context, timeout: float) -> None:
    """Check the DNS records (SPF, DKIM, DMARC) and the settings big mail providers require
    of bulk senders; say what to add or fix; exit 1 if something required is missing."""
    root: Path = ctx.obj
    settings = load_environment_settings(root)
    server = os.environ.get(DNS_SERVER_ENV, "").strip()
    shown = server or "this machine's resolver"
    try:
        lookup = txt_lookup(server, timeout)
        diagnosis = diagnose(root, settings, lookup)
    except ValueError as exc:
        raise PublishError.single(DNS_SERVER_ENV, 1, 1, str(exc)) from None
    except DnsTrouble as exc:
        raise PublishError.single(
            DNS_SERVER_ENV if server else "dns",
            1,
            1,
            f"the DNS server ({shown}) {exc}; nothing was checked. "
            f"Try again, or point {DNS_SERVER_ENV} at a server that answers",
        ) from None
    click.echo(f"Checking the mail of {diagnosis.domain} (asking {shown}).")
    for finding in diagnosis.findings:
        click.echo("")
        click.echo(_shown(finding))
    click.echo("")
    click.echo(textwrap.fill(_verdict(diagnosis), WIDTH))
    if diagnosis.must_fix:
        ctx.exit(1)


def _shown(finding: Finding) -> str:
    """One finding as a paragraph, with what to do and why indented under it."""
    lines = textwrap.wrap(f"{finding.topic}: {finding.verdict}. {finding.found}", WIDTH)
    if finding.todo:
        lines += _indented(f"To do: {finding.todo}")
    if finding.record:
        lines.append(f"      {finding.record}")  # whole, to copy into the DNS
    if finding.why:
        lines += _indented(f"Why: {finding.why}")
    return "\n".join(lines)


def _indented(text: str) -> list[str]:
    """A labelled paragraph under a finding, wrapped and indented."""
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent="    ",
        subsequent_indent="      ",
        break_long_words=False,
        break_on_hyphens=False,
    )


def _verdict(diagnosis: Diagnosis) -> str:
    """The closing sentence."""
    count = len(diagnosis.must_fix)
    if not count:
        return f"Everything required is in place for {diagnosis.domain}."
    topics = ", ".join(f.topic for f in diagnosis.must_fix)
    things = "thing" if count == 1 else "things"
    return (
        f"{count} {things} to fix ({topics}, marked '{FIX}'): until then Gmail, Yahoo and "
        f"Outlook may junk or refuse mail from {diagnosis.domain}."
    )
