"""`publish send --update SLUG`: an essay edited after its release sent to the followers
again, as an `Update(Article)` through the fediverse's delivery ledger (once per edit)."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from publish.content.settings import setting_line
from publish.errors import PublishError, did_you_mean
from publish.fediverse.delivery import deliver_round, start_essay_send
from publish.layout import SETTINGS_FILE
from publish.ops.run import LOCK_FILE
from publish.pipeline.load import load
from publish.state.db import connect, database_path
from publish.support.locks import exclusive_lock


def send_update(root: Path, slug: str) -> list[str]:
    """Send the Update of a released essay to every follower's inbox; log lines.
    PublishError when the site has no actor or the essay was not released."""
    loaded = load(root)
    settings = loaded.files.settings
    if not settings.fediverse.enabled:
        message = "the site has no fediverse actor; set [fediverse] enabled = true first"
        line = setting_line(root, "fediverse", "enabled")
        raise PublishError.single(SETTINGS_FILE, line, 1, message)
    released = loaded.binding.releases
    if slug not in released:
        hint = did_you_mean(slug, released)
        message = f"'{slug}' has not been released, so it has no followers to update{hint}"
        raise PublishError.single(slug, 1, 1, message)
    published = loaded.site
    found = [e for e in published.essays if e.slug == slug]
    if not found:
        message = f"'{slug}' is no longer published (a draft, or its file is gone)"
        raise PublishError.single(slug, 1, 1, message)
    essay = found[0]
    state = database_path(root, settings)
    lock = exclusive_lock(
        state.parent / LOCK_FILE,
        "a `publish run` is in progress; try again when it has finished",
    )
    with lock, closing(connect(state)) as conn:
        inboxes = start_essay_send(conn, published, essay, "Update")
        lines = [
            f"fediverse: the Update of {slug} goes to {inboxes} inbox(es)"
            if inboxes
            else f"fediverse: this edit of {slug} was sent before; delivering what is left"
        ]
        return lines + deliver_round(state.parent, settings, conn)
