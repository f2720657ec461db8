"""Ground helpers: atomic writes, locks, the fork pool, safe text, addresses, login URLs and
test hooks."""
