"""The cost of search and images: the Pagefind index of 1,000 essays (its time and size, and
what `[site] search` adds to a build), and a site with 200 photos built cold, rebuilt with
nothing changed, and rebuilt after one photo changed (each build its own process, measured
as in bench/run.py).

    python -m bench.media                   # both
    python -m bench.media --essays 1000 --images 200
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.generate import generate
from bench.measure import TODAY, WORK_DIR, Measure, measure, publish_command

PHOTO = (1600, 1067)  # a typical blog photo: wider than every screen variant but the largest


@dataclass(frozen=True)
class SearchRow:
    """The index of a site of `essays` essays: Pagefind alone, and the builds around it."""

    essays: int
    plain: Measure  # a cold build without search
    plain_unchanged: Measure  # a rebuild of it with nothing changed
    searched: Measure  # the same cold build with `search = true`
    unchanged: Measure  # a rebuild with nothing changed (the kept index, Pagefind not run)
    index: Measure  # Pagefind alone over the built site
    index_files: int
    index_bytes: int


@dataclass(frozen=True)
class ImagesRow:
    """A site showing `images` photos: cold, unchanged, and after one photo changed."""

    images: int
    variants: int
    variant_bytes: int
    cold: Measure
    unchanged: Measure
    one_changed: Measure


def build(root: Path) -> Measure:
    """One measured `publish build`; stops the benchmark if it fails."""
    result = measure(publish_command(root, "build", "--today", TODAY))
    if result.status != 0:
        sys.exit(f"build of {root} failed:\n{result.output[-3000:]}")
    return result


def with_search(root: Path) -> Path:
    """Turn `[site] search` on in a generated site."""
    settings = root / "publish.toml"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace("[site]\n", "[site]\nsearch = true\n", 1), encoding="utf-8")
    return root


def bench_search(count: int) -> SearchRow:
    """Build a site of `count` essays without and with search; time Pagefind alone."""
    from publish.pipeline.search import pagefind_binary

    binary = pagefind_binary()
    if binary is None:
        sys.exit("search: Pagefind is not installed (pip install 'pagefind[bin]')")
    root = generate(count, WORK_DIR / f"search-{count}")
    plain = build(root)
    plain_unchanged = build(root)
    shutil.rmtree(root / "build")
    searched = build(with_search(root))
    unchanged = build(root)
    out = WORK_DIR / f"search-{count}-index"
    shutil.rmtree(out, ignore_errors=True)
    site = root / "build" / "site"
    index = measure([str(binary), "--site", str(site), "--output-path", str(out), "--silent"])
    files = [p for p in (site / "pagefind").rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    return SearchRow(count, plain, plain_unchanged, searched, unchanged, index, len(files), size)


def photo(path: Path, rng: random.Random) -> None:
    """A photo-like JPEG: a coloured gradient with soft grain, different for each seed."""
    from PIL import Image, ImageFilter

    width, height = PHOTO
    gradient = Image.linear_gradient("L").rotate(rng.randrange(360)).resize(PHOTO)
    grain = Image.effect_noise(PHOTO, rng.randrange(20, 60)).filter(ImageFilter.GaussianBlur(2))
    tint = Image.new("L", PHOTO, rng.randrange(256))
    Image.merge("RGB", (gradient, grain, tint)).save(path, "JPEG", quality=88)


def image_site(images: int) -> Path:
    """A generated site of `images // 2` essays, each showing two photos (the first its
    lead image)."""
    essays = max(1, images // 2)
    root = generate(essays, WORK_DIR / f"images-{images}")
    folder = root / "essays" / "images"
    folder.mkdir()
    rng = random.Random(images)
    for number, path in enumerate(sorted((root / "essays").glob("*.md"))):
        names = [f"photo-{2 * number + k:04d}.jpg" for k in (0, 1)]
        for name in names:
            photo(folder / name, rng)
        front, body = path.read_text(encoding="utf-8").split("\n---\n", 1)
        lead = f'image: "images/{names[0]}"\nimage_alt: "A photo"'
        shown = f"![A second photo](images/{names[1]})\n\n"
        path.write_text(f"{front}\n{lead}\n---\n{shown}{body}", encoding="utf-8")
    return root


def bench_images(count: int) -> ImagesRow:
    """Build a site of `count` photos cold, again unchanged, and after one photo changed."""
    root = image_site(count)
    cold = build(root)
    unchanged = build(root)
    photo(root / "essays" / "images" / "photo-0000.jpg", random.Random(-1))
    one_changed = build(root)
    site = root / "build" / "site" / "images"
    variants = [p for p in site.iterdir() if p.name.count(".") == 2]
    return ImagesRow(
        count,
        len(variants),
        sum(p.stat().st_size for p in variants),
        cold,
        unchanged,
        one_changed,
    )


def timing(result: Measure) -> str:
    """Wall and CPU seconds of one measured process."""
    return f"{result.seconds:.2f} s ({result.cpu:.2f} s CPU)"


def format_search(row: SearchRow) -> str:
    """The search figures as a Markdown table."""
    return "\n".join(
        [
            "| essays | Pagefind alone | index files | index size | cold build "
            "| cold build with search | unchanged rebuild | unchanged rebuild with search |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {row.essays:,} | {timing(row.index)} | {row.index_files:,} "
            f"| {row.index_bytes / 1024**2:.1f} MB | {timing(row.plain)} "
            f"| {timing(row.searched)} | {timing(row.plain_unchanged)} "
            f"| {timing(row.unchanged)} |",
        ]
    )


def format_images(row: ImagesRow) -> str:
    """The image figures as a Markdown table."""
    return "\n".join(
        [
            "| photos | variants | variants' size | cold build | unchanged rebuild "
            "| rebuild after 1 photo changed |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {row.images:,} | {row.variants:,} | {row.variant_bytes / 1024**2:.1f} MB "
            f"| {timing(row.cold)} | {timing(row.unchanged)} | {timing(row.one_changed)} |",
        ]
    )


def run_media_benchmark(essays: int = 1000, images: int = 200) -> str:
    """Both tables, as `make bench` prints them."""
    WORK_DIR.mkdir(exist_ok=True)
    print(f"search over {essays:,} essays...", file=sys.stderr, flush=True)
    search = format_search(bench_search(essays))
    print(f"a site of {images:,} photos...", file=sys.stderr, flush=True)
    pictures = format_images(bench_images(images))
    return (
        f"search (Pagefind) on {os.cpu_count()} cores\n\n{search}\n\n"
        f"images (WebP, AVIF, email and card copies)\n\n{pictures}"
    )


def main(argv: list[str] | None = None) -> None:
    """Command line: run the search and image benchmarks and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--essays", type=int, default=1000, help="essays to index")
    parser.add_argument("--images", type=int, default=200, help="photos to show")
    args = parser.parse_args(argv)
    print(run_media_benchmark(args.essays, args.images))


if __name__ == "__main__":
    main()
