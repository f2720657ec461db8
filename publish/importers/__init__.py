"""Importers: one module per source (substack, wordpress, ghost), one interface.

Each source module has `read(path, options) -> Archive`, yielding `ImportedPost`s whose
HTML is cleaned up the same way (`cleanup`); `convert` turns it into Markdown, `repeats`
finds the glossary in the notes, `essayfiles` writes the essays and `importing` runs it all.
"""

from __future__ import annotations

from publish.importers.importing import SOURCES, ImportReport, run_import
from publish.importers.model import ImportOptions

__all__ = ["SOURCES", "ImportOptions", "ImportReport", "run_import"]
