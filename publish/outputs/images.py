"""Images for every screen, two rows of the build: the files beside the essays as they are
(`render_assets`), and the published images made from them (`render_images`): each raster
image carrying EXIF or XMP data saved again without its place and camera, and for each local
raster image an essay shows its responsive variants: WebP and AVIF at 480, 960 and 1,440 px
(never wider than the image itself) for `<picture>`, one JPEG or PNG at twice the email's
560 px column, and the Open Graph image at 1,200 px.

A variant's path is named from its source, width and format (`images/wide.png` gives
`images/wide.960w.webp`), so the renderers know every address from the image's measured size
alone. Each variant is deferred and keyed by its source's content, so the output memo keeps
it between builds: a rebuild encodes only the images that changed. Encoding runs in the
build's forked workers when there are enough of them.
"""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Iterator, Sequence
from functools import partial
from html import escape
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import msgspec

from publish.content.images import EMAIL_WIDTH, avif_supported, local_image
from publish.errors import PublishError
from publish.layout import ESSAYS_DIR
from publish.model import Essay, ImageSize, Site
from publish.outputs.files import Deferred, OutputFiles, Reads
from publish.outputs.urls import resolve_url

if TYPE_CHECKING:
    from jinja2 import Environment

SCREEN_WIDTHS = (480, 960, 1440)  # the widths a page offers a browser to choose from
EMAIL_PIXELS = 2 * EMAIL_WIDTH  # sharp on a high-density screen, shown at the column's width
OG_WIDTH = 1200  # what social sites show a link's card at
SIZES = "(max-width: 38rem) 100vw, 38rem"  # the essay column (style.css --measure)
FALLBACK = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "JPEG"}
EXTENSION = {"AVIF": "avif", "WEBP": "webp", "JPEG": "jpg", "PNG": "png"}
MEDIA_TYPE = {"AVIF": "image/avif", "WEBP": "image/webp"}
ENCODING = {
    "AVIF": {"quality": 60, "speed": 8},
    "WEBP": {"quality": 80, "method": 4},
    "JPEG": {"quality": 85, "optimize": True, "progressive": True},
    "PNG": {"optimize": False},
}
_EXAMINED: dict[tuple[str, int, int, int], Examined] = {}  # by stamp; see `examined`
KEPT_TAGS = (0x0112, 0x013B, 0x8298)  # orientation, artist, copyright: no place, no camera
METADATA_MARKS = (b"Exif\x00\x00", b"eXIf", b"EXIF", b"http://ns.adobe.com/xap/1.0/")


class Variant(msgspec.Struct, frozen=True):
    """One encoded copy of an image: where it goes on the site, its size and format."""

    source: str  # the image's path under essays/ (and on the site)
    width: int
    height: int
    format: str  # a Pillow format name: AVIF, WEBP, JPEG or PNG

    @property
    def path(self) -> str:
        """The variant's path on the site, beside its source."""
        stem = PurePosixPath(self.source).with_suffix("")
        return f"{stem}.{self.width}w.{EXTENSION[self.format]}"


def screen_formats() -> tuple[str, ...]:
    """The formats a page offers besides the original, best first (AVIF where this Pillow
    can write it)."""
    return ("AVIF", "WEBP") if avif_supported() else ("WEBP",)


def raster_source(src: str) -> str | None:
    """The path under essays/ of a local raster image (PNG, JPEG, WebP), else None."""
    relative = local_image(src)
    if relative is None or PurePosixPath(relative).suffix.lower() not in FALLBACK:
        return None
    return relative


def scaled(source: str, size: ImageSize, width: int, kind: str) -> Variant:
    """The variant of `source` `width` pixels wide (its height in proportion)."""
    height = max(1, round(size.height * width / size.width))
    return Variant(source, width, height, kind)


def screen_variants(source: str, size: ImageSize, formats: Sequence[str]) -> list[Variant]:
    """The variants a page's `<picture>` offers: each format at each screen width below the
    image's own, and at its own width (at most 1,440 px)."""
    widths = sorted(
        {w for w in SCREEN_WIDTHS if w < size.width} | {min(size.width, SCREEN_WIDTHS[-1])}
    )
    return [scaled(source, size, width, kind) for kind in formats for width in widths]


def fallback_variant(size: ImageSize, limit: int) -> Variant | None:
    """The JPEG or PNG copy at most `limit` wide (for email and social cards), or None when
    the original serves as it is (no wider, and a format every client reads)."""
    source = raster_source(size.src)
    if source is None or not size.width or not size.height:
        return None
    suffix = PurePosixPath(source).suffix.lower()
    if size.width <= limit and suffix != ".webp":
        return None
    return scaled(source, size, min(size.width, limit), FALLBACK[suffix])


def email_image(sizes: Sequence[ImageSize], src: str) -> str | None:
    """The site path of the email's copy of the image written `src` (2× the column), or None
    when the email shows the original."""
    for size in sizes:
        if size.src == src:
            variant = fallback_variant(size, EMAIL_PIXELS)
            return variant.path if variant else None
    return None


def og_image(sizes: Sequence[ImageSize], src: str) -> str | None:
    """The site path of the Open Graph copy (1,200 px) of the lead image, or None when the
    original serves."""
    for size in sizes:
        if size.src == src:
            variant = fallback_variant(size, OG_WIDTH)
            return variant.path if variant else None
    return None


def picture_html(img: str, size: ImageSize, base: str, formats: Sequence[str]) -> str:
    """`img` (an `<img>` element's HTML, the original as its source) inside a `<picture>`
    offering each format's variants, or `img` itself for an image without variants."""
    source = raster_source(size.src)
    if source is None or not size.width or not size.height or not formats:
        return img
    variants = screen_variants(source, size, formats)
    sources = "".join(
        f'<source type="{MEDIA_TYPE[kind]}" sizes="{SIZES}" '
        f'srcset="{_srcset(variants, kind, base)}">'
        for kind in formats
    )
    return f"<picture>{sources}{img}</picture>"


def _srcset(variants: Sequence[Variant], kind: str, base: str) -> str:
    """A `srcset` of the variants of one format."""
    return escape(", ".join(f"{base}{v.path} {v.width}w" for v in variants if v.format == kind))


def image_size(sizes: Sequence[ImageSize], src: str) -> ImageSize | None:
    """The measured size of the image written `src`, if known."""
    return next((size for size in sizes if size.src == src and size.width), None)


# --- The rows -------------------------------------------------------------------------


def render_assets(site: Site, templates: Environment) -> OutputFiles:
    """Files beside the essays that are not Markdown (images and such), at the site's root,
    as they are; but for a raster image carrying EXIF or XMP data, which `render_images`
    publishes without it (unless `[site] keep_image_metadata` is on)."""
    keep = site.settings.site.keep_image_metadata
    assets = OutputFiles()
    for relative, path in site.assets:
        data = path.read_bytes()
        found = examined(path, data) if not keep and path.suffix.lower() in FALLBACK else None
        if found is None or not found.metadata:
            assets.add(relative, data, f"{ESSAYS_DIR}/{relative}")
    return assets


def render_images(site: Site, templates: Environment) -> OutputFiles:
    """The published images made from the essays' own: each raster image carrying EXIF or
    XMP data saved again without its place and camera, and every variant of every local
    raster image the essays show; all made on demand, keyed by the source's content."""
    keep = site.settings.site.keep_image_metadata
    files = OutputFiles()
    for relative, path in () if keep else site.assets:
        found = examined(path) if path.suffix.lower() in FALLBACK else None
        if found is not None and found.metadata:
            reads = Reads("image without metadata", values=(found.digest,))
            files.add(relative, Deferred(reads, partial(without_metadata, path)), relative)
    for variant in _wanted(site):
        path = site.root / ESSAYS_DIR / variant.source
        found = examined(path)
        if found is None:
            continue
        values = (found.digest, repr(variant), str(keep))
        make = partial(encode, path, found.digest, variant, keep)
        reads = Reads("image variant", values=values)
        files.add(variant.path, Deferred(reads, make), variant.source)
    return files


def _wanted(site: Site) -> Iterator[Variant]:
    """Each variant the essays' pages, emails and cards show, once."""
    seen: set[Variant] = set()
    for essay in site.essays:
        for size in essay.image_sizes:
            source = raster_source(size.src)
            if source is None or not size.width or not size.height:
                continue
            formats = screen_formats()  # (Pillow is asked once, and only for a site with images)
            wanted = [*screen_variants(source, size, formats), fallback_variant(size, EMAIL_PIXELS)]
            if size.src == essay.image:
                wanted.append(fallback_variant(size, OG_WIDTH))
            for variant in wanted:
                if variant is not None and variant not in seen:
                    seen.add(variant)
                    yield variant


class Examined(msgspec.Struct, frozen=True):
    """What the rows need to know of an image file's content."""

    digest: str  # names the content in its copies' keys
    metadata: bool  # whether it may carry EXIF or XMP data


def examined(path: Path, data: bytes | None = None) -> Examined | None:
    """An image file's content examined (its bytes `data` if already read; None when it
    cannot be read), once per version of the file in a process: both rows ask."""
    try:
        stamp = _stamp(path)
        if stamp not in _EXAMINED:
            data = path.read_bytes() if data is None else data
            _EXAMINED[stamp] = Examined(_digest(data), _carries_metadata(data))
    except OSError:
        return None
    return _EXAMINED[stamp]


def _stamp(path: Path) -> tuple[str, int, int, int]:
    """What tells whether a file changed: its path, size, modification time and inode."""
    status = path.stat()
    return str(path), status.st_size, status.st_mtime_ns, status.st_ino


def _digest(data: bytes) -> str:
    """What names an image's content in its variants' keys."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _carries_metadata(data: bytes) -> bool:
    """Whether an image file may hold EXIF or XMP data (a false alarm costs one re-save)."""
    return any(mark in data for mark in METADATA_MARKS)


# --- Encoding ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _decoded(path: Path, digest: str):  # noqa: ANN202 - a PIL image
    """The image at `path`, turned upright and decoded (kept for its neighbouring variants:
    a worker makes runs of them)."""
    from PIL import Image, ImageOps

    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened)
        image.load()
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert(
            "RGBA" if "transparency" in image.info or "A" in image.mode else "RGB"
        )
    return image


def encode(path: Path, digest: str, variant: Variant, keep: bool) -> bytes:
    """One variant's bytes: the image scaled to its width, in its format."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = _decoded(path, digest)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        where = f"{ESSAYS_DIR}/{variant.source}"
        raise PublishError.single(where, 1, 1, f"image cannot be read to scale it: {exc}") from None
    if image.size != (variant.width, variant.height):
        image = image.resize(
            (variant.width, variant.height), Image.Resampling.LANCZOS, reducing_gap=3.0
        )
    if variant.format == "JPEG" and image.mode != "RGB":
        image = _flattened(image)
    extra = {"exif": _kept_exif(path, keep=True, upright=True)} if keep else {}
    out = io.BytesIO()
    image.save(out, variant.format, **ENCODING[variant.format], **extra)
    return out.getvalue()


def _flattened(image):  # noqa: ANN001, ANN202 - PIL images
    """An image with transparency laid on white, as RGB (JPEG has no alpha)."""
    from PIL import Image

    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def without_metadata(path: Path) -> bytes:
    """The image file saved again without its EXIF location and camera data or XMP (its
    orientation, artist and copyright kept; a JPEG keeps its own quantisation, so it loses
    nothing visible)."""
    from PIL import Image

    with Image.open(path) as image:
        if getattr(image, "n_frames", 1) > 1:  # an animation: keep its frames as they are
            return path.read_bytes()
        kind = image.format or "PNG"
        options: dict[str, object] = {"exif": _kept_exif(path, keep=False, upright=False)}
        if image.info.get("icc_profile"):
            options["icc_profile"] = image.info["icc_profile"]
        if kind == "JPEG":
            options.update(quality="keep", subsampling="keep")
        elif kind == "WEBP":
            options.update(quality=90, lossless=image.info.get("lossless", False))
        out = io.BytesIO()
        image.save(out, kind, **options)
    return out.getvalue()


def _kept_exif(path: Path, keep: bool, upright: bool) -> bytes:
    """The EXIF block to publish: all of it with `keep` (less the orientation once the
    pixels are turned upright), else only orientation, artist and copyright."""
    from PIL import Image

    with Image.open(path) as image:
        found = image.getexif()
    if keep:
        if upright:
            found.pop(0x0112, None)
        return found.tobytes()
    kept = Image.Exif()
    for tag in KEPT_TAGS:
        if tag in found and not (upright and tag == 0x0112):
            kept[tag] = found[tag]
    return kept.tobytes()


def lead_picture(essay: Essay, root: str) -> str:
    """The lead image's HTML for the top of its page: an `<img>` (with its size when known,
    fetched early: it is the first thing seen) in a `<picture>` of its variants."""
    if not essay.image:
        return ""
    size = image_size(essay.image_sizes, essay.image)
    attributes = {"src": resolve_url(essay.image, root), "alt": essay.image_alt}
    if size is not None:
        attributes.update(width=str(size.width), height=str(size.height), fetchpriority="high")
    img = (
        "<img " + " ".join(f'{name}="{escape(value)}"' for name, value in attributes.items()) + ">"
    )
    return picture_html(img, size, root, screen_formats()) if size is not None else img
