"""Entry point for `python -m publish`."""

from publish.support.collector import loading

with loading():  # the command line's own modules, loaded without the collector's scans
    from publish.cli.main import main

main()
