"""Timetable notices: in-app notifications, a durable e-mail outbox, iCalendar feeds.

Modules: `recipients` (who a lesson concerns), `notify` (write notifications and
queue e-mails in the caller's transaction), `mailer` (the outbox worker, SMTP
with retries), `publish` (a week of the timetable sent to schools), `ics`
(calendar feeds).
"""
