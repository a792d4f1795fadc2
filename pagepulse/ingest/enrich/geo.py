"""Country of a visitor's IP address, looked up at ingest and then forgotten.

What belongs here: IP → ISO 3166-1 alpha-2 country. With a MaxMind-format
database (.mmdb, country or city edition, e.g. GeoLite2 or DB-IP lite) the
lookup goes through `geoip2`; without one it uses the offline `iptocc`
package, which ships registry allocation data (country of registration, a
little coarser than a GeoIP database). The IP itself is never stored, logged
or cached here.
"""

from pathlib import Path

import geoip2.database
import geoip2.errors
import iptocc

__all__ = ["CountryLookup"]

# Dual-stack sockets report IPv4 clients as "::ffff:81.2.69.142".
IPV4_MAPPED_PREFIX = "::ffff:"


class CountryLookup:
    """`country(ip)` → "GB", or "" for private, loopback, unknown or invalid addresses."""

    def __init__(self, geoip_db: Path | None = None) -> None:
        self._reader = geoip2.database.Reader(str(geoip_db)) if geoip_db else None
        # geoip2 refuses `.country()` on a City database, though every City
        # record carries the country too.
        self._is_city_db = bool(self._reader) and "City" in self._reader.metadata().database_type

    def country(self, ip: str) -> str:
        if ip[:7].lower() == IPV4_MAPPED_PREFIX and "." in ip:
            ip = ip[7:]
        if self._reader is None:
            return iptocc.country_code(ip) or ""
        return self._geoip_country(self._reader, ip)

    def _geoip_country(self, reader: geoip2.database.Reader, ip: str) -> str:
        try:
            found = reader.city(ip) if self._is_city_db else reader.country(ip)
        except (geoip2.errors.AddressNotFoundError, ValueError):
            return ""
        # Some networks (anycast, satellite) only have a registered country.
        code = found.country.iso_code or found.registered_country.iso_code
        return code.upper() if code else ""

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
