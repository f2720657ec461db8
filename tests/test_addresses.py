"""publish.support.addresses: the plain-address shortcut agrees with email_validator."""

from __future__ import annotations

import email_validator
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given
from hypothesis import strategies as st

from publish.support.addresses import (
    SPECIAL_USE_DOMAINS,
    address_fault,
    address_parts,
    plainly_valid,
)

# Plain-looking addresses, near every limit the shortcut keeps (lengths, special names).
LABEL = st.from_regex(r"[A-Za-z0-9]{1,3}(-[A-Za-z0-9]{1,3}){0,2}", fullmatch=True)
TOP = st.sampled_from([*SPECIAL_USE_DOMAINS, "org", "COM", "Test", "xn", "io"]) | st.from_regex(
    r"[A-Za-z]{2,70}", fullmatch=True
)
LOCAL = st.from_regex(r"[A-Za-z0-9]{1,70}([._+-][A-Za-z0-9]{1,5}){0,3}", fullmatch=True)


@st.composite
def plain_looking(draw: st.DrawFn) -> str:
    """An address of the plain form, sometimes too long or under a special-use name."""
    labels = draw(st.lists(LABEL | st.from_regex(r"[a-z]{60,66}", fullmatch=True), max_size=5))
    padding = draw(st.sampled_from(["", "a" * 63 + ".", ("b" * 60 + ".") * 4]))
    return f"{draw(LOCAL)}@{padding}{'.'.join([*labels, draw(TOP)])}"


def validator_parts(address: str) -> tuple[str, str] | None:
    """email_validator's local part and ASCII domain of an address, None if it refuses it."""
    try:
        checked = validate_email(address, check_deliverability=False, globally_deliverable=False)
    except EmailNotValidError:
        return None
    return checked.local_part, checked.ascii_domain


@given(plain_looking())
def test_a_plainly_valid_address_is_one_email_validator_accepts_unchanged(address: str) -> None:
    if plainly_valid(address):
        assert validator_parts(address) == address_parts(address)
        assert (
            validate_email(address, check_deliverability=False).ascii_domain
            == (address_parts(address)[1])
        )
        assert address_fault(f"Name <{address}>") is None


def test_the_special_use_names_are_email_validators() -> None:
    assert set(SPECIAL_USE_DOMAINS) == set(email_validator.SPECIAL_USE_DOMAIN_NAMES)


@pytest.mark.parametrize(
    "address",
    [
        "letters@example.test",
        "a@sub.localhost",
        "a@b.onion",
        "a@" + "x" * 64 + ".org",
        "a" * 65 + "@example.org",
        "a@ab--cd.org",
        "a..b@example.org",
        "a@example.o1",
        "\u017f@example.org",  # LATIN SMALL LETTER LONG S
        "a@example.or\u212a",  # KELVIN SIGN: [a-z] would match it if the pattern ignored case
    ],
)
def test_an_address_near_the_edge_goes_to_email_validator(address: str) -> None:
    assert not plainly_valid(address)


def test_a_refused_address_still_gets_email_validators_words() -> None:
    assert address_fault("Test <letters@example.test>") == (
        "The part after the @-sign is a special-use or reserved name that cannot be used with email"
    )
