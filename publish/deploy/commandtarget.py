"""`command:<a command>`: any other host (`netlify deploy --prod --dir {site}`, `wrangler`...).

The command runs without a shell, split like a shell would split it, with `{site}` replaced
by the build folder; `[deploy] shell = true` runs it through `sh -c` instead (the folder
then quoted). Its output goes to the log; a non-zero exit is a deploy failure.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from publish.deploy.process import run
from publish.deploy.target import DeployResult, failure, shown_target
from publish.model import DeploySettings

PLACEHOLDER = "{site}"


class CommandTarget:
    """Deploys by running the operator's command on the build folder."""

    def __init__(self, settings: DeploySettings) -> None:
        self.settings = settings

    def deploy(self, site_dir: Path, build_id: str) -> DeployResult:
        """Run the command; its output lines become log lines."""
        command = self.settings.location
        if self.settings.shell:
            argv = [command.replace(PLACEHOLDER, shlex.quote(str(site_dir)))]
        else:
            try:
                words = shlex.split(command)
            except ValueError as exc:
                raise failure(self.settings, f"the command cannot be split: {exc}") from None
            argv = [word.replace(PLACEHOLDER, str(site_dir)) for word in words]
        done = run(
            self.settings,
            argv,
            what=f"the deploy command {shown_target(self.settings)}",
            shell=self.settings.shell,
        )
        log = [f"deploy command: {line}" for line in done.lines()]
        return DeployResult(
            build_id,
            build_id,
            (*log, f"deployed build {build_id} with {shown_target(self.settings)}"),
        )

    def rollback(self) -> DeployResult:
        """A command target keeps no releases: there is nothing to go back to."""
        raise failure(
            self.settings,
            "a command target keeps no releases to roll back to; "
            "roll back with your host's own tools",
        )
