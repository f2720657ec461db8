"""A rebuild with nothing changed, answered without building.

After a successful `publish build` the command line keeps a manifest
(`build/.cache/unchanged-<folder>.json`): the stamp (size, modification and change times,
inode) of everything the build could have read — the site's own files at its root, every
file and folder of its source folders (`layout.SOURCE_FOLDERS`), the state database, publish's
code and data and every module the process loaded — and of every file and folder it left in
its output folders (from the writer's own listing where it updated a folder in place); the
key of the command (its options, the day it built for, the `PUBLISH_` variables, the
Python); and the lines it printed. The next build with the same key
whose every stamp still holds prints those lines again and stops: it reads no essay and
imports neither Jinja2 nor markdown-it. Anything else, a missing or damaged manifest
included, runs the whole build.

The inputs are stamped before the build reads them, and the manifest is kept only if they
stamp the same after it (nothing changed under the build). A file or folder whose time is
within `RACY_NS` of the snapshot could change again without its time moving (a coarse file
system clock), so its content (a folder's: its names) is hashed too, and checked again.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import stat
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import NamedTuple

import msgspec

from publish.layout import BUILD_DIR, CACHE_FOLDER, EMAIL_FOLDER, SITE_FOLDER, SOURCE_FOLDERS
from publish.support.atomic import write_atomically
from publish.support.stamps import RACY_NS

VERSION = 1
PACKAGE = Path(__file__).resolve().parent.parent
OFF_VARIABLES = ("PUBLISH_NO_CACHE", "PUBLISH_TEST_HOOK")  # these always build in full
DEFAULT_DATABASE = "state/publish.db"  # `[state] database`, when the manifest knows none
Stamp = tuple[
    int, int, int, int, int
]  # kind (1 file, 2 folder, 3 other), size, mtime, ctime, inode


class Manifest(msgspec.Struct, frozen=True):
    """What one build read and left, the key it ran under, and what it printed."""

    version: int
    key: str
    stamps: dict[str, Stamp | None]
    hashes: dict[str, str]
    listing: str  # the names at the site's root (but `build`), hashed
    lines: list[tuple[str, bool]]  # (text, to stderr)
    timezone: str  # the site's, to know the day a next build without --today builds for
    database: str  # the state database's path, stamped before the next build too


@cache
def _decoder() -> msgspec.json.Decoder[Manifest]:
    """The decoder of manifests (made on first use: a cold build finds none to read)."""
    return msgspec.json.Decoder(Manifest)


def manifest_path(root: Path, preview: bool) -> Path:
    """Where the manifest of a plain build (or of a preview) of a site is kept."""
    name = "preview" if preview else "build"
    return root / BUILD_DIR / CACHE_FOLDER / f"unchanged-{name}.json"


def enabled() -> bool:
    """Whether the fast path may answer: not with the cache off or a test hook set."""
    return not any(os.environ.get(name) for name in OFF_VARIABLES)


def command_key(options: Sequence[object], today: object) -> str:
    """The key of one build command: its options, its day, the `PUBLISH_` variables, the
    Python that runs it and where it finds its modules (another checkout of publish, or
    another copy of a library, builds in full)."""
    variables = sorted((k, v) for k, v in os.environ.items() if k.startswith("PUBLISH_"))
    parts = (VERSION, [repr(o) for o in options], repr(today), variables, sys.version)
    where = (sys.executable, str(PACKAGE), sys.path)
    return hashlib.sha256(repr((parts, where)).encode()).hexdigest()


def load(root: Path, preview: bool) -> Manifest | None:
    """The manifest kept by the last full build, or None when there is none usable."""
    try:
        data = manifest_path(root, preview).read_bytes()
        manifest = _decoder().decode(data)
    except (OSError, msgspec.DecodeError):
        return None
    return manifest if manifest.version == VERSION else None


def holds(
    root: Path, manifest: Manifest, key: str, seen: dict[str, Stamp | None] | None = None
) -> bool:
    """Whether `manifest` answers a build of `key`: the same key, and every stamp and
    hash still as it was (each stamp read noted in `seen`, for the snapshot of a build)."""
    if manifest.key != key or root_listing(root) != manifest.listing:
        return False
    for number, (path, stamp) in enumerate(manifest.stamps.items()):
        found = stamp_of(path)
        if found != _kept(stamp):
            if seen is not None:  # those before it were found as the manifest has them
                before = itertools.islice(manifest.stamps.items(), number)
                seen.update((p, _kept(s)) for p, s in before)
                seen[path] = found
            return False
    stamps, hashed = manifest.stamps, manifest.hashes.items()
    return all(content_hash(path, _kept(stamps.get(path))) == digest for path, digest in hashed)


def _kept(stamp: Stamp | None) -> Stamp | None:
    """A stamp as the manifest kept it (a list), as a tuple."""
    return tuple(stamp) if stamp is not None else None  # type: ignore[return-value]


# --- Stamps -------------------------------------------------------------------------------


def stamp_of(path: str) -> Stamp | None:
    """A path's stamp, None when it does not exist."""
    try:
        found = os.stat(path)  # through a link: what the build reads
    except OSError:
        return None
    return _stamp(found)


def content_hash(path: str, stamp: Stamp | None = None) -> str | None:
    """A regular file's bytes, or a folder's sorted names, hashed; None for anything else
    (a FIFO is never opened) or when unreadable (`stamp`: the path's, if just read)."""
    kind = (stamp or stamp_of(path) or (0,))[0]
    try:
        if kind == 2:
            data = "\0".join(sorted(os.listdir(path))).encode("utf-8", "surrogateescape")
        elif kind == 1:
            data = Path(path).read_bytes()
        else:
            return None
    except OSError:
        return None
    return hashlib.sha256(data).hexdigest()


def _tree(folder: Path, skip: Iterable[str] = ()) -> list[str]:
    """`folder` and every file and folder under it (links not followed), `skip` names left out."""
    skipped = set(skip)
    found = [str(folder)]
    for current, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if name not in skipped]
        found += [os.path.join(current, name) for name in (*folders, *files)]
    return found


def root_listing(root: Path) -> str:
    """The names at the site's root, but the build folder (which the build makes), hashed."""
    try:
        names = sorted(set(os.listdir(root)) - {BUILD_DIR})
    except OSError:
        return ""
    return hashlib.sha256("\0".join(names).encode("utf-8", "surrogateescape")).hexdigest()


def input_paths(root: Path, database: str) -> list[str]:
    """Every path a build may read, besides the modules loaded (see `module_paths`); the
    root's names are `root_listing`."""
    paths = []
    with contextlib.suppress(OSError):
        paths += [str(p) for p in root.iterdir() if not p.is_dir()]
    for name in SOURCE_FOLDERS:
        paths += _tree(root / name)
    state = root / database
    paths += [str(state.parent), str(state), f"{state}-wal", f"{state}-journal"]
    paths += _tree(PACKAGE, skip=("__pycache__",))
    return paths


def module_paths() -> list[str]:
    """The file of every module this process has loaded, and every folder modules are
    found in but the current one (a library installed, upgraded or removed there, even one
    only a forked worker loads, changes its folder)."""
    found = {getattr(m, "__file__", None) for m in list(sys.modules.values())}
    here = os.getcwd()  # `python -m` looks here first, but it changes with whatever is made
    found.update(p for p in sys.path if p and os.path.isdir(p) and os.path.abspath(p) != here)
    return sorted(str(path) for path in found if isinstance(path, str))


def stamp_modules(into: dict[str, Stamp | None]) -> None:
    """Stamp each module loaded so far (see `module_paths`) into `into`, but publish's own
    (stamped with its package): a build takes this step while its workers parse, and `keep`
    stamps only the modules loaded after it."""
    package = f"{PACKAGE}{os.sep}"
    for path in module_paths():
        if path not in into and not path.startswith(package):
            into[path] = stamp_of(path)


class Outputs(NamedTuple):
    """A build's output folder, and the status of everything in each of its folders the
    writer updated in place (by the folder's path: it knows them without listing again)."""

    out: Path
    left: Mapping[str, Mapping[str, os.stat_result]] = {}


def output_stamps(outputs: Outputs) -> dict[str, Stamp | None]:
    """The stamp of every file and folder a build left in its output folders (read as each
    folder is listed, unless the writer knows them: the build leaves no links there)."""
    out = outputs.out
    stamps = {str(out): stamp_of(str(out))}
    for name in (SITE_FOLDER, EMAIL_FOLDER):
        folder = str(out / name)
        stamps[folder] = stamp_of(folder)
        known = outputs.left.get(folder)
        if stamps[folder] is None:
            continue
        if known is None:
            _stamp_listed(folder, stamps)
        else:
            stamps.update((path, _stamp(status)) for path, status in known.items())
    return stamps


def _stamp(found: os.stat_result) -> Stamp:
    """The stamp of a path, from its status."""
    mode = found.st_mode
    kind = 2 if stat.S_ISDIR(mode) else 1 if stat.S_ISREG(mode) else 3
    return (kind, found.st_size, found.st_mtime_ns, found.st_ctime_ns, found.st_ino)


def _stamp_listed(folder: str, stamps: dict[str, Stamp | None]) -> None:
    """Stamp everything under `folder`, from the listing of each folder."""
    with os.scandir(folder) as entries:
        for entry in entries:
            stamps[entry.path] = _stamp(entry.stat(follow_symlinks=False))
            if stamps[entry.path][0] == 2:
                _stamp_listed(entry.path, stamps)


class Snapshot(msgspec.Struct):
    """The inputs' stamps taken before a full build, and the content hash of racy ones."""

    stamps: dict[str, Stamp | None]
    listing: str
    hashes: dict[str, str] = msgspec.field(default_factory=dict)

    @classmethod
    def take(
        cls, root: Path, database: str, seen: dict[str, Stamp | None] | None = None
    ) -> Snapshot:
        """Stamp the inputs now (those `holds` has just stamped, as it found them), hashing
        any whose time is too close to now to trust."""
        now = time.time_ns()
        paths = input_paths(root, database)
        seen = seen or {}
        stamps = {path: seen[path] if path in seen else stamp_of(path) for path in paths}
        hashes = {}
        for path, stamp in stamps.items():
            if stamp is not None and max(stamp[2], stamp[3]) >= now - RACY_NS:
                digest = content_hash(path, stamp)
                if digest is not None:
                    hashes[path] = digest
        return cls(stamps, root_listing(root), hashes)


def previous_database(manifest: Manifest | None) -> str:
    """The state database's path the last build found, as its `manifest` says (the default
    when there is none)."""
    return manifest.database if manifest is not None else DEFAULT_DATABASE


def keep(
    root: Path,
    preview: bool,
    key: str,
    before: Snapshot,
    found: tuple[str, str],
    outputs: Outputs,
    lines: Sequence[tuple[str, bool]],
    modules: Mapping[str, Stamp | None] | None = None,
) -> bool:
    """After a full build: keep its manifest, if no input changed while it ran and the
    state database is the one stamped before it (`found` is the site's time zone and
    database setting); otherwise remove any old one. Whether it was kept. `modules` are the
    stamps of modules the build took as it ran (`stamp_modules`), not taken again."""
    timezone, database = found
    path = manifest_path(root, preview)
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)
    stamped = str(root / database) in before.stamps
    if not stamped or not _still(before.stamps) or root_listing(root) != before.listing:
        if database != DEFAULT_DATABASE:  # the next build stamps this one before it runs
            _write(path, Manifest(VERSION, "", {}, {}, "", [], timezone, database))
        return False
    stamps = dict(before.stamps)
    taken = modules or {}
    for module in module_paths():
        if module not in stamps:  # publish's own modules are stamped with its package
            stamps[module] = taken[module] if module in taken else stamp_of(module)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)  # before the output folders are stamped
    stamps.update(output_stamps(outputs))
    manifest = Manifest(
        VERSION, key, stamps, before.hashes, before.listing, list(lines), timezone, database
    )
    return _write(path, manifest)


def _still(stamps: Mapping[str, Stamp | None]) -> bool:
    """Whether the site's inputs among `stamps` stamp now as they did before the build (a
    file added shows in its folder's stamp). Publish's own files are not stamped again (the
    code fingerprint and the snapshot stamp them already): a change to one while the build
    ran shows against its stamp taken before, which the manifest keeps, so the next build
    runs in full all the same."""
    package = f"{PACKAGE}{os.sep}"
    return all(
        stamp_of(path) == stamp
        for path, stamp in stamps.items()
        if not path.startswith(package) and path != str(PACKAGE)
    )


def _write(path: Path, manifest: Manifest) -> bool:
    """Write a manifest atomically; False when the disk refused, or when JSON cannot hold a
    path it stamps (a file name whose bytes are not UTF-8): either only costs time, the
    next build being a whole one."""
    try:
        write_atomically(path, msgspec.json.encode(manifest), durable=False)
    except (OSError, UnicodeEncodeError, msgspec.EncodeError):
        return False
    return True
