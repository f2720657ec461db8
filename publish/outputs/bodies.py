"""The bodies of an essay the outputs show, one per channel: its web page, its feed entry, its
email's HTML and its plain text, each a renderer and the context its output renders with.

The build asks for them when it parses an essay, so that each body is rendered from the
tokens just parsed, once; the outputs ask for the same renderer and context later and get
that body back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from publish.content.essaylinks import likely_link_targets
from publish.content.essays import essay_slug
from publish.content.images import ImageSizes, measure_images
from publish.content.source import ESSAYS_DIR
from publish.i18n.words import BodyWords, essay_words
from publish.model import Essay, Settings
from publish.outputs.plaintext import text_body
from publish.outputs.renderers import (
    Render,
    email_body,
    email_context,
    feed_body,
    feed_context,
    web_and_feed_bodies,
    web_body,
    web_context,
)
from publish.outputs.urls import essay_page_path, root_for

Channel = Callable[[Essay, str, BodyWords], tuple[Render, Any]]

CHANNELS: dict[str, Channel] = {
    "web": lambda essay, url, words: (web_body, web_context(essay, essay_root(essay), words)),
    "feed": lambda essay, url, words: (feed_body, feed_context(essay, url, words)),
    "email": lambda essay, url, words: (email_body, email_context(essay, url, words)),
    "text": lambda essay, url, words: (text_body, email_context(essay, url, words)),
}
# The bodies written together in one pass over an essay's tokens, when both are asked for
# (what both write alike is written once; see `cache.bodies.render_bodies`).
BODY_PAIRS = {(web_body, feed_body): web_and_feed_bodies}


def essay_root(essay: Essay) -> str:
    """The way back to the site's root from an essay's page."""
    return root_for(essay_page_path(essay))


def body_renderings(
    essay: Essay, settings: Settings, channels: Sequence[str], root: Path
) -> list[tuple[Render, Any]]:
    """The renderer and context of each of an essay's bodies in `channels`, in its language."""
    words = essay_words(essay, settings, root).body
    return [CHANNELS[name](essay, settings.site.url, words) for name in channels]


def essay_bodies(
    root: Path,
    settings: Settings,
    channels: Sequence[str],
    sizes: ImageSizes,
    address: Callable[[Essay], str] | None = None,
) -> Callable[[Essay], list[tuple[Render, Any]]]:
    """What to render of each essay of a site as it is parsed: its bodies in `channels`, each
    for the context its output will ask for, as far as the essay alone shows it (its images
    measured by `sizes`, at the `address` its release gives it, its links to other essays
    resolved by their pages or files). A body asked for in another context is rendered when
    asked."""

    def slug_of(name: str) -> str | None:
        path = root / ESSAYS_DIR / name
        return essay_slug(path, root) if "/" not in name and path.is_file() else None

    def renderings(essay: Essay) -> list[tuple[Render, Any]]:
        measured, _ = measure_images(essay, sizes)
        shown = msgspec.structs.replace(
            measured,
            slug=address(essay) if address is not None else essay.slug,
            link_targets=likely_link_targets(essay, slug_of),
        )
        return body_renderings(shown, settings, channels, root)

    return renderings
