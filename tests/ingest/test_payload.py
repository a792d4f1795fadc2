import orjson
import pytest

from pagepulse.ingest.payload import InvalidBeacon, parse_beacon


def body(**fields) -> bytes:
    base = {"n": "pageview", "u": "https://example.com/a", "d": "example.com"}
    base.update(fields)
    return orjson.dumps({k: v for k, v in base.items() if v is not ...})


def test_plausible_tracker_body():
    b = parse_beacon(body(r="https://google.com/", w=1280, h=1, p={"plan": "pro", "n": 3}))
    assert b.name == "pageview"
    assert b.domains == ["example.com"]
    assert b.referrer == "https://google.com/"
    assert b.screen_width == 1280
    assert b.hash_mode is True
    assert b.props == {"plan": "pro", "n": "3"}


def test_long_keys_and_props_as_json_text():
    raw = orjson.dumps(
        {"name": "Signup", "url": "https://x.io/", "domain": "x.io,www.y.io", "props": '{"a":"b"}'}
    )
    b = parse_beacon(raw)
    assert (b.name, b.domains, b.props) == ("Signup", ["x.io", "y.io"], {"a": "b"})


def test_client_supplied_ip_ua_and_time_are_ignored():
    b = parse_beacon(body(ip="203.0.113.9", user_agent="evil", timestamp="2001-01-01T00:00:00Z"))
    assert not hasattr(b, "ip") and "203.0.113.9" not in repr(b)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "body: must be a JSON object"),
        (b"[1,2]", "body: must be a JSON object"),
        (body(n=...), "n: event name is required"),
        (body(u=...), "u: url is required"),
        (body(d=...), "d: domain is required"),
        (body(n="x" * 121), "n: at most 120 bytes"),
        (body(u="https://e.com/" + "a" * 2000), "u: at most 2000 bytes"),
        (body(r="https://e.com/" + "a" * 2000), "r: at most 2000 bytes"),
        (body(w="wide"), "w: screen width must be a number"),
        (body(w=-1), "w: screen width must be between 0 and 65535"),
        (body(p={f"k{i}": "v" for i in range(31)}), "props: at most 30 properties"),
        (body(p={"k" * 301: "v"}), "props: keys must be 1 to 300 bytes"),
        (body(p={"k": "v" * 2001}), "props.k: values must be at most 2000 bytes"),
        (body(p=[1]), "props: must be an object"),
    ],
)
def test_rejections_name_the_field(raw, message):
    with pytest.raises(InvalidBeacon) as err:
        parse_beacon(raw)
    assert message in err.value.errors


def test_every_error_is_reported_at_once():
    with pytest.raises(InvalidBeacon) as err:
        parse_beacon(orjson.dumps({"w": "x"}))
    assert len(err.value.errors) == 4
