"""The code fingerprint: a hash of publish's code, packaged templates, styles and catalogs,
and the versions of the libraries that parse and render. Every cache key hashes it, so any
change to them misses every record and every output memo.

It hashes the files' bytes (an installation of the same code, anywhere, has the same
fingerprint), but a process need not read them all: the fingerprint is kept with the package,
in its `__pycache__` (as Python keeps a module's `.pyc` there), under a key made from the
versions and each file's stamp (size, modification and change times, inode). A file written
in any way gets a new change time, which no program can set back, or a new inode; and a
fingerprint is kept only once every file's times are `RACY_NS` old (see
`publish.support.stamps`), so a file written again within one tick of a coarse clock is
read, not vouched for. It is kept only where Python would write bytecode
(`PYTHONDONTWRITEBYTECODE` unset); a kept file that is damaged or kept for other stamps is
never served.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
import time
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

from publish.support.atomic import write_atomically
from publish.support.stamps import RACY_NS

# The format of the cache's files (6: essay records in packs; 5: the checksum covers the head)
FORMAT_VERSION = 6
PACKAGE = Path(__file__).resolve().parent.parent
KEPT_NAME = "code-fingerprint"  # in the package's __pycache__, beside its modules' bytecode
KEPT_MAGIC = b"publish code fingerprint 1\n"
DIGEST_SIZE = 32  # bytes of a SHA-256 digest: the key, then the fingerprint


KEPT = PACKAGE / "__pycache__" / KEPT_NAME
FileStamp = tuple[int, int, int, int]  # size, modification and change times, inode
_MADE: dict[Path, bytes] = {}  # the installed package's fingerprint, once made


def code_fingerprint(stamped: Mapping[str, FileStamp] | None = None) -> bytes:
    """The fingerprint of the installed publish and its libraries, made once a process:
    from `stamped` when given, the stamp of every file of the package by path as a build's
    snapshot has just taken them (`publish.pipeline.unchanged`), else listed and stamped
    here."""
    if PACKAGE not in _MADE:
        keep = not sys.dont_write_bytecode
        made = fingerprint_of(PACKAGE, library_versions(), KEPT, keep=keep, stamped=stamped)
        _MADE[PACKAGE] = made
    return _MADE[PACKAGE]


def keep_code_fingerprint(kept: Path = KEPT, now: int | None = None) -> None:
    """Make the fingerprint and keep it with the package wherever Python would write bytecode
    or not, as compiling the modules at installation does (see `compile_packaged_templates`);
    kept only once the files are settled at `now` (see `fingerprint_of`)."""
    fingerprint_of(PACKAGE, library_versions(), kept, keep=True, now=now)


def library_versions() -> tuple[object, ...]:
    """The cache format's version, publish's, and those of the libraries that parse and
    render (read, where they can be, without importing the library)."""
    import markdown_it
    import mdit_py_plugins
    import msgspec

    from publish import __version__

    return (
        FORMAT_VERSION,
        __version__,
        markdown_it.__version__,
        mdit_py_plugins.__version__,
        yaml_version(),
        msgspec.__version__,
        jinja_version(),
        installed_version("css_inline"),  # neither has a __version__, and css_inline's
        installed_version("feedgen"),  # import loads the email package: read, not imported
    )


def fingerprint_of(
    package: Path,
    versions: Sequence[object],
    kept: Path,
    *,
    keep: bool = True,
    now: int | None = None,
    stamped: Mapping[str, FileStamp] | None = None,
) -> bytes:
    """The fingerprint of `package`'s files and `versions`: the one kept at `kept` for the
    files' stamps, else made from their bytes and, with `keep`, kept there when every stamp
    is settled (its times `RACY_NS` older than `now`, the present time when None). The
    files and their stamps are those of `stamped` under `package` (see `stamped_files`)
    when it holds any, else listed and stamped now."""
    files = stamped_files(package, stamped) if stamped else []
    files = files or fingerprinted_files(package)  # a snapshot that could not list it
    key, newest = stamps_key(files, versions, stamped or {})
    found = read_kept(kept, key)
    if found is not None:
        return found
    fingerprint = content_fingerprint(files, versions)
    settled = newest < (time.time_ns() if now is None else now) - RACY_NS
    if keep and settled:
        with contextlib.suppress(OSError):
            kept.parent.mkdir(exist_ok=True)
            write_atomically(kept, KEPT_MAGIC + key + fingerprint, durable=False)
    return fingerprint


def content_fingerprint(files: Sequence[tuple[str, str]], versions: Sequence[object]) -> bytes:
    """The hash of `versions` and each file's relative path and bytes, in order."""
    digest = hashlib.sha256("|".join(map(str, versions)).encode())
    for relative, path in files:
        with open(path, "rb") as file:
            digest.update(relative.encode() + b"\0" + file.read() + b"\0")
    return digest.digest()


def stamps_key(
    files: Sequence[tuple[str, str]],
    versions: Sequence[object],
    stamped: Mapping[str, FileStamp] | None = None,
) -> tuple[bytes, int]:
    """The hash of `versions` and each file's relative path and stamp as it is now (size,
    modification and change times, inode; as `stamped` has it, when it has the file), and
    the newest of those times."""
    digest = hashlib.sha256("|".join(map(str, versions)).encode())
    newest = 0
    known = stamped or {}
    for relative, path in files:
        stamp = known.get(path) or _file_stamp(path)
        newest = max(newest, stamp[1], stamp[2])
        digest.update(f"{relative}\0{stamp}\0".encode("utf-8", "surrogateescape"))
    return digest.digest(), newest


def _file_stamp(path: str) -> FileStamp:
    """A file's stamp as it is now."""
    status = os.stat(path)
    return (status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino)


def read_kept(kept: Path, key: bytes) -> bytes | None:
    """The fingerprint kept at `kept` for `key`; None when there is none, or the file is
    damaged or was kept for another key."""
    try:
        with open(kept, "rb", buffering=0) as file:
            data = file.read(len(KEPT_MAGIC) + 2 * DIGEST_SIZE + 1)
    except OSError:
        return None
    head, body = data[: len(KEPT_MAGIC)], data[len(KEPT_MAGIC) :]
    if head != KEPT_MAGIC or len(body) != 2 * DIGEST_SIZE or body[:DIGEST_SIZE] != key:
        return None
    return body[DIGEST_SIZE:]


def fingerprinted_files(package: Path) -> list[tuple[str, str]]:
    """The files of `package` its fingerprint reads (modules, packaged templates, styles and
    catalogs), by relative POSIX path, in the order of `sorted(package.rglob("*"))`: from one
    listing of each folder, not a path object and a stat per file."""
    found: list[tuple[str, str]] = []
    _gather_files(str(package), "", found)
    found.sort(key=lambda item: item[0].split("/"))  # as paths sort: part by part
    return found


def stamped_files(package: Path, stamped: Mapping[str, FileStamp]) -> list[tuple[str, str]]:
    """The files of `package` its fingerprint reads, as `fingerprinted_files` lists them,
    taken from `stamped`: the regular files of a listing of the whole package (`__pycache__`
    folders left out, links to folders not followed), each by its path."""
    prefix = f"{package}{os.sep}"
    found = []
    for path in stamped:
        if path.startswith(prefix):
            relative = path[len(prefix) :].replace(os.sep, "/")
            if _fingerprinted(relative, relative.rpartition("/")[2]):
                found.append((relative, path))
    found.sort(key=lambda item: item[0].split("/"))  # as paths sort: part by part
    return found


def jinja_version() -> str:
    """Jinja's version, read beside it rather than imported (a cold build imports Jinja only
    while its workers parse), or from the module where no `jinja2-<version>.dist-info` is."""
    found = installed_version("jinja2")
    if found:
        return found
    import jinja2

    return jinja2.__version__


def yaml_version() -> str:
    """PyYAML's version, read beside it rather than imported (a build whose front matter is
    all of the plainest kind never loads YAML, see `publish.content.flatyaml`), or from the
    module where no `pyyaml-<version>.dist-info` is."""
    found = installed_version("yaml", "pyyaml")
    if found:
        return found
    import yaml

    return yaml.__version__


def installed_version(name: str, distribution: str | None = None) -> str:
    """The version of the installed library `name` (of the `distribution` of that name when
    it is another), from the `<distribution>-<version>.dist-info` folder its installer put
    beside it (the name in any case), without importing it (importlib.metadata would load
    the email package too); "" when it is not installed so."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return ""
    prefix, suffix = f"{distribution or name}-".lower(), ".dist-info"
    beside = _installed(os.path.dirname(os.path.dirname(spec.origin)))
    found = [e for e in beside if e.lower().startswith(prefix) and e.endswith(suffix)]
    return found[0][len(prefix) : -len(suffix)] if len(found) == 1 else ""


@lru_cache(maxsize=8)
def _installed(folder: str) -> tuple[str, ...]:
    """The names in a folder libraries are installed in, listed once for all of them (the
    code fingerprint is made once a process too)."""
    return tuple(os.listdir(folder))


def _gather_files(folder: str, prefix: str, found: list[tuple[str, str]]) -> None:
    """Add the fingerprinted files under `folder` (`prefix` its relative path + "/") to
    `found`, walking into folders but not through links to them (as `rglob` walks)."""
    with os.scandir(folder) as entries:
        for entry in entries:
            relative = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                if entry.name != "__pycache__":  # bytecode, and the kept fingerprint
                    _gather_files(entry.path, f"{relative}/", found)
            elif entry.is_file() and _fingerprinted(relative, entry.name):
                found.append((relative, entry.path))


def _fingerprinted(relative: str, name: str) -> bool:
    """Whether a file is part of the code fingerprint: a module (its suffix `.py`, as
    `PurePath.suffix` reads it), or a packaged template, style or catalog."""
    dot = name.rfind(".")
    suffix = name[dot:] if 0 < dot < len(name) - 1 else ""
    return (
        suffix == ".py"
        or relative.split("/")[0] in ("templates", "static")
        or relative.startswith("i18n/catalogs/")
    )
