"""HTML to the Markdown a writer would have written: markdownify, taught footnotes and
figures with captions."""

from __future__ import annotations

import re
from dataclasses import dataclass

from markdownify import ATX, BACKSLASH, MarkdownConverter

from publish.importers.model import ImportedPost

BLANK_RUNS = re.compile(r"\n{3,}")


class ArchiveConverter(MarkdownConverter):
    """markdownify with `#` headings, `-` bullets, `[^label]` citations and figures."""

    class Options(MarkdownConverter.DefaultOptions):
        heading_style = ATX
        bullets = "-"
        escape_misc = False
        autolinks = True
        newline_style = BACKSLASH  # a `<br>` survives the trailing-space clean-up

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

    def convert_iframe(self, el, text, parent_tags):
        """An iframe an importer did not turn into a link becomes one."""
        src = el.get("src", "")
        return f"\n\n<{src}>\n\n" if src.startswith(("http://", "https://")) else ""


@dataclass
class ConvertedPost:
    """A post as Markdown: its body and its notes, each by label, in order."""

    post: ImportedPost
    body: str
    notes: list[tuple[str, str]]


def to_markdown(html: str) -> str:
    """One HTML fragment as tidy Markdown."""
    text = ArchiveConverter().convert(html)
    lines = [line.rstrip() for line in text.strip().split("\n")]
    return BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def convert_post(post: ImportedPost) -> ConvertedPost:
    """The post's body and footnotes converted; notes nobody cites are kept at the end."""
    notes = [(label, to_markdown(html)) for label, html in post.footnotes]
    return ConvertedPost(
        post=post,
        body=to_markdown(post.body_html),
        notes=[(label, text) for label, text in notes if text],
    )


def note_definition(label: str, text: str) -> str:
    """A footnote definition; later paragraphs indented under it."""
    first, *rest = text.split("\n")
    lines = [f"[^{label}]: {first}"]
    lines += [f"    {line}" if line else "" for line in rest]
    return "\n".join(lines)
