"""`dir:PATH`: a folder a web server on this machine serves (nginx's `root PATH;`).

Each build is copied into `PATH-releases/<release>/`, then `PATH`, a symbolic link, is
swapped to it in one rename, so a reader gets the old site or the new one, never a mix.
The last `keep` releases stay; `--rollback` points the link back at the one before.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from publish.deploy.target import DeployResult, build_of, failure, release_name
from publish.model import DeploySettings


def releases_folder(link: Path) -> Path:
    """Where the releases of the site served at `link` live: beside it, `<name>-releases`."""
    return link.parent / f"{link.name}-releases"


class DirTarget:
    """Deploys into a local folder by a symlink swap."""

    def __init__(self, settings: DeploySettings, root: Path) -> None:
        self.settings = settings
        self.link = (root / Path(settings.location).expanduser()).absolute()
        self.releases = releases_folder(self.link)

    def deploy(self, site_dir: Path, build_id: str) -> DeployResult:
        """Copy the build into a new release folder and swap the link to it."""
        current = self._current()
        if current is not None and build_of(current) == build_id:
            return DeployResult(
                build_id, current, (f"{self.link} already serves build {build_id}",), changed=False
            )
        release = release_name(build_id)
        try:
            self.releases.mkdir(parents=True, exist_ok=True)
            staging = self.releases / f".{release}.partial"
            shutil.copytree(site_dir, staging, symlinks=False)
            os.rename(staging, self.releases / release)
            self._swap(release)
            removed = self._prune(release)
        except OSError as exc:
            raise failure(
                self.settings, f"{exc.filename or self.link}: {exc.strerror or exc}"
            ) from None
        log = [f"deployed build {build_id} to {self.link} -> {self.releases.name}/{release}"]
        if removed:
            log.append(f"removed {removed} old release(s), kept the last {self.settings.keep}")
        return DeployResult(build_id, release, tuple(log))

    def rollback(self) -> DeployResult:
        """Point the link at the release before the live one."""
        current = self._current()
        names = self._names()
        if current not in names or names.index(current) == 0:
            raise failure(self.settings, f"no release before the live one in {self.releases}")
        previous = names[names.index(current) - 1]
        try:
            self._swap(previous)
        except OSError as exc:
            raise failure(self.settings, f"{exc.filename}: {exc.strerror or exc}") from None
        return DeployResult(
            build_of(previous),
            previous,
            (f"rolled {self.link} back to {self.releases.name}/{previous}",),
        )

    def _current(self) -> str | None:
        """The live release's name, or None before the first deploy."""
        if self.link.is_symlink():
            return Path(os.readlink(self.link)).name
        if self.link.exists():
            raise failure(
                self.settings,
                f"{self.link} is a real folder, not a link; move it "
                "away once, and publish replaces it with a link to "
                f"its releases in {self.releases}",
            )
        return None

    def _names(self) -> list[str]:
        """Every finished release, oldest first."""
        if not self.releases.is_dir():
            return []
        return sorted(
            p.name for p in self.releases.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    def _swap(self, release: str) -> None:
        """Replace the link by one to `release`, in one rename (atomic on POSIX)."""
        temporary = self.link.parent / f".{self.link.name}.{os.getpid()}.link"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(Path(self.releases.name) / release, target_is_directory=True)
        os.replace(temporary, self.link)

    def _prune(self, live: str) -> int:
        """Remove all but the newest `keep` releases (never the live one); how many went."""
        names = self._names()
        old = [n for n in names[: -self.settings.keep] if n != live]
        for name in old:
            shutil.rmtree(self.releases / name, ignore_errors=True)
        for stale in self.releases.glob(".*.partial"):
            shutil.rmtree(stale, ignore_errors=True)
        return len(old)
