"""The daily visitor id: a 64-bit keyed BLAKE2b hash of site, IP and user agent.

The key is the day's salt (``salts``), so the same person gets unrelated ids on two
days and, once the salt is deleted, nobody can recompute an id from an IP.
"""

from __future__ import annotations

from hashlib import blake2b


def visitor_id(salt: bytes, site_id: int, ip: str, user_agent: str) -> int:
    data = f"{site_id}\x00{ip}\x00{user_agent}".encode("utf-8", "surrogatepass")
    return int.from_bytes(blake2b(data, key=salt, digest_size=8).digest(), "little")
