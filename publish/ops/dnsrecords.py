"""The DNS side of deliverability: TXT lookups (dnspython) and the records they find, SPF
(RFC 7208), DKIM keys (RFC 6376 section 3.6.1) and DMARC policies (RFC 7489)."""

from __future__ import annotations

import re
from collections.abc import Callable

import dns.exception
import dns.resolver
import msgspec

DNS_SERVER_ENV = "PUBLISH_DNS_SERVER"  # host or host:port of the server to ask; else the system's
SPF_LOOKUP_LIMIT = 10  # RFC 7208 section 4.6.4: more, and receivers fail SPF (permerror)
MAX_SPF_DEPTH = 10

TxtLookup = Callable[[str], list[str]]


class DnsTrouble(Exception):
    """The DNS server did not answer, or answered with an error, so nothing can be judged."""


def parse_server(value: str) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]:port` or a bare IPv6 address; ValueError when unreadable."""
    value = value.strip()
    bracketed = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d+))?", value)
    if bracketed:
        host, port = bracketed[1], bracketed[2]
    elif value.count(":") == 1:
        host, port = value.split(":")
    else:
        host, port = value, None
    if not host or (port is not None and not port.isdigit()):
        raise ValueError(f"'{value}' is not host[:port] (for example 127.0.0.1:5353)")
    number = int(port) if port else 53
    if not 0 < number < 65536:
        raise ValueError(f"port {number} is out of range")
    return host, number


def txt_lookup(server: str, timeout: float) -> TxtLookup:
    """A lookup of TXT values through `server` (host[:port]; '' for the system's resolver).

    Each value comes back as one string, its 255-byte pieces joined; a name without TXT
    records gives []. A server that does not answer raises DnsTrouble."""
    resolver = _resolver(server, timeout)

    def lookup(name: str) -> list[str]:
        try:
            answer = resolver.resolve(name, "TXT", lifetime=timeout, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.resolver.LifetimeTimeout:
            raise DnsTrouble(f"did not answer within {timeout:g} s") from None
        except dns.resolver.NoNameservers:
            raise DnsTrouble(f"answered the question for {name} with an error") from None
        except dns.exception.DNSException as exc:
            raise DnsTrouble(str(exc) or type(exc).__name__) from None
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]

    return lookup


def _resolver(server: str, timeout: float) -> dns.resolver.Resolver:
    """A dnspython resolver asking `server`, or the system's (/etc/resolv.conf)."""
    if not server:
        try:
            resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            raise DnsTrouble(
                f"this machine has no DNS server configured; set {DNS_SERVER_ENV}"
            ) from None
    else:
        host, port = parse_server(server)
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [host]
        resolver.port = port
    resolver.timeout = timeout
    resolver.lifetime = timeout
    return resolver


def tags(text: str) -> dict[str, str]:
    """The `tag=value; ...` pairs of a DKIM or DMARC record, names in lower case."""
    pairs = (part.split("=", 1) for part in text.split(";") if "=" in part)
    return {name.strip().lower(): value.strip() for name, value in pairs}


def spf_records(values: list[str]) -> list[str]:
    """The SPF records among a name's TXT values (those starting with `v=spf1`)."""
    return [v.strip() for v in values if re.match(r"(?i)v=spf1(\s|$)", v.strip())]


class SpfRecord(msgspec.Struct, frozen=True):
    """One SPF record, split into its terms."""

    text: str

    @property
    def terms(self) -> list[str]:
        """Every mechanism and modifier after `v=spf1`."""
        return self.text.split()[1:]

    @property
    def all_qualifier(self) -> str:
        """`-`, `~`, `?` or `+` of the final `all` mechanism; '' when there is none."""
        for term in self.terms:
            match = re.fullmatch(r"(?i)([-~?+]?)all", term)
            if match:
                return match[1] or "+"
        return ""

    @property
    def redirect(self) -> str:
        """The domain of a `redirect=` modifier, or ''."""
        for term in self.terms:
            if term.lower().startswith("redirect="):
                return term.split("=", 1)[1]
        return ""

    def lookups(self) -> list[tuple[str, str]]:
        """The terms that cost a DNS lookup: (mechanism, the domain it names or '')."""
        found = []
        for term in self.terms:
            if term.lower().startswith("redirect="):
                found.append(("redirect", self.redirect))
                continue
            match = re.fullmatch(r"(?i)[-~?+]?(include|a|mx|ptr|exists)(?::([^/]*))?(?:/.*)?", term)
            if match:
                found.append((match[1].lower(), match[2] or ""))
        return found


class SpfCount(msgspec.Struct, frozen=True):
    """How many DNS lookups evaluating a record takes, and what went wrong on the way."""

    lookups: int
    faults: tuple[str, ...]
    ending: str  # the qualifier of `all` that decides, following a redirect


def count_spf_lookups(record: SpfRecord, lookup: TxtLookup, depth: int = 0) -> SpfCount:
    """The lookups of `record` and of every record it includes or redirects to."""
    total, faults, ending = 0, [], record.all_qualifier
    for mechanism, domain in record.lookups():
        total += 1
        if mechanism not in ("include", "redirect") or not domain or "%" in domain:
            continue
        if depth >= MAX_SPF_DEPTH:
            faults.append(f"includes nest more than {MAX_SPF_DEPTH} deep (a loop?)")
            break
        found = spf_records(lookup(domain))
        if len(found) != 1:
            what = "has no SPF record" if not found else "has more than one SPF record"
            faults.append(f"{mechanism}:{domain} {what}")
            continue
        inner = count_spf_lookups(SpfRecord(found[0]), lookup, depth + 1)
        total += inner.lookups
        faults.extend(inner.faults)
        if mechanism == "redirect" and not ending:
            ending = inner.ending
    return SpfCount(total, tuple(dict.fromkeys(faults)), ending)


def dkim_key_name(selector: str, domain: str) -> str:
    """Where a DKIM key is published: `<selector>._domainkey.<domain>`."""
    return f"{selector}._domainkey.{domain}"


class DmarcRecord(msgspec.Struct, frozen=True):
    """The DMARC record that governs a domain, and the domain it was found at."""

    domain: str
    text: str

    @property
    def tags(self) -> dict[str, str]:
        """Its tags."""
        return tags(self.text)

    def policy_for(self, domain: str) -> str:
        """What it asks receivers to do with failing mail from `domain` (`sp=` for a
        subdomain of where it was found, when set)."""
        values = self.tags
        if domain != self.domain and values.get("sp"):
            return values["sp"].lower()
        return values.get("p", "").lower()

    def alignment(self, tag: str) -> str:
        """`s` (strict) or `r` (relaxed, the default) for `adkim` or `aspf`."""
        return "s" if self.tags.get(tag, "r").lower() == "s" else "r"


def dmarc_candidates(domain: str) -> list[str]:
    """The names a receiver asks for a domain's DMARC record: the domain, then each parent
    below the top-level domain (the DMARCbis tree walk, at most 8 names)."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)][:8]


def find_dmarc(domain: str, lookup: TxtLookup) -> tuple[str, list[str]]:
    """The first name of the tree walk with DMARC records, and those records ('' and [])."""
    for candidate in dmarc_candidates(domain):
        values = lookup(f"_dmarc.{candidate}")
        records = [v.strip() for v in values if re.match(r"(?i)v\s*=\s*DMARC1\s*(;|$)", v.strip())]
        if records:
            return candidate, records
    return "", []
