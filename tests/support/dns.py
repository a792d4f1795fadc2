"""A real DNS server on loopback for tests (dnslib), answering from a dict, UDP and TCP.

    with dns_server({"stats.example.com": {"CNAME": ["pulse.test"]}}) as dns:
        settings = Settings(dns_nameserver=dns.address, ...)
        dns.records["_pagepulse.stats.example.com"] = {"TXT": ["pagepulse-verification=…"]}

Records can change while it runs. A name missing from the dict answers NXDOMAIN; a name
present without the asked type answers NOERROR with no records; a CNAME is followed
inside the dict, as an authoritative server does. ``dns.servfail = True`` makes every
answer SERVFAIL. ``silent_dns_server()`` is a port that never answers (timeouts).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from dnslib import CNAME, QTYPE, RCODE, RR, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

Records = dict[str, dict[str, list[str]]]

_RDATA = {"A": A, "CNAME": CNAME, "TXT": TXT}
_QUIET = DNSLogger(log="-request,-reply,-truncated,-error", prefix=False)


class _DictResolver(BaseResolver):
    def __init__(self, records: Records) -> None:
        self.records = records
        self.servfail = False
        self.queries: list[tuple[str, str]] = []

    def resolve(self, request: DNSRecord, handler) -> DNSRecord:
        reply = request.reply()
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        self.queries.append((qname, qtype))
        if self.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        name = qname
        for _ in range(10):
            entry = self.records.get(name)
            if entry is None:
                if name == qname:
                    reply.header.rcode = RCODE.NXDOMAIN
                return reply
            if qtype in entry:
                for value in entry[qtype]:
                    reply.add_answer(self._rr(name, qtype, value))
                return reply
            if "CNAME" not in entry:
                return reply
            target = entry["CNAME"][0]
            reply.add_answer(self._rr(name, "CNAME", target))
            name = target.rstrip(".").lower()
        return reply

    @staticmethod
    def _rr(name: str, qtype: str, value: str) -> RR:
        return RR(name, getattr(QTYPE, qtype), rdata=_RDATA[qtype](value), ttl=60)


class DnsTestServer:
    def __init__(self, resolver: _DictResolver, port: int) -> None:
        self._resolver = resolver
        self.port = port

    @property
    def address(self) -> str:
        """For ``PAGEPULSE_DNS_NAMESERVER``."""
        return f"127.0.0.1:{self.port}"

    @property
    def records(self) -> Records:
        return self._resolver.records

    @property
    def queries(self) -> list[tuple[str, str]]:
        """(name, type) of every question asked, in order."""
        return self._resolver.queries

    @property
    def servfail(self) -> bool:
        return self._resolver.servfail

    @servfail.setter
    def servfail(self, value: bool) -> None:
        self._resolver.servfail = value


def _free_udp_and_tcp_port() -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both UDP and TCP")


@contextlib.contextmanager
def dns_server(records: Records | None = None) -> Iterator[DnsTestServer]:
    resolver = _DictResolver(records if records is not None else {})
    port = _free_udp_and_tcp_port()
    servers = [
        DNSServer(resolver, address="127.0.0.1", port=port, tcp=tcp, logger=_QUIET)
        for tcp in (False, True)
    ]
    for server in servers:
        server.start_thread()
    try:
        yield DnsTestServer(resolver, port)
    finally:
        # Each stop waits for its serving loop's next poll: stop both at once.
        stoppers = [threading.Thread(target=server.stop) for server in servers]
        for stopper in stoppers:
            stopper.start()
        for stopper, server in zip(stoppers, servers, strict=True):
            stopper.join()
            server.server.server_close()


@contextlib.contextmanager
def silent_dns_server() -> Iterator[str]:
    """A bound UDP port that reads nothing and answers nothing: every query times out.
    Yields its address for ``PAGEPULSE_DNS_NAMESERVER``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{udp.getsockname()[1]}"
