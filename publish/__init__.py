"""publish: one Markdown source, published to a web site, an email newsletter and feeds."""

__version__ = "0.1.0"
