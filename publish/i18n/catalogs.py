"""The message catalogs: the packaged ones under `catalogs/<lang>/LC_MESSAGES/messages.po`
and a site's own under `locale/<lang>/LC_MESSAGES/messages.po`, which override them string
by string (and may add a language).

The `.po` files are compiled in memory when a build first needs one, and kept for the rest
of the process (keyed by the file's size and modification time): no `.mo` file is committed
that could go stale.
"""

from __future__ import annotations

import gettext
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from publish.layout import LOCALE_DIR

CATALOGS = Path(__file__).parent / "catalogs"
DOMAIN = "messages"


def catalog_names(language: str) -> list[str]:
    """The catalog folders a language may be found in, most specific first:
    'pt-BR' gives ['pt_BR', 'pt']."""
    tag = language.replace("-", "_")
    parts = tag.split("_")
    names = [tag] if len(parts) == 1 else [parts[0].lower() + "_" + "_".join(parts[1:]), tag]
    return list(dict.fromkeys([*names, parts[0].lower()]))


def catalog_path(folder: Path, language: str) -> Path | None:
    """The `.po` file of `language` under `folder` (`<lang>/LC_MESSAGES/messages.po`), if any."""
    for name in catalog_names(language):
        path = folder / name / "LC_MESSAGES" / f"{DOMAIN}.po"
        if path.is_file():
            return path
    return None


def shipped_languages() -> list[str]:
    """The languages with a packaged catalog (English, whose catalog is its msgids, too)."""
    return sorted(p.parent.parent.name for p in CATALOGS.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def site_catalog(site_root: Path, language: str) -> Path | None:
    """The site's own catalog of `language`, if it has one."""
    return catalog_path(site_root / LOCALE_DIR, language)


def translations(language: str, site_root: Path | None) -> gettext.NullTranslations:
    """The packaged catalog of `language` with the site's own laid over it; NullTranslations
    (the English msgids) when there is neither."""
    packaged = catalog_path(CATALOGS, language)
    own = site_catalog(site_root, language) if site_root is not None else None
    found = [path for path in (packaged, own) if path is not None]
    if not found:
        return gettext.NullTranslations()
    return _merged(tuple((str(p), *_stamp(p)) for p in found))


def _stamp(path: Path) -> tuple[int, int]:
    """A file's size and modification time: a changed catalog is compiled again."""
    status = path.stat()
    return status.st_size, status.st_mtime_ns


@lru_cache(maxsize=32)
def _merged(files: tuple[tuple[str, int, int], ...]) -> gettext.NullTranslations:
    """The catalogs compiled and laid over each other, the last one winning."""
    from babel.support import Translations

    merged: Translations | None = None
    for path, _, _ in files:
        compiled = Translations(BytesIO(compile_po(Path(path))), domain=DOMAIN)
        if merged is None:
            merged = compiled
        else:
            merged.merge(compiled)
    assert merged is not None
    return merged


def read_catalog(path: Path):  # noqa: ANN201 - babel's Catalog, imported only when needed
    """A `.po` file as Babel's Catalog."""
    from babel.messages.pofile import read_po

    with path.open("rb") as handle:
        return read_po(handle, abort_invalid=False)


def compile_po(path: Path) -> bytes:
    """A `.po` file compiled to `.mo` bytes, untranslated and fuzzy entries left out."""
    from babel.messages.mofile import write_mo

    output = BytesIO()
    write_mo(output, read_catalog(path), use_fuzzy=False)
    return output.getvalue()
