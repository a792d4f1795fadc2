"""XSS payloads for the browser tests: each one, if it ever ran, would call
``window.__xss=1`` or ``alert(1)``, which the test page traps.

Vectors (script tags, event-handler attributes, ``javascript:`` and ``data:`` URLs,
SVG/MathML, htmx attributes, template injection, unicode and encoding tricks) are
combined with the prefixes that break out of the contexts a value lands in: text,
double- and single-quoted attributes, ``<title>``/``<textarea>``, comments and URLs.
"""

from __future__ import annotations

JS = ("window.__xss=1", "alert(1)")

VECTORS = (
    "<script>{js}</script>",
    "<ScRiPt>{js}</sCrIpT>",
    "<script src=data:text/javascript,{js}></script>",
    "<img src=x onerror={js}>",
    '<img src="x" onerror="{js}">',
    "<img/src/onerror={js}>",
    "<svg onload={js}>",
    "<svg/onload={js}>",
    "<svg><script>{js}</script></svg>",
    "<svg><animate onbegin={js} attributeName=x dur=1s>",
    "<body onload={js}>",
    '<iframe src="javascript:{js}"></iframe>',
    "<iframe srcdoc='<script>parent.{js}</script>'>",
    '<a href="javascript:{js}">x</a>',
    "javascript:{js}",
    "JaVaScRiPt:{js}",
    " javascript:{js}",
    "java\tscript:{js}",
    "data:text/html,<script>{js}</script>",
    "<details open ontoggle={js}>",
    "<video><source onerror={js}></video>",
    "<audio src=x onerror={js}>",
    "<input autofocus onfocus={js}>",
    "<select autofocus onfocus={js}>",
    "<marquee onstart={js}>",
    "<math><mtext><table><mglyph><style><img src=x onerror={js}>",
    '<object data="javascript:{js}">',
    '<embed src="javascript:{js}">',
    '<form action="javascript:{js}"><button>x</button></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:{js}">',
    '<base href="javascript:{js}//">',
    '<div hx-get="data:text/html,<img src=x onerror={js}>" hx-trigger="load">',
    '<div hx-on:htmx:load="{js}">x</div>',
    "<img src=x hx-on::load={js}>",
    "{{{{constructor.constructor('{js}')()}}}}",
    "${{{js}}}",
    "<%= {js} %>",
    "\u003cscript\u003e{js}\u003c/script\u003e",
    "&lt;script&gt;{js}&lt;/script&gt;",
    "&#60;script&#62;{js}&#60;/script&#62;",
    "%3Cscript%3E{js}%3C%2Fscript%3E",
    "\uff1cscript\uff1e{js}\uff1c/script\uff1e",
    "<scr\u200bipt>{js}</scr\u200bipt>",
    "\u202e<script>{js}</script>",
    "+ADw-script+AD4-{js}+ADw-/script+AD4-",
    "<script>{js}\u2028</script>",
)

PREFIXES = ("", '">', "'>", "</title>", "</textarea>", "-->")

# Template injection without a call: if a template engine evaluated them, the page
# would show "ppssti" (or 49); the test looks for that text.
SSTI = (
    "{{7*7}}",
    "{{'pp'~'ssti'}}",
    "{{ 'pp' + 'ssti' }}",
    "${'pp'+'ssti'}",
    "#{'pp'+'ssti'}",
    "{% print('pp'~'ssti') %}",
)
SSTI_MARKER = "ppssti"

# Spreadsheet formulas (CSV injection).
FORMULAS = (
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://evil.example","x")',
    "+SUM(1,1)",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
)


def payloads() -> list[str]:
    """Every payload once, in a stable order."""
    found: list[str] = []
    for index, vector in enumerate(VECTORS):
        for prefix in PREFIXES:
            js = JS[(index + len(found)) % 2]
            found.append(prefix + vector.format(js=js))
    found += [*SSTI, *FORMULAS]
    return list(dict.fromkeys(found))
