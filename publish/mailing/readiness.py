"""What `check` and `status` say about sending: the mail setup and the DKIM key together."""

from __future__ import annotations

from pathlib import Path

from publish.errors import Problem
from publish.mailing.setup import mailing_readiness
from publish.model import Settings


def sending_problems(root: Path, settings: Settings) -> list[Problem]:
    """The mail setup's problems and the DKIM key's, as `check` and `status` report them."""
    from publish.mailing.dkim import key_problems  # dkimpy: loaded only when asked

    return [*mailing_readiness(root, settings), *key_problems(root, settings)]
