"""The bounce mailbox, over IMAP (`PUBLISH_BOUNCE_URL`) or as a local Maildir.

A processed message is marked so a rerun skips it: over IMAP with the keyword
`$PublishProcessed` and `\\Seen`; in a Maildir by moving it to the `.Processed` folder
(Maildir++). Messages that are not reports are read without being marked or seen.
"""

from __future__ import annotations

import contextlib
import imaplib
import mailbox
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, unquote

from publish.errors import PublishError
from publish.loginurl import (
    UNPRINTABLE,
    UnreadableURL,
    has_unprintable,
    is_host_name,
    split_login_url,
)

URL_VARIABLE = "PUBLISH_BOUNCE_URL"
PROCESSED_KEYWORD = "$PublishProcessed"
PROCESSED_FOLDER = "Processed"
TIMEOUT = 30.0  # seconds for the IMAP server to answer


class Mailbox(Protocol):
    """Where the bounces wait."""

    label: str

    def messages(self) -> Iterator[tuple[str, bytes]]:
        """Each message not yet processed: its key and its bytes."""
        ...

    def mark_processed(self, key: str) -> None:
        """Mark one message processed, so no later run reads it again."""
        ...

    def close(self) -> None:
        """Let go of the mailbox."""
        ...


@dataclass(frozen=True)
class ImapAddress:
    """A parsed PUBLISH_BOUNCE_URL (the password is never shown)."""

    secure: bool
    host: str
    port: int
    user: str
    password: str
    folder: str

    @property
    def shown(self) -> str:
        """The address without the password, for messages."""
        scheme = "imaps" if self.secure else "imap"
        return f"{scheme}://{quote(self.user, safe='')}@{self.host}:{self.port}/{self.folder}"


def parse_imap_url(url: str) -> ImapAddress:
    """Read `imaps://user:pass@host[:port]/FOLDER` (or `imap://` without TLS); errors never
    repeat any part of the URL (it holds a password)."""
    where, text = f"${URL_VARIABLE}", url.strip()
    if has_unprintable(text):
        raise PublishError.single(where, 1, 1, f"the URL {UNPRINTABLE}")
    try:
        parts, host, port = split_login_url(text)
    except UnreadableURL:
        message = (
            "not a usable IMAP URL (a bad port, or a '/', '?', '#' or '@' in the user name "
            "or password that is not percent-encoded)"
        )
        raise PublishError.single(where, 1, 1, message) from None
    if parts.scheme not in ("imap", "imaps"):
        shown = parts.scheme if parts.scheme.isalnum() else "something else"
        message = f"the URL must start imaps:// or imap://, not '{shown}'"
        raise PublishError.single(where, 1, 1, message)
    if not host or not parts.username or parts.password is None:
        message = "the URL needs a user, a password and a host: imaps://user:password@host/INBOX"
        raise PublishError.single(where, 1, 1, message)
    if parts.query or parts.fragment or "?" in text or "#" in text or not is_host_name(host):
        message = (
            "the URL has a host name no host can have, or a '?' or '#' (percent-encode '/', "
            "'?', '#' and '@' in the user name or password)"
        )
        raise PublishError.single(where, 1, 1, message)
    secure = parts.scheme == "imaps"
    return ImapAddress(
        secure=secure,
        host=host,
        port=port or (993 if secure else 143),
        user=unquote(parts.username),
        password=unquote(parts.password),
        folder=unquote(parts.path.lstrip("/")) or "INBOX",
    )


class ImapMailbox:
    """A folder on an IMAP server; messages are fetched with BODY.PEEK (left unseen)."""

    def __init__(self, address: ImapAddress) -> None:
        self.address = address
        self.label = address.shown
        self.imap = self._open()

    def _open(self) -> imaplib.IMAP4:
        """Connect, log in and select the folder, or PublishError saying which failed."""
        where, address = f"${URL_VARIABLE}", self.address
        try:
            if address.secure:
                context = ssl.create_default_context()
                imap = imaplib.IMAP4_SSL(
                    address.host, address.port, ssl_context=context, timeout=TIMEOUT
                )
            else:
                imap = imaplib.IMAP4(address.host, address.port, timeout=TIMEOUT)
        except ssl.SSLError as exc:
            message = (
                f"the IMAP server {address.host}:{address.port} failed the TLS check "
                f"({getattr(exc, 'verify_message', '') or exc.reason or exc})"
            )
            raise PublishError.single(where, 1, 1, message) from None
        except (OSError, imaplib.IMAP4.error) as exc:
            message = f"cannot reach the IMAP server {address.host}:{address.port} ({exc})"
            raise PublishError.single(where, 1, 1, message) from None
        try:
            imap.login(address.user, address.password)
        except imaplib.IMAP4.error:
            imap.shutdown()
            message = f"the IMAP server refused the login of '{address.user}' ({self.label})"
            raise PublishError.single(where, 1, 1, message) from None
        status, _ = imap.select(_quoted(address.folder))
        if status != "OK":
            imap.logout()
            message = f"the IMAP server has no folder '{address.folder}' ({self.label})"
            raise PublishError.single(where, 1, 1, message)
        return imap

    def messages(self) -> Iterator[tuple[str, bytes]]:
        """Each message without the processed keyword, oldest first."""
        status, data = self.imap.uid("SEARCH", None, "UNKEYWORD", PROCESSED_KEYWORD)
        uids = data[0].split() if status == "OK" and data and data[0] else []
        for uid in uids:
            status, fetched = self.imap.uid("FETCH", uid, "(BODY.PEEK[])")
            for item in fetched if status == "OK" else []:
                if isinstance(item, tuple):
                    yield uid.decode("ascii"), bytes(item[1])

    def mark_processed(self, key: str) -> None:
        """Add the processed keyword and \\Seen."""
        self.imap.uid("STORE", key, "+FLAGS", f"({PROCESSED_KEYWORD} \\Seen)")

    def close(self) -> None:
        """Log out (the server may already have gone)."""
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            self.imap.logout()


def _quoted(folder: str) -> str:
    """A folder name as an IMAP quoted string."""
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


class MaildirMailbox:
    """A local Maildir; a processed message moves to its `.Processed` folder."""

    def __init__(self, path: Path) -> None:
        if not all((path / sub).is_dir() for sub in ("cur", "new", "tmp")):
            message = "not a Maildir (it needs the folders cur/, new/ and tmp/)"
            if not path.exists():
                message = "no such Maildir"
            raise PublishError.single(str(path), 1, 1, message)
        self.label = str(path)
        self.box = mailbox.Maildir(path, factory=None, create=False)

    def messages(self) -> Iterator[tuple[str, bytes]]:
        """Each message of the Maildir itself (not of its folders)."""
        for key in sorted(self.box.keys()):
            try:
                yield key, self.box.get_bytes(key)
            except KeyError:  # removed meanwhile by another reader
                continue

    def mark_processed(self, key: str) -> None:
        """Move the message to `.Processed`, marked seen."""
        folder = self._processed()
        message = self.box.get_message(key)
        message.set_subdir("cur")
        message.add_flag("S")
        folder.add(message)
        self.box.discard(key)

    def _processed(self) -> mailbox.Maildir:
        """The `.Processed` folder, made on first use."""
        if PROCESSED_FOLDER in self.box.list_folders():
            return self.box.get_folder(PROCESSED_FOLDER)
        return self.box.add_folder(PROCESSED_FOLDER)

    def close(self) -> None:
        """Nothing to let go of."""
