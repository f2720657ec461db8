"""The newsletter email: a published essay as `<slug>.html`, `<slug>.txt` and `<slug>.eml`.

The build makes it only for the essays a send could still need (`publish.state.unsent`);
a send, a test copy or the preview asks for any other (`publish.mail.ondemand`).

The built files are the preview copy. Two parts of them are personalised when sending:
the greeting (`Hello,` becomes `Hello Ada,`; in the HTML it sits between
`<!--greeting-->` markers) and the unsubscribe link, which in the preview points at
`<service>/unsubscribe/preview` (a token the subscription service rejects harmlessly).
Delivery swaps both per subscriber (`publish.mail.personal`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from functools import cached_property, lru_cache
from html import escape
from typing import TYPE_CHECKING

from jinja2 import Environment
from markupsafe import Markup

from publish.content.images import email_dimensions
from publish.errors import Problem, warning
from publish.i18n.cadence import cadence_sentence
from publish.i18n.templates import localized
from publish.i18n.words import ENGLISH, Words, essay_words
from publish.model import Essay, Settings, Site
from publish.outputs.files import Deferred, OutputFiles, Reads
from publish.outputs.images import email_image
from publish.outputs.renderers import RenderContext, render_email
from publish.outputs.templates import plain_templates
from publish.outputs.urls import essay_url, preview_unsubscribe_url, resolve_url

if TYPE_CHECKING:
    from css_inline import CSSInliner

Files = dict[str, str | bytes]
# The `.eml` preview message of an essay from its text and HTML (`publish.mail.mime`).
MessageMaker = Callable[[Settings, Essay, str, str], bytes]

GREETING_PREVIEW = "Hello,"
GREETING_START, GREETING_END = "<!--greeting-->", "<!--/greeting-->"
SIZE_LIMIT = 90 * 1024  # Gmail clips messages above about 102 KB; warn well before.


def render_emails(
    site: Site,
    templates: Environment,
    make_message: MessageMaker,
    slugs: Collection[str] | None = None,
) -> OutputFiles:
    """The email of every published essay (or of those named in `slugs`) as
    `{<slug>.html, <slug>.txt, <slug>.eml}`, each file made when the writer asks for it.

    `make_message` composes the `.eml` from the text and HTML. The three files of an essay
    read the same: the essay, so they share one key. An essay's
    email reads the whole `site` whichever essays are chosen, so it is the same bytes
    whether a build makes it with every other email or alone.
    """
    files = OutputFiles()  # refuses a path twice, naming both of its writers
    for essay in site.essays:
        if slugs is not None and essay.slug not in slugs:
            continue
        reads = Reads("email", essay)
        email = EssayEmail(site, essay, templates, make_message)
        files.add(f"{essay.slug}.html", Deferred(reads, lambda email=email: email.html), essay.path)
        files.add(f"{essay.slug}.txt", Deferred(reads, lambda email=email: email.text), essay.path)
        files.add(
            f"{essay.slug}.eml", Deferred(reads, lambda email=email: email.message), essay.path
        )
    return files


class EssayEmail:
    """One essay's email, each file made when first asked for (the message, asked for last,
    lets the other two go so that a build does not hold every email in memory)."""

    def __init__(
        self, site: Site, essay: Essay, templates: Environment, make_message: MessageMaker
    ):
        self.site, self.essay, self.templates = site, essay, templates
        self.make_message = make_message

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
        message = self.make_message(self.site.settings, self.essay, self.text, self.html)
        for name in ("html", "text"):  # written before the message: let them go
            self.__dict__.pop(name, None)
        return message


def email_html(site: Site, essay: Essay, templates: Environment) -> str:
    """The email's HTML, every style inlined, only `@media` rules left in a `<style>`."""
    words = essay_words(essay, site.settings, site.root)
    context = _template_values(site, essay, words)
    greeting = Markup(f"{GREETING_START}{escape(preview_greeting(words))}{GREETING_END}")
    page = (
        localized(templates, words)
        .get_template("email.html")
        .render(
            **context,
            body=Markup(render_email(essay.tokens, _render_context(site, essay, words))),
            greeting=greeting,
            preheader=essay.summary,
        )
    )
    return inliner().inline(page)


@lru_cache(maxsize=1)
def inliner() -> CSSInliner:
    """The CSS inliner (made when the first email is, so a build that makes none never
    loads it)."""
    import css_inline

    return css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


def email_text(site: Site, essay: Essay, templates: Environment) -> str:
    """The plain-text part: title, greeting, the essay, notes and the footer."""
    words = essay_words(essay, site.settings, site.root)
    plain = plain_templates(localized(templates, words))
    from publish.outputs.plaintext import render_text  # only a build that makes an email

    body = render_text(essay.tokens, _render_context(site, essay, words))
    text = plain.get_template("email.txt").render(
        **_template_values(site, essay, words), body=body, greeting=preview_greeting(words)
    )
    return re.sub(r"\n{3,}", "\n\n", text)


def _render_context(site: Site, essay: Essay, words: Words) -> RenderContext:
    """Absolute URLs for everything the email links to."""
    base = site.settings.site.url
    return RenderContext(
        slug=essay.slug,
        base=base,
        glossary_url=f"{base}glossary/",
        links=essay.link_targets,
        page_url=essay_url(site, essay),
        images=essay.image_sizes,
        words=words.body,
    )


def _template_values(site: Site, essay: Essay, words: Words) -> dict[str, object]:
    """What both email templates show besides the body."""
    settings = site.settings
    return {
        "site": site,
        "essay": essay,
        "web_url": essay_url(site, essay),
        "image_src": resolve_url(
            email_image(essay.image_sizes, essay.image) or essay.image, settings.site.url
        ),
        **_lead_image_size(essay),
        "cadence": cadence_sentence(settings.schedule.rule, words),
        "reason": subscription_reason(settings, words),
        "unsubscribe_url": preview_unsubscribe_url(settings),
        "postal_address": settings.email.postal_address,
    }


def _lead_image_size(essay: Essay) -> dict[str, str]:
    """The lead image's `image_width` and `image_height` in the email ("" when unknown)."""
    size = email_dimensions(essay.image_sizes, essay.image)
    return {"image_width": size.get("width", ""), "image_height": size.get("height", "")}


def subscription_reason(settings: Settings, words: Words = ENGLISH) -> str:
    """Why the reader gets this email, in words (never the address of a signup form)."""
    reason = words.gettext("You are getting this email because you subscribed to %(site)s.")
    return reason % {"site": settings.site.title}


def preview_greeting(words: Words = ENGLISH) -> str:
    """The greeting of the built copy, `Hello,` in the email's language (each reader's
    copy greets them by name: `publish.mail.personal`)."""
    return words.gettext(GREETING_PREVIEW)


# --- Checks ---------------------------------------------------------------------


def oversize_problems(site: Site, html_sizes: Mapping[str, int]) -> list[Problem]:
    """A warning for each essay whose email HTML passes 90 KB, saying by how much."""
    problems: list[Problem] = []
    for essay in site.essays:
        size = html_sizes.get(f"{essay.slug}.html")
        if size is None:
            continue
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
