"""The `publish` command line, one module per command group; the only code that prints."""
