"""The web service beside the static site, one Flask blueprint per concern."""
