"""device_class: Plausible's screen-width buckets, checked at each boundary."""

import pytest

from pagepulse.ingest.enrich import device_class


@pytest.mark.parametrize(
    ("screen_width", "expected"),
    [
        (0, ""),
        (-1, ""),
        (1, "mobile"),
        (375, "mobile"),
        (575, "mobile"),
        (576, "tablet"),
        (991, "tablet"),
        (992, "laptop"),
        (1439, "laptop"),
        (1440, "desktop"),
        (3840, "desktop"),
    ],
)
def test_device_class_buckets(screen_width: int, expected: str) -> None:
    assert device_class(screen_width) == expected
