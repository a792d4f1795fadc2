"""Email reports: weekly and monthly summaries of a site, opt-in per member (issue 7).

Read in this order:

- ``schedule``: which period a report covers and when it is due (the site's local
  Monday 09:00 for the previous week, the 1st 09:00 for the previous month);
- ``subscriptions``: the control-plane tables (who asked for which report, and the
  ``report_sends`` claims that make each report go out once);
- ``content``: the numbers, from the query layer (the dashboard's own queries);
- ``message``: the email (HTML and plain text from ``templates/email/``, the
  ``List-Unsubscribe`` headers); ``unsubscribe``: the signed one-click links;
- ``sender``: finds the due reports, claims, renders and sends them (the CLI calls it);
  ``scheduler``: runs it every minute inside the server;
- ``routes``: the opt-in page ``/sites/{id}/reports`` and the unsubscribe pages.

Mail goes through :func:`pagepulse.mail.send_message`.
"""
