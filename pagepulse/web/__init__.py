"""The web app: server-rendered pages (Jinja2 + htmx) for accounts and sites.

Read ``app.py`` first, then ``deps.py`` (what a handler can ask for) and ``auth.py``
(sessions, CSRF, throttling). Page handlers live in ``routes/``, templates in the
repository's ``templates/`` folder, our CSS in ``static/app.css``.
"""
