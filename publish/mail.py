"""The newsletter email: each published essay as `<slug>.html`, `<slug>.txt` and `<slug>.eml`.

The built files are the preview copy. Two parts of them are personalised when sending:
the greeting (`Hello,` becomes `Hello Ada,`; in the HTML it sits between
`<!--greeting-->` markers) and the unsubscribe link, which in the preview points at
`<service>/unsubscribe/preview` (a token the subscription service rejects harmlessly).
Delivery swaps both per subscriber with `personalise_html` and `personalise_text`.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.policy import SMTP
from email.utils import format_datetime, getaddresses, parseaddr
from functools import cached_property, lru_cache
from html import escape
from urllib.parse import urlsplit

import css_inline
from jinja2 import Environment
from markupsafe import Markup

from publish.cadence import describe_rule
from publish.errors import Problem, warning
from publish.essays import slugify
from publish.feeds import essay_url
from publish.markdown import RenderContext, render_email, render_text, resolve_url
from publish.memo import Deferred, OutputKeys, resolved
from publish.model import Essay, Settings, Site
from publish.subscribers import fold_controls, unsubscribe_url
from publish.writer import OutputFiles

Files = dict[str, str | bytes]

PREVIEW_TOKEN = "preview"
GREETING_PREVIEW = "Hello,"
GREETING_START, GREETING_END = "<!--greeting-->", "<!--/greeting-->"
LINE_LIMIT = 78  # RFC 5322's recommended line length, the SMTP policy's max_line_length
SIZE_LIMIT = 90 * 1024  # Gmail clips messages above about 102 KB; warn well before.
_GREETING_HTML = re.compile(re.escape(GREETING_START) + ".*?" + re.escape(GREETING_END), re.S)
_BARE_BREAK = re.compile("[\r\n]")
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


@dataclass(frozen=True)
class MessageHeaders:
    """Everything a newsletter message says in its headers."""

    subject: str
    from_address: str
    reply_to: str
    date: str
    message_id: str
    list_id: str
    unsubscribe_url: str
    unsubscribe_mailto: str
    to: str = ""


def render_emails(site: Site, templates: Environment,
                  keys: OutputKeys | None = None) -> OutputFiles:
    """Every published essay's email as `{<slug>.html, <slug>.txt, <slug>.eml}`, made on demand.

    The three files of an essay share one key (see publish.memo), from `keys` if given.
    """
    files = OutputFiles()  # refuses a path twice, naming both of its writers
    for essay in site.essays:
        key = keys.key("email", essay) if keys is not None else None
        email = EssayEmail(site, essay, templates)
        files.add(f"{essay.slug}.html", Deferred(key, lambda email=email: email.html), essay.path)
        files.add(f"{essay.slug}.txt", Deferred(key, lambda email=email: email.text), essay.path)
        files.add(f"{essay.slug}.eml", Deferred(key, lambda email=email: email.message),
                  essay.path)
    return files


class EssayEmail:
    """One essay's email, each file made when first asked for (the message, asked for last,
    lets the other two go so that a build does not hold every email in memory)."""

    def __init__(self, site: Site, essay: Essay, templates: Environment):
        self.site, self.essay, self.templates = site, essay, templates

    @cached_property
    def html(self) -> str:
        """The HTML file."""
        return email_html(self.site, self.essay, self.templates)

    @cached_property
    def text(self) -> str:
        """The plain-text file."""
        return email_text(self.site, self.essay, self.templates)

    @property
    def message(self) -> bytes:
        """The `.eml` preview message: text part, then HTML (made anew each time: not kept,
        as a forked worker holds every email it makes for the rest of the build)."""
        headers = preview_headers(self.site.settings, self.essay)
        message = compose_message(headers, self.text, self.html)
        for name in ("html", "text"):  # written before the message: let them go
            self.__dict__.pop(name, None)
        return message


def email_html(site: Site, essay: Essay, templates: Environment) -> str:
    """The email's HTML, every style inlined, only `@media` rules left in a `<style>`."""
    context = _template_values(site, essay)
    greeting = Markup(f"{GREETING_START}{GREETING_PREVIEW}{GREETING_END}")
    page = templates.get_template("email.html").render(
        **context,
        body=Markup(render_email(essay.tokens, _render_context(site, essay))),
        greeting=greeting,
        preheader=essay.summary,
    )
    return _INLINER.inline(page)


def email_text(site: Site, essay: Essay, templates: Environment) -> str:
    """The plain-text part: title, greeting, the essay, notes and the footer."""
    plain = plain_templates(templates)
    body = render_text(essay.tokens, _render_context(site, essay))
    text = plain.get_template("email.txt").render(
        **_template_values(site, essay), body=body, greeting=GREETING_PREVIEW
    )
    return re.sub(r"\n{3,}", "\n\n", text)


@lru_cache(maxsize=4)
def plain_templates(templates: Environment) -> Environment:
    """The templates without HTML escaping, made once: each overlay compiles templates anew."""
    return templates.overlay(autoescape=False)


def _render_context(site: Site, essay: Essay) -> RenderContext:
    """Absolute URLs for everything the email links to."""
    base = site.settings.site.url
    return RenderContext(slug=essay.slug, base=base, glossary_url=f"{base}glossary/")


def _template_values(site: Site, essay: Essay) -> dict[str, object]:
    """What both email templates show besides the body."""
    settings = site.settings
    return {
        "site": site,
        "essay": essay,
        "web_url": essay_url(site, essay),
        "image_src": resolve_url(essay.image, settings.site.url),
        "cadence": describe_rule(settings.schedule.rule),
        "reason": subscription_reason(settings),
        "unsubscribe_url": preview_unsubscribe_url(settings),
        "postal_address": settings.email.postal_address,
    }


def subscription_reason(settings: Settings) -> str:
    """Why the reader gets this email."""
    where = settings.email.signup_url or settings.site.url
    return f"You are receiving this because you subscribed to {settings.site.title} at {where}."


def preview_unsubscribe_url(settings: Settings) -> str:
    """The unsubscribe link of the built preview copy (replaced per subscriber when sending)."""
    return unsubscribe_url(settings, PREVIEW_TOKEN)


def greeting_for(name: str) -> str:
    """The greeting line for a subscriber: `Hello Ada,` or `Hello,` without a name."""
    name = fold_controls(name)
    return f"Hello {name}," if name else GREETING_PREVIEW


def personalise_html(html: str, settings: Settings, name: str, unsubscribe: str) -> str:
    """The built HTML with one subscriber's greeting and unsubscribe link."""
    greeting = f"{GREETING_START}{escape(greeting_for(name))}{GREETING_END}"
    html = _GREETING_HTML.sub(lambda _: greeting, html, count=1)
    return html.replace(escape(preview_unsubscribe_url(settings)), escape(unsubscribe))


def personalise_text(text: str, settings: Settings, name: str, unsubscribe: str) -> str:
    """The built text with one subscriber's greeting and unsubscribe link."""
    preview_line = f"\n{GREETING_PREVIEW}\n"
    text = text.replace(preview_line, f"\n{greeting_for(name)}\n", 1)
    return text.replace(preview_unsubscribe_url(settings), unsubscribe)


# --- The message ------------------------------------------------------------------


@lru_cache(maxsize=256)
def header_text(value: str) -> str:
    """A value safe for a header: no control characters, and no encoded-word that decodes
    to one (CVE-2024-6923: the email package could otherwise emit a raw newline)."""
    folded = fold_controls(value)
    decoded = str(SMTP.header_factory("subject", folded))
    if fold_controls(decoded) != decoded:
        folded = folded.replace("=?", "= ?")
    return folded


def site_domain(settings: Settings) -> str:
    """The host name of the site's URL, for Message-ID and List-Id."""
    return urlsplit(settings.site.url).hostname or "localhost"


def preview_headers(settings: Settings, essay: Essay) -> MessageHeaders:
    """The headers of the built copy: deterministic, with the preview unsubscribe link."""
    domain = site_domain(settings)
    return MessageHeaders(
        subject=header_text(essay.title),
        from_address=settings.email.from_address,
        reply_to=settings.email.reply_to,
        date=format_datetime(essay.date) if essay.date else "",
        message_id=f"<{essay.slug}@{domain}>",
        list_id=list_id(settings),
        unsubscribe_url=preview_unsubscribe_url(settings),
        unsubscribe_mailto=unsubscribe_mailto(settings),
    )


def list_id(settings: Settings) -> str:
    """The List-Id header: the site title and `<site-slug.domain>`."""
    title = header_text(settings.site.title).replace('"', "'")
    return f'"{title}" <{slugify(settings.site.title) or "list"}.{site_domain(settings)}>'


def unsubscribe_mailto(settings: Settings) -> str:
    """A mailto: unsubscribe address (the reply address, else the sender)."""
    _, address = parseaddr(settings.email.reply_to or settings.email.from_address)
    return f"mailto:{address}?subject=unsubscribe" if address else ""


def compose_message(headers: MessageHeaders, text: str, html: str) -> bytes:
    """A complete multipart/alternative message (text part, then HTML) as SMTP-ready bytes.

    Assembled from parts so that a send can reuse the folded constant headers (cached) and
    only fold what differs per recipient; every header goes through the SMTP policy.
    """
    boundary = "=_publish_" + hashlib.sha256(headers.message_id.encode()).hexdigest()[:24]
    targets = [f"<{u}>" for u in (headers.unsubscribe_url, headers.unsubscribe_mailto) if u]
    fields = [
        ("Subject", header_text(headers.subject)),
        ("From", _addresses_text(headers.from_address)),
        ("To", _addresses_text(headers.to)),
        ("Reply-To", _addresses_text(headers.reply_to)),
        ("Date", headers.date),
        ("Message-ID", headers.message_id),
        ("List-Id", headers.list_id),
        ("List-Unsubscribe", ", ".join(targets)),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    head = "".join(_folded(name, value) for name, value in fields if value)
    marker = f"--{boundary}\r\n".encode()
    body = marker + _part(text, "plain") + b"\r\n" + marker + _part(html, "html")
    return head.encode("ascii") + b"\r\n" + body + f"\r\n--{boundary}--\r\n".encode()


@lru_cache(maxsize=256)
def _folded(name: str, value: str) -> str:
    """One header folded by the SMTP policy; refuses anything but CRLF + space continuations."""
    folded = SMTP.fold(name, value)
    lines = folded.split("\r\n")
    if (
        lines[-1] != ""
        or any(not line[:1].isspace() for line in lines[1:-1])
        or _BARE_BREAK.search("".join(lines))
    ):
        raise ValueError(f"refusing to write an unsafe {name} header")
    return folded


def _part(content: str, subtype: str) -> bytes:
    """One text part (its own Content-Type and transfer encoding), SMTP line ends.

    Chooses the encoding as `MIMEPart.set_content` does (7bit when every line is ASCII and
    short, else the shorter of quoted-printable and base64 on the first lines), but encodes
    with `binascii`, which is C: the stdlib's pure-Python encoder was most of a build.
    """
    lines = content.encode("utf-8").splitlines()
    encoding, body = _encoded_body(lines)
    head = (f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {encoding}\r\n\r\n")
    return head.encode("ascii") + body


def _encoded_body(lines: list[bytes]) -> tuple[str, bytes]:
    """A text body's transfer encoding and its encoded bytes, CRLF line ends."""
    joined = b"\n".join(lines) + b"\n"
    if max(map(len, lines), default=0) <= LINE_LIMIT and joined.isascii():
        return "7bit", joined.replace(b"\n", b"\r\n")
    sniff = b"\r\n".join(lines[:10]) + b"\r\n"
    if len(_quoted_printable(sniff)) > len(binascii.b2a_base64(sniff)):
        return "base64", _base64_lines(joined.replace(b"\n", b"\r\n"))
    return "quoted-printable", _quoted_printable(joined)


def _quoted_printable(data: bytes) -> bytes:
    """Quoted-printable text, lines of at most 76 characters, CRLF line ends."""
    encoded = binascii.b2a_qp(data.replace(b"\r\n", b"\n"), istext=True)
    return encoded.replace(b"\n", b"\r\n")


def _base64_lines(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, CRLF line ends."""
    step = LINE_LIMIT // 4 * 3
    return b"".join(binascii.b2a_base64(data[i:i + step], newline=False) + b"\r\n"
                    for i in range(0, len(data), step))


def _addresses_text(value: str) -> str:
    """`Name <a@b>` text with safe display names, or empty."""
    if not value:
        return ""
    parsed = getaddresses([fold_controls(value)])
    return ", ".join(str(_address(name, addr)) for name, addr in parsed if addr)


def _address(name: str, address: str) -> Address:
    """One address with a safe display name."""
    return Address(display_name=header_text(name), addr_spec=address)


def recipient_address(email: str, name: str) -> str:
    """`Name <address>` (or just the address), for the To header."""
    name = header_text(name)
    return str(Address(display_name=name, addr_spec=email)) if name else email


# --- Checks ---------------------------------------------------------------------


def oversize_problems(site: Site, email_files: Mapping[str, str | bytes | Deferred]
                      ) -> list[Problem]:
    """A warning for each essay whose email HTML passes 90 KB, saying by how much."""
    problems: list[Problem] = []
    for essay in site.essays:
        found = email_files.get(f"{essay.slug}.html")
        if found is None:
            continue
        html = resolved(found)
        size = len(html.encode("utf-8") if isinstance(html, str) else html)
        if size > SIZE_LIMIT:
            over = (size - SIZE_LIMIT) / 1024
            problems.append(
                warning(
                    essay.path,
                    1,
                    1,
                    f"the email HTML is {size / 1024:.1f} KB, {over:.1f} KB over the 90 KB limit; "
                    "Gmail clips long messages and hides the unsubscribe link with them",
                )
            )
    return problems
