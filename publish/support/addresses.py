"""Email addresses in any script: their ASCII (punycode) domain and the key they merge by.

Two addresses are one subscriber when their local parts are equal after Unicode case folding
(`ÉLODIE@` and `élodie@`, `Straße@` and `STRASSE@`) and their domains are the same name
(`bücher.de`, `BÜCHER.DE` and `xn--bcher-kva.de`). The address is still sent to as first given.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache


@lru_cache(maxsize=1024)
def ascii_domain(domain: str) -> str:
    """A domain name in ASCII, lowercase: an internationalised one in punycode (UTS 46)."""
    if domain.isascii():
        return domain.lower()
    import idna  # loaded by the first internationalised domain

    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return domain.lower()


# The special-use names email_validator refuses with or without their subdomains (its
# SPECIAL_USE_DOMAIN_NAMES; tests/test_addresses.py holds the two equal).
SPECIAL_USE_DOMAINS = ("arpa", "invalid", "local", "localhost", "onion", "test")
PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9]+(?:[._+-][A-Za-z0-9]+)*@(?:[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\.)+[A-Za-z]{2,63}"
)
PLAIN_LIMITS = (254, 64, 63)  # octets of the address, its local part, one label (RFC 5321, 1035)


def plainly_valid(address: str) -> bool:
    """True for an address of the plainest form, which email_validator accepts as it is
    written: ASCII letters and digits with single `.`, `_`, `+` or `-` between them, `@`, a
    dotted domain of such labels with single hyphens, ending in a name of letters, not a
    special-use one. False says nothing: ask email_validator (whose import compiles regexes
    for about 13 ms, which the settings of most sites need not pay). Tests hold this to
    email_validator over generated addresses."""
    address_limit, local_limit, label_limit = PLAIN_LIMITS
    if len(address) > address_limit or not PLAIN_ADDRESS.fullmatch(address):
        return False
    local, _, domain = address.lower().rpartition("@")
    return (
        len(local) <= local_limit
        and all(len(label) <= label_limit for label in domain.split("."))
        and not any(domain == d or domain.endswith("." + d) for d in SPECIAL_USE_DOMAINS)
    )


@lru_cache(maxsize=4096)
def address_parts(address: str) -> tuple[str, str]:
    """The local part (as written, NFC) and the ASCII domain of an address."""
    if plainly_valid(address.strip()):  # what email_validator gives, without loading it
        local, _, domain = address.strip().rpartition("@")
        return local, domain.lower()
    # Loaded on first use: its import compiles many regexes (about 13 ms), which a build
    # that opens the state database but merges no address should not pay.
    from email_validator import EmailNotValidError, validate_email

    try:
        checked = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError:  # settings and subscribers are checked before they get here
        local, _, domain = address.strip().rpartition("@")
        return unicodedata.normalize("NFC", local), ascii_domain(domain)
    return checked.local_part, checked.ascii_domain


def address_key(address: str) -> str:
    """The form two addresses share when they differ only by case: the case-folded local part
    and the ASCII domain (`élodie@example.org` for `ÉLODIE@Example.org`)."""
    local, domain = address_parts(address)
    return f"{local.casefold()}@{domain}"


LOCAL_PART_LIMIT = 64  # octets (RFC 5321 4.5.3.1.1)


def tagged_address(base: str, tag: str) -> str:
    """`local+tag@domain` for a base address `local@domain`; the base itself when the local
    part would pass the 64 octets SMTP allows."""
    local, _, domain = base.rpartition("@")
    tagged = f"{local}+{tag}"
    return base if len(tagged.encode("utf-8")) > LOCAL_PART_LIMIT else f"{tagged}@{domain}"


def address_tag(address: str, base: str) -> str | None:
    """The tag of `address` if it is `base` with a `+tag` (domain and local part in any
    case), else None."""
    local, _, domain = address.strip().strip("<>").rpartition("@")
    base_local, _, base_domain = base.rpartition("@")
    if ascii_domain(domain) != ascii_domain(base_domain):
        return None
    head, plus, tag = local.partition("+")
    if not plus or head.casefold() != base_local.casefold():
        return None
    return tag


def masked_address(address: str) -> str:
    """An address with all but the first character of its local part hidden
    (`r***@example.org`): enough to tell one signup from another in a log, not to name it."""
    local, _, domain = address.strip().rpartition("@")
    return f"{local[:1]}***@{domain}" if local else "***"


def without_address(text: str, address: str) -> str:
    """`text` (a relay's reply, say) with every copy of `address`, in any case, masked."""
    if not address.strip():
        return text
    return re.sub(re.escape(address.strip()), masked_address(address), text, flags=re.IGNORECASE)


# A display name the email package reads as it is: words of ASCII letters and digits.
PLAIN_NAME = re.compile(r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*")


def plain_address_setting(value: str) -> bool:
    """True for a bare address or `Name <address>` of the plainest forms (see `plainly_valid`
    and PLAIN_NAME), which the email package reads as that one address, without a defect.
    False says nothing: ask it. Most sites' settings are plain, and the email package's
    header parser (socket, quopri and a dozen email modules) costs a build milliseconds to
    load. Tests hold this to the email package over generated names and addresses."""
    name, bracket, rest = value.partition(" <")
    if not bracket:
        return plainly_valid(value)
    return (
        rest.endswith(">")
        and PLAIN_NAME.fullmatch(name) is not None
        and plainly_valid(rest.removesuffix(">"))
    )


def setting_address(value: str) -> str:
    """The address of a `Name <address>` or bare address setting as `email.utils.parseaddr`
    reads it ("" when there is none): a plain one read without loading the email package."""
    if not value or plain_address_setting(value):  # unset, or plain
        return value.partition(" <")[2].removesuffix(">") or value
    from email.utils import parseaddr

    return parseaddr(value)[1]


def address_fault(value: str) -> str | None:
    """What is wrong with a `Name <address>` or bare address setting, or None."""
    if plain_address_setting(value):
        return None
    from email.errors import HeaderParseError, ObsoleteHeaderDefect
    from email.policy import SMTP

    try:
        header = SMTP.header_factory("from", value)
    except (HeaderParseError, IndexError, ValueError) as exc:
        return str(exc) or "it cannot be read"
    addresses = header.addresses
    broken = [d for d in header.defects if not isinstance(d, ObsoleteHeaderDefect)]
    if len(addresses) != 1:
        return "it must hold exactly one address"
    address = addresses[0]
    if not address.username or not address.domain:
        return "there is no address in it, only a name"
    if broken:
        return str(broken[0]).rstrip(".")
    if plainly_valid(address.addr_spec):
        return None
    # Loaded here, not at the top: its import compiles many regexes (about 13 ms), which a
    # site whose addresses are plain, and `publish --version`, should not pay.
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(address.addr_spec, check_deliverability=False, globally_deliverable=False)
    except EmailNotValidError as exc:
        return str(exc).rstrip(".")
    return None
