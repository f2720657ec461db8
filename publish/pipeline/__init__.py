"""The build pipeline: the build and its format table, the writer, the commit journal, the
checker, the preview's planned files, and the finishers run over the written site (the search
index)."""
