"""A zip export read within limits: its listing checked before anything is read (member
count, declared sizes, names that climb out or are absolute, links), then every member
decompressed in chunks with a running count, so a zip bomb is refused in moments and in
little memory, before the import writes anything."""

from __future__ import annotations

import re
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from types import TracebackType

import msgspec

from publish.errors import Problem, PublishError, error

CHUNK = 1 << 20
DRIVE = re.compile(r"^[A-Za-z]:")
MB = 1 << 20
RATIO_FLOOR = MB  # members that unpack to less are never refused for how well they pack


class ZipLimits(msgspec.Struct, frozen=True):
    """How much a zip export may unpack to: in all, per member, and how many members.
    The defaults are far above any real export; `publish import` has flags to raise them."""

    total: int = 1024 * MB
    member: int = 128 * MB
    members: int = 50_000
    ratio: int = 100  # unpacked to packed, for a member past RATIO_FLOOR (HTML packs 3-15x)


def size_text(size: int) -> str:
    """A byte count as the flags take it (`512MB`)."""
    return f"{size // MB}MB" if size % MB == 0 else f"{size} bytes"


class BoundedZip:
    """A zip archive whose listing passed the limits; `read` counts what it unpacks."""

    def __init__(self, path: Path, limits: ZipLimits, kind: str):
        self.path, self.limits = path, limits
        try:
            self._zip = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
            raise PublishError.single(str(path), 1, 1, f"not a {kind} zip: {exc}") from None
        try:
            self._infos = _checked_listing(path, self._zip.infolist(), limits)
        except PublishError:
            self._zip.close()
            raise
        self.unpacked = 0
        self._read: dict[str, bytes] = {}

    def __enter__(self) -> BoundedZip:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._zip.close()

    def namelist(self) -> list[str]:
        """The members' names, in the zip's order."""
        return list(self._infos)

    def read(self, name: str) -> bytes:
        """A member's bytes (once unpacked, kept), counted against the limits as they come,
        whatever its header declared."""
        if name not in self._read:
            self._read[name] = self._unpack(name)
        return self._read[name]

    def _unpack(self, name: str) -> bytes:
        """Decompress one member in chunks, stopping at the first byte past a limit."""
        chunks, size = [], 0
        try:
            with self._zip.open(self._infos[name]) as member:
                while chunk := member.read(CHUNK):
                    size += len(chunk)
                    if size > self.limits.member or self.unpacked + size > self.limits.total:
                        raise PublishError([self._too_large(name)])
                    if packs_too_well(size, self._infos[name].compress_size, self.limits):
                        raise PublishError([ratio_problem(f"{self.path}:{name}", self.limits)])
                    chunks.append(chunk)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
            message = f"this member of the zip cannot be read: {exc}"
            raise PublishError.single(f"{self.path}:{name}", 1, 1, message) from None
        except RuntimeError as exc:  # an encrypted member
            raise PublishError.single(f"{self.path}:{name}", 1, 1, str(exc)) from None
        self.unpacked += size
        return b"".join(chunks)

    def _too_large(self, name: str) -> Problem:
        """The error for a member that unpacked past a limit (its header understated it)."""
        return error(
            f"{self.path}:{name}",
            1,
            1,
            f"unpacks to more than its header says and past the limits "
            f"({size_text(self.limits.member)} a member, {size_text(self.limits.total)} "
            "in all); this is not an export, refused (nothing was written)",
        )


def _checked_listing(
    path: Path, infos: list[zipfile.ZipInfo], limits: ZipLimits
) -> dict[str, zipfile.ZipInfo]:
    """The members by name when the listing keeps within the limits; else every problem."""
    label = str(path)
    if len(infos) > limits.members:
        raise PublishError.single(
            label,
            1,
            1,
            f"the zip holds {len(infos)} members, more than the limit of {limits.members} "
            "(raise it with --max-members if this really is your export; nothing was written)",
        )
    problems = [p for info in infos if (p := _member_problem(label, info, limits))]
    declared = sum(info.file_size for info in infos)
    if declared > limits.total:
        problems.append(
            error(
                label,
                1,
                1,
                f"the zip unpacks to {declared} bytes, more than the limit of "
                f"{size_text(limits.total)} (raise it with --max-unpacked-size if this "
                "really is your export; nothing was written)",
            )
        )
    if problems:
        raise PublishError(problems[:20])
    return {info.filename: info for info in infos}


def _member_problem(label: str, info: zipfile.ZipInfo, limits: ZipLimits) -> Problem | None:
    """What is wrong with one member's entry in the listing, if anything."""
    name = info.filename
    where = f"{label}:{name}"
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or DRIVE.match(name):
        return error(where, 1, 1, "an absolute name in the zip; refused (nothing was written)")
    if ".." in parts:
        return error(where, 1, 1, "a name in the zip that climbs out with '..'; refused")
    if stat.S_ISLNK(info.external_attr >> 16):
        return error(where, 1, 1, "a symbolic link in the zip; refused (nothing was written)")
    if info.file_size > limits.member:
        return error(
            where,
            1,
            1,
            f"unpacks to {info.file_size} bytes, more than the limit of "
            f"{size_text(limits.member)} a member (raise it with --max-member-size if this "
            "really is your export; nothing was written)",
        )
    if packs_too_well(info.file_size, info.compress_size, limits):
        return ratio_problem(where, limits)
    return None


def packs_too_well(unpacked: int, packed: int, limits: ZipLimits) -> bool:
    """Whether a member unpacks to far more than any real file packs from (a zip bomb's
    member is mostly one byte repeated: a thousand times smaller packed, or more)."""
    return unpacked > RATIO_FLOOR and unpacked > limits.ratio * max(packed, 1)


def ratio_problem(where: str, limits: ZipLimits) -> Problem:
    """The error for a member that unpacks to more than `limits.ratio` times its packed size."""
    return error(
        where,
        1,
        1,
        f"unpacks to more than {limits.ratio} times its packed size, as a zip bomb does "
        "(raise the limit with --max-ratio if this really is your export; nothing was written)",
    )
