"""The pixel size of each local image an essay shows, for the email's `width` and `height`,
and a warning for an image too heavy for a reader's phone.

Sizes come from the file's header only (Pillow opens lazily and decodes nothing; an SVG's
size is read from its root element), and are kept in `build/.cache/images.json` by each
file's size, modification time and inode, so a build reads the header of a new or changed
image only.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

import msgspec

from publish.cache.store import BuildCache
from publish.content.markdown import SCHEME
from publish.errors import Problem, hint, shown, warning
from publish.layout import ESSAYS_DIR
from publish.model import Essay, ImageSize

SIZES_FILE = "images.json"  # in the cache folder
MAGIC = b"PUBIMAGE"
LARGE_BYTES = 1024 * 1024  # an image heavier than this is slow on a phone
LARGE_PIXELS = 3000  # wider or taller than this is far more than any screen shows
EMAIL_WIDTH = 560  # the content column of the 600 px email (20 px padding either side)
ORIENTATION = 0x0112  # the EXIF tag that turns a photo; 5 to 8 swap width and height
RASTER = (".png", ".jpg", ".jpeg", ".webp")  # the images publish makes variants of
AVIF_MISSING = (
    "this Pillow cannot write AVIF, so pages offer each image in WebP only; "
    "install a Pillow built with libavif (pip install -U 'pillow>=11.3') to add AVIF"
)


@cache
def svg_length() -> re.Pattern[str]:
    """A length an SVG's width or height gives, in pixels (compiled on first use: few
    essays show an SVG)."""
    return re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(px)?\s*$")


class Size(NamedTuple):
    """An image's width and height in pixels, as shown (0, 0 when unknown)."""

    width: int
    height: int


class Measured(NamedTuple):
    """An image file as last measured: its stamp (size in bytes, modification time in ns,
    inode: a change in any means the file changed) and its pixel size. Kept in the cache
    file as a plain array of the five numbers."""

    length: int
    mtime_ns: int
    inode: int
    width: int
    height: int

    @property
    def stamp(self) -> tuple[int, int, int]:
        """What tells whether the file changed since it was measured."""
        return self.length, self.mtime_ns, self.inode


_DECODER = msgspec.json.Decoder(dict[str, Measured])


class ImageSizes:
    """The sizes of a site's images, kept between builds in the cache folder."""

    def __init__(self, root: Path, cache: BuildCache | None = None):
        self.root = root
        self.cache = cache
        self.known = self._load()
        self.changed = False

    def _load(self) -> dict[str, Measured]:
        """The kept sizes (none without a cache, or when absent or damaged)."""
        found = self.cache.read_json(SIZES_FILE, MAGIC, _DECODER) if self.cache else None
        return found or {}

    def size(self, relative: str) -> Measured | None:
        """The file `essays/<relative>` as measured now (its size 0, 0 when unreadable), or
        None when there is no such file."""
        try:
            status = os.stat(self.root / ESSAYS_DIR / relative)
        except OSError:
            return None
        stamp = (status.st_size, status.st_mtime_ns, status.st_ino)
        known = self.known.get(relative)
        if known is None or known.stamp != stamp:
            known = self.known[relative] = Measured(
                *stamp, *read_size(self.root / ESSAYS_DIR / relative)
            )
            self.changed = True
        return known

    def save(self) -> None:
        """Keep the sizes for the next build (never while `check` leaves the cache alone)."""
        if (
            self.changed
            and self.cache is not None
            and self.cache.write_json(SIZES_FILE, MAGIC, self.known)
        ):
            self.changed = False


def read_size(path: Path) -> Size:
    """An image file's width and height as shown, from its header; (0, 0) if unreadable."""
    if path.suffix.lower() == ".svg":
        return _svg_size(path)
    from PIL import Image, UnidentifiedImageError  # only when an image is new or changed

    try:
        with Image.open(path) as image:  # lazy: reads the header, decodes no pixels
            width, height = image.size
            turned = image.getexif().get(ORIENTATION, 1) in (5, 6, 7, 8)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return Size(0, 0)
    return Size(height, width) if turned else Size(width, height)


def _svg_size(path: Path) -> Size:
    """An SVG's size from its root's `width` and `height` in pixels, else its `viewBox`."""
    from defusedxml import ElementTree

    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError, ValueError):
        return Size(0, 0)
    lengths = [svg_length().match(root.get(name, "")) for name in ("width", "height")]
    if all(lengths):
        width, height = (round(float(length[1])) for length in lengths)  # type: ignore[index]
        return Size(width, height)
    box = root.get("viewBox", "").replace(",", " ").split()
    try:
        return Size(round(float(box[2])), round(float(box[3]))) if len(box) == 4 else Size(0, 0)
    except ValueError:
        return Size(0, 0)


@functools.cache
def avif_supported() -> bool:
    """Whether this Pillow can write AVIF (built in since Pillow 11.2, when its build has
    libavif); without it pages offer WebP only."""
    from PIL import features

    return bool(features.check("avif"))


def avif_problems(essays: Sequence[Essay]) -> list[Problem]:
    """A hint at the first raster image shown when this Pillow cannot write AVIF (Pillow is
    asked only when there is such an image: a site without one never loads it)."""
    shown = (
        (essay.path, line, col)
        for essay in essays
        for src, line, col in essay.images
        if Path(local_image(src) or "").suffix.lower() in RASTER
    )
    first = next(shown, None)
    if first is None or avif_supported():
        return []
    return [hint(*first, AVIF_MISSING)]


def local_image(src: str) -> str | None:
    """The path under essays/ of a local image source, or None for a remote or data one."""
    if not src or SCHEME.match(src) or src.startswith("//"):
        return None
    parts = [part for part in unquote(urlsplit(src).path).split("/") if part]
    return "/".join(parts) or None


def measure_images(essay: Essay, sizes: ImageSizes) -> tuple[Essay, list[Problem]]:
    """The essay with the size of each local image it shows, and a warning for each image
    that is very large (over 1 MB, or over 3000 px wide or tall)."""
    found: dict[str, ImageSize] = {}
    problems = []
    for src, line, col in essay.images:
        relative = local_image(src)
        measured = sizes.size(relative) if relative else None
        if measured is None:
            continue
        if measured.width and measured.height:
            found.setdefault(src, ImageSize(src, measured.width, measured.height))
        if measured.length > LARGE_BYTES or max(measured.width, measured.height) > LARGE_PIXELS:
            problems.append(warning(essay.path, line, col, _large(src, measured)))
    image_sizes = tuple(found.values())
    if image_sizes == essay.image_sizes:
        return essay, problems
    return msgspec.structs.replace(essay, image_sizes=image_sizes), problems


def _large(src: str, measured: Measured) -> str:
    """The warning for a very large image."""
    length, width, height = measured.length, measured.width, measured.height
    weight = f"{length / 1024:.0f} KB" if length < LARGE_BYTES else f"{length / 1024**2:.1f} MB"
    return (
        f"image '{shown(src)}' is {weight}, {width}×{height} px: "
        f"readers wait for it on a phone; at most {LARGE_PIXELS} px and 1 MB is plenty"
    )


def email_size(width: int, height: int, limit: int = EMAIL_WIDTH) -> Size:
    """An image's size in the email: its own, or scaled down to `limit` wide."""
    if width <= limit:
        return Size(width, height)
    return Size(limit, max(1, round(height * limit / width)))


def email_dimensions(sizes: Sequence[ImageSize], src: str) -> dict[str, str]:
    """The `width` and `height` an email gives the image written as `src`, from an essay's
    `image_sizes` (none when its size is not known)."""
    for size in sizes:
        if size.src == src:
            scaled = email_size(size.width, size.height)
            return {"width": str(scaled.width), "height": str(scaled.height)}
    return {}
