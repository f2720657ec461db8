"""Entry point for `python -m publish`."""

from publish.cli.main import main

main()
