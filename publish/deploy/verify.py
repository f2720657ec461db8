"""Proving the new build is live at `[site] url`, and telling a WebSub hub about the feeds.

Verify fetches, as a reader would (no cache-busting), each released essay's canonical URL
(its title must be on the page), the home page (the newest essay's title) and `feed.xml`
(each essay's id), again and again with a growing pause until all answer with the new build
or `verify_timeout` runs out; a CDN still serving the old feed is caught here.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request

import msgspec
from lxml import etree
from lxml import html as lxml_html

from publish.deploy.target import failure
from publish.model import Essay, Settings, Site
from publish.outputs.feeds import entry_id, essay_url

FETCH_TIMEOUT = 10.0
FIRST_PAUSE, LONGEST_PAUSE = 0.25, 10.0
USER_AGENT = "publish-verify (checks that the new build is live)"
ATOM = "{http://www.w3.org/2005/Atom}"


class Check(msgspec.Struct, frozen=True):
    """One URL and what the new build's response to it must contain."""

    url: str
    kind: str  # "page" (text on the page) or "feed" (an entry id)
    expected: str

    def verdict(self) -> str | None:
        """None when the URL serves the new build, else what it serves instead."""
        try:
            body = fetch(self.url)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            return f"{self.url} could not be fetched ({reason})"
        if self.kind == "feed":
            if self.expected in feed_ids(body):
                return None
            return f"{self.url} does not list {self.expected} yet (an old feed)"
        if self.expected in page_text(body):
            return None
        return f"{self.url} does not show '{self.expected}' yet (an old page)"


def checks_for(site: Site, essays: list[Essay]) -> list[Check]:
    """What proves `essays` live: each page, the home page and feed.xml."""
    if not essays:
        return []
    url = site.settings.site.url
    checks = [Check(essay_url(site, essay), "page", essay.title) for essay in essays]
    newest = max(essays, key=lambda e: e.date.timestamp() if e.date else 0)
    checks.append(Check(url, "page", newest.title))
    checks += [Check(url + "feed.xml", "feed", entry_id(site, essay)) for essay in essays]
    return checks


def verify_live(site: Site, essays: list[Essay], timeout: float) -> list[str]:
    """Poll until every check passes (log lines) or raise the failure after `timeout` s."""
    settings = site.settings.deploy
    pending = checks_for(site, essays)
    deadline, pause, rounds = time.monotonic() + timeout, FIRST_PAUSE, 0
    verdicts: list[str] = []
    while pending:
        rounds += 1
        verdicts = []
        still = []
        for check in pending:
            verdict = check.verdict()
            if verdict is not None:
                still.append(check)
                verdicts.append(verdict)
        pending = still
        if not pending or time.monotonic() + pause > deadline:
            break
        time.sleep(pause)
        pause = min(pause * 2, LONGEST_PAUSE)
    if pending:
        raise failure(
            settings, f"the new build is not live after {timeout:g} s: " + "; ".join(verdicts)
        )
    return (
        [
            f"verified: {len(checks_for(site, essays))} URL(s) at {site.settings.site.url} "
            f"serve the new build ({rounds} round(s))"
        ]
        if essays
        else []
    )


def fetch(url: str) -> bytes:
    """GET `url` as a reader's browser would; the body (an HTTP error raises)."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
        return response.read()


def page_text(body: bytes) -> str:
    """The visible text of an HTML page."""
    try:
        return lxml_html.fromstring(body).text_content()
    except (etree.ParserError, ValueError):
        return ""


def feed_ids(body: bytes) -> set[str]:
    """Every entry id (RSS guid, Atom id) in a feed."""
    try:
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return set()
    return {(node.text or "").strip() for node in root.iter("guid", f"{ATOM}id")}


def ping_hub(settings: Settings) -> str:
    """Tell the WebSub hub the feeds changed; a log line (a failed ping only warns)."""
    hub = settings.deploy.websub_hub
    feeds = [settings.site.url + name for name in ("feed.xml", "atom.xml", "feed.json")]
    data = urllib.parse.urlencode([("hub.mode", "publish"), *(("hub.url", f) for f in feeds)])
    request = urllib.request.Request(
        hub,
        data=data.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT},
    )
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
            status = response.status
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return (
            f"warning: the WebSub ping to {hub} failed ({reason}); feed readers see the "
            "new essay at their next poll"
        )
    return f"pinged the WebSub hub {hub} (HTTP {status})"
