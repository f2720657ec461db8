"""The plain data model every output reads: settings, glossary, essays and the site."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime, time
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from publish.layout import TEMPLATES_DIR


class Located(NamedTuple):
    """Something a file writes (a link's destination, an image's source) and where: its
    line and column. Shown and fingerprinted as the plain tuple it is (the build cache reads
    these back as plain tuples)."""

    text: str
    line: int
    col: int

    __repr__ = tuple.__repr__


class KeptRenderings(ABC):
    """An essay's body that keeps what was rendered from its tokens (the build cache's kept
    bodies): a renderer asks it for `rendered(render, context)` instead of rendering."""

    @abstractmethod
    def rendered(self, render: Callable[[Any, Any], str], context: Any) -> str:
        """What `render(tokens, context)` returns, kept or rendered now."""

    def rendered_utf8(self, render: Callable[[Any, Any], str], context: Any) -> bytes:
        """`rendered(render, context)` in UTF-8 (a kept body's bytes as they are kept)."""
        return self.rendered(render, context).encode("utf-8")


class ImageSize(NamedTuple):
    """The pixel size of an image an essay shows, by its source as the essay writes it."""

    src: str
    width: int
    height: int

    __repr__ = tuple.__repr__


DEFAULT_VERIFY_TIMEOUT = 180.0  # seconds `publish run` waits for a deploy to be served
DEFAULT_DEPLOY_KEEP = 5  # releases a dir or rsync target keeps
DEFAULT_DEPLOY_TIMEOUT = 600.0  # seconds any one deploy program (command, rsync, git) may run
DEFAULT_TIMEZONE = "UTC"  # a site's time zone when publish.toml names none
DEFAULT_RULE = "FREQ=MONTHLY;BYDAY=+1TU"  # its schedule: the first Tuesday of each month


class DeploySettings(msgspec.Struct, frozen=True):
    """The validated `[deploy]` table; `line` is where its `target` is set (for messages)."""

    target: str
    verify_timeout: float = DEFAULT_VERIFY_TIMEOUT
    timeout: float = DEFAULT_DEPLOY_TIMEOUT
    websub_hub: str = ""
    endpoint_url: str = ""
    region: str = ""
    keep: int = DEFAULT_DEPLOY_KEEP
    ssh: str = ""
    shell: bool = False
    invalidate: str = ""
    line: int = 1

    @property
    def scheme(self) -> str:
        """The kind of target: dir, rsync, git, s3 or command."""
        return "s3" if self.target.startswith("s3://") else self.target.partition(":")[0]

    @property
    def location(self) -> str:
        """The target without its scheme: a folder, host:path, URL#branch, bucket/prefix..."""
        if self.scheme == "s3":
            return self.target.removeprefix("s3://")
        return self.target.partition(":")[2]


class SiteSettings(msgspec.Struct, frozen=True):
    """The `[site]` table of publish.toml."""

    title: str
    url: str
    author: str
    language: str = "en"
    timezone: str = DEFAULT_TIMEZONE
    description: str = ""
    per_page: int = 10
    feed_items: int = 20
    search: bool = False  # a Pagefind index of the essays and a /search/ page
    keep_image_metadata: bool = False  # publish images with their EXIF place and camera data
    profiles: tuple[str, ...] = ()  # the author's profile pages elsewhere (rel="me")
    fediverse_creator: str = ""  # the author's fediverse handle, "@name@server"


class ScheduleSettings(msgspec.Struct, frozen=True):
    """The `[schedule]` table: an RFC 5545 rule and the time of day of each slot."""

    rule: str = DEFAULT_RULE
    time: time = time(9, 0)


class EmailSettings(msgspec.Struct, frozen=True):
    """The `[email]` table: sender, reply address, subscription service and sending pace."""

    from_address: str = ""
    reply_to: str = ""
    signup_url: str = ""
    service_url: str = ""
    postal_address: str = ""
    rate: float = 0.0
    max_retries: int = 5
    dkim_selector: str = ""  # DKIM: the selector, the PEM key file (site-relative), the d= domain
    dkim_key_file: str = ""
    dkim_domain: str = ""
    bounce_address: str = ""  # VERP return path base: bounces+<token>@domain (publish.bounces)
    soft_bounce_limit: int = 3  # soft bounces on sends in a row that make a reader bounced
    welcome: str = "latest"  # what a newly confirmed reader is sent: "latest" or "none"
    connections: int = 4  # SMTP connections a send delivers over at once
    hourly_limit: int = 0  # messages per rolling hour over all sends (0: no limit)


class StateSettings(msgspec.Struct, frozen=True):
    """The `[state]` table: where the SQLite state and the environment file live (site-relative).

    An empty `environment_file` means `publish.env` beside the database.
    """

    database: str = "state/publish.db"
    environment_file: str = ""


class FediverseSettings(msgspec.Struct, frozen=True):
    """The `[fediverse]` table: the site's ActivityPub actor (publish.fediverse)."""

    enabled: bool = False
    handle: str = ""  # the actor's name: "letters", or "@letters@example.org"
    name: str = ""  # shown as the actor's name; empty: the site's title
    summary: str = ""  # the actor's profile text; empty: the site's description
    icon: str = ""  # the avatar, site-relative or absolute
    also_known_as: tuple[str, ...] = ()  # old accounts whose followers may move here
    moved_to: str = ""  # the account this actor moved to (followers are told to follow it)
    profiles: tuple[str, ...] = ()  # profile pages the site links with rel="me" (verification)
    allow_private_addresses: bool = False  # fetch keys from loopback/LAN hosts: tests only


class Settings(msgspec.Struct, frozen=True):
    """Every setting of a site, validated."""

    site: SiteSettings
    schedule: ScheduleSettings = msgspec.field(default_factory=ScheduleSettings)
    email: EmailSettings = msgspec.field(default_factory=EmailSettings)
    state: StateSettings = msgspec.field(default_factory=StateSettings)
    deploy: DeploySettings | None = None  # no [deploy] table: publish does not deploy
    fediverse: FediverseSettings = msgspec.field(default_factory=FediverseSettings)


class GlossaryEntry(msgspec.Struct, frozen=True, dict=True):
    """One shared footnote: `footnotes/<key>.md`."""

    key: str
    term: str
    source: str
    aliases: tuple[str, ...]
    definition: str
    path: str
    tokens: tuple[Any, ...] = ()

    @cached_property
    def fingerprint(self) -> str:
        """A hash of everything the entry puts into the essays that cite it (computed once:
        an entry is immutable)."""
        text = repr((self.key, self.term, self.source, self.aliases, self.definition))
        return hashlib.sha256(text.encode()).hexdigest()


class Glossary(msgspec.Struct, frozen=True):
    """Every glossary entry by key, with aliases resolving to their entry."""

    entries: dict[str, GlossaryEntry]
    aliases: dict[str, str] = msgspec.field(default_factory=dict)

    def lookup(self, label: str) -> GlossaryEntry | None:
        """The entry a footnote label names, by key or alias, or None."""
        key = label if label in self.entries else self.aliases.get(label)
        return self.entries.get(key) if key else None

    def keys(self) -> list[str]:
        """Every key and alias, for "did you mean"."""
        return [*self.entries, *self.aliases]


class Note(msgspec.Struct, frozen=True):
    """One numbered footnote of an essay: from the glossary (key set) or the essay itself."""

    number: int
    label: str
    glossary_key: str | None
    references: int


class Essay(msgspec.Struct, frozen=True):
    """One essay, parsed once; every output renders from `tokens`."""

    path: str
    slug: str
    title: str
    subtitle: str
    date: datetime | None
    author: str
    tags: tuple[str, ...]
    category: str
    summary: str
    image: str
    image_alt: str
    image_credit: str
    draft: bool
    order: int | None
    body_line: int
    tokens: tuple[Any, ...]
    notes: tuple[Note, ...]
    word_count: int
    content_hash: str
    aliases: tuple[str, ...] = ()  # old addresses (front matter `aliases`), redirected here
    # every image source (front matter `image:` and the body's) with its file line and column,
    # found once at parse time so that a load checks the files without decoding any tokens
    images: tuple[Located, ...] = ()
    # every link destination of the body with its file line and column (found at parse time)
    links: tuple[Located, ...] = ()
    # set by the build's plan: each link to another essay as written, and that essay's
    # site-relative address (`other-essay/#part`)
    link_targets: tuple[tuple[str, str], ...] = ()
    # set at each load: the pixel size of each local image file (source, width, height)
    image_sizes: tuple[ImageSize, ...] = ()
    language: str = ""  # front matter `language`: the essay's own language ("": the site's)

    def __post_init__(self) -> None:
        # The build cache reads an essay's located sources back as plain tuples: name their
        # parts again (checked at the first item, so an essay already named costs nothing).
        for name in ("images", "links"):
            found = getattr(self, name)
            if found and type(found[0]) is not Located:
                msgspec.structs.force_setattr(self, name, tuple(Located(*item) for item in found))

    def with_tokens(self, tokens: tuple[Any, ...]) -> Essay:
        """This essay with other tokens (the build cache's kept body in place of its parse),
        every other field as it is (copied in C by `msgspec.structs.replace`, which runs
        `__post_init__` as the constructor does; a rebuild does it for every essay it loads)."""
        return msgspec.structs.replace(self, tokens=tokens)

    @property
    def reading_minutes(self) -> int:
        """Minutes to read at about 230 words a minute, at least one."""
        return max(1, round(self.word_count / 230))


class ShownReply(msgspec.Struct, frozen=True):
    """A reply from the fediverse the author approved, shown under its essay: who wrote it,
    where the original is, and its HTML (sanitised when it arrived, and again when shown)."""

    slug: str
    author_name: str
    author_url: str
    url: str
    content: str
    published: str


class Site(msgspec.Struct, frozen=True):
    """A whole site, loaded: root folder, settings, glossary and every essay (drafts too)."""

    root: Path
    settings: Settings
    glossary: Glossary
    essays: tuple[Essay, ...]
    # (old slug, new slug) of each released essay whose page moved: old/ redirects to new/
    redirects: tuple[tuple[str, str], ...] = ()
    replies: tuple[ShownReply, ...] = ()  # approved replies from the fediverse, oldest first
    # the files beside the essays that are not Markdown (images and such), by path in
    # `essays/`, as the load found them (the outputs publish them without walking again)
    assets: tuple[tuple[str, Path], ...] = ()

    @property
    def templates_dir(self) -> Path:
        """The site's own template overrides."""
        return self.root / TEMPLATES_DIR

    def essay(self, slug: str) -> Essay | None:
        """The essay with this slug, or None."""
        return next((e for e in self.essays if e.slug == slug), None)


class Release(msgspec.Struct, frozen=True):
    """One recorded release: the slot an essay took, when it went out, and what was released."""

    slug: str
    slot: datetime
    released_at: datetime
    content_hash: str
    source: str = ""  # the essay's file, relative to the site root ("" in old records)
