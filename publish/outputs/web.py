"""The web site: every page as `{relative path: HTML}`, rendered from the loaded site.

Pages link to each other with relative URLs (each page gets `root`, such as "../"), so the
site works under any sub-path and port; canonical, Open Graph, feed and sitemap URLs are
absolute, built from `site.url`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from html import escape
from itertools import groupby
from typing import Any
from urllib.parse import urlsplit

import msgspec
from jinja2 import Environment, TemplateError
from markupsafe import Markup

from publish.errors import PublishError
from publish.i18n.cadence import cadence_sentence
from publish.i18n.templates import localized
from publish.i18n.words import Words, words_for
from publish.model import Essay, Site
from publish.outputs.activitypub import actor_link, article_id, page_links, replies_of
from publish.outputs.files import Deferred, OutputFiles, Reads
from publish.outputs.glossarypage import citers_key, defined_terms, glossary_items
from publish.outputs.images import lead_picture, og_image
from publish.outputs.pagebody import essay_page_bytes, templates_packaged
from publish.outputs.redirects import alias_pages, redirect_pages, redirects_file
from publish.outputs.templates import (
    PACKAGE_STATIC,
    PACKAGED_FILES,
    joined,
    own_or_packaged,
    template_problem,
)
from publish.outputs.urls import (
    essay_page_path,
    page_url,
    resolve_url,
    root_for,
    tag_groups,
    tag_slug,
)
from publish.support.jsontext import indented_json

Files = dict[str, str | bytes | Deferred]


class Head(msgspec.Struct, frozen=True):
    """What a page's `<head>` says about it: title, description, canonical URL, social cards."""

    title: str
    description: str
    canonical: str
    kind: str = "website"
    image: str = ""
    image_alt: str = ""
    json_ld: str = ""
    activity: str = ""  # the page as ActivityPub: the actor (home) or the essay's Article


class Pagination(msgspec.Struct, frozen=True):
    """Where one page of the essay index sits among the others."""

    number: int
    total: int
    newer_url: str
    older_url: str


def json_for_script(data: Any) -> str:
    """JSON safe inside a `<script>` element: `<`, `>` and `&` become \\u escapes."""
    text = indented_json(data, 1, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_site(site: Site, templates: Environment) -> Files:
    """Every file of the web site: pages, stylesheet, 404, robots.txt and sitemap.xml.

    Essay pages and the glossary are deferred, each saying what it reads.
    """
    renderer = PageRenderer(site, templates)
    pages = OutputFiles()  # refuses a path twice, naming both of its writers
    pages.add_all(renderer.index_pages(), "the index pages")
    pages.add_all(renderer.essay_pages(), {essay_page_path(e): e.path for e in site.essays})
    pages.add_all(renderer.archive_page(), "the archive page")
    pages.add_all(renderer.tag_pages(), "the tag pages")
    pages.add_all(renderer.glossary_page(), "the glossary page")
    pages.add("404.html", renderer.not_found_page(), "the 404 page")
    pages.add_all(renderer.search_page(), "the search page")
    pages.add("style.css", (PACKAGE_STATIC / "style.css").read_bytes(), "the stylesheet")
    pages.add_all(
        own_or_packaged(site, PACKAGED_FILES, renderer.words),
        "the favicon and the feed stylesheet",
    )
    pages.add("robots.txt", robots_txt(site), "robots.txt")
    pages.add("sitemap.xml", sitemap(site, renderer.lastmods), "the sitemap")
    pages.add_all(redirect_pages(site, pages), "the redirect pages of moved essays")
    pages.add_all(alias_pages(site, pages), "the redirect pages of essays' old addresses")
    pages.add_all(redirects_file(site, {e.slug for e in site.essays}), "the _redirects file")
    return pages


class PageRenderer:
    """Renders the site's pages with the values every template shares."""

    def __init__(self, site: Site, templates: Environment) -> None:
        self.site = site
        self.settings = site.settings
        self.url = site.settings.site.url
        self.templates = templates
        self.lastmods: dict[str, datetime | None] = {}
        self.newest = site.essays[0].date if site.essays else None
        self.words = words_for(site.settings.site.language, site.root)
        self.packaged = templates_packaged(site.templates_dir)

    def words_of(self, essay: Essay) -> Words:
        """The words of an essay's own language (`language:` in its front matter), else the
        site's."""
        if not essay.language or essay.language == self.settings.site.language:
            return self.words
        return words_for(essay.language, self.site.root)

    def titled(self, page: str) -> str:
        """A page's title followed by the site's: 'Archive · The Site'."""
        return f"{page} · {self.settings.site.title}"

    def render(
        self,
        name: str,
        path: str,
        head: Head,
        root: str | None = None,
        words: Words | None = None,
        **values: Any,
    ) -> str:
        """Render one template for the page at `path` (its `root` found from it unless given).

        The sitemap's dates are not noted here but when a page is planned: a page the build
        cache already holds is never rendered.
        """
        settings = self.settings
        words = words or self.words
        try:
            return joined(
                localized(self.templates, words)
                .get_template(name)
                .generate(
                    site=settings.site,
                    settings=settings,
                    head=head,
                    root=root if root is not None else root_for(path),
                    feeds=self.feed_links(),
                    cadence=cadence_sentence(settings.schedule.rule, words),
                    signup_url=settings.email.signup_url,
                    subscribe_box=values.pop("subscribe_box", False),
                    fediverse=page_links(settings),
                    **values,
                )
            )
        except TemplateError as exc:
            raise PublishError([template_problem(exc, name, self.site.root)]) from None

    def feed_links(self) -> dict[str, str]:
        """Absolute URLs of the site's feeds."""
        return {
            "rss": f"{self.url}feed.xml",
            "atom": f"{self.url}atom.xml",
            "json": f"{self.url}feed.json",
        }

    def head(self, path: str, title: str, description: str = "", **more: str) -> Head:
        """A page's head values; the description falls back to the site's."""
        return Head(
            title=title,
            description=description or self.settings.site.description,
            canonical=self.url + page_url(path),
            **more,
        )

    def index_pages(self) -> Files:
        """The home page and `/page/N/`, newest essays first."""
        per_page = max(1, self.settings.site.per_page)
        essays = self.site.essays
        chunks = [essays[i : i + per_page] for i in range(0, len(essays), per_page)] or [()]
        paths = ["index.html"] + [f"page/{n}/index.html" for n in range(2, len(chunks) + 1)]
        pages: Files = {}
        for number, (path, chunk) in enumerate(zip(paths, chunks, strict=True), start=1):
            root = root_for(path)
            newer = root + page_url(paths[number - 2]) if number > 1 else ""
            older = root + page_url(paths[number]) if number < len(chunks) else ""
            title = self.settings.site.title
            if number > 1:
                title = self.words.gettext("%(site)s · page %(number)s") % {
                    "site": title,
                    "number": self.words.number(number),
                }
            pagination = Pagination(number, len(chunks), newer, older)
            pages[path] = self.deferred(
                path,
                None,
                chunk,
                (title, pagination),
                partial(
                    self.render,
                    "index.html",
                    path,
                    self.head(path, title, activity=actor_link(self.settings, number)),
                    essays=chunk,
                    pagination=pagination,
                    subscribe_box=number == 1,
                ),
            )
        return pages

    def deferred(
        self,
        path: str,
        lastmod: datetime | None,
        essays: Sequence[Essay],
        values: object,
        make: Callable[[], str],
    ) -> Deferred:
        """A page made on demand, keyed by the essays it lists and the other values it shows
        (their repr); noted for the sitemap now."""
        self.lastmods[path] = lastmod or self.newest
        return Deferred(Reads(path, values=(repr((values, lastmod)),), essays=tuple(essays)), make)

    def essay_pages(self) -> dict[str, Deferred]:
        """One page per essay, with its neighbours for previous/next links, made on demand."""
        essays = self.site.essays
        pages: dict[str, Deferred] = {}
        for index, essay in enumerate(essays):
            path = essay_page_path(essay)
            older = essays[index + 1] if index + 1 < len(essays) else None
            newer = essays[index - 1] if index > 0 else None
            self.lastmods[path] = essay.date or self.newest
            pages[path] = Deferred(
                self.essay_page_key(essay, older, newer),
                partial(self.essay_page, essay, path, older, newer),
            )
        return pages

    def essay_page_key(self, essay: Essay, older: Essay | None, newer: Essay | None) -> Reads:
        """What an essay page reads: the essay, its neighbours' slugs and titles, its
        approved replies, the rest."""
        neighbours = repr([(e.slug, e.title) if e else None for e in (older, newer)])
        return Reads("essay.html", essay, (neighbours, repr(replies_of(self.site, essay))))

    def essay_page(
        self, essay: Essay, path: str, older: Essay | None, newer: Essay | None
    ) -> str | bytes:
        """One essay's page (written around its body's kept bytes, see `essay_page_bytes`)."""
        root = root_for(path)
        words = self.words_of(essay)
        page = partial(
            self.render,
            "essay.html",
            path,
            self.essay_head(essay, path, words),
            words=words,
            essay=essay,
            image_src=resolve_url(essay.image, root),
            image_html=Markup(lead_picture(essay, root)),
            subscribe_box=True,
            tags=[(tag, tag_slug(tag)) for tag in essay.tags],
            older=older,
            newer=newer,
            replies=replies_of(self.site, essay),
        )
        return essay_page_bytes(essay, root, words.body, page, self.packaged)

    def essay_head(self, essay: Essay, path: str, words: Words) -> Head:
        """An essay's head: article cards and a JSON-LD BlogPosting."""
        canonical = self.url + page_url(path)
        image = resolve_url(og_image(essay.image_sizes, essay.image) or essay.image, self.url)
        data: dict[str, Any] = {
            "@context": "https://schema.org",
            "@type": "BlogPosting",
            "headline": essay.title,
            "description": essay.summary,
            "url": canonical,
            "mainEntityOfPage": canonical,
            "inLanguage": words.language,
            "author": {"@type": "Person", "name": essay.author},
            "publisher": {
                "@type": "Organization",
                "name": self.settings.site.title,
                "url": self.url,
            },
            "datePublished": essay.date.isoformat() if essay.date else "",
            "wordCount": essay.word_count,
            "keywords": list(essay.tags),
        }
        if image:
            data["image"] = image
        return self.head(
            path,
            f"{essay.title} · {self.settings.site.title}",
            essay.summary,
            kind="article",
            image=image,
            image_alt=essay.image_alt,
            json_ld=json_for_script(data),
            activity=article_id(self.site, essay) if self.settings.fediverse.enabled else "",
        )

    def archive_page(self) -> Files:
        """Every essay, grouped by year, newest first."""
        path = "archive/index.html"
        years = [
            (year, tuple(group))
            for year, group in groupby(self.site.essays, key=lambda e: e.date.year if e.date else 0)
        ]
        title = self.titled(self.words.gettext("Archive"))
        make = partial(self.render, "archive.html", path, self.head(path, title), years=years)
        return {path: self.deferred(path, None, self.site.essays, title, make)}

    def tag_pages(self) -> Files:
        """`/tags/` listing every tag, and `/tags/<slug>/` for each."""
        groups = tag_groups(self.site)
        pages: Files = {}
        path = "tags/index.html"
        listing = [(group.name, group.slug, [e.slug for e in group.essays]) for group in groups]
        pages[path] = self.deferred(
            path,
            None,
            self.site.essays,
            listing,
            partial(
                self.render,
                "tags.html",
                path,
                self.head(path, self.titled(self.words.gettext("Tags"))),
                tags=groups,
            ),
        )
        for group in groups:
            path = f"tags/{group.slug}/index.html"
            head = self.head(
                path,
                f"{group.name} · {self.settings.site.title}",
                self.words.gettext("Essays tagged %(tag)s in %(site)s.")
                % {"tag": group.name, "site": self.settings.site.title},
            )
            tag_feed = f"{self.url}tags/{group.slug}/feed.xml"
            pages[path] = self.deferred(
                path,
                group.essays[0].date,
                group.essays,
                (group.name, group.slug, head, tag_feed),
                partial(self.render, "tag.html", path, head, tag=group, tag_feed=tag_feed),
            )
        return pages

    def glossary_page(self) -> dict[str, Deferred]:
        """`/glossary/`, made on demand: it reads the glossary and who cites what."""
        path = "glossary/index.html"
        self.lastmods[path] = self.newest
        glossary = sorted(self.site.glossary.entries.items())
        reads = Reads(
            "glossary.html",
            values=(citers_key(self.site.essays), repr(self.newest)),
            entries=tuple(entry for _, entry in glossary),
        )
        return {path: Deferred(reads, partial(self.glossary_html, path))}

    def glossary_html(self, path: str) -> str:
        """`/glossary/`: every term, alphabetical, with where it is cited."""
        items = glossary_items(self.site, root_for(path))
        letters = sorted({item.letter for item in items})
        title = self.titled(self.words.gettext("Glossary"))
        head = self.head(
            path,
            title,
            self.words.gettext(
                "Every term cited in the notes of %(site)s, "
                "with its source and the essays that cite it."
            )
            % {"site": self.settings.site.title},
        )
        terms = defined_terms(items, self.settings.site, self.url, title)
        head = msgspec.structs.replace(head, json_ld=json_for_script(terms))
        return self.render("glossary.html", path, head, items=items, letters=letters)

    def search_page(self) -> Files:
        """`/search/` with Pagefind's search box, when `[site] search` is on (the only page
        that loads a script; the index is written once the site is: `pipeline.search`)."""
        if not self.settings.site.search:
            return {}
        path = "search/index.html"
        title = f"Search · {self.settings.site.title}"
        head = self.head(path, title, f"Search the essays of {self.settings.site.title}.")
        page = self.deferred(path, None, (), head, partial(self.render, "search.html", path, head))
        return {path: page, "search.js": (PACKAGE_STATIC / "search.js").read_bytes()}

    def not_found_page(self) -> Deferred:
        """`404.html`, linking by absolute path so it works at any depth."""
        base_path = urlsplit(self.url).path or "/"
        head = Head(
            title=self.titled(self.words.gettext("Page not found")),
            description=self.settings.site.description,
            canonical="",
        )
        recent = self.site.essays[:5]
        reads = Reads("404.html", values=(repr((head, base_path)),), essays=tuple(recent))
        return Deferred(
            reads, partial(self.render, "404.html", "404.html", head, root=base_path, recent=recent)
        )


def robots_txt(site: Site) -> str:
    """`robots.txt`: everything may be crawled; the sitemap's absolute URL."""
    return f"User-agent: *\nAllow: /\n\nSitemap: {site.settings.site.url}sitemap.xml\n"


def sitemap(site: Site, lastmods: dict[str, datetime | None]) -> str:
    """`sitemap.xml`: every page's absolute URL with the date it last changed."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">',
    ]
    for path in sorted(lastmods, key=_sitemap_order):
        moment = lastmods[path]
        lines.append("  <url>")
        address = escape(site.settings.site.url + page_url(path), quote=False)  # &, <, >
        lines.append(f"    <loc>{address}</loc>")
        if moment is not None:
            lines.append(f"    <lastmod>{moment.date().isoformat()}</lastmod>")
        lines.append("  </url>")
    lines.append("</urlset>")
    return "\n".join(lines) + "\n"


def _sitemap_order(path: str) -> tuple[int, str]:
    """The home page first, then every other page by path."""
    return (0 if path == "index.html" else 1, path)
