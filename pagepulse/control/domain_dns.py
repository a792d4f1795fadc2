"""The DNS side of custom domains: does a host carry the records that prove it is a site's?

A host passes with either record (``custom_domains.py`` decides what a pass means):

- TXT ``pagepulse-verification=<token>`` at ``_pagepulse.<host>`` (which can live beside a
  CNAME) or at ``<host>`` itself;
- a CNAME from ``<host>`` (directly or through a short chain) to the target host.

The outcome says whether a failure is *definitive* (the DNS answered and the record is
not there: NXDOMAIN, no such record, a wrong token or target) or *transient* (no answer:
timeout, SERVFAIL, no resolver). Only definitive failures count against a verified
domain. Lookups are blocking: call them from a thread.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from pagepulse.config import Settings

TXT_PREFIX = "pagepulse-verification="
TXT_LABEL = "_pagepulse"
MAX_CNAME_HOPS = 8

Method = Literal["txt", "cname"]


@dataclass(frozen=True, slots=True)
class DnsEvidence:
    """What the DNS said about one host, for one claim's token."""

    txt_match: bool = False
    cname_match: bool = False
    problems: tuple[str, ...] = ()  # what was found instead, for the owner
    unreachable: str | None = None  # set when the DNS did not answer a lookup

    @property
    def method(self) -> Method | None:
        if self.txt_match:
            return "txt"
        return "cname" if self.cname_match else None


class _NoAnswer(Exception):
    """The DNS did not answer a lookup (timeout, SERVFAIL, no resolver)."""


def parse_nameserver(value: str) -> tuple[str, int]:
    """``"127.0.0.1:5353"``, ``"[::1]:53"``, ``"::1"`` or ``"10.0.0.2"`` -> (ip, port)."""
    text = value.strip()
    host, port = text, "53"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    try:
        ipaddress.ip_address(host)  # the resolver needs an address, not a name
        number = int(port)
    except ValueError:
        number = 0
    if not 0 < number < 65536:
        raise ValueError(f"PAGEPULSE_DNS_NAMESERVER must be IP or IP:port, not {value!r}")
    return host, number


def make_resolver(settings: Settings) -> dns.resolver.Resolver:
    """The configured DNS server, else the system's (``/etc/resolv.conf``); no cache."""
    if settings.dns_nameserver:
        host, port = parse_nameserver(settings.dns_nameserver)
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [host]
        resolver.port = port
    else:
        resolver = dns.resolver.Resolver()
    resolver.lifetime = settings.dns_timeout
    resolver.timeout = settings.dns_timeout
    return resolver


def lookup(resolver: dns.resolver.Resolver, hostname: str, token: str, target: str) -> DnsEvidence:
    """Ask the DNS for the TXT and CNAME records that would prove ``hostname``."""
    expected = f"{TXT_PREFIX}{token}"
    problems: list[str] = []
    try:
        for name in (f"{TXT_LABEL}.{hostname}", hostname):
            values = _txt_values(resolver, name)
            if expected in values:
                return DnsEvidence(txt_match=True)
            wrong = [v for v in values if v.startswith(TXT_PREFIX)]
            if wrong:
                problems.append(f'TXT at {name} holds another token ("{wrong[0]}")')
        chain = _cname_chain(resolver, hostname)
    except _NoAnswer as exc:
        # One lookup without an answer makes the check inconclusive: stop there rather
        # than wait for every other lookup to time out too.
        return DnsEvidence(problems=tuple(problems), unreachable=str(exc))
    if chain is None:
        problems.append(f"{hostname} does not exist in DNS (NXDOMAIN)")
    elif target in chain:
        return DnsEvidence(cname_match=True)
    elif chain:
        problems.append(f"{hostname} is a CNAME to {chain[-1]}, not to {target}")
    return DnsEvidence(problems=tuple(problems))


def _query(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> dns.resolver.Answer | None:
    """The answer (its rrset None when the name has no such record), None for NXDOMAIN."""
    try:
        return resolver.resolve(name, rdtype, raise_on_no_answer=False, search=False)
    except dns.resolver.NXDOMAIN:
        return None
    except dns.resolver.LifetimeTimeout:
        raise _NoAnswer(
            f"the DNS server did not answer within {resolver.lifetime:g} s (asked for {name})"
        ) from None
    except dns.resolver.NoNameservers as exc:
        raise _NoAnswer(f"no DNS server could answer for {name} ({_first_error(exc)})") from None
    except dns.resolver.NoResolverConfiguration:
        raise _NoAnswer("no DNS resolver is configured on this server") from None
    except dns.exception.DNSException as exc:
        raise _NoAnswer(f"the DNS lookup of {name} failed ({exc.__class__.__name__})") from None


def _first_error(exc: dns.resolver.NoNameservers) -> str:
    errors = exc.kwargs.get("errors") or []
    if errors and len(errors[0]) >= 4:
        return str(errors[0][3])
    return "SERVFAIL or refused"


def _txt_values(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    answer = _query(resolver, name, "TXT")
    if answer is None or answer.rrset is None:
        return []
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer.rrset]


def _cname_chain(resolver: dns.resolver.Resolver, hostname: str) -> list[str] | None:
    """The hosts ``hostname`` is an alias of, in order: empty when it is no CNAME, None
    when the name does not exist."""
    chain: list[str] = []
    name = hostname
    for _ in range(MAX_CNAME_HOPS):
        answer = _query(resolver, name, "CNAME")
        if answer is None and not chain:
            return None
        if answer is None or answer.rrset is None:
            break
        name = _host(answer.rrset[0].target)
        chain.append(name)
    return chain


def _host(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()


def describe_failure(hostname: str, evidence: DnsEvidence, target: str) -> str:
    """The owner-facing sentence for a check that did not pass."""
    found = "; ".join(evidence.problems) or "neither record was found"
    if evidence.unreachable:
        return f"No answer from DNS: {evidence.unreachable}. Found so far: {found}."
    return (
        f'Neither a TXT record "{TXT_PREFIX}…" with this domain\'s token at '
        f"{TXT_LABEL}.{hostname} nor a CNAME from {hostname} to {target}: {found}."
    )
