"""The build cache: one `BuildCache` a build makes (or a long-lived process keeps) and passes
in, over disposable files under `build/.cache/`, each checked before it is trusted: the
essays' records and rendered bodies (`parses`, `bodies`), the output memos (`outputs`), the
image sizes of the load and the link-check results of `publish links`."""
