"""`publish cron`: the crontab line and the systemd timer that run `publish run` every hour."""

from __future__ import annotations

import shlex
from pathlib import Path

from publish.mail.environment import environment_file
from publish.model import Settings


def cron_instructions(root: Path, settings: Settings, command: str) -> str:
    """A crontab line and a systemd timer/service pair that run `publish run` hourly.

    Both load the environment file (SMTP settings, PUBLISH_SECRET): `publish run` reads it
    itself, which is what the crontab line relies on, and the systemd unit names it in
    `EnvironmentFile=` too. No secret is printed.
    """
    log_file = (Path(settings.state.database).parent / "run.log").as_posix()
    folder = shlex.quote(str(root))
    env_file = environment_file(root, settings).absolute()
    return f"""\
# `publish run` decides by itself whether an essay is due, so run it every hour: it does
# nothing until a slot has come, and a run missed while the machine was off is caught up.
# Do not try to express "first Tuesday" in cron: when both day-of-month and day-of-week are
# set, cron fires when EITHER matches (`0 9 1-7 * 2` runs on every Tuesday and on days 1-7).
#
# Keep PUBLISH_SMTP_URL and PUBLISH_SECRET as KEY=VALUE lines in the environment file
# {env_file}
# (chmod 600 it), not in the crontab: every `publish run` loads that file itself, and
# variables set in the real environment win over it.

# Option 1: cron. Add this line with `crontab -e` (it loads the environment file above):
17 * * * * cd {folder} && {command} run >> {shlex.quote(log_file)} 2>&1

# Option 2: systemd (user units). Save as ~/.config/systemd/user/publish-run.service:
[Unit]
Description=Release and mail the essay that is due, if any (publish run)

[Service]
Type=oneshot
WorkingDirectory={folder}
EnvironmentFile=-{env_file}
ExecStart={command} run

# and as ~/.config/systemd/user/publish-run.timer:
[Unit]
Description=Run publish run every hour

[Timer]
OnCalendar=*-*-* *:17:00
Persistent=true

[Install]
WantedBy=timers.target

# then: systemctl --user daemon-reload && systemctl --user enable --now publish-run.timer
# (journalctl --user -u publish-run shows each run's log)
"""
