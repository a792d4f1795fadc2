"""Stored and reflected XSS, checked where it would matter: in a real Chromium.

Every payload of ``xss_payloads`` goes in through ``POST /api/event`` as a page path,
a referrer (path and host), UTM values, the ``ref`` source, an event name and props;
through the forms and the control plane as share-link and API-key names; and through
dashboard URLs (filters, date range, ``next``). Then the dashboard, every details
view holding visitor text, the share page, the share and API-key lists and the
reflected pages are rendered in Chromium **with the CSP switched off**, so an escaping
mistake would run instead of being blocked: a trap counts ``window.__xss`` writes and
``alert`` dialogs, and the DOM is scanned for elements and attributes that only an
injection would create. A second pass with the CSP on asserts there is no violation
at all. Last, every cell of every CSV is checked for formula starts.
"""

from __future__ import annotations

import csv
import io
import zipfile
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, urlencode

import httpx
import pytest
from playwright.sync_api import expect

from pagepulse.control.api_keys import MAX_NAME_LENGTH
from pagepulse.web.dashboard.registry import BAR_LISTS
from pagepulse.web.dashboard.state import MAX_FILTERS
from tests.security.xss_payloads import FORMULAS, SSTI_MARKER, payloads
from tests.support.browser import launch_chromium
from tests.support.budget import count, long_run
from tests.support.server import Server
from tests.support.site import (
    CHROME_UA,
    ensure_user,
    log_in,
    new_api_keys,
    new_share_slugs,
)

pytestmark = pytest.mark.browser

DOMAIN = "xss.example"
OWNER, OWNER_PASSWORD = "owner@pagepulse.test", "owner-password"
# Reflected pages cost a page load per batch: the default suite sends every 8th
# payload, ``-m long`` every one (PAGEPULSE_XSS_REFLECTED_STEP overrides both).
REFLECTED_STEP = count("PAGEPULSE_XSS_REFLECTED_STEP", 0)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The widgets whose rows are visitor-controlled text.
TEXT_WIDGETS = (
    "top_pages",
    "entry_pages",
    "exit_pages",
    "sources",
    "referrers",
    "utm_sources",
    "utm_mediums",
    "utm_campaigns",
    "utm_contents",
    "utm_terms",
    "custom_events",
)

TRAP = """
(() => {
  const hits = [];
  Object.defineProperty(window, '__xss', {
    configurable: false,
    get() { return hits.length },
    set(value) { hits.push(String(value)); console.error('XSS-TRAP fired') },
  });
  Object.defineProperty(window, '__xssHits', { value: hits });
  document.addEventListener('securitypolicyviolation', (e) =>
    console.error('CSP-VIOLATION ' + e.violatedDirective + ' ' + (e.sample || '')));
})()
"""

DOM_SCAN = """
() => {
  const bad = [];
  const never = new Set(['IFRAME', 'FRAME', 'OBJECT', 'EMBED', 'BASE', 'IMG', 'VIDEO',
    'AUDIO', 'SOURCE', 'MATH', 'MARQUEE', 'STYLE', 'ANIMATE', 'SET', 'TEXTAREA']);
  const urlAttrs = new Set(['href', 'src', 'action', 'formaction', 'data', 'xlink:href']);
  for (const el of document.querySelectorAll('*')) {
    const tag = el.tagName.toUpperCase();
    const where = el.outerHTML.slice(0, 160);
    if (never.has(tag)) bad.push('element ' + where);
    if (tag === 'SCRIPT' && el.getAttribute('src') !== '/static/vendor/htmx.min.js')
      bad.push('script ' + where);
    if (tag === 'META' && el.hasAttribute('http-equiv')) bad.push('meta ' + where);
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      const value = attr.value.replace(/[\\s\\u0000-\\u001f]/g, '').toLowerCase();
      if (name.startsWith('on') || name.startsWith('hx-on') || name === 'srcdoc')
        bad.push('attribute ' + name + ' on ' + where);
      if (urlAttrs.has(name) && /^(javascript|data|vbscript):/.test(value))
        bad.push('url ' + name + ' on ' + where);
      if (/^hx-(get|post|put|patch|delete)$/.test(name) && !attr.value.startsWith('/'))
        bad.push('htmx ' + name + ' on ' + where);
    }
  }
  return bad;
}
"""


def visitor_ua(index: int) -> str:
    """One visitor per payload, so each path is also an entry and an exit page."""
    return f"{CHROME_UA} build/{index}"


def beacons(index: int, payload: str) -> list[tuple[dict, bool]]:
    """(body, must be accepted) for every field of the beacon that carries text."""
    q = quote(payload, safe="")
    return [
        (
            {
                "n": "pageview",
                "u": f"https://{DOMAIN}/{payload}?utm_source={q}&utm_medium={q}&ref={q}",
                "d": DOMAIN,
                "r": f"https://ref.example/{payload}",
            },
            True,
        ),
        (
            {
                "n": payload[:120].strip() or "x",
                "u": f"https://{DOMAIN}/e?utm_campaign={q}&utm_content={q}&utm_term={q}",
                "d": DOMAIN,
                "p": {"k": payload, (payload[:300] or "k2"): payload},
            },
            True,
        ),
        # The host of a page or referrer URL: urlsplit does not validate it.
        (
            {"n": "pageview", "u": f"https://{payload}/", "d": DOMAIN, "r": f"http://{payload}/"},
            False,
        ),
    ]


def ingest(server: Server, items: list[str]) -> int:
    """Send every payload in every field; returns how many events were stored. Eight
    clients at once: each 202 waits for an fsync, which the log shares between them."""

    def send(part: list[tuple[int, str]]) -> int:
        stored = 0
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for index, payload in part:
                for body, required in beacons(index, payload):
                    headers = {"User-Agent": visitor_ua(index), "Content-Type": "text/plain"}
                    response = client.post("/api/event", json=body, headers=headers)
                    allowed = (202,) if required else (202, 400)
                    assert response.status_code in allowed, (payload, body, response.text)
                    if response.status_code == 202:
                        assert "x-pagepulse-dropped" not in response.headers
                        stored += 1
        return stored

    numbered = list(enumerate(items))
    with ThreadPoolExecutor(8) as pool:
        return sum(pool.map(send, [numbered[i::8] for i in range(8)]))


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("xss") / "data")
    site_id = server.add_site(DOMAIN)
    owner_id = ensure_user(server.data_dir, OWNER, OWNER_PASSWORD)
    items = payloads()
    assert len(items) >= 200
    names = items[::3]
    new_share_slugs(server.data_dir, site_id, names)
    new_api_keys(server.data_dir, owner_id, [p[:MAX_NAME_LENGTH].strip() or "k" for p in names])
    slug = new_share_slugs(server.data_dir, site_id, [items[0]])[0]
    server.start()
    try:
        stored = ingest(server, items)
        rows = server.wait_for_events(site_id, stored, timeout=30)
        assert len(rows) == stored
        yield server, site_id, slug, items
    finally:
        server.stop()


def stored_urls(site_id: int, slug: str) -> list[str]:
    """Every page that shows stored visitor text or names; the main ones first."""
    day = "period=day"
    urls = [f"/sites/{site_id}?{day}", f"/share/{slug}?{day}", f"/sites/{site_id}/shares"]
    urls.append("/account/api-keys")
    for name in TEXT_WIDGETS:
        urls.append(f"/sites/{site_id}/widget?name={name}&view=details&limit=1000&{day}")
    urls.append(f"/share/{slug}/widget?name=top_pages&view=details&limit=1000&{day}")
    return urls


def reflected_urls(site_id: int, items: list[str]) -> list[str]:
    """Dashboards whose URL carries the payloads: filter chips and hidden fields (valid
    filters), error messages (filters that do not parse, and a bad date range)."""
    urls = []
    for batch in chunks(items, MAX_FILTERS):
        pairs = [("period", "day"), *(("f", f"visit:utm_source,is,{p}") for p in batch)]
        urls.append(f"/sites/{site_id}?{urlencode(pairs)}")
    for batch in chunks(items, 100):
        pairs = [("period", batch[0]), *(("f", p) for p in batch)]
        urls.append(f"/sites/{site_id}?{urlencode(pairs)}")
    return urls


def trapped_page(context) -> tuple:
    """A page with the trap installed; (page, dialogs seen, console messages)."""
    context.add_init_script(TRAP)
    page = context.new_page()
    dialogs: list[str] = []
    console: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: console.append(m.text))
    return page, dialogs, console


def check_page(page, url: str, dialogs: list[str], console: list[str]) -> None:
    page.goto(url)
    # Breakdown cards load after the page; wait until each has replaced its placeholder.
    expect(page.locator('[hx-trigger="load"]')).to_have_count(0)
    assert page.evaluate("() => window.__xssHits.length") == 0, url
    assert page.evaluate(DOM_SCAN) == [], url
    assert SSTI_MARKER not in page.content(), url
    assert dialogs == [], url
    assert [m for m in console if "XSS-TRAP" in m or "CSP-VIOLATION" in m] == [], url


def log_in_page(page, server: Server) -> None:
    page.goto(f"{server.url}/login")
    page.fill("#email", OWNER)
    page.fill("#password", OWNER_PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{server.url}/sites")


def csv_cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]


def check_csv_cells(server: Server, site_id: int, slug: str) -> None:
    """Every cell of every CSV (zip exports and widget downloads) is inert."""
    with httpx.Client(base_url=server.url, follow_redirects=True, timeout=30) as client:
        log_in(client, OWNER, OWNER_PASSWORD)
        files: dict[str, str] = {}
        for base in (f"/sites/{site_id}", f"/share/{slug}"):
            response = client.get(f"{base}/export?period=day")
            assert response.status_code == 200
            with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
                for name in archive.namelist():
                    files[f"{base}/{name}"] = archive.read(name).decode("utf-8")
        for name in BAR_LISTS:
            response = client.get(f"/sites/{site_id}/widget?name={name}&format=csv&period=day")
            assert response.status_code == 200
            files[f"widget {name}"] = response.text
    cells = [cell for text in files.values() for cell in csv_cells(text)]
    assert len(cells) > 3000
    assert [c for c in cells if c.startswith(FORMULA_STARTS)] == []
    # The formulas did arrive, neutralised with a leading quote.
    for formula in FORMULAS:
        assert "'" + formula.strip() in cells, formula


def test_stored_payloads_do_not_run_and_csv_cells_are_inert(world) -> None:
    server, site_id, slug, _items = world
    urls = stored_urls(site_id, slug)
    with launch_chromium() as browser:
        context = browser.new_context(user_agent=CHROME_UA, bypass_csp=True)
        page, dialogs, console = trapped_page(context)
        log_in_page(page, server)
        for url in urls:
            check_page(page, f"{server.url}{url}", dialogs, console)
        # The payloads really are on the pages, as text.
        page.goto(f"{server.url}{urls[4]}")
        labels = page.locator(".bar-label").all_inner_texts()
        assert "/<script>window.__xss=1</script>" in labels
        assert '/"><img src="x" onerror="alert(1)">' in labels
        page.goto(f"{server.url}/sites/{site_id}/shares")
        assert "<svg/onload=" in page.locator(".share-list").inner_text()
        context.close()

        # With the CSP on, the main pages cause no violation at all.
        context = browser.new_context(user_agent=CHROME_UA)
        page, dialogs, console = trapped_page(context)
        log_in_page(page, server)
        for url in urls[:6]:
            check_page(page, f"{server.url}{url}", dialogs, console)
        context.close()
    check_csv_cells(server, site_id, slug)


@pytest.fixture(scope="module")
def plain_site(tmp_path_factory):
    """A site with one ordinary pageview: enough for the dashboard to show filters."""
    server = Server(tmp_path_factory.mktemp("xss-reflected") / "data")
    site_id = server.add_site(DOMAIN)
    ensure_user(server.data_dir, OWNER, OWNER_PASSWORD)
    server.start()
    try:
        body = {"n": "pageview", "u": f"https://{DOMAIN}/", "d": DOMAIN}
        response = httpx.post(
            f"{server.url}/api/event", json=body, headers={"user-agent": CHROME_UA}
        )
        assert response.status_code == 202
        assert len(server.wait_for_events(site_id, 1)) == 1
        yield server, site_id
    finally:
        server.stop()


@pytest.mark.long
def test_reflected_payloads_do_not_run(plain_site, request) -> None:
    server, site_id = plain_site
    items = payloads()
    step = REFLECTED_STEP or (1 if long_run(request.config) else 8)
    sample = items[::step]
    with launch_chromium() as browser:
        context = browser.new_context(user_agent=CHROME_UA, bypass_csp=True)
        page, dialogs, console = trapped_page(context)
        log_in_page(page, server)
        for url in reflected_urls(site_id, sample):
            check_page(page, f"{server.url}{url}", dialogs, console)
        assert page.locator(".state-errors li").count() > len(chunks(sample, 100)[-1])
        # A form that refuses a value shows it again: the domain field.
        for payload in sample[::5]:
            page.goto(f"{server.url}/sites/new")
            page.fill("#domain", payload)
            page.click("button:has-text('Add site')")
            page.wait_for_load_state()
            assert page.locator(".form-errors").count() == 1, payload
            assert page.evaluate("() => window.__xssHits.length") == 0, payload
            assert page.evaluate(DOM_SCAN) == [], payload
            assert dialogs == [], payload
        context.close()

        # Logged out: the log-in page reflects ``next``.
        context = browser.new_context(user_agent=CHROME_UA, bypass_csp=True)
        page, dialogs, console = trapped_page(context)
        for payload in sample[::5]:
            url = f"{server.url}/login?{urlencode({'next': '/' + payload})}"
            check_page(page, url, dialogs, console)
        context.close()
