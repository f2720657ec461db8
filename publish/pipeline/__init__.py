"""The build pipeline: the build and its format table, the writer, the commit journal, the
checker, the preview's planned files, and the rebuild that finds nothing changed."""
