"""The build pipeline: the build and its format table, the writer, the commit journal, the
checker, the preview's planned files, the rebuild that finds nothing changed, and the
finishers run over the staged site (the search index)."""
