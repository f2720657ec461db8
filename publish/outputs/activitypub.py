"""The site in ActivityPub: the actor's addresses and documents, and each released essay as
an `Article` (written as a static file beside the pages, and delivered to followers).

The Article carries the essay as the feeds do (the same rendering, notes and glossary notes
included), so a Mastodon reader gets it in full. Documents are plain JSON with the
ActivityStreams and security contexts and inline terms only: no receiver needs to fetch
another context to read them.
"""

from __future__ import annotations

import json
import mimetypes
import re
from typing import Any

import msgspec

from publish.content.fediverse_settings import handle_parts
from publish.model import Essay, Settings, ShownReply, Site
from publish.outputs.entries import entry_id, feed_content
from publish.outputs.files import Deferred, OutputFiles, Reads
from publish.outputs.urls import essay_url, resolve_url, tag_slug

ACTIVITY_JSON = "application/activity+json"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"
# Terms Mastodon uses beyond ActivityStreams, defined inline (never a context to fetch).
EXTRA_TERMS = {
    "Hashtag": "as:Hashtag",
    "sensitive": "as:sensitive",
    "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
    "movedTo": {"@id": "as:movedTo", "@type": "@id"},
    "alsoKnownAs": {"@id": "as:alsoKnownAs", "@type": "@id"},
    "toot": "http://joinmastodon.org/ns#",
    "discoverable": "toot:discoverable",
    "indexable": "toot:indexable",
}
CONTEXT = [AS_CONTEXT, SECURITY_CONTEXT, EXTRA_TERMS]
# What a reply shown under an essay may keep of its HTML (nh3 drops the rest).
REPLY_TAGS = {"p", "br", "a", "span", "em", "strong", "i", "b", "blockquote", "code", "pre"}
REPLY_TAGS |= {"ul", "ol", "li"}
# Where the actor's parts live under the site's URL (the nginx snippet routes them).
PREFIX = "activitypub/"
ARTICLES = f"{PREFIX}articles/"


def actor_id(settings: Settings) -> str:
    """The actor's id: `<site>/activitypub/actor`."""
    return f"{settings.site.url}{PREFIX}actor"


def actor_url(settings: Settings, part: str) -> str:
    """One of the actor's collections or endpoints: inbox, outbox, followers."""
    return f"{settings.site.url}{PREFIX}{part}"


def key_id(settings: Settings) -> str:
    """The id of the actor's public key."""
    return f"{actor_id(settings)}#main-key"


def handle(settings: Settings) -> str:
    """The actor's handle, `@user@host`."""
    user, host = handle_parts(settings.fediverse.handle, settings.site.url)
    return f"@{user}@{host}"


def article_path(slug: str) -> str:
    """Where the build writes an essay's Article (served as application/activity+json)."""
    return f"{ARTICLES}{slug}.json"


def article_id(site: Site, essay: Essay) -> str:
    """An essay's Article id: by the slug it was released at, so a moved page keeps it."""
    released = entry_id(site, essay).removeprefix(site.settings.site.url).strip("/")
    return site.settings.site.url + article_path(released)


def article(site: Site, essay: Essay) -> dict[str, Any]:
    """An essay as an ActivityPub Article: title, summary, the full content with its notes
    as the feeds carry them, its page, date, author, hashtags, lead image and language."""
    settings = site.settings
    content = feed_content(site, essay)
    language = essay.language or settings.site.language  # the essay's own, else the site's
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "id": article_id(site, essay),
        "type": "Article",
        "attributedTo": actor_id(settings),
        "name": essay.title,
        "summary": essay.summary or None,
        "content": content,
        "contentMap": {language: content},
        "nameMap": {language: essay.title},
        "mediaType": "text/html",
        "url": essay_url(site, essay),
        "published": essay.date.isoformat().replace("+00:00", "Z") if essay.date else None,
        "to": [PUBLIC],
        "cc": [actor_url(settings, "followers")],
        "tag": [hashtag(settings, tag) for tag in essay.tags],
        "attachment": lead_image(site, essay),
    }
    return {key: value for key, value in document.items() if value is not None}


def hashtag(settings: Settings, tag: str) -> dict[str, str]:
    """A tag as a Hashtag, linking the site's page of the tag (a hashtag has no spaces)."""
    name = re.sub(r"[^\w]+", "", tag.title() if " " in tag else tag) or tag_slug(tag)
    return {
        "type": "Hashtag",
        "href": f"{settings.site.url}tags/{tag_slug(tag)}/",
        "name": f"#{name}",
    }


def lead_image(site: Site, essay: Essay) -> list[dict[str, str]]:
    """The essay's lead image as an attachment with its alt text, or nothing."""
    if not essay.image:
        return []
    image = {"type": "Image", "url": resolve_url(essay.image, site.settings.site.url)}
    kind = mimetypes.guess_type(essay.image.split("?")[0].split("#")[0])[0]
    if kind:
        image["mediaType"] = kind
    if essay.image_alt:
        image["name"] = essay.image_alt
    return [image]


def render_articles(site: Site, templates: object = None) -> OutputFiles:
    """`activitypub/articles/<slug>.json` for each published essay, when the site has an
    actor; nothing otherwise (and nothing is rendered). They need no templates."""
    files = OutputFiles()
    if not site.settings.fediverse.enabled:
        return files
    for essay in site.essays:
        path = article_path(article_id(site, essay).rsplit("/", 1)[1].removesuffix(".json"))
        files.add(
            path,
            Deferred(Reads(path, essay=essay), lambda essay=essay: dumps(article(site, essay))),
            f"the Article of {essay.path}",
        )
    return files


def dumps(document: dict[str, Any]) -> str:
    """A document as the JSON the site serves."""
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def actor_document(settings: Settings, public_pem: str) -> dict[str, Any]:
    """The actor: its name, profile, avatar, the site, its inbox, outbox and followers, its
    public key, and the accounts it was known as or moved to."""
    fediverse = settings.fediverse
    user, _ = handle_parts(fediverse.handle, settings.site.url)
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "id": actor_id(settings),
        "type": "Person",
        "preferredUsername": user,
        "name": fediverse.name or settings.site.title,
        "summary": fediverse.summary or settings.site.description or None,
        "url": settings.site.url,
        "inbox": actor_url(settings, "inbox"),
        "outbox": actor_url(settings, "outbox"),
        "followers": actor_url(settings, "followers"),
        "endpoints": {"sharedInbox": actor_url(settings, "inbox")},
        "manuallyApprovesFollowers": False,
        "discoverable": True,
        "indexable": True,
        "publicKey": {
            "id": key_id(settings),
            "owner": actor_id(settings),
            "publicKeyPem": public_pem,
        },
    }
    if fediverse.icon:
        icon = resolve_url(fediverse.icon, settings.site.url)
        kind = mimetypes.guess_type(icon)[0] or "image/png"
        document["icon"] = {"type": "Image", "mediaType": kind, "url": icon}
    if fediverse.also_known_as:
        document["alsoKnownAs"] = list(fediverse.also_known_as)
    if fediverse.moved_to:
        document["movedTo"] = fediverse.moved_to
    return {key: value for key, value in document.items() if value is not None}


def webfinger(settings: Settings) -> dict[str, Any]:
    """The WebFinger answer for the actor's `acct:` resource."""
    user, host = handle_parts(settings.fediverse.handle, settings.site.url)
    return {
        "subject": f"acct:{user}@{host}",
        "aliases": [actor_id(settings), settings.site.url],
        "links": [
            {"rel": "self", "type": ACTIVITY_JSON, "href": actor_id(settings)},
            {
                "rel": "http://webfinger.net/rel/profile-page",
                "type": "text/html",
                "href": settings.site.url,
            },
        ],
    }


def create_activity(
    site: Site, essay: Essay, kind: str = "Create", activity_id: str = ""
) -> dict[str, Any]:
    """A `Create` (or `Update`) of an essay's Article, addressed to the public and the
    followers, as the outbox lists it and followers receive it. An Update needs an id of
    its own each time (`activity_id`); a Create's is the Article's with `#create`."""
    document = article(site, essay)
    activity = {
        "@context": CONTEXT,
        "id": activity_id or f"{document['id']}#{kind.lower()}",
        "type": kind,
        "actor": actor_id(site.settings),
        "published": document.get("published"),
        "to": document["to"],
        "cc": document["cc"],
        "object": {key: value for key, value in document.items() if key != "@context"},
    }
    return {key: value for key, value in activity.items() if value is not None}


class PageLinks(msgspec.Struct, frozen=True):
    """What every page of a site with an actor says of it: the actor's handle (Mastodon's
    `fediverse:creator`), its id, and the profiles it links with rel="me"."""

    creator: str
    actor: str
    me: tuple[str, ...]


def page_links(settings: Settings) -> PageLinks | None:
    """The fediverse links of every page, or None without an actor."""
    fediverse = settings.fediverse
    if not fediverse.enabled:
        return None
    return PageLinks(handle(settings), actor_id(settings), fediverse.profiles)


def actor_link(settings: Settings, page_number: int) -> str:
    """The actor, for the home page's `<link rel="alternate">` (not the later pages)."""
    return actor_id(settings) if settings.fediverse.enabled and page_number == 1 else ""


def replies_of(site: Site, essay: Essay) -> tuple[ShownReply, ...]:
    """The approved replies to an essay, sanitised once more for the page."""
    if not site.replies:  # the usual case: every essay page asks
        return ()
    return tuple(
        ShownReply(
            reply.slug,
            reply.author_name,
            reply.author_url if reply.author_url.startswith(("https://", "http://")) else "",
            reply.url if reply.url.startswith(("https://", "http://")) else "",
            clean_reply(reply.content),
            reply.published,
        )
        for reply in site.replies
        if reply.slug == essay.slug
    )


_LINK_WITHOUT_TARGET = re.compile(r"<a(?![^>]*\shref=)[^>]*>(.*?)</a>", re.S)


def clean_reply(html: str) -> str:
    """A reply's HTML as the site keeps and shows it: paragraphs, emphasis, lists, quotes
    and http(s) links (nofollow) only, by nh3; a link whose target was dropped (javascript:
    and the like) keeps its words only."""
    import nh3  # loaded only when a reply is shown

    cleaned = nh3.clean(
        html,
        tags=REPLY_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https"},
        link_rel="nofollow ugc noopener",
    )
    return _LINK_WITHOUT_TARGET.sub(r"\1", cleaned)
