"""`publish doctor`: whether the mail of the From domain will be trusted by the big providers.

Since February 2024 Gmail and Yahoo (and Outlook since May 2025) want bulk senders to pass
SPF and DKIM, publish a DMARC policy whose domain aligns with From, and offer one-click
unsubscribe (RFC 8058). This looks up what the DNS says about the From domain and says, in
plain words, what is missing and what to add. Nothing here prints: cli/doctor.py does.
"""

from __future__ import annotations

import base64
import binascii
from email.utils import parseaddr
from pathlib import Path

import msgspec

from publish.content.settings import SETTINGS_FILE
from publish.errors import PublishError
from publish.mail import dkimsetup
from publish.mail.setup import locate_setting
from publish.model import Settings
from publish.ops import dnsrecords
from publish.ops.dnsrecords import DmarcRecord, SpfRecord, TxtLookup

OK, ADVICE, FIX = "ok", "advice", "must fix"
RULES = "Gmail and Yahoo's rules for bulk senders (since February 2024)"


class Finding(msgspec.Struct, frozen=True):
    """One verdict of the check: what was found, and when it is not right, what to do."""

    topic: str  # "SPF", "DKIM", "DMARC", "Alignment", "Unsubscribe"
    verdict: str  # OK, ADVICE (worth doing) or FIX (required)
    found: str
    todo: str = ""
    why: str = ""
    record: str = ""  # a DNS record value to paste, shown whole on its own line


class Diagnosis(msgspec.Struct, frozen=True):
    """Every finding about one From domain."""

    domain: str
    findings: list[Finding]

    @property
    def must_fix(self) -> list[Finding]:
        """The findings that are required and missing or wrong."""
        return [f for f in self.findings if f.verdict == FIX]


class Domains(msgspec.Struct, frozen=True):
    """The three domains DMARC compares: From, the envelope sender's (SPF), DKIM's d=."""

    sender: str
    envelope: str
    signing: str  # '' when publish does not sign


def diagnose(root: Path, settings: Settings, lookup: TxtLookup) -> Diagnosis:
    """Look up SPF, the DKIM key, DMARC and alignment for the From domain; raise
    dnsrecords.DnsTrouble when the DNS server does not answer."""
    domains = site_domains(settings)
    if not domains.sender:
        line, col = locate_setting(read_settings_text(root), "email", "from")
        raise PublishError.single(
            SETTINGS_FILE, line, col, "[email] from is not set, so there is no domain to check"
        )
    dmarc_domain, dmarc_texts = dnsrecords.find_dmarc(domains.sender, lookup)
    dmarc = DmarcRecord(dmarc_domain, dmarc_texts[0]) if len(dmarc_texts) == 1 else None
    findings = [
        spf_finding(domains.envelope, lookup, domains.envelope != domains.sender),
        dkim_finding(root, settings, domains.signing, lookup),
        dmarc_finding(domains.sender, dmarc_domain, dmarc_texts),
        alignment_finding(domains, dmarc),
        unsubscribe_finding(settings),
    ]
    return Diagnosis(domains.sender, findings)


def site_domains(settings: Settings) -> Domains:
    """The From, envelope and signing domains of this site's mail, in lower case."""
    sender = _domain_of(settings.email.from_address)
    envelope = _domain_of(settings.email.bounce_address) or sender
    configured = settings.email.dkim_selector or settings.email.dkim_key_file
    signing = dkimsetup.signing_domain(settings) if configured else ""
    return Domains(sender, envelope, signing)


def spf_finding(domain: str, lookup: TxtLookup, bounce_domain: bool = False) -> Finding:
    """Whether the envelope domain has exactly one SPF record that ends firmly."""
    shown = domain
    if bounce_domain:
        shown = f"{domain} (the domain of [email] bounce_address, which SPF checks)"
    why = (
        "SPF tells receivers which servers may send mail for the domain; "
        f"{RULES} require it, and mail without it is often junked or refused."
    )
    records = dnsrecords.spf_records(lookup(domain))
    if not records:
        return Finding(
            "SPF",
            FIX,
            f"{shown} has no SPF record.",
            f"Add a TXT record at {domain} naming the servers that send for it, such as "
            f"'v=spf1 include:<your relay's SPF domain> -all' (your relay documents its "
            "include).",
            why,
        )
    if len(records) > 1:
        return Finding(
            "SPF",
            FIX,
            f"{shown} has {len(records)} SPF records; receivers treat that as an error "
            "(permerror) and SPF fails for every message.",
            "Merge them into one TXT record that starts with v=spf1 and lists every sender.",
            why,
        )
    return _judge_spf(shown, SpfRecord(records[0]), lookup, why)


def _judge_spf(domain: str, record: SpfRecord, lookup: TxtLookup, why: str) -> Finding:
    """The verdict on a domain's one SPF record (`domain` as shown): its lookups, its
    includes, its ending."""
    count = dnsrecords.count_spf_lookups(record, lookup)
    limit = dnsrecords.SPF_LOOKUP_LIMIT
    shown = f"{domain} has one SPF record: {record.text}"
    if count.lookups > limit:
        return Finding(
            "SPF",
            FIX,
            f"{shown}. Checking it takes {count.lookups} DNS lookups; receivers stop at "
            f"{limit} and SPF fails (permerror).",
            "Remove includes you no longer send through, or replace some by ip4:/ip6: ranges.",
            why,
        )
    if count.faults:
        return Finding(
            "SPF",
            FIX,
            f"{shown}. It names records that are not there: {'; '.join(count.faults)}.",
            "Correct or remove those includes; receivers fail SPF (permerror) on them.",
            why,
        )
    ending = {"-": "-all", "~": "~all"}.get(count.ending)
    if ending is None:
        verdict = FIX if count.ending == "+" else ADVICE
        said = (
            "+all, which lets every server on the internet send"
            if verdict == FIX
            else ("neither -all nor ~all, so mail from other servers is not marked as failing")
        )
        return Finding(
            "SPF",
            verdict,
            f"{shown}. It ends in {said}.",
            "End the record with -all (refuse others) or ~all (mark them as suspect).",
            why,
        )
    return Finding("SPF", OK, f"{shown} (ends in {ending}; {count.lookups} of {limit} lookups).")


def dkim_finding(root: Path, settings: Settings, signing: str, lookup: TxtLookup) -> Finding:
    """Whether the configured DKIM key is published under its selector, and matches."""
    why = (
        "DKIM lets receivers check that a message really comes from your domain and was not "
        f"changed on the way; {RULES} require it."
    )
    if not signing:
        return Finding(
            "DKIM",
            ADVICE,
            "publish does not sign its mail: [email] dkim_selector and dkim_key_file are not set.",
            "If your relay (Amazon SES, Postmark, Mailgun...) signs for your domain, publish "
            "the DNS records it gives you; if you send through your own server, make a key and "
            "set both settings so publish signs.",
            why,
        )
    problems = dkimsetup.key_problems(root, settings)
    if problems:
        return Finding("DKIM", FIX, problems[0].message, "Fix the setting (see above).", why)
    selector = settings.email.dkim_selector
    name = dnsrecords.dkim_key_name(selector, signing)
    key = (root / settings.email.dkim_key_file).read_bytes()
    wanted = dkimsetup.dns_record(key)
    published = [v for v in lookup(name) if "p=" in v]
    add = f"Add a TXT record at {name} with this value (the public half of your key):"
    if not published:
        return Finding("DKIM", FIX, f"There is no DKIM key at {name}.", add, why, wanted)
    if len(published) > 1:
        found = f"{name} holds {len(published)} DKIM keys; keep only one."
        return Finding("DKIM", FIX, found, add, why, wanted)
    return _judge_key(name, published[0], key, settings.email.dkim_key_file, wanted, why)


def _judge_key(name: str, text: str, key: bytes, key_file: str, wanted: str, why: str) -> Finding:
    """The verdict on the key published at `name`, compared with the private key's half."""
    values = dnsrecords.tags(text)
    if not values.get("p"):
        return Finding(
            "DKIM",
            FIX,
            f"The key at {name} is empty, which means revoked: every signature fails.",
            "Publish the current key instead:",
            why,
            wanted,
        )
    if values.get("k", "rsa").lower() != "rsa" or not _same_key(values["p"], key):
        return Finding(
            "DKIM",
            FIX,
            f"The key at {name} does not match the private key in {key_file}: every message "
            "publish signs fails DKIM.",
            "Replace the record's value with:",
            why,
            wanted,
        )
    if "y" in values.get("t", "").lower().split(":"):
        return Finding(
            "DKIM",
            ADVICE,
            f"The key at {name} matches {key_file}, but is marked as testing (t=y): "
            "receivers may treat signed mail as unsigned.",
            "Remove t=y from the record once signed mail verifies.",
            why,
        )
    return Finding("DKIM", OK, f"The key at {name} matches the private key in {key_file}.")


def _same_key(published: str, key: bytes) -> bool:
    """Whether a record's base64 p= value is the public half of a PEM private key."""
    try:
        der = base64.b64decode("".join(published.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return der == dkimsetup.public_key_der(key)


def dmarc_finding(domain: str, found_at: str, texts: list[str]) -> Finding:
    """Whether the From domain is governed by one DMARC record, and what it asks."""
    why = (
        f"DMARC tells receivers what to do with mail that claims your domain but fails SPF "
        f"and DKIM; {RULES} require a DMARC record, even one that only monitors."
    )
    if not texts:
        return Finding(
            "DMARC",
            FIX,
            f"There is no DMARC record at _dmarc.{domain} (nor at a parent domain).",
            f"Add a TXT record at _dmarc.{domain} with 'v=DMARC1; p=none; "
            f"rua=mailto:dmarc-reports@{domain}' to start, and raise p later.",
            why,
        )
    where = f"_dmarc.{found_at}"
    if len(texts) > 1:
        return Finding(
            "DMARC",
            FIX,
            f"{where} has {len(texts)} DMARC records; receivers then ignore them all.",
            "Keep exactly one.",
            why,
        )
    record = DmarcRecord(found_at, texts[0])
    policy = record.policy_for(domain)
    shown = f"{where} says: {record.text}"
    if policy not in ("none", "quarantine", "reject"):
        return Finding(
            "DMARC",
            FIX,
            f"{shown}. It has no valid policy (p= must be none, quarantine or reject).",
            "Set p=none to start.",
            why,
        )
    if policy == "none":
        return Finding(
            "DMARC",
            ADVICE,
            f"{shown}. The policy is p=none: receivers only report, and do nothing with mail "
            f"that fails. That meets {RULES}, but it does not stop others sending as {domain}.",
            "Once the reports show your own mail passing, raise it to p=quarantine, then p=reject.",
            why,
        )
    return Finding("DMARC", OK, f"{shown} (policy {policy}).")


def alignment_finding(domains: Domains, dmarc: DmarcRecord | None) -> Finding:
    """Whether the SPF or DKIM domain aligns with From, as DMARC requires for a pass."""
    why = (
        "DMARC passes only when SPF or DKIM passes for a domain that aligns with the From "
        f"address; {RULES} require it."
    )
    aspf = dmarc.alignment("aspf") if dmarc else "r"
    adkim = dmarc.alignment("adkim") if dmarc else "r"
    organisation = dmarc.domain if dmarc else ""
    spf_ok = aligned(domains.envelope, domains.sender, aspf, organisation)
    dkim_ok = bool(domains.signing) and aligned(
        domains.signing, domains.sender, adkim, organisation
    )
    parts = [_aligned_words("SPF", "the envelope sender", domains.envelope, aspf, spf_ok, domains)]
    if domains.signing:
        parts.append(_aligned_words("DKIM", "d=", domains.signing, adkim, dkim_ok, domains))
    found = " ".join(parts)
    if not (spf_ok or dkim_ok):
        return Finding(
            "Alignment",
            FIX,
            f"{found} Neither aligns, so DMARC fails for every message.",
            f"Send from (or sign for) {domains.sender} or one of its subdomains, or relax the "
            "alignment (adkim=r, aspf=r) in the DMARC record.",
            why,
        )
    if domains.signing and not dkim_ok:
        return Finding(
            "Alignment",
            ADVICE,
            f"{found} DMARC passes on SPF alone, which a forwarded message loses.",
            f"Sign for {domains.sender} (set [email] dkim_domain to it, or remove it).",
            why,
        )
    return Finding("Alignment", OK, found)


def _aligned_words(kind: str, what: str, domain: str, mode: str, ok: bool, domains: Domains) -> str:
    """One sentence on one domain's alignment with From."""
    strictness = "strict" if mode == "s" else "relaxed"
    verb = "aligns" if ok else "does not align"
    shown = f"{what}{domain}" if what.endswith("=") else f"{what} ({domain})"
    return f"{kind}: {shown} {verb} with From ({domains.sender}) under {strictness} alignment."


def aligned(domain: str, sender: str, mode: str, organisation: str = "") -> bool:
    """DMARC identifier alignment: strict means the same domain; relaxed, the same
    organisation (one inside the other, or both inside the domain holding the DMARC record)."""
    if domain == sender:
        return True
    if mode == "s" or not domain:
        return False
    if domain.endswith("." + sender) or sender.endswith("." + domain):
        return True
    inside = organisation.count(".") >= 1
    return inside and all(d.endswith("." + organisation) for d in (domain, sender))


def unsubscribe_finding(settings: Settings) -> Finding:
    """Whether every email offers one-click unsubscribe (RFC 8058), which publish controls."""
    why = (
        f"{RULES} require one-click unsubscribe: the List-Unsubscribe header with an https "
        "link and List-Unsubscribe-Post, so the reader's mail app can unsubscribe at once."
    )
    url = settings.email.service_url
    if not url:
        return Finding(
            "Unsubscribe",
            FIX,
            "[email] service_url is not set, so the List-Unsubscribe link points at the static "
            "site, where nothing can unsubscribe anyone.",
            "Run `publish subscriptions serve` and set [email] service_url to its https address.",
            why,
        )
    if not url.startswith("https://"):
        return Finding(
            "Unsubscribe",
            FIX,
            f"[email] service_url is {url}; one-click unsubscribe needs an https:// address.",
            "Serve the subscription service over https and set service_url to that address.",
            why,
        )
    return Finding(
        "Unsubscribe",
        OK,
        f"Every email carries one-click List-Unsubscribe (RFC 8058) to {url}.",
    )


def read_settings_text(root: Path) -> str:
    """publish.toml's text, for locating keys ('' when unreadable)."""
    try:
        return (root / SETTINGS_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _domain_of(address: str) -> str:
    """The domain of an address setting, lower case ('' when there is none)."""
    return parseaddr(address)[1].rpartition("@")[2].strip().rstrip(".").lower()
