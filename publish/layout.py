"""The site's folders named once: what a site holds under its root, and where a build
writes (`build/site/`, `build/email/`, `build/preview/`, the cache in `build/.cache/`)."""

from __future__ import annotations

SETTINGS_FILE = "publish.toml"
ESSAYS_DIR = "essays"
GLOSSARY_DIR = "footnotes"
TEMPLATES_DIR = "templates"
SOURCE_FOLDERS = (ESSAYS_DIR, GLOSSARY_DIR, TEMPLATES_DIR)

BUILD_DIR = "build"
SITE_FOLDER = "site"  # under build/: the web site
EMAIL_FOLDER = "email"  # under build/: each essay's email
PREVIEW_FOLDER = "preview"  # under build/: the preview's own site/ and email/
CACHE_FOLDER = ".cache"  # under build/: what later builds reuse
