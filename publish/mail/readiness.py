"""What `check` and `status` say about sending: the mail setup and the DKIM key together."""

from __future__ import annotations

from pathlib import Path

from publish.errors import Problem
from publish.mail.setup import mailing_readiness
from publish.model import Settings


def sending_problems(root: Path, settings: Settings) -> list[Problem]:
    """The mail setup's problems and the DKIM key's, as `check` and `status` report them."""
    problems = mailing_readiness(root, settings)
    if not (settings.email.dkim_selector or settings.email.dkim_key_file):
        return problems  # no DKIM set up: the key's module (and `cryptography`) stays unloaded
    from publish.mail.dkimsetup import key_problems  # `cryptography`, to read the key

    return [*problems, *key_problems(root, settings)]
