"""Writes a small fixture site into a temporary folder for the tests."""

from __future__ import annotations

from pathlib import Path

DEFAULT_SETTINGS = """\
[site]
title = "Test Letters"
url = "https://example.org/letters/"
author = "Test Author"
language = "en"
timezone = "Europe/London"
"""

DEFAULT_FOOTNOTES = {
    "bad-object": "---\nterm: Bad object\nsource: Melanie Klein\n---\n"
                  "A figure the infant splits off and fears.\n",
    "flow": "---\nterm: Flow\nsource: Mihaly Csikszentmihalyi\naliases: [optimal-experience]\n"
            "---\nThe state of complete absorption in a task that is hard but not too hard.\n",
}


def make_site(tmp_path: Path, essays: dict[str, str] | None = None,
              footnotes: dict[str, str] | None = None,
              settings: str | None = None) -> Path:
    """Write publish.toml, essays/<name> and footnotes/<key>.md under tmp_path; return it.

    `essays` maps a file name (".md" added when missing) to its full text; `footnotes`
    maps a glossary key to its file's text (defaults: 'bad-object' and 'flow');
    `settings` is the TOML text (a valid default when None).
    """
    root = Path(tmp_path)
    root.mkdir(parents=True, exist_ok=True)
    (root / "publish.toml").write_text(DEFAULT_SETTINGS if settings is None else settings,
                                       encoding="utf-8")
    essays_dir = root / "essays"
    essays_dir.mkdir(exist_ok=True)
    for name, text in (essays or {}).items():
        file_name = name if name.endswith(".md") else f"{name}.md"
        (essays_dir / file_name).write_text(text, encoding="utf-8")
    footnotes_dir = root / "footnotes"
    footnotes_dir.mkdir(exist_ok=True)
    for key, text in (DEFAULT_FOOTNOTES if footnotes is None else footnotes).items():
        (footnotes_dir / f"{key}.md").write_text(text, encoding="utf-8")
    return root


def essay_text(title: str = "An Essay", body: str = "A first paragraph.\n",
               **front_matter: object) -> str:
    """An essay file's text: front matter (title first, then the given keys) and body."""
    lines = ["---", f'title: "{title}"']
    lines += [f"{key}: {value}" for key, value in front_matter.items()]
    lines += ["---", body]
    return "\n".join(lines)
