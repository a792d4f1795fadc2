"""Page routers, one per area: ``account`` (log in, register, password), ``sites``
(list, add, settings, snippet, delete). New areas get their own module here and are
included in ``pagepulse.web.app.create_web_app``."""
