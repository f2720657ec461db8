"""Disposable files under `build/.cache/`, each checked before it is trusted: the essays'
records and rendered bodies and the output memos (the build's), image sizes (the load's)
and link-check results (`publish links`)."""
