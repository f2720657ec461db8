"""HTML to the Markdown a writer would have written: sanitised with nh3's allow-list, then
markdownify, taught footnotes and figures with captions, escaping whatever the essay's
Markdown (which renders raw HTML) would otherwise read as markup."""

from __future__ import annotations

import re
from urllib.parse import quote

import msgspec
import nh3
from markdownify import ATX, BACKSLASH, MarkdownConverter

from publish.content.markdown import build_parser
from publish.errors import PublishError
from publish.importers.model import ImportedPost

BLANK_RUNS = re.compile(r"\n{3,}")
# What an imported body may hold: the elements the converter writes as Markdown, with only
# the attributes it reads. Everything else goes (script, style and the like with their
# content), as do event handlers, `style` and any address that is not http(s), mail or
# relative.
ALLOWED_TAGS = {
    *("p", "br", "hr", "div", "span", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"),
    *("strong", "b", "em", "i", "del", "s", "strike", "sub", "sup", "code", "pre", "kbd"),
    *("samp", "a", "img", "figure", "figcaption", "ul", "ol", "li", "dl", "dt", "dd"),
    *("table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td"),
}
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": set(),  # not even ammonia's default `lang` and `title`
    "a": {"href"},
    "img": {"src", "alt"},
    "sup": {"data-footnote"},
    "ol": {"start"},
    "th": {"colspan"},
    "td": {"colspan"},
}
DROPPED_WITH_CONTENT = {
    *("script", "style", "template", "noscript", "textarea", "select", "button", "iframe"),
    *("object", "embed", "svg", "math", "frame", "frameset", "noembed", "noframes"),
}
URL_SCHEMES = {"http", "https", "mailto"}
# Text the essay's Markdown would read as markup: raw HTML and autolinks start with `<`,
# entities with `&`, and a backslash would undo the escape put before either.
LIVE_IN_TEXT = re.compile(r"[<&[]")
ALT_MARKUP = re.compile(r"[\\\[\]<&*_`]")
URL_SAFE = "/:?#[]@!$&'*+,;=%~-._"
BACKTICK_RUN = re.compile(r"`+")


def sanitise(html: str) -> str:
    """An imported fragment reduced to the allow-list: no script, style, form, event
    handler or `javascript:` address survives; escaped text stays escaped."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=None,
        strip_comments=True,
    )


def safe_url(url: str) -> str:
    """An address as a Markdown destination: spaces, brackets and quotes percent-encoded,
    so the destination cannot end early and leave the rest to be read as markup."""
    return quote(url.strip(), safe=URL_SAFE)


class ArchiveConverter(MarkdownConverter):
    """markdownify with `#` headings, `-` bullets, `[^label]` citations and figures; text,
    alt text, addresses and code written so that the Markdown holds no live HTML."""

    class Options(MarkdownConverter.DefaultOptions):
        heading_style = ATX
        bullets = "-"
        escape_misc = False
        autolinks = True
        newline_style = BACKSLASH  # a `<br>` survives the trailing-space clean-up

    def escape(self, text, parent_tags):
        """Text as text: backslashes, `<` and `&` escaped besides markdownify's `*` and `_`."""
        text = super().escape((text or "").replace("\\", "\\\\"), parent_tags)
        return LIVE_IN_TEXT.sub(r"\\\g<0>", text)

    def convert_a(self, el, text, parent_tags):
        """A link (no title), its address made safe to stand in Markdown."""
        if el.get("href"):
            el["href"] = safe_url(el["href"])
        el.attrs.pop("title", None)
        return super().convert_a(el, text, parent_tags)

    def convert_img(self, el, text, parent_tags):
        """An image, its alt text escaped and its address made safe."""
        alt = ALT_MARKUP.sub(r"\\\g<0>", " ".join(str(el.get("alt") or "").split()))
        if "_inline" in parent_tags and el.parent.name not in self.options["keep_inline_images_in"]:
            return alt
        return f"![{alt}]({safe_url(str(el.get('src') or ''))})"

    def convert_pre(self, el, text, parent_tags):
        """A code block fenced by more backticks than its code holds in a row."""
        longest = max((len(run) for run in BACKTICK_RUN.findall(text or "")), default=0)
        fence = "`" * max(3, longest + 1)
        return f"\n\n{fence}\n{(text or '').strip(chr(10))}\n{fence}\n\n" if text else ""

    def convert_sup(self, el, text, parent_tags):
        """A citation marker (set by the importer) becomes `[^label]`."""
        label = el.get("data-footnote")
        if label:
            return f"[^{label}]"
        return super().convert_sup(el, text, parent_tags)

    def convert_figure(self, el, text, parent_tags):
        """A figure stands alone as a block: the image, then its caption."""
        return "\n\n" + text.strip() + "\n\n"

    def convert_figcaption(self, el, text, parent_tags):
        """A caption is an emphasised line under its image."""
        caption = " ".join(text.split())
        mark = "_" if "*" in caption else "*"  # emphasis inside the caption stays intact
        return f"\n\n{mark}{caption}{mark}\n\n" if caption else ""


class ConvertedPost(msgspec.Struct):
    """A post as Markdown: its body and its notes, each by label, in order."""

    post: ImportedPost
    body: str
    notes: list[tuple[str, str]]


class LiveMarkup(ValueError):
    """Converted Markdown that would still render raw HTML (never expected: a safety net)."""


def to_markdown(html: str) -> str:
    """One HTML fragment, sanitised, as tidy Markdown that renders no raw HTML."""
    text = ArchiveConverter().convert(sanitise(html))
    lines = [line.rstrip() for line in text.strip().split("\n")]
    markdown = BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()
    if _renders_raw_html(markdown):
        raise LiveMarkup(markdown)
    return markdown


def _renders_raw_html(markdown: str) -> bool:
    """Whether the essay parser would pass any of this Markdown through as raw HTML."""
    for token in build_parser().parse(markdown, {}):
        if token.type == "html_block":
            return True
        if any(child.type == "html_inline" for child in token.children or ()):
            return True
    return False


def convert_post(post: ImportedPost) -> ConvertedPost:
    """The post's body and footnotes converted; notes nobody cites are kept at the end."""
    try:
        notes = [(label, to_markdown(html)) for label, html in post.footnotes]
        body = to_markdown(post.body_html)
    except LiveMarkup:
        message = "this post's HTML could not be made safe Markdown; nothing was imported"
        raise PublishError.single(post.origin, 1, 1, message) from None
    return ConvertedPost(post=post, body=body, notes=[(lab, text) for lab, text in notes if text])


def note_definition(label: str, text: str) -> str:
    """A footnote definition; later paragraphs indented under it."""
    first, *rest = text.split("\n")
    lines = [f"[^{label}]: {first}"]
    lines += [f"    {line}" if line else "" for line in rest]
    return "\n".join(lines)
