"""Entry point for `python -m publish`."""

from publish.cli import main

main()
