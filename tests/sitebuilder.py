"""Writes a small fixture site into a temporary folder for the tests."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from publish.cli.main import cli

SITES = Path(__file__).resolve().parent / "sites"  # the fixture sites, one folder each


def site_settings(name: str = "default") -> str:
    """The publish.toml text of the fixture site tests/sites/<name>/."""
    return (SITES / name / "publish.toml").read_text(encoding="utf-8")


def site_files(name: str, folder: str) -> dict[str, str]:
    """The Markdown files in a fixture site's `folder` ("essays" or "footnotes"), each by
    its name without ".md", in name order (none when the site has no such folder)."""
    return {
        path.stem: path.read_text(encoding="utf-8")
        for path in sorted((SITES / name / folder).glob("*.md"))
    }


DEFAULT_SETTINGS = site_settings("default")
DEFAULT_FOOTNOTES = site_files("default", "footnotes")  # 'bad-object' and 'flow'


def make_site(
    tmp_path: Path,
    essays: dict[str, str] | None = None,
    footnotes: dict[str, str] | None = None,
    settings: str | None = None,
    site: str = "default",
) -> Path:
    """Write publish.toml, essays/<name> and footnotes/<key>.md under tmp_path; return it.

    `site` names the fixture site under tests/sites/ that gives what is not passed:
    `settings` is the TOML text, `essays` maps a file name (".md" added when missing) to
    its full text, `footnotes` maps a glossary key to its file's text. The default site
    has no essays and two glossary entries, 'bad-object' and 'flow'.
    """
    root = Path(tmp_path)
    root.mkdir(parents=True, exist_ok=True)
    (root / "publish.toml").write_text(
        site_settings(site) if settings is None else settings, encoding="utf-8"
    )
    essays_dir = root / "essays"
    essays_dir.mkdir(exist_ok=True)
    for name, text in (site_files(site, "essays") if essays is None else essays).items():
        file_name = name if name.endswith(".md") else f"{name}.md"
        (essays_dir / file_name).write_text(text, encoding="utf-8")
    footnotes_dir = root / "footnotes"
    footnotes_dir.mkdir(exist_ok=True)
    for key, text in (site_files(site, "footnotes") if footnotes is None else footnotes).items():
        (footnotes_dir / f"{key}.md").write_text(text, encoding="utf-8")
    return root


def essay_text(
    title: str = "An Essay", body: str = "A first paragraph.\n", **front_matter: object
) -> str:
    """An essay file's text: front matter (title first, then the given keys) and body."""
    lines = ["---", f'title: "{title}"']
    lines += [f"{key}: {value}" for key, value in front_matter.items()]
    lines += ["---", body]
    return "\n".join(lines)


FIRST_RUN_OF_OLD = "1999-01-01T00:00:00+00:00"  # before every fixture and generated essay


def due_since_long_ago(root: Path) -> Path:
    """Note in `root`'s releases.toml a first `publish run` before every essay's date, with
    nothing released: each published essay is then due (what the next run mails), not a
    back issue, so a build makes its email too (it makes an email only where a send could
    still need one). Returns `root`."""
    from datetime import datetime

    from publish.content.releasefile import ReleasesFile, write_releases_file

    write_releases_file(root, ReleasesFile({}, datetime.fromisoformat(FIRST_RUN_OF_OLD)))
    return root


def invoke(root: Path, *args: str) -> Result:
    """Run `publish --root ROOT ARGS…` in-process, as the command line would."""
    return CliRunner().invoke(cli, ["--root", str(root), *args])
