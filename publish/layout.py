"""The site's folders named once: what a site holds under its root, and where a build
writes (`build/site/`, `build/email/`, `build/preview/`, the cache in `build/.cache/`)."""

from __future__ import annotations

from pathlib import Path

SETTINGS_FILE = "publish.toml"
ESSAYS_DIR = "essays"
GLOSSARY_DIR = "footnotes"
TEMPLATES_DIR = "templates"
LOCALE_DIR = "locale"  # the site's own message catalogs: locale/<lang>/LC_MESSAGES/*.po
SOURCE_FOLDERS = (ESSAYS_DIR, GLOSSARY_DIR, TEMPLATES_DIR, LOCALE_DIR)

BUILD_DIR = "build"
SITE_FOLDER = "site"  # under build/: the web site
EMAIL_FOLDER = "email"  # under build/: each essay's email
PREVIEW_FOLDER = "preview"  # under build/: the preview's own site/ and email/
CACHE_FOLDER = ".cache"  # under build/: what later builds reuse

# The same, as paths under a site's root.
CACHE_DIR = Path(BUILD_DIR, CACHE_FOLDER)
EMAIL_DIR = Path(BUILD_DIR, EMAIL_FOLDER)
PREVIEW_EMAIL_DIR = Path(BUILD_DIR, PREVIEW_FOLDER, EMAIL_FOLDER)
