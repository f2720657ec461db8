"""Fixture sites for the web, feed, browser and preview tests, written into a temporary folder."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

from publish.pipeline.build import BuildOptions, BuildReport, build

REPO_ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 11, 23)
EXAMPLE_PARTS = ("publish.toml", "essays", "footnotes", "templates")

FOOTNOTES = {
    "flow": "---\nterm: Flow\nsource: Mihaly Csikszentmihalyi\naliases: [flow-state]\n---\n"
    "Complete absorption in a task that is hard but [within reach](/glossary/).\n",
    "marginalia": "---\nterm: Marginalia\nsource: Medieval scribes\n---\n"
    "Notes written in the margins of a book.\n",
    "zettelkasten": "---\nterm: Zettelkasten\nsource: Niklas Luhmann\n---\n"
    "A box of linked index cards that grows into a second memory.\n",
}

LONG_BODY = """\
The opening paragraph says what this essay is about, and cites flow[^flow].

## A section

A second paragraph with [a link to another essay](/essay-2/) and
[an outside link](https://example.com/page), then marginalia[^marginalia].

![A small square](images/square.svg)

A third paragraph with a note of its own[^own] and a card box[^zettelkasten],
and flow once more[^flow].

[^own]: This note is written in the essay itself.
"""

SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="600">'
    '<rect width="1200" height="600" fill="#cc9"/></svg>\n'
)


def write_settings(root: Path, url: str, signup_url: str = "", extra: str = "") -> None:
    """Write publish.toml for a fixture site."""
    email = f'[email]\nsignup_url = "{signup_url}"\n' if signup_url else ""
    (root / "publish.toml").write_text(
        "[site]\n"
        'title = "Fixture Letters"\n'
        f'url = "{url}"\n'
        'author = "Fay Fixture"\n'
        'language = "en-GB"\n'
        'timezone = "Europe/London"\n'
        'description = "A site the tests build."\n'
        f"{extra}\n"
        '[schedule]\nrule = "FREQ=MONTHLY;BYDAY=+1TU"\n'
        f"{email}",
        encoding="utf-8",
    )


def essay_file(
    title: str, day: str, body: str = "A plain paragraph of text.\n", **front: str
) -> str:
    """The text of one essay file."""
    lines = ["---", f"title: {json.dumps(title)}", f"date: {day}"]
    lines += [f"{key}: {value}" for key, value in front.items()]
    return "\n".join([*lines, "---", body])


def fixture_site(
    root: Path,
    url: str = "https://example.org/essays/",
    essays: int = 12,
    signup_url: str = "http://127.0.0.1:9/subscribe",
    extra: str = "",
) -> Path:
    """A site with `essays` monthly essays over two years, a draft, a future essay and notes."""
    root.mkdir(parents=True, exist_ok=True)
    write_settings(root, url, signup_url, extra)
    folder = root / "essays"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "images" / "square.svg").write_text(SVG, encoding="utf-8")
    (root / "footnotes").mkdir(exist_ok=True)
    for key, text in FOOTNOTES.items():
        (root / "footnotes" / f"{key}.md").write_text(text, encoding="utf-8")
    for number in range(1, essays + 1):
        year, month = 2025 + (number - 1) // 6, 1 + (number - 1) % 6 * 2
        day = f"{year}-{month:02d}-0{1 + number % 7}"
        front = {
            "slug": f"essay-{number}",
            "tags": "[reading, notes]" if number % 2 else "[reading]",
            "subtitle": f'"Subtitle number {number}"',
        }
        body = "A plain paragraph of text for this essay.\n"
        if number == 1:
            front.update(
                image="images/square.svg",
                image_alt='"A pale square"',
                image_credit='"Drawn by the tests"',
            )
            body = LONG_BODY
        (folder / f"{number:02d}-essay.md").write_text(
            essay_file(f"Essay {number}", day, body, **front), encoding="utf-8"
        )
    (folder / "90-draft.md").write_text(
        essay_file("Draft Essay", "2025-03-03", draft="true", slug="draft-essay"), encoding="utf-8"
    )
    (folder / "91-future.md").write_text(
        essay_file("Future Essay", "2027-01-05", slug="future-essay"), encoding="utf-8"
    )
    return root


def example_site(root: Path) -> Path:
    """A copy of the example site at the repository's root."""
    root.mkdir(parents=True, exist_ok=True)
    for name in EXAMPLE_PARTS:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        elif source.is_file():
            shutil.copy2(source, root / name)
    return root


def build_site(root: Path, drafts: bool = False, future: bool = False) -> BuildReport:
    """Build a site as of TODAY."""
    return build(root, BuildOptions(today=TODAY, drafts=drafts, future=future))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under a folder, by relative path, with its bytes."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
