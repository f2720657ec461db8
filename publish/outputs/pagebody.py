"""An essay page written around its body's bytes: the body as the build cache keeps it, in
UTF-8, put into the page's own bytes where the page shows it.

A rendered body is most of its page. Read from its pack, decoded, joined into the page and
encoded again, it was made text only to be made bytes once more, and a body holding one
character beyond Latin-1 (a note's `↩︎`) made the whole page wide text, slow to encode. The
page is rendered with a mark in the body's stead (a token no text can hold: it is made
afresh in each process), and written around the body's kept bytes: the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from markupsafe import Markup

from publish.i18n.words import BodyWords
from publish.model import Essay, KeptRenderings
from publish.outputs.renderers import render_essay_body, web_body, web_context

BODY_MARK = f"publish-body-{os.urandom(16).hex()}"

Page = Callable[..., str]  # the page rendered with the `body` given


def essay_page_bytes(
    essay: Essay, root: str, words: BodyWords, page: Page, packaged: bool
) -> str | bytes:
    """`page(body=...)` with the essay's body (see `render_essay_body`): written around the
    body's kept bytes where the body keeps its renderings and the templates are the packaged
    ones (`packaged`: they show the body once, as it is), else rendered as text."""
    kept = essay.tokens
    if packaged and isinstance(kept, KeptRenderings):
        body = kept.rendered_utf8(web_body, web_context(essay, root, words))
        before, mark, after = page(body=Markup(BODY_MARK)).partition(BODY_MARK)
        if mark and BODY_MARK not in after:
            return b"".join([before.encode("utf-8"), body, after.encode("utf-8")])
    return page(body=Markup(render_essay_body(essay, root, words)))


def templates_packaged(templates_dir: Path) -> bool:
    """Whether a site renders its pages with the packaged templates only: its templates
    folder (none at all, or unreadable: the packaged templates) holds no `.html` of its own,
    in any of its folders (a partial there is one its own template may show the body in)."""
    for _, _, names in os.walk(templates_dir):
        if any(name.endswith(".html") for name in names):
            return False
    return True
