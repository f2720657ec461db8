"""The SQLite state of a site: subscribers, the send ledger and releases, with migrations.

One file (`state/publish.db` by default) holds everything that must survive crashes and
reruns. Connections use WAL and a busy timeout so that a send, the subscription service
and `publish run` can share it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from publish.errors import PublishError
from publish.model import Settings
from publish.support.addresses import address_key

if TYPE_CHECKING:  # sqlite3 is loaded by the first connection: a build without state has none
    import sqlite3

SECRET_ENV = "PUBLISH_SECRET"
SECRET_FILE = "secret.key"
BUSY_TIMEOUT = 30.0  # seconds a command waits for another one holding the database

# Each migration runs once, in order; PRAGMA user_version counts how many have run.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
        name TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed')),
        created_at TEXT NOT NULL,
        confirmed_at TEXT,
        unsubscribed_at TEXT,
        source TEXT NOT NULL DEFAULT 'cli'
    );
    CREATE TABLE sends (
        slug TEXT PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT
    );
    CREATE TABLE deliveries (
        slug TEXT NOT NULL REFERENCES sends(slug),
        subscriber_id INTEGER NOT NULL REFERENCES subscribers(id),
        email TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        updated_at TEXT,
        PRIMARY KEY (slug, subscriber_id)
    );
    CREATE INDEX deliveries_pending ON deliveries (slug, status);
    CREATE TABLE releases (
        slug TEXT PRIMARY KEY,
        slot TEXT NOT NULL,
        released_at TEXT NOT NULL,
        content_hash TEXT NOT NULL
    );
    """,
    # The subscription service: one row per confirmation link sent (the token's nonce),
    # and the recent signup attempts per client and per address, for rate limits.
    """
    CREATE TABLE confirmations (
        nonce TEXT PRIMARY KEY,
        subscriber_id INTEGER NOT NULL REFERENCES subscribers(id),
        created_at TEXT NOT NULL,
        used_at TEXT
    );
    CREATE INDEX confirmations_subscriber ON confirmations (subscriber_id, used_at);
    CREATE TABLE rate_events (
        bucket TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX rate_events_bucket ON rate_events (bucket, at);
    """,
    # Releases: the essay's source file (relative to the site), its identity across edits.
    """
    ALTER TABLE releases ADD COLUMN source TEXT NOT NULL DEFAULT ''
    """,
    # The send ledger learns 'unknown' (the server took the message and hung up before
    # answering) and counts such outcomes, to cap the copies one reader can get. SQLite
    # cannot change a CHECK constraint, so the table is rebuilt.
    """
    CREATE TABLE deliveries_rebuilt (
        slug TEXT NOT NULL REFERENCES sends(slug),
        subscriber_id INTEGER NOT NULL REFERENCES subscribers(id),
        email TEXT NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('pending', 'sent', 'failed', 'skipped', 'unknown')),
        attempts INTEGER NOT NULL DEFAULT 0,
        unknown_attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        updated_at TEXT,
        PRIMARY KEY (slug, subscriber_id)
    );
    INSERT INTO deliveries_rebuilt
        (slug, subscriber_id, email, status, attempts, last_error, updated_at)
        SELECT slug, subscriber_id, email, status, attempts, last_error, updated_at
        FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_rebuilt RENAME TO deliveries;
    CREATE INDEX deliveries_pending ON deliveries (slug, status);
    """,
    # Addresses that differ only by case, in any script, are one subscriber: each row keeps
    # the key it merges by (publish.support.addresses.address_key), set by triggers on every write.
    # Rows that already share a key keep theirs only on the oldest one.
    """
    ALTER TABLE subscribers ADD COLUMN email_key TEXT;
    UPDATE subscribers SET email_key = publish_address_key(email);
    UPDATE subscribers SET email_key = NULL
        WHERE id NOT IN (SELECT MIN(id) FROM subscribers GROUP BY email_key);
    CREATE UNIQUE INDEX subscribers_email_key ON subscribers (email_key);
    CREATE TRIGGER subscribers_key_on_insert AFTER INSERT ON subscribers BEGIN
        UPDATE subscribers SET email_key = publish_address_key(NEW.email) WHERE id = NEW.id;
    END;
    CREATE TRIGGER subscribers_key_on_update AFTER UPDATE OF email ON subscribers BEGIN
        UPDATE subscribers SET email_key = publish_address_key(NEW.email) WHERE id = NEW.id;
    END
    """,
    # Bounces and complaints: two more statuses (SQLite cannot change a CHECK constraint, so
    # the table is rebuilt under the same name, keeping every row, its id and email_key), the
    # moments they happened, the current run of soft bounces, and every report applied
    # (publish.state.standing). Foreign keys are checked at the end of the transaction, when
    # the rebuilt table holds every id again.
    """
    PRAGMA defer_foreign_keys = ON;
    CREATE TABLE subscribers_before_bounces AS SELECT * FROM subscribers;
    DROP TABLE subscribers;
    CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
        name TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL CHECK (status IN
            ('pending', 'active', 'unsubscribed', 'bounced', 'complained')),
        created_at TEXT NOT NULL,
        confirmed_at TEXT,
        unsubscribed_at TEXT,
        source TEXT NOT NULL DEFAULT 'cli',
        email_key TEXT,
        bounced_at TEXT,
        complained_at TEXT,
        soft_bounces INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO subscribers (id, email, name, status, created_at, confirmed_at,
            unsubscribed_at, source, email_key)
        SELECT id, email, name, status, created_at, confirmed_at, unsubscribed_at, source,
            email_key
        FROM subscribers_before_bounces;
    DROP TABLE subscribers_before_bounces;
    CREATE UNIQUE INDEX subscribers_email_key ON subscribers (email_key);
    CREATE TRIGGER subscribers_key_on_insert AFTER INSERT ON subscribers BEGIN
        UPDATE subscribers SET email_key = publish_address_key(NEW.email) WHERE id = NEW.id;
    END;
    CREATE TRIGGER subscribers_key_on_update AFTER UPDATE OF email ON subscribers BEGIN
        UPDATE subscribers SET email_key = publish_address_key(NEW.email) WHERE id = NEW.id;
    END;
    CREATE TABLE reports (
        reference TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        address TEXT NOT NULL,
        subscriber_id INTEGER,
        slug TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        received_at TEXT NOT NULL
    );
    CREATE INDEX reports_subscriber ON reports (subscriber_id, kind)
    """,
    # The send ledger learns 'sending': a delivery claimed (and committed) before its
    # message goes to the server, its updated_at the moment of the claim. A claim a crash
    # left behind becomes 'unknown' on the next run. The CHECK changes, so a rebuild.
    """
    CREATE TABLE deliveries_claims (
        slug TEXT NOT NULL REFERENCES sends(slug),
        subscriber_id INTEGER NOT NULL REFERENCES subscribers(id),
        email TEXT NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('pending', 'sent', 'failed', 'skipped', 'unknown', 'sending')),
        attempts INTEGER NOT NULL DEFAULT 0,
        unknown_attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        updated_at TEXT,
        PRIMARY KEY (slug, subscriber_id)
    );
    INSERT INTO deliveries_claims
        (slug, subscriber_id, email, status, attempts, unknown_attempts, last_error, updated_at)
        SELECT slug, subscriber_id, email, status, attempts, unknown_attempts, last_error,
        updated_at FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_claims RENAME TO deliveries;
    CREATE INDEX deliveries_pending ON deliveries (slug, status);
    CREATE INDEX deliveries_recent ON deliveries (status, updated_at)
    """,
    # A confirmation email that did not go out keeps when and why (the relay's reply, the
    # reader's address masked in it), for the service's log and `publish status`.
    """
    ALTER TABLE confirmations ADD COLUMN failed_at TEXT;
    ALTER TABLE confirmations ADD COLUMN failure TEXT NOT NULL DEFAULT ''
    """,
    # Webhook proofs already used (a Mailgun signature's token, as a digest), kept until
    # the proof would be stale anyway, so that a restart of the service cannot replay one.
    """
    CREATE TABLE used_proofs (
        proof TEXT PRIMARY KEY,
        expires_at REAL NOT NULL
    );
    CREATE INDEX used_proofs_expiry ON used_proofs (expires_at)
    """,
    # The fediverse (publish.state.followers): who follows the site's actor, the remote
    # actors' public keys (refetched when they change), replies kept for the author, and
    # likes and boosts counted.
    """
    CREATE TABLE followers (
        actor TEXT PRIMARY KEY,
        inbox TEXT NOT NULL,
        shared_inbox TEXT NOT NULL DEFAULT '',
        follow_id TEXT NOT NULL DEFAULT '',
        followed_at TEXT NOT NULL
    );
    CREATE TABLE remote_keys (
        key_id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        public_key TEXT NOT NULL,
        fetched_at REAL NOT NULL
    );
    CREATE TABLE replies (
        id INTEGER PRIMARY KEY,
        object_id TEXT NOT NULL UNIQUE,
        slug TEXT NOT NULL,
        actor TEXT NOT NULL,
        author_name TEXT NOT NULL DEFAULT '',
        author_url TEXT NOT NULL DEFAULT '',
        url TEXT NOT NULL DEFAULT '',
        content TEXT NOT NULL DEFAULT '',
        published TEXT NOT NULL DEFAULT '',
        received_at TEXT NOT NULL,
        approved_at TEXT
    );
    CREATE INDEX replies_slug ON replies (slug, approved_at);
    CREATE TABLE reactions (
        activity_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('like', 'boost')),
        slug TEXT NOT NULL,
        actor TEXT NOT NULL,
        received_at TEXT NOT NULL
    );
    CREATE INDEX reactions_slug ON reactions (slug, kind)
    """,
    # The fediverse's delivery ledger (publish.state.fedisends): each activity sent to the
    # followers (its JSON fixed when the send starts) and one row per inbox it goes to.
    """
    CREATE TABLE fedi_sends (
        activity_id TEXT PRIMARY KEY,
        slug TEXT NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT
    );
    CREATE TABLE fedi_deliveries (
        activity_id TEXT NOT NULL REFERENCES fedi_sends(activity_id),
        inbox TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        unknown_attempts INTEGER NOT NULL DEFAULT 0,
        not_found INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        updated_at TEXT,
        PRIMARY KEY (activity_id, inbox)
    );
    CREATE INDEX fedi_deliveries_status ON fedi_deliveries (status, next_at)
    """,
]


def database_path(root: Path, settings: Settings) -> Path:
    """Where the state database of a site lives."""
    return root / settings.state.database


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating and migrating if needed) the state database at `path`."""
    import sqlite3

    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
    try:
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.create_function("publish_address_key", 1, address_key, deterministic=True)
        migrate(connection)
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise database_error(path, exc) from None
    return connection


def database_error(
    path: Path | str,
    exc: sqlite3.Error,
    verb: str = "use",
    what: str = "the state database",
    remedy: str = "restore it from a backup",
) -> PublishError:
    """The error to show for a database SQLite refused: busy (another command holds it: try
    again), damaged (the `remedy`), or another reason given in SQLite's words."""
    import sqlite3  # loaded already: `exc` is its error

    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    text = str(exc)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in text or "busy" in text:
        reason = (
            "it is busy: another publish command is using it; try again when that "
            f"has finished ({text})"
        )
    elif (
        code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
        or "not a database" in text
        or "malformed" in text
    ):
        reason = f"it is damaged ({text}); {remedy}"
    else:
        reason = text
    return PublishError.single(str(path), 1, 1, f"cannot {verb} {what}: {reason}")


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taken at once (BEGIN IMMEDIATE) so concurrent writers queue up."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def migrate(connection: sqlite3.Connection) -> None:
    """Run the migrations this database has not run yet, each in its own transaction."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        with transaction(connection):
            current = connection.execute("PRAGMA user_version").fetchone()[0]
            if current < number:
                for statement in _statements(script):
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {number}")


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (a trigger's body keeps its semicolons)."""
    import sqlite3

    statements, current = [], ""
    for piece in script.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n;"):
                statements.append(current.strip())
            current = ""
    return statements


def load_secret(state_dir: Path) -> bytes:
    """The signing secret: $PUBLISH_SECRET, else a random one kept in the state folder."""
    from_env = os.environ.get(SECRET_ENV)
    if from_env:
        return from_env.encode("utf-8")
    path = state_dir / SECRET_FILE
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    secret = path.read_text(encoding="utf-8").strip()
    if not secret:
        message = (
            f"the signing secret is empty; delete the file to make a new one (links "
            f"already mailed then stop working) or set {SECRET_ENV}"
        )
        raise PublishError.single(str(path), 1, 1, message)
    return secret.encode("utf-8")


def sign(secret: bytes, purpose: str, value: str) -> str:
    """An HMAC-SHA256 signature of `value` for one purpose (hex, 32 characters)."""
    message = f"{purpose}:{value}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def verify(secret: bytes, purpose: str, value: str, signature: str) -> bool:
    """Whether `signature` was made by `sign` for this purpose and value."""
    return hmac.compare_digest(sign(secret, purpose, value), signature)
