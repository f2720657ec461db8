"""The bounce mailbox, over IMAP (`PUBLISH_BOUNCE_URL`) or as a local Maildir.

A processed message is marked so a rerun skips it: over IMAP with the keyword
`$PublishProcessed` and `\\Seen`; in a Maildir by moving it to the `.Processed` folder
(Maildir++). Messages that are not reports are read without being marked or seen.

A message that cannot be read (larger than MAX_MESSAGE_BYTES, nested too deep, or one the
parser chokes on) is set aside so that no run reads it again: over IMAP with the keyword
`$PublishUnreadable` (left unseen), in a Maildir by moving it to the `.Unreadable` folder.
A message larger than MAX_MESSAGE_BYTES is never fetched.
"""

from __future__ import annotations

import contextlib
import imaplib
import mailbox
import os
import re
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote

import msgspec

from publish.errors import PublishError
from publish.support.loginurl import (
    UNPRINTABLE,
    UnreadableURL,
    has_unprintable,
    is_host_name,
    split_login_url,
)

URL_VARIABLE = "PUBLISH_BOUNCE_URL"
PROCESSED_KEYWORD = "$PublishProcessed"
PROCESSED_FOLDER = "Processed"
UNREADABLE_KEYWORD = "$PublishUnreadable"
UNREADABLE_FOLDER = "Unreadable"
MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # a report quoting a whole newsletter stays far below
TIMEOUT = 30.0  # seconds for the IMAP server to answer
_FETCHED_SIZE = re.compile(
    rb"\bUID (\d+)\b.*?\bRFC822\.SIZE (\d+)|\bRFC822\.SIZE (\d+)\b.*?\bUID (\d+)"
)


class Stored(msgspec.Struct, frozen=True):
    """One message waiting in the mailbox: its key, where it is (for messages), its size,
    and its bytes (empty when it is larger than MAX_MESSAGE_BYTES: never fetched)."""

    key: str
    where: str
    size: int
    raw: bytes


class Mailbox(Protocol):
    """Where the bounces wait."""

    label: str

    def messages(self) -> Iterator[Stored]:
        """Each message neither processed nor set aside."""
        ...

    def mark_processed(self, key: str) -> None:
        """Mark one message processed, so no later run reads it again."""
        ...

    def set_aside(self, key: str) -> str:
        """Put aside a message that cannot be read, so no later run reads it again; where
        it went, in words."""
        ...

    def close(self) -> None:
        """Let go of the mailbox."""
        ...


class ImapAddress(msgspec.Struct, frozen=True):
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

    def messages(self) -> Iterator[Stored]:
        """Each message with neither keyword, oldest first; one larger than
        MAX_MESSAGE_BYTES is not fetched."""
        status, data = self._uid(
            "SEARCH", None, "UNKEYWORD", PROCESSED_KEYWORD, "UNKEYWORD", UNREADABLE_KEYWORD
        )
        uids = data[0].split() if status == "OK" and data and data[0] else []
        sizes = self._sizes(uids)
        for uid in uids:
            key = uid.decode("ascii")
            size = sizes.get(key, 0)
            if size > MAX_MESSAGE_BYTES:
                yield Stored(key, f"{self.label} UID {key}", size, b"")
                continue
            status, fetched = self._uid("FETCH", uid, "(BODY.PEEK[])")
            for item in fetched if status == "OK" else []:
                if isinstance(item, tuple):
                    raw = bytes(item[1])
                    yield Stored(key, f"{self.label} UID {key}", len(raw), raw)

    def _sizes(self, uids: list[bytes]) -> dict[str, int]:
        """The size of each message, as the server counts it, before fetching any."""
        if not uids:
            return {}
        status, fetched = self._uid("FETCH", b",".join(uids), "(RFC822.SIZE)")
        sizes: dict[str, int] = {}
        for item in fetched if status == "OK" else []:
            line = item[0] if isinstance(item, tuple) else item
            found = _FETCHED_SIZE.search(line) if isinstance(line, bytes) else None
            if found:
                uid, size = (found[1], found[2]) if found[1] else (found[4], found[3])
                sizes[uid.decode("ascii")] = int(size)
        return sizes

    def mark_processed(self, key: str) -> None:
        """Add the processed keyword and \\Seen."""
        self._uid("STORE", key, "+FLAGS", f"({PROCESSED_KEYWORD} \\Seen)")

    def set_aside(self, key: str) -> str:
        """Add the unreadable keyword (left unseen, for the operator to find)."""
        self._uid("STORE", key, "+FLAGS", f"({UNREADABLE_KEYWORD})")
        return f"marked {UNREADABLE_KEYWORD}"

    def _uid(self, command: str, *args: str | bytes | None) -> tuple[str, list[Any]]:
        """One UID command; PublishError when the server fails or goes away meanwhile."""
        try:
            return self.imap.uid(command, *args)
        except (OSError, imaplib.IMAP4.error) as exc:
            message = f"the IMAP server failed while {self.label} was read ({exc})"
            raise PublishError.single(f"${URL_VARIABLE}", 1, 1, message) from None

    def close(self) -> None:
        """Log out (the server may already have gone)."""
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            self.imap.logout()


def _quoted(folder: str) -> str:
    """A folder name as an IMAP quoted string."""
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


class MaildirMailbox:
    """A local Maildir; a processed message moves to its `.Processed` folder, one that
    cannot be read to `.Unreadable`. Messages are moved as files, never parsed here."""

    def __init__(self, path: Path) -> None:
        if not all((path / sub).is_dir() for sub in ("cur", "new", "tmp")):
            message = "not a Maildir (it needs the folders cur/, new/ and tmp/)"
            if not path.exists():
                message = "no such Maildir"
            raise PublishError.single(str(path), 1, 1, message)
        self.path = path
        self.label = str(path)
        self.box = mailbox.Maildir(path, factory=None, create=False)
        self.files: dict[str, Path] = {}

    def messages(self) -> Iterator[Stored]:
        """Each message of the Maildir itself (not of its folders), in the order of their
        names (not the folder's listing order, which varies), so warnings come in a fixed
        order; one larger than MAX_MESSAGE_BYTES is not read."""
        self.files = {
            file.name.split(":")[0]: file
            for sub in ("new", "cur")
            for file in (self.path / sub).iterdir()
            if not file.name.startswith(".")
        }
        for key, file in sorted(self.files.items()):
            try:
                size = file.stat().st_size
                raw = file.read_bytes() if size <= MAX_MESSAGE_BYTES else b""
            except FileNotFoundError:  # taken meanwhile by another reader
                continue
            yield Stored(key, str(file), size, raw)

    def mark_processed(self, key: str) -> None:
        """Move the message to `.Processed`, marked seen."""
        self._move(key, PROCESSED_FOLDER, seen=True)

    def set_aside(self, key: str) -> str:
        """Move the message to `.Unreadable`, left unseen."""
        self._move(key, UNREADABLE_FOLDER, seen=False)
        return f"moved to {self.path / ('.' + UNREADABLE_FOLDER)}"

    def _move(self, key: str, folder: str, *, seen: bool) -> None:
        """Move one message's file into a folder's cur/, keeping its flags."""
        source = self.files[key]
        flags = set(source.name.partition(":2,")[2]) | ({"S"} if seen else set())
        target = self._folder(folder) / "cur" / f"{key}:2,{''.join(sorted(flags))}"
        with contextlib.suppress(FileNotFoundError):  # taken meanwhile by another reader
            os.rename(source, target)

    def _folder(self, name: str) -> Path:
        """A Maildir++ folder (`.Name`), made on first use (looked for on disk, not by listing
        every folder for each message moved)."""
        folder = self.path / f".{name}"
        if not (folder / "cur").is_dir():
            self.box.add_folder(name)
        return folder

    def close(self) -> None:
        """Nothing to let go of."""
