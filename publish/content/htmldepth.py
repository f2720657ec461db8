"""How deep raw HTML nests its elements (loaded only for an essay that holds raw HTML)."""

from __future__ import annotations

from html.parser import HTMLParser


class DepthCounter(HTMLParser):
    """Follows how deep raw HTML nests its elements. Void elements do not nest, and neither
    do those whose end tag may be left out (a new `<p>` or `<li>` closes the last one)."""

    UNNESTED = frozenset(
        {
            "area",
            "base",
            "br",
            "col",
            "embed",
            "hr",
            "img",
            "input",
            "link",
            "meta",
            "source",
            "track",
            "wbr",
            "p",
            "li",
            "dt",
            "dd",
            "tr",
            "td",
            "th",
            "thead",
            "tbody",
            "tfoot",
            "option",
            "optgroup",
            "rb",
            "rt",
            "rp",
            "colgroup",
            "caption",
            "html",
            "head",
            "body",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.depth = 0
        self.deepest = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """An element opens."""
        if tag not in self.UNNESTED:
            self.depth += 1
            self.deepest = max(self.deepest, self.depth)

    def handle_endtag(self, tag: str) -> None:
        """An element closes."""
        if tag not in self.UNNESTED:
            self.depth = max(self.depth - 1, 0)
