"""Device class from the screen width the tracker reports.

What belongs here: the width buckets, which match Plausible's so numbers
compare across tools.
"""

__all__ = ["device_class"]

MOBILE_BELOW = 576
TABLET_BELOW = 992
LAPTOP_BELOW = 1440


def device_class(screen_width: int) -> str:
    """ "mobile", "tablet", "laptop" or "desktop"; "" when the width is unknown (0)."""
    if screen_width <= 0:
        return ""
    if screen_width < MOBILE_BELOW:
        return "mobile"
    if screen_width < TABLET_BELOW:
        return "tablet"
    if screen_width < LAPTOP_BELOW:
        return "laptop"
    return "desktop"
