"""`rsync:[USER@]HOST:PATH`: upload over SSH into a new release folder, then swap a link.

The server keeps the same layout as the `dir` target: `PATH-releases/<release>/` and
`PATH`, a symbolic link its web server serves. rsync hard-links files unchanged since the
live release (`--link-dest`), so only changed files cross the network; the swap is one
`mv -T` of a fresh link over the old one, atomic on the server. `[deploy] ssh` sets the ssh
command (port, key file); ssh never prompts (BatchMode), so a missing key is a clear error.
"""

from __future__ import annotations

import shlex
from pathlib import PurePosixPath

from publish.deploy.process import run
from publish.deploy.target import DeployResult, build_of, failure, release_name
from publish.model import DeploySettings


class RsyncTarget:
    """Deploys to a server over SSH with rsync and a remote symlink swap."""

    def __init__(self, settings: DeploySettings) -> None:
        self.settings = settings
        host, _, path = settings.location.partition(":")
        if not host or not path.startswith("/"):
            raise failure(settings, "write the target as rsync:USER@HOST:/absolute/path")
        self.host = host
        self.link = PurePosixPath(path.rstrip("/"))
        self.releases = self.link.parent / f"{self.link.name}-releases"
        self.ssh = [*shlex.split(settings.ssh or "ssh"), "-o", "BatchMode=yes"]

    def deploy(self, site_dir, build_id: str) -> DeployResult:
        """Upload the build next to the live release, then swap the link to it."""
        current, names = self._state()
        if current is not None and build_of(current) == build_id:
            return DeployResult(
                build_id,
                current,
                (f"{self.host}:{self.link} already serves build {build_id}",),
                changed=False,
            )
        release = release_name(build_id)
        staging = self.releases / f".{release}.partial"
        argv = ["rsync", "-a", "--delete", "-e", shlex.join(self.ssh)]
        if current is not None:
            argv.append(f"--link-dest={self.releases / current}")
        run(self.settings, [*argv, f"{site_dir}/", f"{self.host}:{staging}/"], what="rsync upload")
        old = [n for n in [*names, release][: -self.settings.keep] if n not in (current, release)]
        script = [
            f"mv {q(staging)} {q(self.releases / release)}",
            self._swap_script(release),
            *(f"rm -rf {q(self.releases / n)}" for n in old),
        ]
        self._remote(" && ".join(script), "the link swap on the server")
        log = [
            f"deployed build {build_id} to {self.host}:{self.link} -> "
            f"{self.releases.name}/{release}"
        ]
        if old:
            log.append(f"removed {len(old)} old release(s), kept the last {self.settings.keep}")
        return DeployResult(build_id, release, tuple(log))

    def rollback(self) -> DeployResult:
        """Point the server's link at the release before the live one."""
        current, names = self._state()
        if current not in names or names.index(current) == 0:
            raise failure(
                self.settings, f"no release before the live one in {self.host}:{self.releases}"
            )
        previous = names[names.index(current) - 1]
        self._remote(self._swap_script(previous), "the link swap on the server")
        return DeployResult(
            build_of(previous),
            previous,
            (f"rolled {self.host}:{self.link} back to {self.releases.name}/{previous}",),
        )

    def _state(self) -> tuple[str | None, list[str]]:
        """The live release's name (None before the first deploy) and every release."""
        script = (
            f"mkdir -p {q(self.releases)} && "
            f"if [ -L {q(self.link)} ]; then echo live=$(readlink {q(self.link)}); "
            f"elif [ -e {q(self.link)} ]; then echo notalink; fi; "
            f"ls -1A {q(self.releases)}"
        )
        lines = self._remote(script, "reading the releases on the server").stdout.splitlines()
        if "notalink" in lines:
            raise failure(
                self.settings,
                f"{self.host}:{self.link} is a real folder, not a "
                "link; move it away once, and publish replaces it "
                "with a link to its releases",
            )
        live = next((PurePosixPath(x[5:]).name for x in lines if x.startswith("live=")), None)
        names = sorted(x for x in lines if x and not x.startswith((".", "live=")))
        return live, names

    def _swap_script(self, release: str) -> str:
        """Shell commands that replace the link by one to `release` in one rename."""
        temporary = self.link.parent / f".{self.link.name}.link"
        return (
            f"ln -sfn {q(f'{self.releases.name}/{release}')} {q(temporary)} && "
            f"mv -T {q(temporary)} {q(self.link)}"
        )

    def _remote(self, script: str, what: str):
        """Run a shell script on the server over ssh."""
        return run(self.settings, [*self.ssh, self.host, script], what=what)


def q(value: object) -> str:
    """A value quoted for the remote POSIX shell."""
    return shlex.quote(str(value))
