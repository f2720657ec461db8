"""Webhook proofs already used (publish.service.hooks): a signed token is good once.

Each proof is kept, as a SHA-256 digest, until the moment it would be refused as stale
anyway; older ones are pruned whenever a new one is recorded. Kept in the state database,
so a restart of the service does not forget them.
"""

from __future__ import annotations

import hashlib
import sqlite3


def first_use(conn: sqlite3.Connection, proof: str, now: float, expires_at: float) -> bool:
    """Record a proof as used; False when it was used before. The caller holds the
    transaction, so the proof counts as used only if what it proves is applied too."""
    conn.execute("DELETE FROM used_proofs WHERE expires_at < ?", (now,))
    digest = hashlib.sha256(proof.encode("utf-8")).hexdigest()
    cursor = conn.execute(
        "INSERT OR IGNORE INTO used_proofs (proof, expires_at) VALUES (?, ?)",
        (digest, expires_at),
    )
    return cursor.rowcount == 1
