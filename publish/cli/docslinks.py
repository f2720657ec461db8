"""Where the documentation explains a problem: each kind of problem a user can meet, by the
place it is at and the words it uses, leads to one page (and section) of the docs site.

The command line prints the page's address under the problem (`  see: URL`). The pages and
anchors named here are checked against the built docs by tests/test_docs.py.
"""

from __future__ import annotations

import re

import msgspec

from publish.errors import Problem

DOCS_URL = "https://publish-essays.readthedocs.io/"


class DocsRule(msgspec.Struct, frozen=True):
    """Problems at a path matching `path`, whose message matches `words`, are explained at
    `page` (a docs address relative to the site, with its #anchor)."""

    path: str
    words: str
    page: str

    def matches(self, problem: Problem) -> bool:
        """Whether this rule explains `problem`."""
        return bool(
            re.search(self.path, problem.path) and re.search(self.words, problem.message, re.I)
        )


SENDING = "guide/sending/"
WRITING = "guide/writing/"

# First match wins: the narrower rules of a file come before its catch-all.
RULES = (
    DocsRule(r"^PUBLISH_(SERVICE_)?SMTP_URL$|publish\.env$", "", f"{SENDING}#smtp-configuration"),
    DocsRule(r"^(PUBLISH_SMTP_TIMEOUT|PUBLISH_RETRY_BACKOFF)$", "", "reference/environment/"),
    DocsRule(r"^PUBLISH_BOUNCE_URL$|[Mm]aildir", "", "guide/bounces/"),
    DocsRule(r"^PUBLISH_DNS_SERVER$", "", "guide/deliverability/#checking-the-dns-publish-doctor"),
    DocsRule(r"publish\.toml$", r"dkim", "guide/deliverability/#signing-with-dkim"),
    DocsRule(r"publish\.toml$", r"deploy", "guide/deploying/"),
    DocsRule(
        r"publish\.toml$",
        r"example|service_url|not set|still",
        f"{SENDING}#before-a-list-is-mailed",
    ),
    DocsRule(r"publish\.toml$", r"rule|rrule|slot|schedule", "guide/schedule/#settings"),
    DocsRule(r"publish\.toml$", "", "reference/settings/"),
    DocsRule(
        r"releases\.toml$", "", "guide/schedule/#releasestoml-the-record-that-travels-with-the-site"
    ),
    DocsRule(r"^footnotes/", "", f"{WRITING}#the-footnote-glossary"),
    DocsRule(r"^essays/", r"footnote", f"{WRITING}#the-footnote-glossary"),
    DocsRule(r"^essays/", r"link to", f"{WRITING}#linking-to-another-essay"),
    DocsRule(r"^essays/", r"email html|clip", "reference/email/#what-the-build-writes"),
    DocsRule(r"^essays/", r"placeholder|alt text|embed|subject", f"{WRITING}#checks"),
    DocsRule(r"^essays/", "", "reference/front-matter/"),
    DocsRule(r"^templates/", "", "reference/templates/"),
    DocsRule(r"^build/email/", "", f"{SENDING}#a-send"),
    DocsRule(r"^build/", "", "reference/web/#building-safely"),
    DocsRule(r"\.db$|^state/|send\.lock", "", f"{SENDING}#what-the-ledger-guarantees"),
    DocsRule(r"\.csv$", "", "guide/subscribers/"),
    DocsRule(r"\.(zip|xml|json)$", "", "guide/importing/"),
    DocsRule(r"^--port$", "", "reference/commands/#publish-serve"),
)


def docs_page(problem: Problem) -> str | None:
    """The docs page (relative address, with its anchor) that explains `problem`, if any."""
    return next((rule.page for rule in RULES if rule.matches(problem)), None)


def command_docs_url(command_path: str) -> str:
    """The reference of one command (`publish subscribers add`), as mkdocs-click names it."""
    return f"{DOCS_URL}reference/commands/#{command_path.replace(' ', '-')}"


def docs_url(problem: Problem) -> str | None:
    """The full address of the docs page that explains `problem`, if any."""
    page = docs_page(problem)
    return DOCS_URL + page if page else None
