"""CountryLookup: offline iptocc by default, a real .mmdb through geoip2 when given one."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from pagepulse.ingest.enrich import CountryLookup

# Addresses whose registration country has been stable for years: a UK ISP
# block (MaxMind's own test address) and Google Public DNS.
PUBLIC_ADDRESSES = [
    ("81.2.69.142", "GB"),
    ("8.8.8.8", "US"),
    ("2001:4860:4860::8888", "US"),
    ("::ffff:81.2.69.142", "GB"),
]
NO_COUNTRY = [
    "127.0.0.1",
    "::1",
    "10.1.2.3",
    "192.168.0.10",
    "172.16.5.4",
    "",
    "garbage",
    "999.1.1.1",
    "1.2.3.4.5",
    "::ffff:",
]


@pytest.mark.parametrize(("ip", "expected"), PUBLIC_ADDRESSES)
def test_offline_lookup_finds_public_addresses(ip: str, expected: str) -> None:
    assert CountryLookup().country(ip) == expected


@pytest.mark.parametrize("ip", NO_COUNTRY)
def test_offline_lookup_gives_empty_for_private_and_invalid(ip: str) -> None:
    assert CountryLookup().country(ip) == ""


def write_mmdb(path: Path, database_type: str) -> Path:
    """A tiny MaxMind-format database shaped like GeoLite2 records."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=database_type)
    writer.insert_network(
        IPSet(["81.2.69.0/24"]),
        {"country": {"iso_code": "GB", "names": {"en": "United Kingdom"}}},
    )
    writer.insert_network(
        IPSet(["2a02:8100::/32"]),
        {"country": {"iso_code": "de", "names": {"en": "Germany"}}},
    )
    # A record without a located country, only the registration one.
    writer.insert_network(
        IPSet(["198.51.100.0/24"]),
        {"registered_country": {"iso_code": "NL", "names": {"en": "Netherlands"}}},
    )
    if "City" in database_type:
        writer.insert_network(
            IPSet(["203.0.113.0/24"]),
            {"city": {"names": {"en": "Sydney"}}, "country": {"iso_code": "AU"}},
        )
    writer.to_db_file(str(path))
    return path


@pytest.fixture(params=["GeoLite2-Country", "GeoLite2-City"])
def mmdb_lookup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CountryLookup]:
    database = write_mmdb(tmp_path / f"{request.param}.mmdb", request.param)
    lookup = CountryLookup(geoip_db=database)
    yield lookup
    lookup.close()


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("81.2.69.142", "GB"),
        ("::ffff:81.2.69.1", "GB"),
        ("2a02:8100:1:2::3", "DE"),
        ("198.51.100.7", "NL"),
        # In the real world 8.8.8.8 is US; absent from this database it is unknown,
        # which proves the lookup used the file and not the offline fallback.
        ("8.8.8.8", ""),
        ("81.2.70.1", ""),
    ],
)
def test_mmdb_lookup(mmdb_lookup: CountryLookup, ip: str, expected: str) -> None:
    assert mmdb_lookup.country(ip) == expected


def test_city_database_gives_the_country_of_a_city_record(tmp_path: Path) -> None:
    lookup = CountryLookup(geoip_db=write_mmdb(tmp_path / "city.mmdb", "GeoLite2-City"))
    try:
        assert lookup.country("203.0.113.9") == "AU"
    finally:
        lookup.close()


@pytest.mark.parametrize("ip", NO_COUNTRY)
def test_mmdb_lookup_gives_empty_for_private_and_invalid(
    mmdb_lookup: CountryLookup, ip: str
) -> None:
    assert mmdb_lookup.country(ip) == ""
