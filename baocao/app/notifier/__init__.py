"""``baocao notifier``: reminders before a deadline, overdue notices after it and a daily
digest per province, by e-mail and webhook, each at most once per (recipient, commune,
period, kind) and none lost (docs/notifier.md)."""
