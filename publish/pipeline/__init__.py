"""The build pipeline: the build and its format table, the writer, the commit journal, the
checker, and the preview's planned files."""
