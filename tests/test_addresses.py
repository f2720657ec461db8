"""publish.support.addresses: the plain-address shortcuts agree with email_validator and with
the email package."""

from __future__ import annotations

from email.policy import SMTP
from email.utils import parseaddr

import email_validator
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given
from hypothesis import strategies as st

from publish.support.addresses import (
    SPECIAL_USE_DOMAINS,
    address_fault,
    address_parts,
    plain_address_setting,
    plainly_valid,
    setting_address,
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


# Display names of the plain form (PLAIN_NAME), and some that only look plain.
PLAIN_NAMES = st.from_regex(r"[A-Za-z0-9]{1,8}( [A-Za-z0-9]{1,8}){0,3}", fullmatch=True)
SETTING_NAMES = PLAIN_NAMES | st.sampled_from(["", " ", "A  B", "A. B", "O'Brien", "\u00c9lodie"])
# Addresses of the plain form, nearly all of them within its limits.
PLAIN_ADDRESSES = st.from_regex(
    r"[A-Za-z0-9]{1,12}([._+-][A-Za-z0-9]{1,6}){0,2}@([A-Za-z0-9]{1,10}(-[A-Za-z0-9]{1,6})?\.)"
    r"{1,3}[A-Za-z]{2,10}",
    fullmatch=True,
)


@given(SETTING_NAMES, PLAIN_ADDRESSES | plain_looking())
def test_a_plain_setting_is_one_the_email_package_reads_as_it_is(name: str, address: str) -> None:
    value = f"{name} <{address}>" if name else address
    if plain_address_setting(value):
        header = SMTP.header_factory("from", value)
        assert [(a.display_name, a.addr_spec) for a in header.addresses] == [(name, address)]
        assert header.defects == ()
        assert address_fault(value) is None


@given(SETTING_NAMES, PLAIN_ADDRESSES | plain_looking() | st.text(max_size=30))
def test_a_settings_address_is_the_one_parseaddr_reads(name: str, address: str) -> None:
    for value in (address, f"{name} <{address}>", f"{name} {address}"):
        assert setting_address(value) == parseaddr(value)[1]


@pytest.mark.parametrize(
    "value",
    ["Test Author <letters@example.org>", "letters@example.org", "Bench 2 <a.b+c@x-y.example.io>"],
)
def test_the_usual_settings_are_plain(value: str) -> None:
    assert plain_address_setting(value)


@pytest.mark.parametrize(
    "value",
    ["Jean-Luc <a@example.org>", '"A B" <a@example.org>', "A <a@example.test>", "A<a@b.org>"],
)
def test_a_setting_of_any_other_form_goes_to_the_email_package(value: str) -> None:
    assert not plain_address_setting(value)
