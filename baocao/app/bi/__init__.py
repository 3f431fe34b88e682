"""Least-privilege ClickHouse access for BI tools: one read-only user for every province and one
user per province that sees only its own rows (see ``docs/bi-access.md``)."""
