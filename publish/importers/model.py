"""The one shape every importer yields: an archive of posts, their images and readers."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import msgspec

from publish.errors import Problem
from publish.importers.ziplimits import ZipLimits


class ImageFile(msgspec.Struct):
    """An image the archive holds: where it goes under essays/, and its bytes."""

    target: str  # relative to essays/, e.g. "images/on-margins/pencil.png"
    data: bytes


class ImportedPost(msgspec.Struct):
    """One post of an archive, its body still HTML (normalised by the importer).

    `body_html` marks each footnote citation as `<sup data-footnote="label">`; `footnotes`
    holds each label's definition (HTML) in citation order.
    """

    title: str
    slug: str
    body_html: str
    date: datetime | None = None
    subtitle: str = ""
    old_paths: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    category: str = ""
    author: str = ""
    draft: bool = False
    released: bool = False  # went out (published, or for Substack emailed): never mail it
    footnotes: list[tuple[str, str]] = msgspec.field(default_factory=list)
    images: list[ImageFile] = msgspec.field(default_factory=list)
    missing_images: list[str] = msgspec.field(default_factory=list)  # kept at their old address
    dropped_images: list[str] = msgspec.field(default_factory=list)  # no address: alt text shown
    embeds: list[str] = msgspec.field(default_factory=list)
    image: str = ""
    image_alt: str = ""
    image_credit: str = ""
    origin: str = ""  # where in the export the post came from, for messages


class Archive(msgspec.Struct):
    """Everything one export holds that publish can use."""

    source: str
    posts: list[ImportedPost] = msgspec.field(default_factory=list)
    subscriber_files: list[tuple[str, bytes]] = msgspec.field(default_factory=list)  # (name, CSV)
    attachments: list[str] = msgspec.field(default_factory=list)
    notes: list[str] = msgspec.field(default_factory=list)
    warnings: list[Problem] = msgspec.field(default_factory=list)  # what was read past, and where


class ImportOptions(msgspec.Struct, frozen=True):
    """What the command line asked for."""

    glossary: bool = False
    dry_run: bool = False
    uploads: Path | None = None
    subscribers: Path | None = None
    limits: ZipLimits = ZipLimits()
