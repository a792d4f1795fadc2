"""The dashboard's web side: everything between an HTTP request and the query layer.

Read ``registry`` first (which widgets exist, how each is shown), then ``state``
(range and filters ⇄ query string), ``views`` (request → query calls → template
context or JSON/CSV), and the helpers ``chart`` (SVG geometry), ``formatting``
(numbers, durations, countries) and ``export`` (CSV cells and the zip).

The routes (``routes/dashboard.py`` for owners, ``routes/share.py`` for share links)
stay thin: they find the site, then hand over to ``views``. No SQL here: numbers
come from :mod:`pagepulse.query`.
"""
