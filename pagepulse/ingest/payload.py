"""Parse and validate an event body as Plausible's tracker and Events API send it.

Accepted keys (short and long forms): ``n``/``name``, ``u``/``url``, ``d``/``domain``
(comma-separated for several sites), ``r``/``referrer``, ``w``/``screen_width``,
``p``/``m``/``props`` (object or JSON text), ``h``/``hashMode``, ``i``/``interactive``.
Anything a client says about its IP, user agent or time is ignored: those come from
the connection and the server clock only.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

MAX_BODY_BYTES = 8 * 1024
MAX_URL_BYTES = 2000
MAX_NAME_BYTES = 120
MAX_PROPS = 30
MAX_PROP_KEY_BYTES = 300
MAX_PROP_VALUE_BYTES = 2000
MAX_DOMAINS = 10


@dataclass(slots=True)
class Beacon:
    name: str
    url: str
    domains: list[str]
    referrer: str
    screen_width: int
    props: dict[str, str]
    hash_mode: bool


class InvalidBeacon(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def _first(body: dict, short: str, *long: str):
    value = body.get(short)
    if value is None:
        for key in long:
            value = body.get(key)
            if value is not None:
                break
    return value


def _blen(value: str) -> int:
    # Encoding costs a copy; ASCII (nearly every URL and name) is one byte a character.
    return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))


def _domains(value: str) -> list[str]:
    if "," not in value:
        return [value.strip().lower().removeprefix("www.")]
    return [d.strip().lower().removeprefix("www.") for d in value.split(",") if d.strip()]


def _props(raw: object, errors: list[str]) -> dict[str, str]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            errors.append("props: must be a JSON object")
            return {}
    if not isinstance(raw, dict):
        errors.append("props: must be an object")
        return {}
    if len(raw) > MAX_PROPS:
        errors.append(f"props: at most {MAX_PROPS} properties")
        return {}
    props: dict[str, str] = {}
    for key, value in raw.items():
        if value is None or isinstance(value, dict | list):
            continue  # like Plausible: only scalar values are kept
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
        if not key or _blen(key) > MAX_PROP_KEY_BYTES:
            errors.append(f"props: keys must be 1 to {MAX_PROP_KEY_BYTES} bytes")
            return {}
        if _blen(text) > MAX_PROP_VALUE_BYTES:
            errors.append(f"props.{key[:40]}: values must be at most {MAX_PROP_VALUE_BYTES} bytes")
            return {}
        if text:
            props[key] = text
    return props


def parse_beacon(body: bytes) -> Beacon:
    """Raises ``InvalidBeacon`` with every problem found, for a 400 answer."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidBeacon(["body: must be a JSON object"]) from None
    if not isinstance(data, dict):
        raise InvalidBeacon(["body: must be a JSON object"])

    errors: list[str] = []
    name = _first(data, "n", "name")
    url = _first(data, "u", "url")
    domain = _first(data, "d", "domain")
    referrer = _first(data, "r", "referrer")
    width = _first(data, "w", "screen_width")
    hash_mode = _first(data, "h", "hashMode", "hash_mode")

    if not isinstance(name, str) or not name.strip():
        errors.append("n: event name is required")
        name = ""
    elif _blen(name) > MAX_NAME_BYTES:
        errors.append(f"n: at most {MAX_NAME_BYTES} bytes")
    if not isinstance(url, str) or not url:
        errors.append("u: url is required")
        url = ""
    elif _blen(url) > MAX_URL_BYTES:
        errors.append(f"u: at most {MAX_URL_BYTES} bytes")
    domains: list[str] = []
    if not isinstance(domain, str) or not domain.strip():
        errors.append("d: domain is required")
    else:
        domains = _domains(domain)
        if len(domains) > MAX_DOMAINS:
            errors.append(f"d: at most {MAX_DOMAINS} domains")
    if referrer is None:
        referrer = ""
    elif not isinstance(referrer, str):
        errors.append("r: referrer must be a string or null")
        referrer = ""
    elif _blen(referrer) > MAX_URL_BYTES:
        errors.append(f"r: at most {MAX_URL_BYTES} bytes")
    screen_width = 0
    if width is not None:
        if isinstance(width, bool) or not isinstance(width, int | float):
            errors.append("w: screen width must be a number")
        elif 0 <= width <= 65535:
            screen_width = int(width)
        else:
            errors.append("w: screen width must be between 0 and 65535")
    raw_props = _first(data, "p", "m", "props", "meta")
    props = _props(raw_props, errors) if raw_props else {}

    if errors:
        raise InvalidBeacon(errors)
    return Beacon(
        name=name.strip(),
        url=url,
        domains=domains,
        referrer=referrer,
        screen_width=screen_width,
        props=props,
        hash_mode=hash_mode in (1, True, "1", "true"),
    )
